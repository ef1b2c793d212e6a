// Release scripts differ: `mix release` (daemon/pid/rpc/eval, no ping), Distillery (start/ping/pid/rpc) and relx
// (daemon/ping/pid/eval/versions). These pure functions map deliver's node actions onto the right script commands.
import { and, chain, forIn, ifThen, raw, sh, type Shell } from '../ssh/quote.js';
import type { ReleaseKind } from '../config/release-kind.js';
import type { Layout } from './layout.js';
import { runningCommand, waitDownCommand, waitUpCommand } from './node-wait.js';

export type { ReleaseKind } from '../config/release-kind.js';

/** What detectKindCommand can answer besides a kind: a release whose files match no generator. */
export type DetectedKind = ReleaseKind | 'unknown';

/**
 * Prints `mix`, `distillery`, `relx`, `unknown` or `none` (no bin/APP) for the active release, from the files each
 * generator leaves: Distillery (1.x and 2.x) boots from releases/VSN/APP.sh (2.x's bin/APP is a small wrapper that
 * execs bin/APP_rc_exec.sh, which execs it; 1.x has bin/APP_loader.sh); `mix release` writes releases/COOKIE and
 * releases/VSN/env.sh; relx ships bin/nodetool or bin/install_upgrade.escript (relx 3) or a bin/APP-VSN copy (relx 4).
 * Markers in bin/APP are the last resort.
 */
export function detectKindCommand(l: Layout): Shell {
  const a = l.app;
  const script = sh`${`bin/${a}`}`;
  const any = (kind: string, paths: Shell) => ifThen(sh`[ -z "$k" ]`, forIn('f', paths, ifThen(sh`[ -f "$f" ]`, chain(sh`k=${kind}`, sh`break`))));
  const marker = (grep: Shell, kind: string, otherwise: Shell) => ifThen(sh`${grep} ${script}`, sh`k=${kind}`, otherwise);
  const markers = marker(sh`grep -q RELEASE_DISTRIBUTION`, 'mix', marker(sh`grep -q RELX_`, 'relx', marker(sh`grep -qi distillery`, 'distillery', sh`k=unknown`)));
  return ifThen(
    sh`[ ! -f ${`${l.root}/bin/${a}`} ]`,
    sh`echo none`,
    chain(
      and(sh`cd ${l.root}`, sh`k=`, any('distillery', sh`releases/*/${`${a}.sh`} ${`bin/${a}_rc_exec.sh`} ${`bin/${a}_loader.sh`}`)),
      any('mix', sh`releases/COOKIE releases/*/env.sh`),
      any('relx', sh`bin/nodetool bin/install_upgrade.escript ${`bin/${a}`}-*`),
      ifThen(sh`[ -z "$k" ]`, markers),
      sh`echo "$k"`,
    ),
  );
}

export function parseKind(stdout: string): DetectedKind | undefined {
  const k = stdout.trim().split('\n').pop();
  return k === 'mix' || k === 'relx' || k === 'distillery' || k === 'unknown' ? k : undefined;
}

/**
 * The line a release script prints for a command it does not have: Distillery `'daemon' is not a valid command` before
 * its usage, mix `ERROR: Unknown command ping`, relx only its usage `Usage: APP [COMMAND] [ARGS]` (all exit 1). Seen in
 * the answer to one of our own commands, it means deliver runs the script as the wrong kind of release.
 */
export function unknownScriptCommand(output: string): string | undefined {
  return /^.*(?:is not a valid command|ERROR: Unknown command\b).*$|^Usage: \S+ \[COMMAND\] \[ARGS\]$/m.exec(output)?.[0].trim();
}

/**
 * `cd` into the release the node was started from (its script knows that node's cookie and paths) or, when
 * deliver did not start it, the active release; and load the environment's env file first.
 */
export function inRunning(l: Layout, envFile: string | undefined): Shell {
  return chain(
    envLoad(envFile),
    sh`d=${l.root}`,
    sh`s=$(cat ${l.started} 2>/dev/null)`,
    ifThen(sh`[ -n "$s" ] && [ -x ${l.releases}/"$s"/bin/${l.app} ]`, sh`d=${l.releases}/"$s"`),
    sh`cd "$d"`,
  );
}

/** `cd` into the active release (what `eval`, `run` and migrations use), with the env file loaded. */
export function inActive(l: Layout, envFile: string | undefined): Shell {
  return chain(envLoad(envFile), sh`cd ${l.root}`);
}

/** Exports the variables of the env file (uploaded 0600 by deploy) to the release script. */
function envLoad(envFile: string | undefined): Shell {
  return envFile ? ifThen(sh`[ -f ${envFile} ]`, chain(sh`set -a`, sh`. ${envFile}`, sh`set +a`)) : raw('');
}

function bin(l: Layout): Shell {
  return sh`bin/${l.app}`;
}

/** Exit 0 when the node answers (mix: `pid` asks the node itself). */
export function pingCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  return and(inRunning(l, envFile), kind === 'mix' ? sh`${bin(l)} pid` : sh`${bin(l)} ping`);
}

/** The node's OS pid: every kind has a `pid` command (Distillery's prints the bare number, like the others). */
export function pidCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  void kind;
  return and(inRunning(l, envFile), sh`${bin(l)} pid`);
}

/** Read-only: exit 0 and the OS pid when the node runs; a node whose name epmd does not list is not asked (no VM). */
export function runningCheckCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  return and(inRunning(l, envFile), runningCommand(l.app, kind, sh`${bin(l)} pid`));
}

/** After a start: until the node is in epmd (cheap), or until the release's ping answers when epmd cannot be watched. */
export function waitUpNodeCommand(l: Layout, kind: ReleaseKind, timeoutMs: number, envFile?: string): Shell {
  return and(inRunning(l, envFile), waitUpCommand(l.app, kind, pingCommand(l, kind, envFile), timeoutMs));
}

/** After a stop whose OS pid is unknown: until the node's name is gone from epmd (or its ping fails). */
export function waitDownNodeCommand(l: Layout, kind: ReleaseKind, timeoutMs: number, envFile?: string): Shell {
  return and(inRunning(l, envFile), waitDownCommand(l.app, kind, pingCommand(l, kind, envFile), timeoutMs));
}

/**
 * Where a hot upgrade saves, in the root it upgrades, the files that make that root boot its own version (the
 * upgrade leaves release_handler's versions in place while the node runs: docs/UPGRADES.md).
 */
export const BOOT_SAVE_DIR = '.deliver-boot';

/** The files that decide which version a release root boots, relative to it. */
export function bootFiles(app: string): string[] {
  return ['releases/start_erl.data', 'releases/RELEASES', `bin/${app}`];
}

/**
 * In the current directory (a release root about to be started, so no node runs from it): the boot files a hot
 * upgrade saved are put back (a file that did not exist is removed), so the root boots its own version again.
 */
export function restoreBootCommand(app: string): Shell {
  const put = forIn('f', sh`${bootFiles(app)}`, ifThen(sh`[ -f ${BOOT_SAVE_DIR}/"$f" ]`, sh`cp -p ${BOOT_SAVE_DIR}/"$f" "$f" || exit 1`, sh`rm -f "$f"`));
  return ifThen(sh`[ -d ${BOOT_SAVE_DIR} ]`, and(put, sh`rm -rf ${BOOT_SAVE_DIR}`));
}

/**
 * Starts the active release in the background and records which release the node runs. A root a hot upgrade
 * left booting a newer version gets its own boot files back first.
 */
export function startCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  const start = kind === 'distillery' ? sh`${bin(l)} start` : sh`${bin(l)} daemon`;
  return and(inActive(l, envFile), sh`basename "$(pwd -P)" > ${l.started}.tmp`, sh`mv -f ${l.started}.tmp ${l.started}`, restoreBootCommand(l.app), start);
}

export function stopCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  void kind;
  return and(inRunning(l, envFile), sh`${bin(l)} stop`);
}

/**
 * mix: release_handler's current (else permanent) release, which a hot upgrade changes while RELEASE_VSN keeps the
 * booted version; RELEASE_VSN only in a node without release_handler (no sasl). While the node boots (also its
 * in-place restart after a failed upgrade) there is no answer: release_handler may not run yet, and RELEASE_VSN is
 * that of the OS process's first boot.
 */
const MIX_RUNNING_VERSION =
  'case :init.get_status() do {:started, _} -> v = if Process.whereis(:release_handler), do: (rs = :release_handler.which_releases(); {_, v, _, _} = List.keyfind(rs, :current, 3) || List.keyfind(rs, :permanent, 3); List.to_string(v)), else: System.get_env("RELEASE_VSN"); IO.puts(v); s -> raise "the node is still starting (#{inspect(s)})" end';

/** The version the running node runs (not the script's version): after a hot upgrade, the new one. */
export function versionCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  if (kind === 'mix') return and(inRunning(l, envFile), sh`${bin(l)} rpc ${MIX_RUNNING_VERSION}`);
  if (kind === 'relx') return and(inRunning(l, envFile), sh`${bin(l)} eval ${'{_, V, _, _} = hd([R || R = {_, _, _, S} <- release_handler:which_releases(), S =:= current orelse S =:= permanent]), V.'}`);
  // Distillery's rpc prints the expression's value (IO.inspect): a quoted string, unquoted by runQuery.
  return and(inRunning(l, envFile), sh`${bin(l)} rpc ${'rs = :release_handler.which_releases(); {_, v, _, _} = List.keyfind(rs, :current, 3) || List.keyfind(rs, :permanent, 3); List.to_string(v)'}`);
}

/** Evaluates an expression inside the running node. */
export function rpcCommand(l: Layout, kind: ReleaseKind, expr: string, envFile?: string): Shell {
  // relx's `eval` runs in the running node; its `rpc` takes M F A instead of an expression.
  return and(inRunning(l, envFile), kind === 'relx' ? sh`${bin(l)} eval ${expr}` : sh`${bin(l)} rpc ${expr}`);
}

/** Evaluates an expression in a fresh VM of the active release (mix `eval`: migrations, one-off tasks). */
export function evalCommand(l: Layout, kind: ReleaseKind, expr: string, envFile?: string): Shell {
  return and(inActive(l, envFile), (void kind, sh`${bin(l)} eval ${expr}`));
}

/** Any release script command with arguments (`deliver run production remote_console` style escapes). */
export function scriptCommand(l: Layout, args: string[], envFile?: string): Shell {
  return and(inActive(l, envFile), sh`${bin(l)} ${args}`);
}

export function remoteConsoleCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  return and(inRunning(l, envFile), kind === 'mix' ? sh`exec ${bin(l)} remote` : sh`exec ${bin(l)} remote_console`);
}

/** The last lines of the node's newest run_erl log (mix: tmp/log/, relx: log/, Distillery: var/log/erlang.log.N). */
export function logTailCommand(l: Layout, lines = 20): Shell {
  // One statement: `and` would group the assignment for the pipe inside its `$(…)`.
  const newest = sh`cd ${l.root} && f=$(ls -t tmp/log/erlang.log.* log/erlang.log.* var/log/erlang.log.* 2>/dev/null | head -n 1)`;
  return chain(newest, ifThen(sh`[ -n "$f" ]`, sh`tail -n ${lines} "$f"`), sh`true`);
}

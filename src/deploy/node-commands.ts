// Release scripts differ: `mix release` (daemon/pid/rpc/eval, no ping), Distillery (start/ping/rpc) and relx
// (daemon/ping/eval/versions). These pure functions map deliver's node actions onto the right script commands.
import { and, raw, sh, type Shell } from '../ssh/quote.js';
import type { Layout } from './layout.js';

export type ReleaseKind = 'mix' | 'distillery' | 'relx';

/** Prints `mix`, `relx`, `distillery` or `none` for the active release's script (markers each generator writes). */
export function detectKindCommand(l: Layout): Shell {
  const f = `${l.root}/bin/${l.app}`;
  return sh`if [ ! -f ${f} ]; then echo none; elif grep -q RELEASE_DISTRIBUTION ${f}; then echo mix; elif grep -q RELX_ ${f}; then echo relx; elif grep -qi -e distillery -e RELEASE_ROOT_DIR ${f}; then echo distillery; else echo relx; fi`;
}

export function parseKind(stdout: string): ReleaseKind | undefined {
  const k = stdout.trim().split('\n').pop();
  return k === 'mix' || k === 'relx' || k === 'distillery' ? k : undefined;
}

/**
 * `cd` into the release the node was started from (its script knows that node's cookie and paths) or, when
 * deliver did not start it, the active release; and load the environment's env file first.
 */
function inRunning(l: Layout, envFile: string | undefined): Shell {
  return sh`${envLoad(envFile)}d=${l.root}; s=$(cat ${l.started} 2>/dev/null); if [ -n "$s" ] && [ -x ${l.releases}/"$s"/bin/${l.app} ]; then d=${l.releases}/"$s"; fi; cd "$d"`;
}

function inActive(l: Layout, envFile: string | undefined): Shell {
  return sh`${envLoad(envFile)}cd ${l.root}`;
}

/** Exports the variables of the env file (uploaded 0600 by deploy) to the release script. */
function envLoad(envFile: string | undefined): Shell {
  return envFile ? sh`if [ -f ${envFile} ]; then set -a; . ${envFile}; set +a; fi; ` : raw('');
}

function bin(l: Layout): Shell {
  return sh`bin/${l.app}`;
}

/** Exit 0 when the node answers (mix: `pid` asks the node itself). */
export function pingCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  return and(inRunning(l, envFile), kind === 'mix' ? sh`${bin(l)} pid` : sh`${bin(l)} ping`);
}

export function pidCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  if (kind === 'mix') return and(inRunning(l, envFile), sh`${bin(l)} pid`);
  if (kind === 'relx') return and(inRunning(l, envFile), sh`${bin(l)} pid`);
  return and(inRunning(l, envFile), sh`${bin(l)} rpc 'IO.puts(System.pid())'`);
}

/** Starts the active release in the background and records which release the node runs. */
export function startCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  const start = kind === 'distillery' ? sh`${bin(l)} start` : sh`${bin(l)} daemon`;
  return and(inActive(l, envFile), sh`basename "$(pwd -P)" > ${l.started}.tmp && mv -f ${l.started}.tmp ${l.started}`, start);
}

export function stopCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  void kind;
  return and(inRunning(l, envFile), sh`${bin(l)} stop`);
}

/** The version the running node reports (not the script's version). */
export function versionCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  if (kind === 'mix') return and(inRunning(l, envFile), sh`${bin(l)} rpc ${'IO.puts(System.get_env("RELEASE_VSN"))'}`);
  if (kind === 'relx') return and(inRunning(l, envFile), sh`${bin(l)} eval ${'{_, V, _, _} = hd([R || R = {_, _, _, S} <- release_handler:which_releases(), S =:= current orelse S =:= permanent]), V.'}`);
  return and(inRunning(l, envFile), sh`${bin(l)} rpc ${'{_, v, _, _} = hd(:release_handler.which_releases(:permanent)); IO.puts(v)'}`);
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

/** The last lines of the node's log (mix: tmp/log/erlang.log.N via run_erl; relx: log/erlang.log.N). */
export function logTailCommand(l: Layout, lines = 20): Shell {
  return sh`cd ${l.root} && f=$(ls -t tmp/log/erlang.log.* log/erlang.log.* 2>/dev/null | head -n 1); if [ -n "$f" ]; then tail -n ${lines} "$f"; fi; true`;
}

/** `MyApp.Release.migrate()` for app `my_app` (what `mix phx.gen.release` generates). */
export function defaultMigrateExpr(app: string): string {
  const mod = app.split('_').filter(Boolean).map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');
  return `${mod}.Release.migrate()`;
}

/** A command from the user's own config (MIGRATE_COMMAND), run in the active release root with the env file. */
export function configCommand(l: Layout, shellText: string, envFile?: string): Shell {
  return and(inActive(l, envFile), raw(shellText));
}

// Waiting for a node without booting a VM per poll: the node's name in the release's own `epmd -names` (a small C
// program) tells whether it is up or gone; the release script's own command confirms once at the end. Pure command
// builders, each meant to run after node-commands' `cd` into the release the node runs from, with the env file loaded.
import { captured, chain, forIn, ifThen, raw, sh, untilDo, type Shell } from '../ssh/quote.js';
import type { ReleaseKind } from '../config/release-kind.js';

/** How often the loops on the host look (seconds): epmd is cheap; a release script boots a VM each time. */
const EPMD_EVERY_S = 0.2;
const SCRIPT_EVERY_S = 0.3;

/**
 * Sets `$n` to the node's alive name (the part before `@`, what epmd lists), computed as the release script itself
 * computes it; empty when it cannot tell (then the waits fall back to the script). `mix release`: RELEASE_NODE after
 * releases/VSN/env.sh (default: the release name; RELEASE_DISTRIBUTION=none registers nothing). relx and Distillery:
 * the `-name`/`-sname` line of VMARGS_PATH or releases/VSN/vm.args (relx: or vm.args.src), its `${VAR}`s expanded as
 * relx's script does (`eval echo`).
 */
export function nodeNameScript(app: string, kind: ReleaseKind): Shell {
  const vsn = raw(`$(cut -d' ' -f2 releases/start_erl.data 2>/dev/null)`);
  const alive = raw('n=${n%%@*}');
  if (kind === 'mix') {
    const env = raw('"releases/$RELEASE_VSN/env.sh"');
    return chain(
      captured(
        'n',
        chain(
          sh`RELEASE_ROOT=$(pwd -P) RELEASE_NAME=\${RELEASE_NAME:-${app}} RELEASE_VSN=\${RELEASE_VSN:-${vsn}} RELEASE_COMMAND=daemon RELEASE_PROG=${app}`,
          sh`export RELEASE_ROOT RELEASE_NAME RELEASE_VSN RELEASE_COMMAND RELEASE_PROG`,
          ifThen(sh`[ -f ${env} ]`, sh`. ${env} >/dev/null 2>&1 </dev/null`),
          ifThen(sh`[ "\${RELEASE_DISTRIBUTION:-sname}" != none ]`, sh`echo "\${RELEASE_NODE:-$RELEASE_NAME}"`),
        ),
      ),
      alive,
    );
  }
  const nameLine = raw(`a=$(sed -n 's/^-s\\{0,1\\}name[[:space:]]\\{1,\\}\\([^[:space:]]*\\).*/\\1/p' "$f" | head -n 1)`);
  const files = raw('"$VMARGS_PATH" "releases/$v/vm.args" "releases/$v/vm.args.src"');
  const first = forIn('f', files, ifThen(sh`[ -n "$f" ] && [ -f "$f" ]`, chain(nameLine, raw('eval "echo $a"'), raw('break'))), '2>/dev/null');
  return chain(captured('n', chain(sh`v=${vsn}`, first)), alive);
}

/** Sets `$v` to the release's own erts-VSN/bin/`tool` (a small C program), empty when the release has none. */
export function ertsToolScript(v: string, tool: string): Shell {
  return chain(raw(`${v}=`), forIn('f', raw(`erts-*/bin/${tool}`), ifThen(raw('[ -x "$f" ]'), raw(`${v}=$f`))));
}

/** Sets `$e` to the release's own epmd (erts-VSN/bin/epmd), else the one on PATH; empty when there is none. */
export function epmdScript(): Shell {
  return chain(ertsToolScript('e', 'epmd'), ifThen(raw('[ -z "$e" ]'), raw('e=$(command -v epmd 2>/dev/null || true)')));
}

/** `"$e" -names` piped to an awk program that runs `action` on the line of the name in `$n`. */
function epmdEntry(action: string): string {
  return `"$e" -names 2>/dev/null | awk -v n="$n" '$1 == "name" && $2 == n { ${action} }`;
}

/** Exit 0 when epmd lists the name in `$n` (its port from ERL_EPMD_PORT, as the node's). */
export function registeredScript(): Shell {
  return raw(`${epmdEntry('f = 1')} END { exit !f }'`);
}

/** Sets `$p` to the distribution port epmd lists for the name in `$n` (empty when it lists none). */
export function epmdPortScript(): Shell {
  return raw(`p=$(${epmdEntry('print $5; exit')}')`);
}

/** Both the node's name and an epmd to ask are known. */
export const KNOWN = raw('[ -n "$n" ] && [ -n "$e" ]');

/** The name and the epmd to watch, then `watch` when both are known, else `fallback` (the release script's way). */
function watching(app: string, kind: ReleaseKind, watch: Shell, fallback: Shell): Shell {
  return chain(nodeNameScript(app, kind), epmdScript(), ifThen(KNOWN, watch, fallback));
}

/** Runs `cond` every `every` seconds until it holds; exit 1 with `why` on stderr after `timeoutMs`. */
function until(cond: Shell, timeoutMs: number, every: number, why: Shell): Shell {
  const tries = Math.ceil(timeoutMs / 1000 / every);
  return chain(sh`i=0`, untilDo(cond, chain(sh`i=$((i+1))`, ifThen(sh`[ $i -gt ${tries} ]`, chain(sh`echo ${why} >&2`, sh`exit 1`)), sh`sleep ${every}`)));
}

/**
 * Read-only "does it run?": whether the node's name is in epmd (no VM booted; the wait after a stop then watches the
 * name leave epmd, which it does after every application has stopped). Only when epmd cannot be watched: `pid`, the
 * release script's own answer and the OS pid that wait watches instead.
 */
export function runningCommand(app: string, kind: ReleaseKind, pid: Shell): Shell {
  const answer = chain(ifThen(registeredScript(), chain(raw('echo "$n is registered in epmd"'), raw('exit 0'))), raw('echo "$n is not registered in epmd"'), raw('exit 1'));
  return chain(nodeNameScript(app, kind), epmdScript(), ifThen(KNOWN, answer), pid);
}

/** After a start: wait until the node's name is in epmd (or, when it cannot be watched, until `ping` succeeds). */
export function waitUpCommand(app: string, kind: ReleaseKind, ping: Shell, timeoutMs: number): Shell {
  const secs = Math.round(timeoutMs / 1000);
  return watching(
    app,
    kind,
    until(registeredScript(), timeoutMs, EPMD_EVERY_S, raw(`"$n is not registered in epmd ($e -names) after ${secs}s"`)),
    until(sh`( ${ping} ) >/dev/null 2>&1`, timeoutMs, SCRIPT_EVERY_S, sh`"no answer from bin/"${app}" after ${secs}s"`),
  );
}

/** After a stop whose OS pid is unknown: wait until the node's name is gone from epmd (or `ping` fails). */
export function waitDownCommand(app: string, kind: ReleaseKind, ping: Shell, timeoutMs: number): Shell {
  const secs = Math.round(timeoutMs / 1000);
  return watching(
    app,
    kind,
    until(sh`! ${registeredScript()}`, timeoutMs, EPMD_EVERY_S, raw(`"$n is still registered in epmd after ${secs}s"`)),
    until(sh`! ( ${ping} ) >/dev/null 2>&1`, timeoutMs, SCRIPT_EVERY_S, sh`"bin/"${app}" still answers after ${secs}s"`),
  );
}

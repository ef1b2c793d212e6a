// On-disk release roots as the three generators lay them out, with scripts that answer like theirs, so node
// commands and kind detection run by a real `sh` against them. Modelled on what each one writes (Distillery 2.1.1's
// release_rc_entry/release_rc_exec/release_rc_main templates and libexec commands; a `mix release` of examples/hello
// on Elixir 1.14; a `rebar3 new release` built with rebar3 3.x), reduced to the files deliver looks at. The "node"
// behind them is a `sleep` whose pid is kept in a file: started, pinged, asked for its pid and stopped like a VM.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type LayoutKind = 'distillery' | 'mix' | 'relx';

function write(root: string, path: string, text: string, mode = 0o644): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
}

/**
 * The fake VM: `node_start LOGDIR`, `node_running`, `node_pid`, `node_stop` around a pid file. It "boots" in
 * FAKE_BOOT_S seconds (default 0): then it registers its NODE_NAME (PIDFILE.name, what the fake epmd lists) and answers.
 * Every script command is appended to FAKE_CALLS (a file) when set, to count the VMs a real script would boot.
 */
const NODE = `
if [ -n "\${FAKE_CALLS:-}" ]; then echo "$*" >> "$FAKE_CALLS"; fi
node_running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && [ -f "$PIDFILE.name" ]; }
node_start() {
  mkdir -p "$1"
  rm -f "$PIDFILE.name"
  sleep 120 >/dev/null 2>&1 </dev/null &
  echo $! > "$PIDFILE"
  (sleep "\${FAKE_BOOT_S:-0}"; echo "\${NODE_NAME%%@*}" > "$PIDFILE.name") >/dev/null 2>&1 </dev/null &
  echo "[notice] $REL_NAME $REL_VSN booted, cookie \${COOKIE:-none}" >> "$1/erlang.log.1"
}
node_stop() { kill "$(cat "$PIDFILE")"; rm -f "$PIDFILE" "$PIDFILE.name"; }
# What the node prints for an expression: IO.puts("x") prints x; the expressions deliver's \`version\` sends
# (release_handler, RELEASE_VSN) give this release's version.
node_eval() {
  case "$1" in
    *which_releases*|*RELEASE_VSN*) printf '%s\\n' "$REL_VSN" ;;
    IO.puts\\(\\"*\\"\\)) s=\${1#IO.puts(\\"}; printf '%s\\n' "\${s%\\")}" ;;
  esac
}
`;

/** Distillery 2.x: bin/APP execs bin/APP_rc_exec.sh, which execs releases/VSN/APP.sh; var/ is made on first run. */
function distillery(root: string, app: string, vsn: string): void {
  write(root, `bin/${app}`, `#!/bin/sh
set -e
unset CDPATH
SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd -P)"
REL_NAME="\${REL_NAME:-${app}}"
if ! command -v bash >/dev/null ; then
    printf "%s\\n" "Bash is required to run this release. Please ensure that it is installed."
    exit 1
else
    exec "\${SCRIPT_DIR}/\${REL_NAME}_rc_exec.sh" "$@"
fi
`, 0o755);
  write(root, `bin/${app}_rc_exec.sh`, `#!/usr/bin/env bash
set -e
unset CDPATH
SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd -P)"
RELEASE_ROOT_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
RELEASES_DIR="\${RELEASE_ROOT_DIR}/releases"
RELEASE_MUTABLE_DIR="\${RELEASE_MUTABLE_DIR:-"\${RELEASE_ROOT_DIR}/var"}"
START_ERL_DATA="\${RELEASE_MUTABLE_DIR}/start_erl.data"
REL_NAME="\${REL_NAME:-${app}}"
if [ ! -f "\${START_ERL_DATA}" ]; then
    mkdir -p $RELEASE_MUTABLE_DIR
    cp "\${RELEASES_DIR}/start_erl.data" "\${START_ERL_DATA}"
fi
REL_VSN="\${REL_VSN:-$(cut -d' ' -f2 "\${START_ERL_DATA}")}"
export RELEASE_ROOT_DIR RELEASES_DIR RELEASE_MUTABLE_DIR START_ERL_DATA REL_NAME REL_VSN
exec "$RELEASES_DIR/$REL_VSN/$REL_NAME.sh" "$@"
`, 0o755);
  write(root, `releases/${vsn}/${app}.sh`, `#!/usr/bin/env bash
set -e
DISTILLERY_VSN="2.1.1"
cd "$RELEASE_ROOT_DIR"
RUNNER_LOG_DIR="\${RUNNER_LOG_DIR:-$RELEASE_MUTABLE_DIR/log}"
PIDFILE="$RELEASE_MUTABLE_DIR/node.pid"
NAME="$REL_NAME@127.0.0.1"
NODE_NAME=$(sed -n 's/^-s*name //p' "$RELEASES_DIR/$REL_VSN/vm.args")
${NODE}
COMMAND_NAME="\${1:-help}"
if [ "$#" -ne 0 ]; then shift; fi
case $COMMAND_NAME in
    start) node_start "$RUNNER_LOG_DIR" ;;
    ping) if node_running; then echo pong; else echo "Node $NAME is not running!"; exit 1; fi ;;
    pid) if node_running; then cat "$PIDFILE"; else echo "Node $NAME is not running!"; exit 1; fi ;;
    stop) if node_running; then node_stop; echo ok; else echo "Node $NAME is not running!"; exit 1; fi ;;
    rpc)
        if ! node_running; then echo "Node $NAME is not running!"; exit 1; fi
        # release_ctl rpc: what the expression prints, then its value (IO.inspect): IO.puts returns :ok
        case "$1" in
            *which_releases*) printf '"%s"\\n' "$(node_eval "$1")" ;;
            *) node_eval "$1"; echo ":ok" ;;
        esac ;;
    eval) node_eval "$1" ;;
    *)
        echo "'$COMMAND_NAME' is not a valid command"
        echo "USAGE"
        echo "  $REL_NAME <task> [options] [args..]"
        echo
        echo "COMMANDS"
        echo
        echo "  start                Start $REL_NAME as a daemon"
        echo "  stop                 Stop the $REL_NAME daemon"
        echo "  pid                  Get the pid of the running $REL_NAME instance"
        echo
        echo "Use $REL_NAME help <task> to get more information about a particular task (except custom commands)"
        exit 1 ;;
esac
`, 0o755);
  write(root, `releases/${vsn}/vm.args`, `-name ${app}@127.0.0.1\n-setcookie distillery-cookie\n`);
  write(root, `releases/${vsn}/${app}.rel`, `{release,{"${app}","${vsn}"},{erts,"12.0"},[]}.\n`);
  write(root, `releases/${vsn}/libexec/commands/start.sh`, '#!/usr/bin/env bash\n');
  // Distillery's own package of the release, which deliver's build packs along with the rest.
  write(root, `releases/${vsn}/${app}.tar.gz`, 'inner package');
  write(root, 'releases/start_erl.data', `12.0 ${vsn}\n`);
  write(root, 'releases/RELEASES', `[{release,"${app}","${vsn}","12.0",[],permanent}].\n`);
}

/** Elixir's `mix release`: bin/APP with RELEASE_* variables, releases/COOKIE, releases/VSN/env.sh. */
function mix(root: string, app: string, vsn: string): void {
  write(root, `bin/${app}`, `#!/bin/sh
set -e
SELF=$(readlink "$0" || true)
if [ -z "$SELF" ]; then SELF="$0"; fi
RELEASE_ROOT="$(CDPATH='' cd "$(dirname "$SELF")/.." && pwd -P)"
export RELEASE_ROOT
RELEASE_VSN="\${RELEASE_VSN:-"$(cut -d' ' -f2 "$RELEASE_ROOT/releases/start_erl.data")"}"
export RELEASE_VSN
RELEASE_COMMAND="$1"
export RELEASE_COMMAND
REL_NAME="${app}"
REL_VSN="$RELEASE_VSN"
RELEASE_DISTRIBUTION="\${RELEASE_DISTRIBUTION:-"sname"}"
export RELEASE_DISTRIBUTION
PIDFILE="$RELEASE_ROOT/tmp/node.pid"
. "$RELEASE_ROOT/releases/$RELEASE_VSN/env.sh"
NODE_NAME="\${RELEASE_NODE:-$REL_NAME}"
${NODE}
case $1 in
  daemon) node_start "$RELEASE_ROOT/tmp/log" ;;
  pid) if node_running; then cat "$PIDFILE"; else echo "--rpc-eval : RPC failed with reason :nodedown"; exit 1; fi ;;
  stop) if node_running; then node_stop; else echo "--rpc-eval : RPC failed with reason :nodedown"; exit 1; fi ;;
  rpc) if node_running; then node_eval "$2"; else echo "--rpc-eval : RPC failed with reason :nodedown"; exit 1; fi ;;
  eval) node_eval "$2" ;;
  version) echo "$REL_NAME $RELEASE_VSN" ;;
  *)
    echo "Usage: $(basename "$0") COMMAND [ARGS]

The known commands are:

    daemon         Starts the system as a daemon
    pid            Prints the operating system PID of the running system via a remote command
" >&2
    if [ -n "$1" ]; then
      echo "ERROR: Unknown command $1" >&2
      exit 1
    fi
    ;;
esac
`, 0o755);
  write(root, 'releases/COOKIE', 'mix-cookie');
  write(root, `releases/${vsn}/env.sh`, '#!/bin/sh\n# export RELEASE_DISTRIBUTION=name\n');
  write(root, `releases/${vsn}/vm.args`, '## vm.args\n');
  write(root, `releases/${vsn}/${app}.rel`, `{release,{"${app}","${vsn}"},{erts,"12.0"},[]}.\n`);
  write(root, 'releases/start_erl.data', `12.0 ${vsn}\n`);
}

/** relx (rebar3 release): bin/APP with RELX_ variables, bin/APP-VSN, bin/nodetool, releases/RELEASES. */
function relx(root: string, app: string, vsn: string): void {
  const script = `#!/bin/sh
set -e
SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd -P)"
RELEASE_ROOT_DIR="$(cd "$SCRIPT_DIR/.." && pwd -P)"
REL_NAME="${app}"
REL_VSN="${vsn}"
RELX_RPC_TIMEOUT=\${RELX_RPC_TIMEOUT:-60}
PIDFILE="$RELEASE_ROOT_DIR/node.pid"
NODE_NAME=$(eval echo "$(sed -n 's/^-s*name //p' "\${VMARGS_PATH:-$RELEASE_ROOT_DIR/releases/$REL_VSN/vm.args}")")
${NODE}
case "$1" in
    daemon) node_start "$RELEASE_ROOT_DIR/log" ;;
    ping) if node_running; then echo pong; else echo "Node '$REL_NAME@localhost' not responding to pings."; exit 1; fi ;;
    pid) if node_running; then cat "$PIDFILE"; else echo "Node '$REL_NAME@localhost' not responding to pings."; exit 1; fi ;;
    stop) if node_running; then node_stop; echo ok; else echo "Node '$REL_NAME@localhost' not responding to pings."; exit 1; fi ;;
    eval) if node_running; then printf '"%s"\\n' "$(node_eval "$2")"; else exit 1; fi ;;
    *)
        echo "Usage: $REL_NAME [COMMAND] [ARGS]"
        echo
        echo "Commands:"
        echo
        echo "  daemon                  Start release in the background with run_erl (named pipes)"
        echo "  ping                    Print pong if the node is alive"
        exit 1 ;;
esac
`;
  write(root, `bin/${app}`, script, 0o755);
  write(root, `bin/${app}-${vsn}`, script, 0o755);
  write(root, 'bin/nodetool', '%% nodetool\n');
  write(root, `releases/${vsn}/vm.args`, `-sname ${app}\n-setcookie relx-cookie\n`);
  write(root, `releases/${vsn}/sys.config`, '[].\n');
  write(root, `releases/${vsn}/${app}.rel`, `{release,{"${app}","${vsn}"},{erts,"12.0"},[]}.\n`);
  write(root, 'releases/start_erl.data', `12.0 ${vsn}\n`);
  write(root, 'releases/RELEASES', `[{release,"${app}","${vsn}","12.0",[],permanent}].\n`);
}

/** The release's own epmd (erts-VSN/bin/epmd): `-names` lists the fake nodes of this release root that have booted. */
function epmd(root: string): void {
  write(root, 'erts-12.0/bin/epmd', `#!/bin/sh
[ "$1" = -names ] || exit 1
root=$(cd "$(dirname "$0")/../.." && pwd -P)
echo "epmd: up and running on port \${ERL_EPMD_PORT:-4369} with data:"
for f in "$root/tmp/node.pid" "$root/var/node.pid" "$root/node.pid"; do
  if [ -f "$f.name" ] && kill -0 "$(cat "$f")" 2>/dev/null; then echo "name $(cat "$f.name") at port 40000"; fi
done
`, 0o755);
}

/** Writes a release root of `kind` for `app` at version `vsn` into `root`. */
export function writeReleaseLayout(kind: LayoutKind, root: string, app: string, vsn: string): void {
  ({ distillery, mix, relx })[kind](root, app, vsn);
  epmd(root);
}

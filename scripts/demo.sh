#!/usr/bin/env bash
# The main job, end to end on this machine: starts a test bed of its own (a build host and three production hosts,
# real sshd on loopback), copies the example Elixir app (examples/hello) into a fresh git repository, then builds,
# deploys, starts and queries it with deliver, echoing every deliver command before running it.
#
#   scripts/demo.sh [start]        run the demo (again: a fresh project, the bed and the hosts' releases are kept)
#   scripts/demo.sh stop [--clean] stop the demo's hosts and their nodes (--clean also deletes .demo/)
#
# Needs root (the bed binds port 22 on 127.0.9.x and uses mount namespaces); installs missing Debian packages.
# Env: DEMO_DIR (default <repo>/.demo), DEMO_NET (default 127.0.9: first three octets of the hosts' addresses).
# The demo never uses TESTBED_DIR/TESTBED_NET from the environment, so it cannot touch the test suite's bed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO_DIR=${DEMO_DIR:-$REPO/.demo}
BED_DIR=$DEMO_DIR/testbed
BED_NET=${DEMO_NET:-127.0.9}
# The bed's settings go to testbed.sh only: deliver would read an exported TESTBED_HOSTS as an environment's hosts.
unset TESTBED_DIR TESTBED_NET TESTBED_HOSTS TESTBED_EPMD_BASE
APP_DIR=$DEMO_DIR/hello
BED_HOME=$BED_DIR/home
ENV_NAME=production

if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
  BOLD=$'\033[1m' DIM=$'\033[2m' RED=$'\033[31m' RESET=$'\033[0m'
else
  BOLD='' DIM='' RED='' RESET=''
fi

die() { printf '%sdemo: %s%s\n' "$RED" "$*" "$RESET" >&2; exit 1; }
usage() { printf 'usage: %s [start] | stop [--clean]\n' "$0" >&2; exit 2; }
heading() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$RESET"; }

# A word as the user would type it in a shell (for echoing commands).
shell_word() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=+@%,-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}

# Echoes `deliver ARGS...`, then runs it in the demo project with the bed's HOME (so ~/.ssh is the bed's).
# A failing step ends the demo with deliver's exit status.
deliver() {
  local shown='deliver' a code=0
  for a in "$@"; do shown+=" $(shell_word "$a")"; done
  printf '\n%s$ %s%s\n' "$BOLD" "$shown" "$RESET"
  (cd "$APP_DIR" && HOME=$BED_HOME "$REPO/bin/deliver" "$@") || code=$?
  if ((code != 0)); then
    ((code == 130)) && exit 130
    printf '\n%sdemo: step failed (exit %d): %s%s\n' "$RED" "$code" "$shown" "$RESET" >&2
    exit "$code"
  fi
}

# bin/deliver runs dist/deliver.mjs; (re)build it when it is missing or older than a source file.
ensure_built() {
  local main=$REPO/dist/deliver.mjs
  if [[ ! -f $main || -n $(find "$REPO/src" -name '*.ts' -newer "$main" -print -quit) ]]; then
    heading 'Compiling deliver (npm run build)'
    [[ -d $REPO/node_modules ]] || die "node_modules is missing; run 'npm ci' in $REPO first"
    (cd "$REPO" && npm run --silent build) || die 'compiling deliver failed'
  fi
}

testbed() { TESTBED_DIR=$BED_DIR TESTBED_NET=$BED_NET TESTBED_HOSTS=3 "$REPO/scripts/testbed.sh" "$@"; }

git_in_app() { git -C "$APP_DIR" "$@"; }

# A fresh git repository with the example app and its .deliver/config: the build pushes local commits from it.
create_project() {
  [[ -f $REPO/examples/hello/mix.exs && -f $REPO/examples/hello/.deliver/config ]] || die "examples/hello is missing in $REPO"
  rm -rf "$APP_DIR"
  mkdir -p "$APP_DIR"
  cp -a "$REPO/examples/hello/." "$APP_DIR"
  # A local `mix test` in examples/hello leaves build output behind; the project starts without it.
  rm -rf "$APP_DIR/_build" "$APP_DIR/deps" "$APP_DIR/.deliver/releases" "$APP_DIR/.deliver/state"
  [[ -f $APP_DIR/mix.exs && -f $APP_DIR/.deliver/config ]] || die "copying examples/hello to $APP_DIR failed"
  git_in_app init -q -b main
  git_in_app config user.name 'deliver demo'
  git_in_app config user.email 'demo@deliver.invalid'
  git_in_app config commit.gpgsign false
  git_in_app add -A
  git_in_app commit -q -m 'hello: a counter app deployed with deliver'
  printf 'project: %s (git branch main, commit %s)\n' "$APP_DIR" "$(git_in_app rev-parse --short=7 HEAD)"
}

# The version the build just stored: the project is fresh, so its store holds exactly one release.
built_version() {
  local files=("$APP_DIR"/.deliver/releases/hello_*.release.tar.gz)
  [[ ${#files[@]} == 1 && -f ${files[0]} ]] || die "expected one release in $APP_DIR/.deliver/releases, found: ${files[*]##*/}"
  local f=${files[0]##*/}
  f=${f#hello_}
  echo "${f%.release.tar.gz}"
}

explore() {
  local rel_app=${APP_DIR#"$PWD"/}
  cat <<EOF

${BOLD}== Done.${RESET} Three production hosts run hello; the bed keeps running until you stop it.

Explore further (every command runs against the demo's hosts with their own ~/.ssh):
  alias deliver='HOME=$BED_HOME $REPO/bin/deliver'
  cd $rel_app
  deliver rpc $ENV_NAME 'IO.puts(Hello.status())'      ${DIM}# the counter goes up on every call${RESET}
  deliver migrate $ENV_NAME                            ${DIM}# Hello.Release.migrate/0, once (on the first host)${RESET}
  deliver check $ENV_NAME                              ${DIM}# every setting and where it came from${RESET}
  \$EDITOR lib/hello.ex && git commit -am 'change'      ${DIM}# then ship the change:${RESET}
  deliver build release && deliver deploy release to $ENV_NAME --version=latest --start-deploy
  deliver rollback $ENV_NAME                           ${DIM}# back to the previous release${RESET}
  deliver deploy release to $ENV_NAME --version=latest --dry-run   ${DIM}# every command, run nowhere${RESET}
  ssh -F $BED_HOME/.ssh/config host1 'ls -l /srv/app'  ${DIM}# a host's view: /srv/app/hello -> its release${RESET}

Stop it:  scripts/demo.sh stop        (or: npm run demo -- stop; add --clean to delete $DEMO_DIR)
EOF
}

cmd_start() {
  ((EUID == 0)) || die "the demo needs root: its test bed binds port 22 on $BED_NET.x and uses mount namespaces (sudo npm run demo)"
  command -v node >/dev/null || die "node is not on PATH (deliver needs Node.js 20 or newer)"
  ensure_built

  heading "Test bed: a build host and 3 production hosts on $BED_NET.x:22 ($BED_DIR)"
  testbed start

  heading 'The example app (examples/hello) in a fresh git repository'
  command -v git >/dev/null || die "git is not on PATH"
  create_project

  heading 'Build a release on the build host, deploy it to production, start and query it'
  deliver check "$ENV_NAME"
  deliver build release
  deliver show releases
  local version
  version=$(built_version)
  deliver deploy release to "$ENV_NAME" "--version=$version" --start-deploy
  deliver ping "$ENV_NAME"
  deliver version "$ENV_NAME"
  deliver rpc "$ENV_NAME" 'IO.puts(Hello.status())'
  deliver show deploys "$ENV_NAME"
  explore
}

cmd_stop() {
  local clean=0
  case ${1:-} in
    '') ;;
    --clean) clean=1 ;;
    *) usage ;;
  esac
  if [[ ! -e $BED_DIR ]]; then
    echo "demo: not running ($BED_DIR does not exist)"
  elif ((clean)); then
    testbed stop --clean
  else
    testbed stop
  fi
  if ((clean)); then
    rm -rf "$APP_DIR"
    rmdir "$DEMO_DIR" 2>/dev/null || true
    echo "demo: removed $APP_DIR"
  fi
}

trap 'exit 130' INT
case ${1:-start} in
  start) shift || true; (($# == 0)) || usage; cmd_start ;;
  stop) shift; (($# <= 1)) || usage; cmd_stop "$@" ;;
  *) usage ;;
esac

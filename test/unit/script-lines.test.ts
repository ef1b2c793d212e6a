// What `--dry-run --verbose` prints for each long script: one statement per line, for a fixed layout. A reader sees
// each script's shape here; the real-shell tests next to each builder's own test file run them.
import { describe, expect, it } from 'vitest';
import { layoutFor } from '../../src/deploy/layout.js';
import { detectKindCommand, inRunning, logTailCommand, startCommand } from '../../src/deploy/node-commands.js';
import { waitGoneCommand } from '../../src/deploy/node-plan.js';
import { epmdScript, nodeNameScript, runningCommand, waitUpCommand } from '../../src/deploy/node-wait.js';
import { acquireCommand, breakCommand, forceUnlockCommand, refreshCommand, unlockCommand } from '../../src/deploy/lock.js';
import { leftoversCommand, recordCommand } from '../../src/deploy/commands.js';
import { listCommand, publishCommand, storeDirCommand } from '../../src/store/remote.js';
import { runScriptFromStdin } from '../../src/ssh/continuation.js';
import { sh, statementLines, type Shell } from '../../src/ssh/quote.js';

const l = layoutFor('/srv', 'demo');
const owner = { id: 'o1', user: 'u', machine: 'm', pid: 7, at: 't', command: 'deploy' };

/** The lines --verbose prints; joined (trimmed, with spaces) they are the script that runs. */
function lines(script: Shell): string[] {
  const out = statementLines(script);
  expect(out.map((x) => x.trim()).join(' ')).toBe(script.text);
  return out;
}

describe("node control (node-commands.ts, node-plan.ts)", () => {
  it("detect: the release kind from the files each generator leaves, then the markers in bin/APP", () => {
    expect(lines(detectKindCommand(l))).toEqual([
      "if [ ! -f /srv/demo/bin/demo ]; then",
      "  echo none;",
      "else",
      "  cd /srv/demo &&",
      "  k= &&",
      "  {",
      "    if [ -z \"$k\" ]; then",
      "      for f in releases/*/demo.sh bin/demo_rc_exec.sh bin/demo_loader.sh; do",
      "        if [ -f \"$f\" ]; then",
      "          k=distillery;",
      "          break;",
      "        fi;",
      "      done;",
      "    fi;",
      "  };",
      "  if [ -z \"$k\" ]; then",
      "    for f in releases/COOKIE releases/*/env.sh; do",
      "      if [ -f \"$f\" ]; then",
      "        k=mix;",
      "        break;",
      "      fi;",
      "    done;",
      "  fi;",
      "  if [ -z \"$k\" ]; then",
      "    for f in bin/nodetool bin/install_upgrade.escript bin/demo-*; do",
      "      if [ -f \"$f\" ]; then",
      "        k=relx;",
      "        break;",
      "      fi;",
      "    done;",
      "  fi;",
      "  if [ -z \"$k\" ]; then",
      "    if grep -q RELEASE_DISTRIBUTION bin/demo; then",
      "      k=mix;",
      "    else",
      "      if grep -q RELX_ bin/demo; then",
      "        k=relx;",
      "      else",
      "        if grep -qi distillery bin/demo; then",
      "          k=distillery;",
      "        else",
      "          k=unknown;",
      "        fi;",
      "      fi;",
      "    fi;",
      "  fi;",
      "  echo \"$k\";",
      "fi",
    ]);
  });
  it("the running release's directory, the env file loaded first", () => {
    expect(lines(inRunning(l, '/srv/.deliver/demo/env'))).toEqual([
      "if [ -f /srv/.deliver/demo/env ]; then",
      "  set -a;",
      "  . /srv/.deliver/demo/env;",
      "  set +a;",
      "fi;",
      "d=/srv/demo;",
      "s=$(cat /srv/.deliver/demo/started 2>/dev/null);",
      "if [ -n \"$s\" ] && [ -x /srv/.deliver/demo/releases/\"$s\"/bin/demo ]; then",
      "  d=/srv/.deliver/demo/releases/\"$s\";",
      "fi;",
      "cd \"$d\"",
    ]);
  });
  it("start: record the release, put back boot files a hot upgrade saved, daemon", () => {
    expect(lines(startCommand(l, 'mix'))).toEqual([
      "cd /srv/demo &&",
      "basename \"$(pwd -P)\" > /srv/.deliver/demo/started.tmp &&",
      "mv -f /srv/.deliver/demo/started.tmp /srv/.deliver/demo/started &&",
      "{",
      "  if [ -d .deliver-boot ]; then",
      "    for f in releases/start_erl.data releases/RELEASES bin/demo; do",
      "      if [ -f .deliver-boot/\"$f\" ]; then",
      "        cp -p .deliver-boot/\"$f\" \"$f\" || exit 1;",
      "      else",
      "        rm -f \"$f\";",
      "      fi;",
      "    done &&",
      "    rm -rf .deliver-boot;",
      "  fi;",
      "} &&",
      "bin/demo daemon",
    ]);
  });
  it("the tail of the node's newest log", () => {
    expect(lines(logTailCommand(l))).toEqual([
      "cd /srv/demo && f=$(ls -t tmp/log/erlang.log.* log/erlang.log.* var/log/erlang.log.* 2>/dev/null | head -n 1);",
      "if [ -n \"$f\" ]; then",
      "  tail -n 20 \"$f\";",
      "fi;",
      "true",
    ]);
  });
  it("wait until an OS pid is gone", () => {
    expect(lines(waitGoneCommand(123, 1000))).toEqual([
      "i=0;",
      "while kill -0 123 2>/dev/null; do",
      "  i=$((i+1));",
      "  if [ $i -gt 5 ]; then",
      "    exit 1;",
      "  fi;",
      "  sleep 0.2;",
      "done",
    ]);
  });
});

describe("waiting on epmd (node-wait.ts)", () => {
  const NAME_RELX = [
    "n=$(",
    "  v=$(cut -d' ' -f2 releases/start_erl.data 2>/dev/null);",
    "  for f in \"$VMARGS_PATH\" \"releases/$v/vm.args\" \"releases/$v/vm.args.src\"; do",
    "    if [ -n \"$f\" ] && [ -f \"$f\" ]; then",
    "      a=$(sed -n 's/^-s\\{0,1\\}name[[:space:]]\\{1,\\}\\([^[:space:]]*\\).*/\\1/p' \"$f\" | head -n 1);",
    "      eval \"echo $a\";",
    "      break;",
    "    fi;",
    "  done 2>/dev/null;",
    ");",
    "n=${n%%@*}",
  ];
  const EPMD = [
    "e=;",
    "for f in erts-*/bin/epmd; do",
    "  if [ -x \"$f\" ]; then",
    "    e=$f;",
    "  fi;",
    "done;",
    "if [ -z \"$e\" ]; then",
    "  e=$(command -v epmd 2>/dev/null || true);",
    "fi",
  ];
  /** What every look at epmd starts with: the node's name, then the epmd to ask. */
  const WATCH = [...NAME_RELX.slice(0, -1), `${NAME_RELX.at(-1)!};`, ...EPMD.slice(0, -1), `${EPMD.at(-1)!};`];
  it("a mix release's node name, as its script computes it", () => {
    expect(lines(nodeNameScript('demo', 'mix'))).toEqual([
      "n=$(",
      "  RELEASE_ROOT=$(pwd -P) RELEASE_NAME=${RELEASE_NAME:-demo} RELEASE_VSN=${RELEASE_VSN:-$(cut -d' ' -f2 releases/start_erl.data 2>/dev/null)} RELEASE_COMMAND=daemon RELEASE_PROG=demo;",
      "  export RELEASE_ROOT RELEASE_NAME RELEASE_VSN RELEASE_COMMAND RELEASE_PROG;",
      "  if [ -f \"releases/$RELEASE_VSN/env.sh\" ]; then",
      "    . \"releases/$RELEASE_VSN/env.sh\" >/dev/null 2>&1 </dev/null;",
      "  fi;",
      "  if [ \"${RELEASE_DISTRIBUTION:-sname}\" != none ]; then",
      "    echo \"${RELEASE_NODE:-$RELEASE_NAME}\";",
      "  fi;",
      ");",
      "n=${n%%@*}",
    ]);
  });
  it("a relx release's node name, from vm.args; the release's own epmd, else the one on PATH", () => {
    expect(lines(nodeNameScript('demo', 'relx'))).toEqual(NAME_RELX);
    expect(lines(epmdScript())).toEqual(EPMD);
  });
  it("does it run: the name in epmd, else the release script", () => {
    expect(lines(runningCommand('demo', 'relx', sh`bin/demo pid`))).toEqual([...WATCH, ...[
      "if [ -n \"$n\" ] && [ -n \"$e\" ]; then",
      "  if \"$e\" -names 2>/dev/null | awk -v n=\"$n\" '$1 == \"name\" && $2 == n { f = 1 } END { exit !f }'; then",
      "    echo \"$n is registered in epmd\";",
      "    exit 0;",
      "  fi;",
      "  echo \"$n is not registered in epmd\";",
      "  exit 1;",
      "fi;",
      "bin/demo pid",
    ]]);
  });
  it("wait up: epmd every 0.2 s, else the ping every 0.3 s", () => {
    expect(lines(waitUpCommand('demo', 'relx', sh`bin/demo ping`, 5000))).toEqual([...WATCH, ...[
      "if [ -n \"$n\" ] && [ -n \"$e\" ]; then",
      "  i=0;",
      "  until \"$e\" -names 2>/dev/null | awk -v n=\"$n\" '$1 == \"name\" && $2 == n { f = 1 } END { exit !f }'; do",
      "    i=$((i+1));",
      "    if [ $i -gt 25 ]; then",
      "      echo \"$n is not registered in epmd ($e -names) after 5s\" >&2;",
      "      exit 1;",
      "    fi;",
      "    sleep 0.2;",
      "  done;",
      "else",
      "  i=0;",
      "  until ( bin/demo ping ) >/dev/null 2>&1; do",
      "    i=$((i+1));",
      "    if [ $i -gt 17 ]; then",
      "      echo \"no answer from bin/\"demo\" after 5s\" >&2;",
      "      exit 1;",
      "    fi;",
      "    sleep 0.3;",
      "  done;",
      "fi",
    ]]);
  });
});

describe("the deploy lock (lock.ts)", () => {
  it("take it: the parents, the atomic mkdir, the owner record; or report who holds it", () => {
    expect(lines(acquireCommand(l, owner))).toEqual([
      "[ -d /srv/.deliver/demo ] ||",
      "mkdir -p /srv/.deliver/demo ||",
      "exit $?;",
      "if mkdir /srv/.deliver/demo/lock 2>/dev/null; then",
      "  printf '%s\\n' '{\"id\":\"o1\",\"user\":\"u\",\"machine\":\"m\",\"pid\":7,\"at\":\"t\",\"command\":\"deploy\"}' > /srv/.deliver/demo/lock/owner.json ||",
      "  {",
      "    e=$?;",
      "    rm -rf /srv/.deliver/demo/lock;",
      "    exit \"$e\";",
      "  };",
      "  echo ACQUIRED;",
      "  true;",
      "else",
      "  echo HELD;",
      "  date +%s;",
      "  stat -c %Y /srv/.deliver/demo/lock 2>/dev/null || echo 0;",
      "  cat /srv/.deliver/demo/lock/owner.json 2>/dev/null;",
      "  exit 0;",
      "fi",
    ]);
  });
  it("break the judged stale lock, and only that one", () => {
    const s = breakCommand(l, { ownerId: 'o1', stamp: 100 });
    expect(lines(s).map((x) => x.replace(/lock\.stale-[a-z0-9]+/g, 'lock.stale-ID'))).toEqual([
      "deliver_judged() {",
      "  [ \"$(stat -c %Y \"$1\" 2>/dev/null)\" = 100 ] || return 1;",
      "  o=;",
      "  [ -f \"$1/owner.json\" ] && IFS= read -r o 2>/dev/null < \"$1/owner.json\";",
      "  case \"$o\" in",
      "    *'\"id\":\"o1\"'*)",
      "      return 0;;",
      "  esac;",
      "  return 1;",
      "};",
      "if deliver_judged /srv/.deliver/demo/lock && mv -T /srv/.deliver/demo/lock /srv/.deliver/demo/lock.stale-ID 2>/dev/null; then",
      "  if deliver_judged /srv/.deliver/demo/lock.stale-ID; then",
      "    rm -rf /srv/.deliver/demo/lock.stale-ID;",
      "    echo BROKEN;",
      "  else",
      "    mv -T /srv/.deliver/demo/lock.stale-ID /srv/.deliver/demo/lock 2>/dev/null || rm -rf /srv/.deliver/demo/lock.stale-ID;",
      "    echo KEPT;",
      "  fi;",
      "else",
      "  echo KEPT;",
      "fi",
    ]);
  });
  it("heartbeat", () => {
    expect(lines(refreshCommand(l, 'o1'))).toEqual([
      "o=;",
      "[ -f /srv/.deliver/demo/lock/owner.json ] && IFS= read -r o < /srv/.deliver/demo/lock/owner.json;",
      "case \"$o\" in",
      "  *'\"id\":\"o1\"'*)",
      "    touch -c /srv/.deliver/demo/lock &&",
      "    echo REFRESHED;;",
      "  *)",
      "    echo LOST;;",
      "esac",
    ]);
  });
  it("release our own lock and the upload", () => {
    expect(lines(unlockCommand(l, 'o1', ['/srv/.deliver/demo/incoming/x.tar.gz']))).toEqual([
      "o=;",
      "[ -f /srv/.deliver/demo/lock/owner.json ] && IFS= read -r o < /srv/.deliver/demo/lock/owner.json;",
      "case \"$o\" in",
      "  *'\"id\":\"o1\"'*)",
      "    rm -rf /srv/.deliver/demo/lock /srv/.deliver/demo/incoming/x.tar.gz;;",
      "  *)",
      "    rm -rf /srv/.deliver/demo/incoming/x.tar.gz;;",
      "esac",
    ]);
  });
  it("deliver unlock", () => {
    expect(lines(forceUnlockCommand(l))).toEqual([
      "if [ -d /srv/.deliver/demo/lock ]; then",
      "  cat /srv/.deliver/demo/lock/owner.json 2>/dev/null;",
      "  echo;",
      "  rm -rf /srv/.deliver/demo/lock;",
      "  echo UNLOCKED;",
      "else",
      "  echo NOLOCK;",
      "fi",
    ]);
  });
});

describe("deploy steps (commands.ts)", () => {
  it("remove what interrupted deploys left", () => {
    expect(lines(leftoversCommand(l))).toEqual([
      "for f in /srv/.deliver/demo/incoming/*.part-* /srv/.deliver/demo/releases/*.tmp-*; do",
      "  if [ -e \"$f\" ] || [ -L \"$f\" ]; then",
      "    rm -rf \"$f\" || exit 1;",
      "  fi;",
      "done",
    ]);
  });
  it("the audit line and the pruning never fail a deploy", () => {
    expect(lines(recordCommand(l, { v: 1 }, sh`rm -rf /srv/.deliver/demo/releases/0.0.1`))).toEqual([
      "{",
      "  {",
      "    [ -d /srv/.deliver/demo ] ||",
      "    mkdir -p /srv/.deliver/demo;",
      "  } &&",
      "  printf '%s\\n' '{\"v\":1}' >> /srv/.deliver/demo/deploys.jsonl;",
      "  rm -rf /srv/.deliver/demo/releases/0.0.1;",
      "} ||",
      "true",
    ]);
  });
});

describe("a store on an SSH host (store/remote.ts)", () => {
  it("list: the directory, then one line per release with its digest", () => {
    expect(lines(listCommand(sh`/store`, [sh`demo_*.tar.gz`]))).toEqual([
      "[ -d /store ] || exit 0;",
      "cd /store || exit 1;",
      "pwd -P;",
      "for f in demo_*.tar.gz; do",
      "  [ -f \"$f\" ] || continue;",
      "  printf '%s\\t%s\\t%s\\n' \"$(stat -c '%s %Y' -- \"$f\")\" \"$(head -c 64 -- \"$f.sha256\" 2>/dev/null)\" \"$f\";",
      "done",
    ]);
  });
  it("the directory for an upload, refusing an existing release", () => {
    expect(lines(storeDirCommand(sh`/store`, 'demo_0.2.0.tar.gz', false))).toEqual([
      "mkdir -p /store || exit 1;",
      "cd /store || exit 1;",
      "if [ -e demo_0.2.0.tar.gz ]; then",
      "  echo 'demo_0.2.0.tar.gz already exists' >&2;",
      "  exit 17;",
      "fi;",
      "pwd -P",
    ]);
  });
  it("publish: check the digest, refuse an existing release, rename into place", () => {
    expect(lines(publishCommand(sh`/store`, '.demo.tmp', 'demo_0.2.0.tar.gz', 'ab12', false))).toEqual([
      "cd /store || exit 1;",
      "a=$(sha256sum < .demo.tmp) || exit 1;",
      "a=${a%% *};",
      "if [ \"$a\" != ab12 ]; then",
      "  echo \"$a\" >&2;",
      "  exit 18;",
      "fi;",
      "if [ -e demo_0.2.0.tar.gz ]; then",
      "  echo 'demo_0.2.0.tar.gz already exists' >&2;",
      "  exit 17;",
      "fi;",
      "printf '%s  %s\\n' ab12 demo_0.2.0.tar.gz > .demo.tmp.sha256 &&",
      "mv -f -- .demo.tmp.sha256 demo_0.2.0.tar.gz.sha256 &&",
      "mv -f -- .demo.tmp demo_0.2.0.tar.gz &&",
      "f=demo_0.2.0.tar.gz &&",
      "printf '%s\\t%s\\t%s\\n' \"$(stat -c '%s %Y' -- \"$f\")\" \"$(head -c 64 -- \"$f.sha256\" 2>/dev/null)\" \"$f\"",
    ]);
  });
});

describe("the rest of a script from stdin (ssh/continuation.ts)", () => {
  it("read a length, the script, run it only when it ends in the end mark", () => {
    expect(lines(runScriptFromStdin())).toEqual([
      "IFS= read -r deliver_n || exit 0;",
      "case \"$deliver_n\" in",
      "  ''|*[!0-9]*)",
      "    exit 0;;",
      "esac;",
      "deliver_s=$(head -c \"$deliver_n\");",
      "case \"$deliver_s\" in",
      "  *'#deliver-end')",
      "    eval \"$deliver_s\";;",
      "  *)",
      "    exit 0;;",
      "esac",
    ]);
  });
});

// Waiting for a node without a VM per poll (src/deploy/node-wait.ts): the builders' exact text, the node name each
// release kind registers (run by a real sh against files like the generators write), and the waits against an epmd
// stand-in in the release's erts-VSN/bin.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { epmdScript, nodeNameScript, registeredScript, runningCommand, waitDownCommand, waitUpCommand } from '../../src/deploy/node-wait.js';
import { raw, sh, type Shell } from '../../src/ssh/quote.js';
import type { ReleaseKind } from '../../src/config/release-kind.js';

const tmp = mkdtempSync(join(tmpdir(), 'deliver-wait-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

function write(root: string, path: string, text: string, mode = 0o644): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
}

/** A release root with releases/start_erl.data (0.1.0) and `files`. */
function release(files: Record<string, string>): string {
  const root = join(tmp, `r${++n}`);
  write(root, 'releases/start_erl.data', '12.0 0.1.0\n');
  for (const [path, text] of Object.entries(files)) write(root, path, text);
  return root;
}

/** Runs `script` by sh in `cwd` with `env` added; `set -e`-free, like the node commands. */
function run(script: Shell, cwd: string, env: Record<string, string> = {}) {
  return spawnSync('sh', ['-c', script.text], { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8' });
}

const nameOf = (kind: ReleaseKind, root: string, env: Record<string, string> = {}) => run(sh`${nodeNameScript('demo', kind)}; printf %s "$n"`, root, env).stdout;

describe('the node name to look for in epmd', () => {
  it('builds the exact scripts', () => {
    expect(nodeNameScript('demo', 'mix').text).toBe(
      `n=$( RELEASE_ROOT=$(pwd -P) RELEASE_NAME=\${RELEASE_NAME:-demo} RELEASE_VSN=\${RELEASE_VSN:-$(cut -d' ' -f2 releases/start_erl.data 2>/dev/null)} RELEASE_COMMAND=daemon RELEASE_PROG=demo; export RELEASE_ROOT RELEASE_NAME RELEASE_VSN RELEASE_COMMAND RELEASE_PROG; if [ -f "releases/$RELEASE_VSN/env.sh" ]; then . "releases/$RELEASE_VSN/env.sh" >/dev/null 2>&1 </dev/null; fi; if [ "\${RELEASE_DISTRIBUTION:-sname}" != none ]; then echo "\${RELEASE_NODE:-$RELEASE_NAME}"; fi; ); n=\${n%%@*}`,
    );
    expect(nodeNameScript('demo', 'relx').text).toBe(
      `n=$( v=$(cut -d' ' -f2 releases/start_erl.data 2>/dev/null); for f in "$VMARGS_PATH" "releases/$v/vm.args" "releases/$v/vm.args.src"; do if [ -n "$f" ] && [ -f "$f" ]; then a=$(sed -n 's/^-s\\{0,1\\}name[[:space:]]\\{1,\\}\\([^[:space:]]*\\).*/\\1/p' "$f" | head -n 1); eval "echo $a"; break; fi; done 2>/dev/null; ); n=\${n%%@*}`,
    );
    expect(nodeNameScript('demo', 'distillery').text).toBe(nodeNameScript('demo', 'relx').text);
    expect(epmdScript().text).toBe('e=; for f in erts-*/bin/epmd; do if [ -x "$f" ]; then e=$f; fi; done; if [ -z "$e" ]; then e=$(command -v epmd 2>/dev/null || true); fi');
    expect(registeredScript().text).toBe(`"$e" -names 2>/dev/null | awk -v n="$n" '$1 == "name" && $2 == n { f = 1 } END { exit !f }'`);
    expect(nodeNameScript("it's", 'mix').text).toContain(`RELEASE_NAME=\${RELEASE_NAME:-'it'\\''s'}`);
  });

  it('mix release: the release name by default, RELEASE_NODE from the env file or env.sh, nothing with RELEASE_DISTRIBUTION=none', () => {
    const stock = release({ 'releases/0.1.0/env.sh': '#!/bin/sh\n# export RELEASE_NODE=demo\n' });
    expect(nameOf('mix', stock)).toBe('demo');
    expect(nameOf('mix', stock, { RELEASE_NODE: 'web@127.0.4.1', RELEASE_DISTRIBUTION: 'name' })).toBe('web');
    expect(nameOf('mix', stock, { RELEASE_NODE: 'worker' })).toBe('worker');
    expect(nameOf('mix', stock, { RELEASE_DISTRIBUTION: 'none' })).toBe('');
    const custom = release({ 'releases/0.1.0/env.sh': 'export RELEASE_DISTRIBUTION=name\nexport RELEASE_NODE="${RELEASE_NAME}_${RELEASE_COMMAND}@10.0.0.5"\necho noise\n' });
    expect(nameOf('mix', custom)).toBe('demo_daemon');
    expect(nameOf('mix', release({}))).toBe('demo');
  });

  it('relx and Distillery: -sname or -name from vm.args, ${VAR}s expanded, VMARGS_PATH and vm.args.src; nothing without a name line', () => {
    for (const kind of ['relx', 'distillery'] as const) {
      expect(nameOf(kind, release({ 'releases/0.1.0/vm.args': '## comment\n-sname rdemo\n-setcookie c\n' }))).toBe('rdemo');
      expect(nameOf(kind, release({ 'releases/0.1.0/vm.args': '-setcookie c\n-name  rdemo@127.0.0.1 \n' }))).toBe('rdemo');
      expect(nameOf(kind, release({ 'releases/0.1.0/vm.args': '-name ${NODE_BASE}@${HOSTNAME}\n' }), { NODE_BASE: 'edge', HOSTNAME: 'h' })).toBe('edge');
      expect(nameOf(kind, release({ 'releases/0.1.0/vm.args.src': '-sname src_one\n' }))).toBe('src_one');
      const moved = release({ 'releases/0.1.0/vm.args': '-sname rdemo\n', 'etc/vm.args': '-sname moved\n' });
      expect(nameOf(kind, moved, { VMARGS_PATH: join(moved, 'etc/vm.args') })).toBe('moved');
      expect(nameOf(kind, release({ 'releases/0.1.0/vm.args': '-setcookie c\n' }))).toBe('');
      expect(nameOf(kind, release({}))).toBe('');
    }
  });
});

/** A release root named `name` in vm.args whose erts-12.0/bin/epmd lists `other`, and `rdemo` while the file `up` exists. */
function withEpmd(name: string): string {
  const root = release({ 'releases/0.1.0/vm.args': `-sname ${name}\n` });
  write(root, 'erts-12.0/bin/epmd', `#!/bin/sh
[ "$1" = -names ] || exit 1
echo "epmd: up and running on port 4369 with data:"
echo "name other at port 40001"
if [ -f "${root}/up" ]; then echo "name rdemo at port 40000"; fi
`, 0o755);
  return root;
}

const ping = raw('[ -f up ]');

describe('waiting on the host', () => {
  it('builds the exact wait script', () => {
    expect(waitUpCommand('demo', 'relx', raw('bin/demo ping'), 1000).text).toBe(
      `${nodeNameScript('demo', 'relx').text}; ${epmdScript().text}; if [ -n "$n" ] && [ -n "$e" ]; then i=0; until ${registeredScript().text}; do i=$((i+1)); if [ $i -gt 5 ]; then echo "$n is not registered in epmd ($e -names) after 1s" >&2; exit 1; fi; sleep 0.2; done; else i=0; until ( bin/demo ping ) >/dev/null 2>&1; do i=$((i+1)); if [ $i -gt 4 ]; then echo "no answer from bin/"demo" after 1s" >&2; exit 1; fi; sleep 0.3; done; fi`,
    );
  });

  it('up: returns once the name is in epmd, without running the release script', () => {
    const root = withEpmd('rdemo');
    const t0 = Date.now();
    const r = run(sh`(sleep 0.6; touch up) & ${waitUpCommand('demo', 'relx', raw('echo SCRIPT; exit 1'), 5000)}`, root);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('up: fails after the timeout naming the name it watched; a name that is only a prefix does not count', () => {
    const root = withEpmd('rdem');
    write(root, 'up', '');
    const r = run(waitUpCommand('demo', 'relx', raw('exit 0'), 600), root);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('rdem is not registered in epmd (erts-12.0/bin/epmd -names) after 1s\n');
  });

  it('up: without a name to watch, it polls the release script until it answers', () => {
    const root = release({ 'releases/0.1.0/vm.args': '-setcookie c\n' });
    expect(run(sh`(sleep 0.5; touch up) & ${waitUpCommand('demo', 'relx', ping, 5000)}`, root).status).toBe(0);
    const never = run(waitUpCommand('demo', 'relx', raw('exit 1'), 500), root);
    expect([never.status, never.stderr]).toEqual([1, 'no answer from bin/demo after 1s\n']);
  });

  it('down: returns once the name is gone from epmd', () => {
    const root = withEpmd('rdemo');
    write(root, 'up', '');
    expect(run(sh`(sleep 0.5; rm up) & ${waitDownCommand('demo', 'relx', raw('exit 0'), 5000)}`, root).status).toBe(0);
    write(root, 'up', '');
    const stuck = run(waitDownCommand('demo', 'relx', raw('exit 0'), 400), root);
    expect([stuck.status, stuck.stderr]).toEqual([1, 'rdemo is still registered in epmd after 0s\n']);
  });

  it('running?: epmd answers whether the node runs, the release script is not asked; without a name, it is', () => {
    const root = withEpmd('rdemo');
    const off = run(runningCommand('demo', 'relx', raw('echo 4242')), root);
    expect([off.status, off.stdout]).toEqual([1, 'rdemo is not registered in epmd\n']);
    write(root, 'up', '');
    const on = run(runningCommand('demo', 'relx', raw('echo 4242')), root);
    expect([on.status, on.stdout]).toEqual([0, 'rdemo is registered in epmd\n']);
    // No name to look for: the script answers.
    const unnamed = release({ 'releases/0.1.0/vm.args': '-setcookie c\n' });
    expect(run(runningCommand('demo', 'relx', raw('echo 4242')), unnamed).stdout).toBe('4242\n');
  });
});

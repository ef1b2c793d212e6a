// Node command lines per release kind, and hooks, run by a real shell against fake release scripts.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { layoutFor } from '../../src/deploy/layout.js';
import { detectKindCommand, parseKind, pingCommand, rpcCommand, startCommand, stopCommand } from '../../src/deploy/node-commands.js';
import { queryCommand } from '../../src/deploy/node.js';
import { hookCommand } from '../../src/deploy/hooks.js';
import { healthCheckCommand } from '../../src/deploy/commands.js';
import { auditEntry, parseAuditLog } from '../../src/deploy/audit.js';
import { planRollback } from '../../src/deploy/rollback.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

const run = (text: string) => spawnSync('sh', ['-c', text], { encoding: 'utf8' });

/** A host with two installed releases whose script echoes its version and arguments. */
function host(scriptMarker: string) {
  const dir = tmp('nd-');
  const l = layoutFor(dir, 'demo');
  for (const v of ['1', '2']) {
    mkdirSync(join(l.releases, v, 'bin'), { recursive: true });
    writeFileSync(join(l.releases, v, 'bin', 'demo'), `#!/bin/sh\n# ${scriptMarker}\necho "v${v} $* cookie=\${RELEASE_COOKIE:-none}"\n`);
    chmodSync(join(l.releases, v, 'bin', 'demo'), 0o755);
  }
  symlinkSync('.deliver/demo/releases/2', l.root);
  return l;
}

describe('node commands', () => {
  it('detects mix, relx and distillery scripts', () => {
    expect(parseKind(run(detectKindCommand(host('export RELEASE_DISTRIBUTION=sname')).text).stdout)).toBe('mix');
    expect(parseKind(run(detectKindCommand(host('RELX_CONFIG_PATH=x')).text).stdout)).toBe('relx');
    expect(parseKind(run(detectKindCommand(host('RELEASE_ROOT_DIR=x distillery')).text).stdout)).toBe('distillery');
    expect(parseKind(run(detectKindCommand(layoutFor('/nonexistent', 'demo')).text).stdout)).toBeUndefined();
  });

  it('start records the release; stop/ping/rpc use the script of the release the node was started from', () => {
    const l = host('RELEASE_DISTRIBUTION');
    const envf = join(l.home, 'prod.env');
    writeFileSync(envf, 'RELEASE_COOKIE="s3cr3t value"\n');
    expect(run(startCommand(l, 'mix', envf).text).stdout).toBe('v2 daemon cookie=s3cr3t value\n');
    // a new release gets activated; the running node is still the one from release 2
    run(`ln -sfn .deliver/demo/releases/1 ${l.root}`);
    expect(run(stopCommand(l, 'mix', envf).text).stdout).toBe('v2 stop cookie=s3cr3t value\n');
    expect(run(pingCommand(l, 'mix').text).stdout).toBe('v2 pid cookie=none\n');
    expect(run(pingCommand(l, 'relx').text).stdout).toBe('v2 ping cookie=none\n');
    expect(run(rpcCommand(l, 'mix', `IO.puts("it's $HOME")`).text).stdout).toBe(`v2 rpc IO.puts("it's $HOME") cookie=none\n`);
    expect(run(rpcCommand(l, 'relx', 'ok.').text).stdout).toBe('v2 eval ok. cookie=none\n');
    expect(run(startCommand(l, 'distillery').text).stdout).toBe('v1 start cookie=none\n');
  });

  it('maps one-shot queries, migrate and run', () => {
    const l = host('RELEASE_DISTRIBUTION');
    expect(run(queryCommand(l, 'mix', { action: 'migrate', migration: { action: 'up', app: 'demo' } }).text).stdout).toBe('v2 eval Demo.Release.migrate() cookie=none\n');
    expect(run(queryCommand(l, 'mix', { action: 'migrate', migration: { action: 'up', app: 'demo', command: 'bin/demo eval "Custom.go()"' } }).text).stdout).toBe('v2 eval Custom.go() cookie=none\n');
    expect(run(queryCommand(l, 'mix', { action: 'run', args: ['version', 'a b'] }).text).stdout).toBe('v2 version a b cookie=none\n');
  });

  it('a MIGRATE_COMMAND or HEALTH_CHECK ending in a comment keeps the wrapper around it whole', () => {
    const l = host('comment');
    const migrate = queryCommand(l, 'mix', { action: 'migrate', migration: { action: 'up', app: 'demo', command: 'bin/demo eval "A.go()"; bin/demo eval "B.go()" # both' } });
    const m = run(migrate.text);
    expect(m.stderr).toBe('');
    expect(m.stdout).toBe('v2 eval A.go() cookie=none\nv2 eval B.go() cookie=none\n');
    // The health check runs in the release root; its comment must not hide the `cd` failing or what follows it.
    expect(healthCheckCommand(l, 'test -x bin/demo # ready?').text).toBe(`cd ${l.root} && { test -x bin/demo # ready?\n}`);
    const h = run(`${healthCheckCommand(l, 'test -x bin/demo; echo ok # ready?').text} && echo after`);
    expect([h.status, h.stdout, h.stderr]).toEqual([0, 'ok\nafter\n', '']);
    expect(run(`${healthCheckCommand(layoutFor('/nonexistent', 'demo'), 'echo ran; true # x').text} || echo refused`).stdout).toBe('refused\n');
  });
});

describe('hooks and audit', () => {
  it('runs a config hook with bash, __remote in the release dir, and fails on error', () => {
    const dir = tmp('hk-');
    const hooks = new Map([
      ['pre_start_deployed_release', { name: 'pre_start_deployed_release', body: '', source: 'pre_start_deployed_release() {\n  status "starting $APP $VERSION"\n  __remote "pwd"\n}', location: { file: 'c', line: 1 } }],
      ['post_extract_release_archive', { name: 'post_extract_release_archive', body: '', source: 'post_extract_release_archive() {\n  __remote "false"\n  echo unreachable\n}', location: { file: 'c', line: 5 } }],
    ]);
    const ok = run(hookCommand(hooks, 'pre_start_deployed_release', { APP: 'demo', VERSION: '1.0', RELEASE_DIR: dir })!.text);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(`-----> starting demo 1.0\n${dir}\n`);
    const bad = run(hookCommand(hooks, 'post_extract_release_archive', { RELEASE_DIR: dir })!.text);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toBe('');
    expect(hookCommand(hooks, 'pre_extract_release_archive', {})).toBeUndefined();
  });

  it('audit entries round-trip and skip damaged lines', () => {
    const e = auditEntry({ action: 'deploy', env: 'prod', version: '1.0', result: 'failed', error: 'a\nb' });
    expect(e.error).toBe('a');
    expect(parseAuditLog(`${JSON.stringify(e)}\n{"broken\n`)).toEqual([e]);
  });

  it('rollback refuses when the target is missing on some host', () => {
    const l = layoutFor('/srv', 'demo');
    const st = (rel: string[], active: string, hist: string[]) => `link=.deliver/demo/releases/${active}\n[releases]\n${rel.join('\n')}\n[history]\n${hist.join('\n')}\n`;
    const plan = planRollback([{ host: 'a', layout: l, stateText: st(['1', '2'], '2', ['1', '2']) }]);
    expect(plan[0]!.to).toBe('1');
    expect(() => planRollback([
      { host: 'a', layout: l, stateText: st(['1', '2'], '2', ['1', '2']) },
      { host: 'b', layout: l, stateText: st(['2'], '2', ['2']) },
    ])).toThrow('rollback refused: there is no previous release on 1 of 2 host(s): b');
    expect(() => planRollback([{ host: 'a', layout: l, stateText: st(['1', '2'], '2', ['1', '2']) }], '3')).toThrow(/release 3 is not installed on 1 of 1 host\(s\): a/);
  });
});

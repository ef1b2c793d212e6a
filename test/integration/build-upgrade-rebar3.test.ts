// `deliver build upgrade` for a rebar3 (relx) release with a gen_server counter, built on the bed's real build host
// (rebar3's own relup and tar, deliver's generated appup); the tarball then hot-upgrades a running 0.1.0 node with
// relx's own `bin/demorel upgrade 0.2.0` (node unpacked here on the test machine, same OTP).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bed, commitFile, createRebarFixture, deliver, git, onHost, spareEpmdPort, writeDeliverConfig, type Fixture } from '../helpers/fixtures.js';
import { erlangCounter } from '../helpers/counter-apps.js';

const BUILD_AT = '/srv/builds/build-upgrade-rebar3';
let fx: Fixture;
let node: { dir: string; env: NodeJS.ProcessEnv } | undefined;

const counter = (step: number) => erlangCounter('demorel', step);

function setVersion(version: string): void {
  const cfg = readFileSync(join(fx.dir, 'rebar.config'), 'utf8').replace(/\{demorel, "[^"]*"\}/, `{demorel, "${version}"}`);
  commitFile(fx, 'rebar.config', cfg, `release ${version}`);
  const src = 'apps/demorel/src/demorel.app.src';
  commitFile(fx, src, readFileSync(join(fx.dir, src), 'utf8').replace(/\{vsn, "[^"]*"\}/, `{vsn, "${version}"}`), `app ${version}`);
}

function store(file: string): string {
  return join(fx.dir, '.deliver/releases', file);
}

function script(...args: string[]): string {
  if (!node) throw new Error('no node');
  return execFileSync(join(node.dir, 'bin/demorel'), args, { env: node.env, encoding: 'utf8', timeout: 60_000 }).trim();
}

async function pong(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      if (script('ping') === 'pong') return;
    } catch {
      await new Promise((res) => setTimeout(res, 200));
    }
  }
}

beforeAll(() => {
  bed();
  fx = createRebarFixture('demorel');
  commitFile(fx, 'apps/demorel/src/demorel_counter.erl', counter(1), 'counter');
  const sup = 'apps/demorel/src/demorel_sup.erl';
  commitFile(fx, sup, readFileSync(join(fx.dir, sup), 'utf8').replace('ChildSpecs = []', 'ChildSpecs = [#{id => demorel_counter, start => {demorel_counter, start_link, []}}]'), 'start the counter');
  writeDeliverConfig(fx, { app: 'demorel', buildHost: 'build', buildUser: 'root', buildAt: BUILD_AT });
});

afterAll(() => {
  if (node) {
    try {
      script('stop');
    } catch {
      // already stopped
    }
    // The node's epmd (it started one on its port); gone already when the node took it down.
    spawnSync('epmd', ['-port', String(node.env.ERL_EPMD_PORT), '-kill'], { stdio: 'ignore' });
  }
});

describe('build upgrade (rebar3)', () => {
  it('--from=TAG after build release: rebar3 relup with a generated appup; relx `upgrade` installs it in a running node, same pid, counter kept, restart boots 0.2.0', async () => {
    git(fx.dir, 'tag', 'v0.1.0');
    setVersion('0.2.0');
    commitFile(fx, 'apps/demorel/src/demorel_counter.erl', counter(10), 'counter counts in tens');

    // edeliver's order: the release first, then the upgrade; the stored release is kept, not an error.
    expect((await deliver(fx.dir, ['build', 'release'])).code).toBe(0);
    const stored = statSync(store('demorel_0.2.0.release.tar.gz')).mtimeMs;
    const r = await deliver(fx.dir, ['build', 'upgrade', '--from=v0.1.0', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { from: string; to: string; file: string; appups: unknown[] };
    expect(res).toMatchObject({ from: '0.1.0', to: '0.2.0', file: 'demorel_0.2.0.upgrade.tar.gz' });
    expect(res.appups).toEqual([{ app: 'demorel', from: '0.1.0', to: '0.2.0', source: 'generated' }]);
    for (const f of ['demorel_0.1.0.release.tar.gz', 'demorel_0.2.0.release.tar.gz', 'demorel_0.2.0.upgrade.tar.gz']) expect(existsSync(store(f))).toBe(true);
    expect(statSync(store('demorel_0.2.0.release.tar.gz')).mtimeMs).toBe(stored);
    const relup = await deliver(fx.dir, ['show', 'relup', '0.2.0']);
    expect(relup.stdout).toContain('0.1.0 → 0.2.0 (upgrade');
    expect(relup.stdout).toContain('code_change up: demorel_counter');

    const dir = mkdtempSync(join(tmpdir(), 'deliver-upgrade-relx-'));
    execFileSync('tar', ['-xzf', store('demorel_0.1.0.release.tar.gz'), '-C', dir]);
    node = { dir, env: { ...process.env, ERL_EPMD_PORT: String(spareEpmdPort(8)) } };
    script('daemon');
    await pong();
    const pid = script('pid');
    expect(script('eval', 'demorel_counter:bump().')).toBe('1');
    writeFileSync(join(dir, 'releases/demorel-0.2.0.tar.gz'), readFileSync(store('demorel_0.2.0.upgrade.tar.gz')));
    script('upgrade', '0.2.0');
    expect(script('pid')).toBe(pid);
    expect(script('eval', 'demorel_counter:bump().')).toBe('11');
    expect(script('versions')).toMatch(/\* 0\.2\.0\s+permanent/);

    // A restart afterwards boots 0.2.0.
    script('stop');
    script('daemon');
    await pong();
    expect(script('eval', 'demorel_counter:bump().')).toBe('10');
  });

  it('--with from a remote store: 0.2.0 → 0.3.0 stored there with its relup; the running node takes it', async () => {
    const remote = { RELEASE_STORE: 'root@host39:/srv/upgrade-store' };
    onHost('host39', 'rm -rf /srv/upgrade-store');
    expect((await deliver(fx.dir, ['upload', 'release', '0.2.0'], remote)).code).toBe(0);
    setVersion('0.3.0');
    commitFile(fx, 'apps/demorel/src/demorel_counter.erl', counter(100), 'counter counts in hundreds');

    const r = await deliver(fx.dir, ['build', 'upgrade', '--with=0.2.0', '--json'], remote);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ from: '0.2.0', to: '0.3.0', file: 'demorel_0.3.0.upgrade.tar.gz' });
    expect(onHost('host39', 'ls /srv/upgrade-store').split('\n')).toEqual(expect.arrayContaining([
      'demorel_0.3.0.release.tar.gz', 'demorel_0.3.0.upgrade.tar.gz', 'demorel_0.3.0.upgrade.tar.gz.sha256', 'demorel_0.3.0.upgrade.tar.gz.relup',
    ]));
    expect((await deliver(fx.dir, ['show', 'releases'], remote)).stdout).toMatch(/demorel +0\.3\.0 .*upgrade from 0\.2\.0/);
    expect((await deliver(fx.dir, ['show', 'relup', '0.3.0'], remote)).stdout).toContain('0.2.0 → 0.3.0 (upgrade');

    if (!node) throw new Error('no node from the first test');
    const got = await deliver(fx.dir, ['download', 'upgrade', '0.3.0', join(node.dir, 'releases/demorel-0.3.0.tar.gz')], remote);
    expect(got.code).toBe(0);
    const pid = script('pid');
    script('upgrade', '0.3.0');
    expect(script('pid')).toBe(pid);
    expect(script('eval', 'demorel_counter:bump().')).toBe('110');
  });
});

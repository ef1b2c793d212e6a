// `deliver deploy upgrade` for a `mix release` app with a gen_server counter on three bed hosts, every release built
// for real on the bed's build host (one build per version, shared by the tests in order): the hot upgrade through
// release_handler in the running nodes (same OS pids, counters kept, new code), `deliver version` saying what the
// node runs, a restart booting the new version, a second upgrade `--with` from a remote store, and a failing
// code_change leaving the node on its old version.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bed, commitFile, createMixFixture, deliver, git, onHost, writeDeliverConfig, type Fixture } from '../helpers/fixtures.js';
import { elixirCounter } from '../helpers/counter-apps.js';

const APP = 'upmix';
const HOSTS = ['host26', 'host27', 'host28'];
const DELIVER_TO = '/srv/deploy-upgrade-mix';
const REMOTE = { RELEASE_STORE: 'root@host29:/srv/upgrade-store-mix' };
let fx: Fixture;

const counter = (step: number, codeChange = '{:ok, n}') => elixirCounter('Upmix.Counter', step, codeChange);

function put(path: string, content: string): void {
  if (existsSync(join(fx.dir, path)) && readFileSync(join(fx.dir, path), 'utf8') === content) return;
  commitFile(fx, path, content, path);
}

function setVersion(version: string, step: number, codeChange?: string): void {
  put('mix.exs', readFileSync(join(fx.dir, 'mix.exs'), 'utf8').replace(/version: "[^"]*"/, `version: "${version}"`));
  put('lib/upmix/counter.ex', counter(step, codeChange));
  put('lib/upmix/greeting.ex', `defmodule Upmix.Greeting do\n  def hello, do: "hello from ${version}"\nend\n`);
}

async function ok(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await deliver(fx.dir, args, env);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

const on = (host: string, command: string, ...args: string[]) => ok([command, 'production', ...args, '--host', host]);
const bump = (host: string) => on(host, 'rpc', 'IO.puts(Upmix.Counter.bump())');

beforeAll(async () => {
  bed();
  fx = createMixFixture(APP);
  put('lib/upmix/application.ex', readFileSync(join(fx.dir, 'lib/upmix/application.ex'), 'utf8').replace('children = [', 'children = [Upmix.Counter'));
  setVersion('0.1.0', 1);
  git(fx.dir, 'tag', 'v0.1.0');
  for (const h of HOSTS) onHost(h, `rm -rf ${DELIVER_TO}`);
  onHost('host29', 'rm -rf /srv/upgrade-store-mix');
  writeDeliverConfig(fx, {
    app: APP,
    buildHost: 'build',
    buildUser: 'root',
    buildAt: '/srv/builds/deploy-upgrade-mix',
    extra: [`PRODUCTION_HOSTS="${HOSTS.join(' ')}"`, 'PRODUCTION_USER="root"', `DELIVER_TO="${DELIVER_TO}"`].join('\n'),
  });
  await ok(['build', 'release']);
  await ok(['deploy', 'release', 'production', '--start-deploy']);
  for (const h of HOSTS) expect(await bump(h)).toBe('1');
}, 600_000);

afterAll(async () => {
  if (fx) await deliver(fx.dir, ['stop', 'production']);
}, 120_000);

describe('deploy upgrade (mix release)', () => {
  it('build upgrade --from=v0.1.0, deploy upgrade: same OS pids, counters kept, new code, `version` says 0.2.0; a restart boots 0.2.0', async () => {
    setVersion('0.2.0', 10);
    await ok(['build', 'upgrade', '--from=v0.1.0']);
    const before = await Promise.all(HOSTS.map((h) => on(h, 'pid')));
    const r = await deliver(fx.dir, ['deploy', 'upgrade', 'production', '--version=0.2.0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { version: string; accepts: string[]; hosts: { host: string; status: string; value: { from: string; to: string } }[] };
    expect(res.accepts).toEqual(['0.1.0']);
    expect(res.hosts.map((h) => [h.host, h.status, h.value.from, h.value.to])).toEqual(HOSTS.map((h) => [`root@${h}`, 'ok', '0.1.0', '0.2.0']));
    for (const [i, h] of HOSTS.entries()) {
      expect(await on(h, 'pid')).toBe(before[i]);
      expect(await bump(h)).toBe('11');
      expect(await on(h, 'rpc', 'IO.puts(Upmix.Greeting.hello())')).toBe('hello from 0.2.0');
      // The node runs 0.2.0; its RELEASE_VSN still says 0.1.0 (what `version` printed before).
      expect(await on(h, 'version')).toBe('0.2.0');
      expect(onHost(h, `readlink ${DELIVER_TO}/${APP}`).trim()).toBe(`.deliver/${APP}/releases/0.2.0`);
    }
    await on(HOSTS[0]!, 'restart');
    expect(await on(HOSTS[0]!, 'version')).toBe('0.2.0');
    expect(await on(HOSTS[0]!, 'rpc', 'IO.puts(System.get_env("RELEASE_VSN"))')).toBe('0.2.0');
    expect(await bump(HOSTS[0]!)).toBe('10');
  }, 600_000);

  it('a second upgrade in a row, --with=0.2.0 from a remote store: the restarted node and the twice-upgraded ones take it', async () => {
    await ok(['upload', 'release', '0.2.0'], REMOTE);
    setVersion('0.3.0', 100);
    await ok(['build', 'upgrade', '--with=0.2.0'], REMOTE);
    const before = await Promise.all(HOSTS.map((h) => on(h, 'pid')));
    const r = await deliver(fx.dir, ['deploy', 'upgrade', 'production', '--version=0.3.0'], REMOTE);
    expect(r.code, r.stderr).toBe(0);
    for (const [i, h] of HOSTS.entries()) {
      expect(await on(h, 'pid')).toBe(before[i]);
      expect(await on(h, 'version')).toBe('0.3.0');
    }
    expect(await bump(HOSTS[0]!)).toBe('110');
    expect(await bump(HOSTS[1]!)).toBe('111');
    expect(await ok(['show', 'deploys', 'production', '--host', HOSTS[1]!])).toMatch(/upgrade +0\.3\.0 +0\.2\.0 +ok/);
  }, 600_000);

  it('a crash in code_change after two upgrades in a row: the node stays on 0.3.0 (release_handler rolls back), exit 1 naming host and reason; a restart boots 0.3.0', async () => {
    setVersion('0.4.0', 1000, 'raise "no_way"');
    await ok(['build', 'upgrade', '--with=0.3.0'], REMOTE);
    // host28 was never restarted: its node runs from the 0.1.0 root, hot-upgraded twice (what a fresh-clone CI run
    // once saw come back as 0.1.0).
    const r = await deliver(fx.dir, ['deploy', 'upgrade', 'production', '--version=0.4.0', '--host', HOSTS[2]!], REMOTE);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/root@host28 \[install\]: release_handler could not install 0\.4\.0: .*no_way.*; the node runs 0\.3\.0/);
    expect(await on(HOSTS[2]!, 'version')).toBe('0.3.0');
    expect(await on(HOSTS[2]!, 'rpc', 'IO.puts(Upmix.Greeting.hello())')).toBe('hello from 0.3.0');
    expect(onHost(HOSTS[2]!, `readlink ${DELIVER_TO}/${APP}`).trim()).toBe(`.deliver/${APP}/releases/0.3.0`);
    // The root it runs from says what it runs: release_handler's RELEASES and start_erl.data name 0.3.0 permanent.
    const root = `${DELIVER_TO}/.deliver/${APP}/releases/0.1.0/releases`;
    expect(onHost(HOSTS[2]!, `cat ${root}/start_erl.data`).trim()).toMatch(/ 0\.3\.0$/);
    expect(onHost(HOSTS[2]!, `cat ${root}/RELEASES`)).toMatch(/"0\.3\.0",\s*"[\d.]+",\s*\[[^\]]*\],\s*permanent/);
    expect(await ok(['show', 'deploys', 'production', '--host', HOSTS[2]!], REMOTE)).toMatch(/upgrade +0\.4\.0 +0\.3\.0 +failed \(install\)/);
    // A restart boots the last good version.
    await on(HOSTS[2]!, 'restart');
    expect(await on(HOSTS[2]!, 'version')).toBe('0.3.0');
    expect(await on(HOSTS[2]!, 'rpc', 'IO.puts(System.get_env("RELEASE_VSN"))')).toBe('0.3.0');
  }, 600_000);
});

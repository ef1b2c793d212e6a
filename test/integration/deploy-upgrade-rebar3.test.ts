// `deliver deploy upgrade` and `deliver upgrade` for a rebar3 (relx) release with a gen_server counter on three bed
// hosts, every release built for real on the bed's build host (one build per version, shared by the tests in order):
// refusals before any change, the hot upgrade (same OS pids, counter kept, new code), a restart booting the new
// version, a failing code_change (release_handler's rollback, exit 1), and `deliver upgrade` with a stopped node.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bed, commitFile, createRebarFixture, deliver, git, onHost, writeDeliverConfig, type Fixture } from '../helpers/fixtures.js';
import { erlangCounter } from '../helpers/counter-apps.js';

const APP = 'uprel';
const HOSTS = ['host23', 'host24', 'host25'];
const DELIVER_TO = '/srv/deploy-upgrade-relx';
let fx: Fixture;

const counter = (step: number, codeChange?: string) => erlangCounter(APP, step, codeChange);

/** Commits `path` when its content changes. */
function put(path: string, content: string): void {
  if (existsSync(join(fx.dir, path)) && readFileSync(join(fx.dir, path), 'utf8') === content) return;
  commitFile(fx, path, content, `${path}`);
}

function setVersion(version: string, step: number, codeChange?: string): void {
  put('rebar.config', readFileSync(join(fx.dir, 'rebar.config'), 'utf8').replace(new RegExp(`\\{${APP}, "[^"]*"\\}`), `{${APP}, "${version}"}`));
  const src = `apps/${APP}/src/${APP}.app.src`;
  put(src, readFileSync(join(fx.dir, src), 'utf8').replace(/\{vsn, "[^"]*"\}/, `{vsn, "${version}"}`));
  put(`apps/${APP}/src/${APP}_counter.erl`, counter(step, codeChange));
}

async function ok(args: string[]): Promise<string> {
  const r = await deliver(fx.dir, args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

const on = (host: string, command: string, ...args: string[]) => ok([command, 'production', ...args, '--host', host]);
const active = (host: string) => onHost(host, `readlink ${DELIVER_TO}/${APP}`).trim().split('/').pop();

async function pids(hosts = HOSTS): Promise<string[]> {
  return Promise.all(hosts.map((h) => on(h, 'pid')));
}

beforeAll(async () => {
  bed();
  fx = createRebarFixture(APP);
  const sup = `apps/${APP}/src/${APP}_sup.erl`;
  commitFile(fx, sup, readFileSync(join(fx.dir, sup), 'utf8').replace('ChildSpecs = []', `ChildSpecs = [#{id => ${APP}_counter, start => {${APP}_counter, start_link, []}}]`), 'start the counter');
  setVersion('0.1.0', 1);
  git(fx.dir, 'tag', 'v0.1.0');
  for (const h of HOSTS) onHost(h, `rm -rf ${DELIVER_TO}`);
  writeDeliverConfig(fx, {
    app: APP,
    buildHost: 'build',
    buildUser: 'root',
    buildAt: '/srv/builds/deploy-upgrade-rebar3',
    extra: [
      `PRODUCTION_HOSTS="${HOSTS.join(' ')}"`,
      'PRODUCTION_USER="root"',
      `DELIVER_TO="${DELIVER_TO}"`,
      'pre_upgrade_release() { echo "pre $PREVIOUS_VERSION $VERSION" >> "$DELIVER_TO/hooks.log"; }',
      'post_upgrade_release() { echo "post $PREVIOUS_VERSION $VERSION" >> "$DELIVER_TO/hooks.log"; }',
      // `upgrade --run-migrations` runs this once, in the release root active once every host has the new code.
      `MIGRATE_COMMAND='pwd -P >> ${DELIVER_TO}/migrations.log'`,
    ].join('\n'),
  });
  await ok(['build', 'release']);
  await ok(['deploy', 'release', 'production', '--start-deploy']);
  for (const h of HOSTS) expect(await on(h, 'rpc', `${APP}_counter:bump().`)).toBe('1');
}, 600_000);

afterAll(async () => {
  if (fx) await deliver(fx.dir, ['stop', 'production']);
}, 120_000);

describe('deploy upgrade (relx)', () => {
  it('a stopped node refuses the upgrade before any host changes, naming the host, what it runs and what the upgrade accepts', async () => {
    setVersion('0.2.0', 10);
    await ok(['build', 'upgrade', '--from=v0.1.0']);
    const before = await pids(HOSTS.slice(0, 2));
    await on(HOSTS[2]!, 'stop');

    const r = await deliver(fx.dir, ['deploy', 'upgrade', 'production', '--version=0.2.0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('deploy upgrade refused on 1 of 3 host(s); nothing was changed');
    expect(r.stderr).toContain('root@host25: the node is not running (active release 0.1.0); the upgrade to 0.2.0 goes from 0.1.0');
    for (const h of HOSTS.slice(0, 2)) {
      expect(await on(h, 'version')).toBe('0.1.0');
      expect(active(h)).toBe('0.1.0');
      expect(onHost(h, `ls ${DELIVER_TO}/.deliver/${APP}`)).not.toContain('lock');
    }
    expect(await pids(HOSTS.slice(0, 2))).toEqual(before);

    await on(HOSTS[2]!, 'start');
    expect(await on(HOSTS[2]!, 'rpc', `${APP}_counter:bump().`)).toBe('1');
  }, 600_000);

  it('hot-upgrades all three nodes: same OS pids, counters kept, new code answering, version 0.2.0, hooks, audit; a restart boots 0.2.0', async () => {
    const before = await pids();
    // --dry-run: the read-only queries and the plan per host; nothing changes. --verbose: each script one statement per line.
    const dry = await deliver(fx.dir, ['deploy', 'upgrade', 'production', '--version=0.2.0', '--dry-run', '--verbose']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/Dry run: hot upgrade uprel 0\.1\.0 → 0\.2\.0 in production/);
    expect(dry.stdout).toMatch(/relx node, OS pid \d+, runs 0\.1\.0/);
    expect(dry.stdout).toMatch(/\d+\. install: bin\/uprel upgrade 0\.2\.0: 0\.1\.0 → 0\.2\.0 in the running node/);
    expect(dry.stdout).toContain('version: ask the relx node which version it runs (release_handler)');
    expect(dry.stdout).toMatch(/^ +for f in releases\/start_erl.data releases\/RELEASES bin\/uprel; do$/m);
    expect(dry.stdout).toMatch(/^ {8}printf .* >> \S+\/history \|\|\n {8}exit 7;$/m);
    expect(await on(HOSTS[0]!, 'version')).toBe('0.1.0');
    const r = await deliver(fx.dir, ['deploy', 'upgrade', 'to', 'production', '--version=0.2.0', '--strategy=rolling']);
    expect(r.code, r.stderr).toBe(0);
    expect(await pids()).toEqual(before);
    for (const h of HOSTS) {
      expect(await on(h, 'rpc', `${APP}_counter:bump().`)).toBe('11');
      expect(await on(h, 'version')).toBe('0.2.0');
      expect(active(h)).toBe('0.2.0');
      expect(onHost(h, `cat ${DELIVER_TO}/hooks.log`)).toBe('pre 0.1.0 0.2.0\npost 0.1.0 0.2.0\n');
      expect(onHost(h, `cat ${DELIVER_TO}/.deliver/${APP}/releases/0.2.0/releases/start_erl.data`)).toMatch(/ 0\.2\.0$/m);
      // The root the node still runs from says what it runs (release_handler's files).
      expect(onHost(h, `cat ${DELIVER_TO}/.deliver/${APP}/releases/0.1.0/releases/start_erl.data`)).toMatch(/ 0\.2\.0$/m);
    }
    const shown = await ok(['show', 'deploys', 'production']);
    expect(shown).toMatch(/root@host23 +upgrade +0\.2\.0 +0\.1\.0 +ok/);

    // The same upgrade again: every node now runs a version it does not go from.
    const again = await deliver(fx.dir, ['deploy', 'upgrade', 'production', '--version=0.2.0']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('deploy upgrade refused on 3 of 3 host(s)');
    expect(again.stderr).toContain('root@host24: runs 0.2.0; the upgrade to 0.2.0 goes from 0.1.0');

    await on(HOSTS[0]!, 'restart');
    expect(await on(HOSTS[0]!, 'version')).toBe('0.2.0');
    expect(await on(HOSTS[0]!, 'rpc', `${APP}_counter:bump().`)).toBe('10');
  }, 600_000);

  it('a code_change that crashes: release_handler keeps the node on 0.2.0, exit 1 naming the host and the reason', async () => {
    setVersion('0.3.0', 100, 'erlang:error(no_way)');
    await ok(['build', 'upgrade', '--with=0.2.0']);
    const r = await deliver(fx.dir, ['deploy', 'upgrade', 'production', '--version=0.3.0', '--host', HOSTS[1]!]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/root@host24 \[install\]: release_handler could not install 0\.3\.0: .*no_way.*; the node runs 0\.2\.0/);
    expect(await on(HOSTS[1]!, 'version')).toBe('0.2.0');
    expect(active(HOSTS[1]!)).toBe('0.2.0');
    expect(await ok(['show', 'deploys', 'production', '--host', HOSTS[1]!])).toMatch(/upgrade +0\.3\.0 +0\.2\.0 +failed \(install\)/);
  }, 600_000);

  it('deliver upgrade: builds --with the version the nodes run, hot-upgrades the running nodes and deploys to the stopped one', async () => {
    setVersion('0.3.1', 100);
    await on(HOSTS[2]!, 'stop');
    const pid0 = await on(HOSTS[0]!, 'pid');
    const r = await deliver(fx.dir, ['upgrade', 'production', '--start-deploy', '--run-migrations']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain('2 of 3 host(s) run uprel 0.2.0; building the upgrade --with=0.2.0');
    // The migrations ran once for the environment, on its first host, in the 0.3.1 root, before the end report.
    expect(onHost(HOSTS[0]!, `cat ${DELIVER_TO}/migrations.log`).trim().split('/').pop()).toBe('0.3.1');
    for (const h of HOSTS.slice(1)) expect(onHost(h, `test -e ${DELIVER_TO}/migrations.log && echo yes || echo no`).trim()).toBe('no');
    expect(r.stdout.indexOf('Running migrations on')).toBeGreaterThan(-1);
    expect(r.stdout.indexOf('Running migrations on')).toBeLessThan(r.stdout.indexOf('every host has uprel 0.3.1'));
    expect(await on(HOSTS[0]!, 'pid')).toBe(pid0);
    expect(await on(HOSTS[0]!, 'rpc', `${APP}_counter:bump().`)).toBe('110');
    for (const h of HOSTS) expect(await on(h, 'version')).toBe('0.3.1');
    expect(await on(HOSTS[2]!, 'rpc', `${APP}_counter:bump().`)).toBe('100');

    // Rollback goes back to 0.2.0 everywhere (restarting the nodes) and boots it; then to 0.1.0 on host24, whose
    // node ran from the 0.1.0 root until now: that root boots 0.1.0 again.
    await ok(['rollback', 'production']);
    for (const h of HOSTS) expect(await on(h, 'version')).toBe('0.2.0');
    await ok(['rollback', 'production', '--version=0.1.0', '--host', HOSTS[1]!]);
    expect(await on(HOSTS[1]!, 'version')).toBe('0.1.0');
    expect(await on(HOSTS[1]!, 'rpc', `${APP}_counter:bump().`)).toBe('1');
    // A plain deploy keeps working after all that.
    await ok(['deploy', 'release', 'production', '--version=0.3.1', '--start-deploy', '--host', HOSTS[1]!]);
    expect(await on(HOSTS[1]!, 'version')).toBe('0.3.1');
  }, 600_000);
});

// `deliver update` (build on the bed's build host + deploy + start) and node control of a relx (rebar3) release,
// against the real bed. Own hosts (host31, host32) and own app names, so no other test's node collides.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMixFixture } from '../helpers/fixtures.js';
import { activeVersion, cli, ensureBed, json, leftovers, type Bed, type HostJson, type Project } from './deploy-support.js';

let bed: Bed;
const cleanup: Project[] = [];

beforeAll(() => {
  bed = ensureBed();
}, 300_000);

afterAll(async () => {
  await Promise.all(cleanup.map((p) => cli(bed, p, 'stop', 'production')));
}, 120_000);

describe('deliver update', () => {
  it('builds on the build host, deploys exactly that version and starts it', async () => {
    const fx = createMixFixture('dupd');
    const store = mkdtempSync(join(tmpdir(), 'deliver-update-store-'));
    const deliverTo = `/srv/${store.split('/').pop()}`;
    mkdirSync(join(fx.dir, '.deliver'), { recursive: true });
    writeFileSync(
      join(fx.dir, '.deliver', 'config'),
      [
        'APP="dupd"',
        'BUILD_HOST="build"',
        'BUILD_USER="root"',
        'BUILD_AT="/srv/builds/deploy-update-test"',
        'PRODUCTION_HOSTS="host31"',
        'PRODUCTION_USER="root"',
        `DELIVER_TO="${deliverTo}"`,
        `RELEASE_STORE="${store}"`,
      ].join('\n') + '\n',
    );
    const host = bed.hosts[30]!;
    const p: Project = { dir: fx.dir, deliverTo, hosts: [host] };
    cleanup.push(p);
    // The environment is the positional word only: a branch named like an environment changes nothing.
    const r = await cli(bed, p, 'update', 'production', '--start-deploy', '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = json<{ version: string; hosts: HostJson[] }>(r);
    expect(res.version).toBe('0.1.0');
    expect(res.hosts.map((h) => [h.host, h.status])).toEqual([['root@host31', 'ok']]);
    expect(activeVersion(p, host, 'dupd')).toBe('0.1.0');
    expect(leftovers(p, host, 'dupd')).toEqual([]);
    const v = await cli(bed, p, 'version', 'production');
    expect(v).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });
});

describe('relx (rebar3) releases', () => {
  let p: Project;
  beforeAll(() => {
    const parent = mkdtempSync(join(tmpdir(), 'deliver-relx-'));
    execFileSync('rebar3', ['new', 'release', 'drelx'], { cwd: parent, stdio: 'ignore' });
    const dir = join(parent, 'drelx');
    execFileSync('rebar3', ['as', 'prod', 'release'], { cwd: dir, stdio: 'ignore' });
    const store = join(parent, 'store');
    mkdirSync(store);
    const file = 'drelx_0.1.0.release.tar.gz';
    execFileSync('tar', ['-czf', join(store, file), '-C', join(dir, '_build', 'prod', 'rel', 'drelx'), '.']);
    writeFileSync(join(store, `${file}.sha256`), `${createHash('sha256').update(readFileSync(join(store, file))).digest('hex')}  ${file}\n`);
    mkdirSync(join(parent, '.deliver'));
    const deliverTo = `/srv/${parent.split('/').pop()}`;
    writeFileSync(
      join(parent, '.deliver', 'config'),
      ['APP="drelx"', 'PRODUCTION_HOSTS="host32"', 'PRODUCTION_USER="root"', `DELIVER_TO="${deliverTo}"`, `RELEASE_STORE="${store}"`].join('\n') + '\n',
    );
    p = { dir: parent, deliverTo, hosts: [bed.hosts[31]!] };
    cleanup.push(p);
  }, 120_000);

  it('deploys with --start-deploy; ping, version, pid, rpc (errors exit 1), restart, stop', async () => {
    const d = await cli(bed, p, 'deploy', 'release', 'production', '--start-deploy');
    expect(d.code, d.stderr).toBe(0);
    expect(await cli(bed, p, 'ping', 'production')).toMatchObject({ code: 0, stdout: 'pong\n' });
    expect(await cli(bed, p, 'version', 'production')).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    expect((await cli(bed, p, 'pid', 'production')).stdout.trim()).toMatch(/^\d+$/);
    expect(await cli(bed, p, 'rpc', 'production', 'erlang:length([a, b, c]).')).toMatchObject({ code: 0, stdout: '3\n' });
    const bad = await cli(bed, p, 'rpc', 'production', 'erlang:error(boom).');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('boom');
    expect((await cli(bed, p, 'restart', 'production')).code).toBe(0);
    expect((await cli(bed, p, 'stop', 'production')).stdout).toBe('stopped\n');
    const ping = await cli(bed, p, 'ping', 'production');
    expect(ping.code).toBe(1);
  });
});

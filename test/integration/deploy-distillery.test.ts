// A Distillery 2.x release deployed and controlled on the real bed: the on-disk layout Distillery 2.1.1 writes (its
// bin/APP wrapper, bin/APP_rc_exec.sh, releases/VSN/APP.sh, start_erl.data, var/ made on first run; Distillery itself
// cannot be installed here, see test/helpers/release-layouts.ts), packed into a local store like a built release,
// then `deploy release --start-deploy` and the node commands over real SSH with the real CLI.
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, cli, ensureBed, hostPath, makeProject, storeRelease, type Bed, type Project } from './deploy-support.js';
import { writeReleaseLayout } from '../helpers/release-layouts.js';

let bed: Bed;
let p: Project;
let dir: string;

beforeAll(() => {
  bed = ensureBed();
  dir = mkdtempSync(join(tmpdir(), 'deliver-distillery-'));
  const rel = join(dir, 'rel');
  writeReleaseLayout('distillery', rel, APP, '0.1.0');
  const store = join(dir, 'store');
  mkdirSync(store);
  storeRelease(rel, store, APP, '0.1.0');
  p = makeProject(bed, bed.hosts.slice(5, 7), store);
}, 300_000);

afterAll(async () => {
  if (p) await cli(bed, p, 'stop', 'production');
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('a Distillery release on 2 hosts', () => {
  it('deploys with --start-deploy: started with `start`, its own inner tarball not kept, var/log written', async () => {
    const d = await cli(bed, p, 'deploy', 'release', 'to', 'production', '--version=0.1.0', '--start-deploy');
    expect(d.code, d.stderr).toBe(0);
    for (const h of p.hosts) {
      expect(existsSync(hostPath(p, h, APP, 'releases', '0.1.0', `${APP}.sh`))).toBe(true);
      expect(existsSync(hostPath(p, h, APP, 'releases', '0.1.0', `${APP}.tar.gz`))).toBe(false);
      expect(readFileSync(hostPath(p, h, APP, 'var', 'log', 'erlang.log.1'), 'utf8')).toBe(`[notice] ${APP} 0.1.0 booted, cookie none\n`);
    }
  });

  it('ping, version, pid and rpc print what a mix release would; restart shows the var/log tail', async () => {
    const one = ['--host', p.hosts[0]!.name];
    expect(await cli(bed, p, 'ping', 'production')).toMatchObject({ code: 0 });
    expect(await cli(bed, p, 'version', 'production', ...one)).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    expect((await cli(bed, p, 'pid', 'production', ...one)).stdout).toMatch(/^\d+\n$/);
    expect(await cli(bed, p, 'rpc', 'production', 'IO.puts("hello")', ...one)).toMatchObject({ code: 0, stdout: 'hello\n' });
    const r = await cli(bed, p, 'restart', 'production', ...one);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`| [notice] ${APP} 0.1.0 booted, cookie none`);
  });

  it('RELEASE_KIND=mix on it fails at once, naming the setting', async () => {
    const config = join(p.dir, '.deliver', 'config');
    const before = readFileSync(config, 'utf8');
    appendFileSync(config, 'RELEASE_KIND=mix\n');
    try {
      const r = await cli(bed, p, 'restart', 'production', '--host', p.hosts[1]!.name);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`bin/${APP} is not a mix release (as RELEASE_KIND/USING_DISTILLERY say): it answered "'daemon' is not a valid command"`);
      expect(r.stderr).toContain('; set RELEASE_KIND=mix, distillery or relx in .deliver/config');
    } finally {
      writeFileSync(config, before);
    }
    expect(await cli(bed, p, 'start', 'production', '--host', p.hosts[1]!.name)).toMatchObject({ code: 0 });
  });
});

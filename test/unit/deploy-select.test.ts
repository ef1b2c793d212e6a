import { describe, expect, it } from 'vitest';
import { candidates, selectRelease } from '../../src/deploy/select.js';
import { loadLastDeploy, retryHosts, saveLastDeploy } from '../../src/deploy/retry-state.js';
import { Output } from '../../src/output/output.js';
import { printSummary } from '../../src/deploy/report.js';
import { Writable } from 'node:stream';
import type { StoredRelease } from '../../src/store/types.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

const rel = (version: string, type: 'release' | 'upgrade' = 'release', app = 'demo'): StoredRelease => ({
  app, version, type, file: `${app}_${version}.${type}.tar.gz`, size: 1, modified: new Date(0),
});

describe('release selection', () => {
  const list = [rel('1.9.0'), rel('1.10.0'), rel('1.10.0', 'upgrade'), rel('2.0.0', 'upgrade'), rel('3.0.0', 'release', 'other')];
  it('orders newest first by version, prefers release tarballs, ignores other apps', () => {
    expect(candidates(list, 'demo').map((r) => `${r.version}:${r.type}`)).toEqual(['2.0.0:upgrade', '1.10.0:release', '1.9.0:release']);
  });
  it('picks --version, latest, the only one; otherwise lists them', async () => {
    expect((await selectRelease(list, 'demo', '1.9.0', 'local s')).version).toBe('1.9.0');
    expect((await selectRelease(list, 'demo', 'latest', 'local s')).version).toBe('2.0.0');
    expect((await selectRelease([rel('1.0.0')], 'demo', undefined, 'local s')).version).toBe('1.0.0');
    await expect(selectRelease(list, 'demo', undefined, 'local s')).rejects.toThrow('several releases of demo in local s: 2.0.0, 1.10.0, 1.9.0');
    await expect(selectRelease(list, 'demo', '9.9.9', 'local s')).rejects.toThrow('version 9.9.9 of demo is not in local s');
    await expect(selectRelease([], 'demo', undefined, 'local s')).rejects.toThrow('no release of demo in local s');
    expect((await selectRelease(list, 'demo', undefined, 's', async (c) => c[2]!)).version).toBe('1.9.0');
  });
  it('latest is the build stored last among versions that differ only in build metadata', async () => {
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000);
    const builds = [
      { ...rel('0.1.0+ffe1d2a'), modified: at(10) },
      { ...rel('0.1.0+0a1b2c3'), modified: at(20) },
      { ...rel('0.1.0+0a1b2c3', 'upgrade'), modified: at(21) },
      { ...rel('0.0.9'), modified: at(30) },
    ];
    expect((await selectRelease(builds, 'demo', 'latest', 'local s')).version).toBe('0.1.0+0a1b2c3');
    expect(candidates(builds, 'demo').map((r) => `${r.version}:${r.type}`)).toEqual(['0.1.0+0a1b2c3:release', '0.1.0+ffe1d2a:release', '0.0.9:release']);
  });
});

describe('retry state', () => {
  it('remembers failed hosts per environment and picks them', async () => {
    const dir = tmp('rs-');
    await expect(Promise.resolve().then(async () => retryHosts(await loadLastDeploy(dir, 'prod'), [], 'prod'))).rejects.toThrow('no earlier deploy to prod');
    await saveLastDeploy(dir, { env: 'prod', version: '1.0', at: 'now', failed: ['root@b'] });
    const targets = [{ name: 'root@a', host: 'a' }, { name: 'root@b', host: 'b' }];
    expect(retryHosts(await loadLastDeploy(dir, 'prod'), targets, 'prod')).toEqual([targets[1]]);
    await saveLastDeploy(dir, { env: 'prod', version: '1.0', at: 'now', failed: [] });
    expect(() => retryHosts({ env: 'prod', version: '1.0', at: 'now', failed: [] }, targets, 'prod')).toThrow('had no failed hosts');
  });
});

describe('summary', () => {
  it('lists every failed host with its step and counts the rest', () => {
    let text = '';
    const sink = new Writable({ write: (c, _e, cb) => { text += String(c); cb(); } });
    const out = new Output({ stdout: sink, stderr: sink, color: false });
    const bad = printSummary(out, [
      { host: 'a', status: 'ok', durationMs: 1200, value: { previous: '1.0' } },
      { host: 'b', status: 'failed', step: 'verify', error: 'b: checksum mismatch', durationMs: 300 },
      { host: 'c', status: 'skipped', durationMs: 0 },
    ], { title: 'deploy 1.1', valueColumn: { header: 'PREVIOUS', cell: (v) => (v as { previous: string }).previous } });
    expect(bad).toBe(2);
    expect(text).toMatch(/HOST\s+STATUS\s+PREVIOUS\s+STEP\s+TIME/);
    expect(text).toContain('deploy 1.1: 1 of 3 host(s) ok, 2 not');
    expect(text).toContain('error: b [verify]: checksum mismatch');
    expect(text).toContain('1 host(s) not started: c');
  });
});

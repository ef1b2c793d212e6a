// Deploy locks on the real bed: a deploy that outlasts LOCK_TTL keeps its lock (its heartbeat refreshes it), so a
// second deploy waiting with --lock-wait never breaks it, and both end correctly. The releases are minimal release
// roots (bin/APP, releases/VSN/): nothing is started, so no `mix release` build is needed.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, activeVersion, cli, ensureBed, hostPath, leftovers, makeProject, startCli, until, waitCli, type Bed } from './deploy-support.js';

let bed: Bed;
let store: string;

/** A local store holding a minimal release tarball (and its .sha256) of each version. */
function minimalReleases(versions: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'deliver-lock-store-'));
  for (const v of versions) {
    const root = join(dir, `root-${v}`);
    mkdirSync(join(root, 'bin'), { recursive: true });
    mkdirSync(join(root, 'releases', v), { recursive: true });
    writeFileSync(join(root, 'bin', APP), '#!/bin/sh\necho "not started in these tests" >&2\nexit 1\n');
    chmodSync(join(root, 'bin', APP), 0o755);
    const file = `${APP}_${v}.release.tar.gz`;
    execFileSync('tar', ['-czf', join(dir, file), '-C', root, '.']);
    const sha = createHash('sha256').update(readFileSync(join(dir, file))).digest('hex');
    writeFileSync(join(dir, `${file}.sha256`), `${sha}  ${file}\n`);
    rmSync(root, { recursive: true });
  }
  return dir;
}

beforeAll(() => {
  bed = ensureBed();
  store = minimalReleases(['0.1.0', '0.2.0']);
});

afterAll(() => {
  if (store) rmSync(store, { recursive: true, force: true });
});

describe('deploy lock', () => {
  it('a deploy held past LOCK_TTL by a slow hook keeps its lock; a second one waits with --lock-wait, never breaks it, and both succeed', async () => {
    const ttl = 3;
    const slow = 4 * ttl;
    // Only the first deploy (0.1.0) is slow: its extract hook holds it inside the lock for four TTLs.
    const hook = `pre_extract_release_archive() {\n  if [ "$VERSION" = 0.1.0 ]; then sleep ${slow}; fi\n}\n`;
    const p = makeProject(bed, bed.hosts.slice(0, 2), store, `LOCK_TTL="${ttl}"\n${hook}`);
    const logins = () => p.hosts.map((h) => (readFileSync(join(bed.dir, 'log', `${h.name}.log`), 'utf8').match(/Accepted publickey/g) ?? []).length);
    const before = logins();
    const first = startCli(bed, p, ['deploy', 'release', 'production', '--version=0.1.0']);
    const firstDone = waitCli(first);
    for (const h of p.hosts) {
      await until(() => existsSync(hostPath(p, h, '.deliver', APP, 'lock', 'owner.json')), 30_000, `the first deploy to take ${h.name}'s lock`);
    }
    const second = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.2.0', '--lock-wait=120');
    const firstResult = await firstDone;
    expect(firstResult.code, firstResult.stderr).toBe(0);
    expect(firstResult.ms).toBeGreaterThan(slow * 1000);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`waiting for the deploy lock held by`);
    expect(second.stderr).toContain(`(pid ${first.pid}, deploy release 0.1.0`);
    expect(second.stderr).not.toMatch(/stale/);
    // The heartbeat rode each deploy's one connection per host.
    expect(logins().map((n, i) => n - before[i]!)).toEqual([2, 2]);
    for (const h of p.hosts) {
      expect(activeVersion(p, h)).toBe('0.2.0');
      expect(leftovers(p, h)).toEqual([]);
      // One after the other: the first finished before the second started its work on the host.
      const audit = readFileSync(hostPath(p, h, '.deliver', APP, 'deploys.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { version: string; result: string });
      expect(audit.map((e) => `${e.version} ${e.result}`)).toEqual(['0.1.0 ok', '0.2.0 ok']);
    }
  }, 120_000);

  it('a deploy whose lock is removed under it (deliver unlock) stops before its next step and activates nothing', async () => {
    // The hook holds the deploy until `deliver unlock` has removed the lock (at most 30 s), then long enough for a
    // heartbeat (every LOCK_TTL/3 = 1 s) to notice: a fixed sleep lost that race on a loaded machine.
    const hook = 'pre_extract_release_archive() {\n  i=0\n  while [ -d "$DELIVER_TO/.deliver/$APP/lock" ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i+1)); done\n  sleep 4\n}\n';
    const p = makeProject(bed, bed.hosts.slice(2, 4), store, `LOCK_TTL="3"\n${hook}`);
    const deploy = startCli(bed, p, ['deploy', 'release', 'production', '--version=0.1.0']);
    const done = waitCli(deploy);
    for (const h of p.hosts) {
      await until(() => existsSync(hostPath(p, h, '.deliver', APP, 'incoming')) && !existsSync(hostPath(p, h, APP)) && readdirSync(hostPath(p, h, '.deliver', APP, 'incoming')).length > 0, 30_000, `${h.name}'s upload`);
    }
    const unlock = await cli(bed, p, 'unlock', 'production');
    expect(unlock.code, unlock.stderr).toBe(0);
    const r = await done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/root@host3 \[pre_extract_release_archive\]: lost the deploy lock/);
    for (const h of p.hosts) {
      expect(activeVersion(p, h)).toBeUndefined();
      expect(leftovers(p, h)).toEqual([]);
    }
  }, 60_000);
});

// Lock logic against a real /bin/sh on a temp dir (the same command lines the SSH backend sends).
import { existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localShellBackend } from '../helpers/local-shell.js';
import { sh } from '../../src/ssh/quote.js';
import { layoutFor } from '../../src/deploy/layout.js';
import {
  acquireCommand, acquireLock, describeOwner, forceUnlockCommand, newOwner, parseAcquire, releaseCommand, releaseLock, staleReason,
} from '../../src/deploy/lock.js';

const shellBackend = (name = 'local') => localShellBackend(name);

const opts = (warnings: string[] = []) => ({ waitMs: 0, ttlMs: 15 * 60_000, warn: (m: string) => warnings.push(m), pollMs: 50 });

describe('deploy lock', () => {
  it('is exclusive and names the owner', async () => {
    const l = layoutFor(mkdtempSync(join(tmpdir(), 'lk-')), 'demo');
    const b = shellBackend('web1');
    const a = { ...newOwner('deploy release', '0.2.0'), user: 'alice', machine: 'laptop-a', pid: 1 };
    await acquireLock(b, l, a, opts());
    const owner = JSON.parse(readFileSync(`${l.lock}/owner.json`, 'utf8'));
    expect(owner).toMatchObject({ user: 'alice', machine: 'laptop-a', command: 'deploy release', version: '0.2.0' });
    const other = { ...newOwner('deploy release', '0.3.0'), machine: 'laptop-b' };
    await expect(acquireLock(b, l, other, opts())).rejects.toThrow(/web1: deploy lock held by alice@laptop-a \(pid 1, deploy release 0\.2\.0/);
    // someone else's release does nothing; ours frees it
    await releaseLock(b, l, other.id);
    await expect(acquireLock(b, l, other, opts())).rejects.toThrow(/held by alice/);
    await releaseLock(b, l, a.id);
    await acquireLock(b, l, other, opts());
  });

  it('runs an `after` command in the same round trip, only once the lock is ours', async () => {
    const l = layoutFor(mkdtempSync(join(tmpdir(), 'lk-')), 'demo');
    const b = shellBackend('web1');
    const a = newOwner('deploy release', '0.2.0');
    const got = await acquireLock(b, l, a, { ...opts(), after: sh`echo '[state]'; printf 'line %s\\n' 1 2; ls ${l.lock}` });
    expect(got).toEqual({ stdout: '[state]\nline 1\nline 2\nowner.json\n', code: 0 });
    expect(JSON.parse(readFileSync(`${l.lock}/owner.json`, 'utf8')).id).toBe(a.id);
    // Held by someone else: `after` never runs (its marker file stays absent) and the lock step fails as before.
    const other = newOwner('deploy release', '0.3.0');
    await expect(acquireLock(b, l, other, { ...opts(), after: sh`touch ${`${l.home}/ran`}` })).rejects.toThrow(/web1: deploy lock held by/);
    expect(existsSync(`${l.home}/ran`)).toBe(false);
    await releaseLock(b, l, a.id);
    // A failing `after` reports its status and output; the lock is still taken (the caller must release it).
    const failed = await acquireLock(b, l, other, { ...opts(), after: sh`echo partial; false` });
    expect(failed).toEqual({ stdout: 'partial\n', code: 1 });
    expect(existsSync(l.lock)).toBe(true);
    // Without `after` nothing changes: no result.
    await releaseLock(b, l, other.id);
    expect(await acquireLock(b, l, a, opts())).toBeUndefined();
  });

  it('with `hold`, keeps the lock command open for the rest of the round trip; a held lock never pauses', async () => {
    const l = layoutFor(mkdtempSync(join(tmpdir(), 'lk-')), 'demo');
    const b = shellBackend('web1');
    const a = newOwner('deploy release', '0.2.0');
    const got = await acquireLock(b, l, a, { ...opts(), hold: true, after: sh`mine=${a.id}; echo state` });
    expect(got).toMatchObject({ stdout: 'state\n', code: 0 });
    // The rest runs in the same shell (it sees `mine`) while the lock is still ours.
    const r = await got!.held!.send(sh`grep -qF "$mine" ${`${l.lock}/owner.json`} && echo same-shell`);
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).toContain('same-shell');
    const other = newOwner('deploy release', '0.3.0');
    await expect(acquireLock(b, l, other, { ...opts(), hold: true, after: sh`echo state` })).rejects.toThrow(/web1: deploy lock held by/);
    // A failing `after` pauses too (its status is reported); closing runs nothing more.
    await releaseLock(b, l, a.id);
    const failed = await acquireLock(b, l, other, { ...opts(), hold: true, after: sh`echo partial; false` });
    expect(failed).toMatchObject({ stdout: 'partial\n', code: 1 });
    expect((await failed!.held!.close()).code).toBe(0);
    expect(b.commands).toHaveLength(4);
  });

  it('creates missing parent directories, and runs no `mkdir -p` once they exist', async () => {
    const l = layoutFor(join(mkdtempSync(join(tmpdir(), 'lk-')), 'srv', 'app'), 'demo');
    const b = shellBackend('web1');
    const log = join(tmpdir(), `mkdir-log-${process.pid}-${Date.now()}`);
    // A shell function in front of the command records every mkdir it runs.
    const traced = (owner: ReturnType<typeof newOwner>) => `mkdir() { echo "mkdir $*" >> ${log}; command mkdir "$@"; }; ${acquireCommand(l, owner, [`${l.home}/incoming`]).text}`;
    const a = newOwner('deploy release', '0.2.0');
    expect((await b.run(traced(a))).stdout).toBe('ACQUIRED\n');
    expect(existsSync(`${l.home}/incoming`)).toBe(true);
    await releaseLock(b, l, a.id);
    writeFileSync(log, '');
    expect((await b.run(traced(newOwner('deploy release', '0.3.0')))).stdout).toBe('ACQUIRED\n');
    expect(readFileSync(log, 'utf8')).toBe(`mkdir ${l.lock}\n`);
  });

  it('removes a lock whose owner record cannot be written, and fails with the write\'s status', async () => {
    const l = layoutFor(mkdtempSync(join(tmpdir(), 'lk-')), 'demo');
    const b = shellBackend('web1');
    // A shell function in front of the command makes the owner record's write fail (a full disk, say).
    const r = await b.exec(`printf() { return 3; }; ${acquireCommand(l, newOwner('deploy release', '0.2.0')).text}`);
    expect(r.code).toBe(3);
    expect(r.stdout).not.toContain('ACQUIRED');
    expect(existsSync(l.lock)).toBe(false);
  });

  it('removes the extra paths with our own lock, and also when the lock is no longer ours', async () => {
    const l = layoutFor(mkdtempSync(join(tmpdir(), 'lk-')), 'demo');
    const b = shellBackend('web1');
    const a = newOwner('deploy release', '0.2.0');
    await acquireLock(b, l, a, opts());
    const upload = join(l.home, 'upload.part-x');
    writeFileSync(upload, 'tarball');
    await b.run(releaseCommand(l, a.id, [upload]).text);
    expect([existsSync(l.lock), existsSync(upload)]).toEqual([false, false]);
    // Someone else's lock stays; our upload still goes.
    const other = newOwner('deploy release', '0.3.0');
    await acquireLock(b, l, other, opts());
    writeFileSync(upload, 'tarball');
    await b.run(releaseCommand(l, a.id, [upload]).text);
    expect([existsSync(l.lock), existsSync(upload)]).toEqual([true, false]);
  });

  it('takes, reports and refuses the lock the same way under bash, the usual login shell', async () => {
    const l = layoutFor(mkdtempSync(join(tmpdir(), 'lk-')), 'demo');
    const b = localShellBackend('web1', 'bash');
    const a = newOwner('deploy release', '0.2.0');
    expect(await acquireLock(b, l, a, { ...opts(), after: sh`echo state` })).toEqual({ stdout: 'state\n', code: 0 });
    await expect(acquireLock(b, l, newOwner('deploy release', '0.3.0'), { ...opts(), after: sh`echo state` })).rejects.toThrow(/held by/);
  });

  it('waits with --lock-wait until the holder releases', async () => {
    const l = layoutFor(mkdtempSync(join(tmpdir(), 'lk-')), 'demo');
    const b = shellBackend();
    const a = { ...newOwner('deploy release'), machine: 'elsewhere' };
    await acquireLock(b, l, a, opts());
    const waits: string[] = [];
    setTimeout(() => void releaseLock(b, l, a.id), 300);
    const t0 = Date.now();
    await acquireLock(b, l, newOwner('deploy release'), { ...opts(), waitMs: 5000, onWait: (h) => waits.push(h) });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(waits).toHaveLength(1);
  });

  it('breaks a lock whose holder process on this machine is gone, with a warning', async () => {
    const l = layoutFor(mkdtempSync(join(tmpdir(), 'lk-')), 'demo');
    const b = shellBackend('web2');
    const dead = { ...newOwner('deploy release'), pid: 2 ** 22 + 12345 };
    await acquireLock(b, l, dead, opts());
    const warnings: string[] = [];
    await acquireLock(b, l, newOwner('deploy release'), opts(warnings));
    expect(warnings[0]).toMatch(/web2: breaking a stale deploy lock \(its process \d+ on .* is gone\)/);
  });

  it('breaks a lock older than the TTL', async () => {
    const l = layoutFor(mkdtempSync(join(tmpdir(), 'lk-')), 'demo');
    const b = shellBackend();
    await acquireLock(b, l, { ...newOwner('x'), machine: 'other' }, opts());
    const old = Date.now() / 1000 - 3600;
    utimesSync(l.lock, old, old);
    const warnings: string[] = [];
    await acquireLock(b, l, newOwner('y'), opts(warnings));
    expect(warnings[0]).toMatch(/older than 15 min/);
  });

  it('force unlock reports the previous owner', async () => {
    const l = layoutFor(mkdtempSync(join(tmpdir(), 'lk-')), 'demo');
    const b = shellBackend();
    await acquireLock(b, l, { ...newOwner('deploy'), user: 'bob' }, opts());
    const r = await b.exec(forceUnlockCommand(l).text);
    expect(r.stdout).toContain('"user":"bob"');
    expect(r.stdout.trim().endsWith('UNLOCKED')).toBe(true);
    expect((await b.exec(forceUnlockCommand(l).text)).stdout.trim()).toBe('NOLOCK');
  });

  it('parses and judges held locks', () => {
    expect(parseAcquire('ACQUIRED\n')).toEqual({ acquired: true });
    const held = parseAcquire('HELD\n1000\n900\n');
    expect(held).toEqual({ acquired: false, ageSeconds: 100 });
    expect(staleReason({ ageSeconds: 100 }, { ttlMs: 900_000, machine: 'm', pidAlive: () => true })).toBe('it has no owner record');
    expect(staleReason({ ageSeconds: 10 }, { ttlMs: 900_000, machine: 'm', pidAlive: () => true })).toBeUndefined();
    const o = { ...newOwner('deploy'), machine: 'm', pid: 7 };
    expect(staleReason({ ageSeconds: 10, owner: o }, { ttlMs: 900_000, machine: 'm', pidAlive: () => false })).toMatch(/process 7/);
    expect(staleReason({ ageSeconds: 10, owner: o }, { ttlMs: 900_000, machine: 'other', pidAlive: () => false })).toBeUndefined();
    expect(describeOwner(undefined, 5)).toMatch(/unknown owner/);
  });
});

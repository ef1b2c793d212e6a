// Lock logic against a real /bin/sh on a temp dir (the same command lines the SSH backend sends).
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localShellBackend } from '../helpers/local-shell.js';
import { sh } from '../../src/ssh/quote.js';
import { layoutFor } from '../../src/deploy/layout.js';
import {
  acquireCommand, acquireLock, describeOwner, forceUnlockCommand, keepLock, newOwner, parseAcquire, refreshCommand, unlockCommand, releaseLock, staleReason,
} from '../../src/deploy/lock.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

const shellBackend = (name = 'local') => localShellBackend(name);

/** The local shell, with `prefix(command)` (shell text, e.g. a function standing in for `mv`) run before a command. */
function hooked(b: ReturnType<typeof localShellBackend>, prefix: (command: string) => string | undefined) {
  const run = (command: string, o?: Parameters<typeof b.run>[1]) => {
    // A looping acquire would run forever: fail the test instead.
    if (b.commands.length >= 20) return Promise.reject(new Error(`runaway: ${b.commands.length} commands`));
    return b.run(`${prefix(command) ?? ''}${command}`, o);
  };
  return { ...b, run };
}

const ago = (path: string, seconds: number) => {
  const t = Date.now() / 1000 - seconds;
  utimesSync(path, t, t);
};

const opts = (warnings: string[] = []) => ({ waitMs: 0, ttlMs: 15 * 60_000, warn: (m: string) => warnings.push(m), pollMs: 50 });

describe('deploy lock', () => {
  it('is exclusive and names the owner', async () => {
    const l = layoutFor(tmp('lk-'), 'demo');
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
    const l = layoutFor(tmp('lk-'), 'demo');
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
    const l = layoutFor(tmp('lk-'), 'demo');
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
    const l = layoutFor(join(tmp('lk-'), 'srv', 'app'), 'demo');
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
    const l = layoutFor(tmp('lk-'), 'demo');
    const b = shellBackend('web1');
    // A shell function in front of the command makes the owner record's write fail (a full disk, say).
    const r = await b.exec(`printf() { return 3; }; ${acquireCommand(l, newOwner('deploy release', '0.2.0')).text}`);
    expect(r.code).toBe(3);
    expect(r.stdout).not.toContain('ACQUIRED');
    expect(existsSync(l.lock)).toBe(false);
  });

  it('removes the extra paths with our own lock, and also when the lock is no longer ours', async () => {
    const l = layoutFor(tmp('lk-'), 'demo');
    const b = shellBackend('web1');
    const a = newOwner('deploy release', '0.2.0');
    await acquireLock(b, l, a, opts());
    const upload = join(l.home, 'upload.part-x');
    writeFileSync(upload, 'tarball');
    await b.run(unlockCommand(l, a.id, [upload]).text);
    expect([existsSync(l.lock), existsSync(upload)]).toEqual([false, false]);
    // Someone else's lock stays; our upload still goes.
    const other = newOwner('deploy release', '0.3.0');
    await acquireLock(b, l, other, opts());
    writeFileSync(upload, 'tarball');
    await b.run(unlockCommand(l, a.id, [upload]).text);
    expect([existsSync(l.lock), existsSync(upload)]).toEqual([true, false]);
  });

  it('takes, reports and refuses the lock the same way under bash, the usual login shell', async () => {
    const l = layoutFor(tmp('lk-'), 'demo');
    const b = localShellBackend('web1', 'bash');
    const a = newOwner('deploy release', '0.2.0');
    expect(await acquireLock(b, l, a, { ...opts(), after: sh`echo state` })).toEqual({ stdout: 'state\n', code: 0 });
    await expect(acquireLock(b, l, newOwner('deploy release', '0.3.0'), { ...opts(), after: sh`echo state` })).rejects.toThrow(/held by/);
  });

  it('waits with --lock-wait until the holder releases', async () => {
    const l = layoutFor(tmp('lk-'), 'demo');
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
    const l = layoutFor(tmp('lk-'), 'demo');
    const b = shellBackend('web2');
    const dead = { ...newOwner('deploy release'), pid: 2 ** 22 + 12345 };
    await acquireLock(b, l, dead, opts());
    const warnings: string[] = [];
    await acquireLock(b, l, newOwner('deploy release'), opts(warnings));
    expect(warnings[0]).toMatch(/web2: broke a stale deploy lock \(its process \d+ on .* is gone\)/);
  });

  it('breaks a lock not refreshed for the TTL', async () => {
    const l = layoutFor(tmp('lk-'), 'demo');
    const b = shellBackend();
    await acquireLock(b, l, { ...newOwner('x'), machine: 'other' }, opts());
    const old = Date.now() / 1000 - 3600;
    utimesSync(l.lock, old, old);
    const warnings: string[] = [];
    await acquireLock(b, l, newOwner('y'), opts(warnings));
    expect(warnings[0]).toMatch(/not refreshed for 60 min, LOCK_TTL is 15 min/);
  });

  it('breaks a lock whose owner record is unreadable (a crashed write) once, then takes it', async () => {
    const l = layoutFor(tmp('lk-'), 'demo');
    mkdirSync(l.lock, { recursive: true });
    writeFileSync(`${l.lock}/owner.json`, '{"id":"crashed","us');
    ago(l.lock, 120);
    const b = shellBackend('web1');
    const warnings: string[] = [];
    const me = newOwner('deploy release');
    await acquireLock(hooked(b, () => undefined), l, me, opts(warnings));
    expect(warnings).toEqual([expect.stringMatching(/^web1: broke a stale deploy lock \(it has no owner record\) held by an unknown owner/)]);
    expect(b.commands).toHaveLength(3); // held, broken, taken
    expect(JSON.parse(readFileSync(`${l.lock}/owner.json`, 'utf8')).id).toBe(me.id);
  });

  it('respects a young lock without a readable owner record (its holder may still be writing it)', async () => {
    const l = layoutFor(tmp('lk-'), 'demo');
    mkdirSync(l.lock, { recursive: true });
    writeFileSync(`${l.lock}/owner.json`, '');
    const b = shellBackend('web1');
    await expect(acquireLock(hooked(b, () => undefined), l, newOwner('deploy release'), opts())).rejects.toThrow(/held by an unknown owner/);
    expect(b.commands).toHaveLength(1);
  });

  it('puts a stale-judged lock back when its holder refreshes it while it is being broken', async () => {
    const l = layoutFor(tmp('lk-'), 'demo');
    const b = shellBackend('web1');
    const holder = { ...newOwner('deploy release', '0.2.0'), machine: 'laptop-a' };
    await acquireLock(b, l, holder, opts());
    ago(l.lock, 3600);
    // The holder's heartbeat lands after the breaker judged the lock stale, right before it moves the lock away.
    const racing = hooked(b, (c) => (c.includes('.stale-') ? `mv() { touch -c ${l.lock}; command mv "$@"; }; ` : undefined));
    const warnings: string[] = [];
    await expect(acquireLock(racing, l, newOwner('deploy release', '0.3.0'), opts(warnings))).rejects.toThrow(/held by \S+@laptop-a/);
    expect(warnings).toEqual([]);
    expect(JSON.parse(readFileSync(`${l.lock}/owner.json`, 'utf8')).id).toBe(holder.id);
  });

  it('never breaks a lock that another deploy took after the stale one was judged', async () => {
    const l = layoutFor(tmp('lk-'), 'demo');
    const b = shellBackend('web1');
    await acquireLock(b, l, { ...newOwner('deploy release'), machine: 'gone' }, opts());
    ago(l.lock, 3600);
    // Between our look and our break, a third deploy broke the stale lock and took it.
    const third = { ...newOwner('deploy release', '0.4.0'), machine: 'laptop-c' };
    const racing = hooked(b, (c) => (c.includes('.stale-') ? `rm -rf ${l.lock}; ${acquireCommand(l, third).text} >/dev/null; ` : undefined));
    await expect(acquireLock(racing, l, newOwner('deploy release', '0.3.0'), opts())).rejects.toThrow(/held by \S+@laptop-c/);
    expect(JSON.parse(readFileSync(`${l.lock}/owner.json`, 'utf8')).id).toBe(third.id);
  });

  it('a holder that keeps its lock fresh keeps it past the TTL; once it stops, the lock goes stale', async () => {
    const l = layoutFor(tmp('lk-'), 'demo');
    const b = shellBackend('web1');
    const holder = { ...newOwner('deploy release'), machine: 'laptop-a' };
    const ttl = { ...opts(), ttlMs: 1000 };
    await acquireLock(b, l, holder, ttl);
    const keeper = keepLock(b, l, holder.id, 1000);
    await new Promise((r) => setTimeout(r, 2300));
    await expect(acquireLock(b, l, newOwner('deploy release'), ttl)).rejects.toThrow(/held by \S+@laptop-a/);
    const refreshes = b.commands.filter((c) => c.includes('touch -c')).length;
    expect(refreshes).toBeGreaterThanOrEqual(5);
    await keeper.stop();
    expect(keeper.lost).toBe(false);
    const warnings: string[] = [];
    await acquireLock(b, l, newOwner('deploy release'), { ...ttl, waitMs: 5000, warn: (m: string) => warnings.push(m) });
    expect(warnings[0]).toMatch(/broke a stale deploy lock \(not refreshed for [23]s, LOCK_TTL is 1s\)/);
    expect(b.commands.filter((c) => c.includes('touch -c'))).toHaveLength(refreshes);
  });

  it('a heartbeat notices when its lock is gone, and never recreates it', async () => {
    const l = layoutFor(tmp('lk-'), 'demo');
    const b = shellBackend('web1');
    const holder = newOwner('deploy release');
    await acquireLock(b, l, holder, opts());
    const keeper = keepLock(b, l, holder.id, 600);
    await b.run(forceUnlockCommand(l).text);
    await new Promise((r) => setTimeout(r, 500));
    await keeper.stop();
    expect(keeper.lost).toBe(true);
    expect(existsSync(l.lock)).toBe(false);
    expect((await b.run(refreshCommand(l, holder.id).text)).stdout).toBe('LOST\n');
  });

  it('force unlock reports the previous owner', async () => {
    const l = layoutFor(tmp('lk-'), 'demo');
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
    expect(held).toEqual({ acquired: false, ageSeconds: 100, stamp: 900 });
    expect(staleReason({ ageSeconds: 100 }, { ttlMs: 900_000, machine: 'm', pidAlive: () => true })).toBe('it has no owner record');
    expect(staleReason({ ageSeconds: 10 }, { ttlMs: 900_000, machine: 'm', pidAlive: () => true })).toBeUndefined();
    const o = { ...newOwner('deploy'), machine: 'm', pid: 7 };
    expect(staleReason({ ageSeconds: 10, owner: o }, { ttlMs: 900_000, machine: 'm', pidAlive: () => false })).toMatch(/process 7/);
    expect(staleReason({ ageSeconds: 10, owner: o }, { ttlMs: 900_000, machine: 'other', pidAlive: () => false })).toBeUndefined();
    expect(describeOwner(undefined, 5)).toMatch(/unknown owner/);
  });
});

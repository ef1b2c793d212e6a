// The remote store (`user@host:/path`) against a real sshd host of the test bed: every operation over one pooled
// connection, the alias form, files corrupted on the host, failed uploads, edeliver's digest-less files, an
// unreachable store host, and a 200 MB release streamed through with bounded memory.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failingSource, randomSource, roundTrip } from '../helpers/big-release.js';
import { expectListsGetsOverwrites, readAll, sha } from '../helpers/store-contract.js';
import { DeliverError } from '../../src/output/errors.js';
import { SshTransport } from '../../src/ssh/transport.js';
import { openStore } from '../../src/store/index.js';
import type { RemoteStore } from '../../src/store/remote.js';
import { loadTestbed, type TestHost, type Testbed } from '../helpers/testbed.js';

const FILE = 'demo_1.0.0.release.tar.gz';
const run = `store-${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

let tb: Testbed;
let host: TestHost;
let transport: SshTransport;

/** `total` random bytes in 1 MiB chunks, generated as they are read. */
function remote(spec: string, t: SshTransport = transport): RemoteStore {
  return openStore(spec, { cwd: process.cwd(), transport: t }) as RemoteStore;
}

/** The store directory as this machine sees it (the host's /srv is its root directory in the bed). */
const onHost = (sub: string) => join(host.root, sub);

beforeAll(() => {
  tb = loadTestbed();
  host = tb.hosts[0] as TestHost;
  transport = new SshTransport({ sshConfigFile: tb.sshConfig, identityFiles: [tb.identity], connectTimeoutMs: 5000 });
});

afterAll(async () => {
  await transport?.closeAll();
});

describe('remote store (real sshd host)', () => {
  it('puts, stats, lists, gets and deletes over one SSH connection', async () => {
    const store = remote(`${tb.user}@${host.name}:/srv/${run}/a`);
    expect(store.description).toBe(`${tb.user}@${host.name}:/srv/${run}/a`);
    const before = transport.handshakes;
    expect(await store.list('demo')).toEqual([]);
    expect(await store.stat(FILE)).toBeUndefined();

    const data = randomBytes(5 * 1024 * 1024 + 3);
    const put = await store.put(FILE, Readable.from([data]));
    expect(put).toMatchObject({ app: 'demo', version: '1.0.0', type: 'release', file: FILE, size: data.length, sha256: sha(data) });
    expect(readFileSync(onHost(`${run}/a/${FILE}.sha256`), 'utf8')).toBe(`${sha(data)}  ${FILE}\n`);
    expect(readFileSync(onHost(`${run}/a/${FILE}`)).equals(data)).toBe(true);

    await expectListsGetsOverwrites(store, FILE, data);
    expect(readFileSync(onHost(`${run}/a/${FILE}`), 'utf8')).toBe('x');

    await store.delete(FILE);
    expect(await store.stat(FILE)).toBeUndefined();
    expect(existsSync(onHost(`${run}/a/${FILE}.sha256`))).toBe(false);
    await expect(store.get(FILE)).rejects.toThrow(`${tb.user}@${host.name}:/srv/${run}/a: ${FILE} not found`);
    expect(readdirSync(onHost(`${run}/a`)).filter((f) => f.startsWith('.'))).toEqual([]);
    // Every step above reused one connection.
    expect(transport.handshakes - before).toBe(1);
  });

  it('resolves a bare ~/.ssh/config alias (host:path) and a ~/ path', async () => {
    const t = new SshTransport({ sshConfigFile: tb.sshConfig, connectTimeoutMs: 5000 });
    try {
      const store = remote(`${host.name}:/srv/${run}/alias`, t);
      await store.put(FILE, Readable.from([Buffer.from('via alias')]));
      expect(readFileSync(onHost(`${run}/alias/${FILE}`), 'utf8')).toBe('via alias');
      const home = remote(`${host.name}:~/${run}-home`, t);
      await home.put(FILE, Readable.from([Buffer.from('home')]));
      expect((await readAll((await home.get(FILE)).stream)).toString()).toBe('home');
      await home.delete(FILE);
    } finally {
      await t.closeAll();
    }
  });

  it('refuses files corrupted or truncated on the host, and verifies digest-less edeliver files', async () => {
    const store = remote(`${tb.user}@${host.name}:/srv/${run}/corrupt`);
    const data = randomBytes(1024 * 1024);
    await store.put(FILE, Readable.from([data]));
    const bad = Buffer.from(data);
    bad[700_000] = (bad[700_000] as number) ^ 0x80;
    writeFileSync(onHost(`${run}/corrupt/${FILE}`), bad);
    await expect(readAll((await store.get(FILE)).stream)).rejects.toThrow(
      `${tb.user}@${host.name}:/srv/${run}/corrupt: ${FILE}: checksum mismatch: expected sha256 ${sha(data)}, got ${sha(bad)}`,
    );
    writeFileSync(onHost(`${run}/corrupt/${FILE}`), data.subarray(0, 4096));
    await expect(readAll((await store.get(FILE)).stream)).rejects.toThrow(/checksum mismatch: expected sha256/);

    // edeliver stored no digest: the host's sha256sum supplies it, so the read is still verified end to end.
    mkdirSync(onHost(`${run}/legacy`), { recursive: true });
    writeFileSync(onHost(`${run}/legacy/${FILE}`), 'edeliver era');
    const legacy = remote(`${tb.user}@${host.name}:/srv/${run}/legacy`);
    const [entry] = await legacy.list('demo');
    expect(entry?.sha256).toBeUndefined();
    const got = await legacy.get(FILE);
    expect(got.sha256).toBe(sha('edeliver era'));
    expect((await readAll(got.stream)).toString()).toBe('edeliver era');
  });

  it('leaves nothing behind when an upload fails or does not match its digest', async () => {
    const store = remote(`${tb.user}@${host.name}:/srv/${run}/fail`);
    const failing = failingSource(8 * 1024 * 1024);
    await expect(store.put(FILE, failing)).rejects.toThrow(/build host connection lost/);
    expect(readdirSync(onHost(`${run}/fail`))).toEqual([]);
    await expect(store.put(FILE, randomSource(3 * 1024 * 1024), { sha256: '0'.repeat(64) })).rejects.toThrow(
      new RegExp(`^${tb.user}@${host.name}:/srv/${run}/fail: ${FILE}: checksum mismatch`),
    );
    expect(readdirSync(onHost(`${run}/fail`))).toEqual([]);
    expect(await store.stat(FILE)).toBeUndefined();
  });

  it('gives a one-line error naming the store for an unreachable store host', async () => {
    const t = new SshTransport({ sshConfigFile: tb.sshConfig, identityFiles: [tb.identity], connectTimeoutMs: 3000, connectAttempts: 1 });
    try {
      const dead = `${tb.net}.249`; // no sshd listens there in the bed
      const err = await remote(`${tb.user}@${dead}:/srv/x`, t).list('demo').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeliverError);
      expect((err as DeliverError).exitCode).toBe(1);
      expect((err as Error).message).toMatch(new RegExp(`^${tb.user}@${dead.replace(/\./g, '\\.')}.*(refused|unreachable|connect)`, 'i'));
      expect((err as Error).message).not.toContain('\n');
    } finally {
      await t.closeAll();
    }
  });

  it('streams a 200 MB release in and out with under 150 MB of memory growth', async () => {
    const store = remote(`${tb.user}@${host.name}:/srv/${run}/big`);
    await store.list('big'); // connect first: the pool's own buffers are not the release's
    const size = 200 * 1024 * 1024;
    const r = await roundTrip(store, 'big_1.0.0.release.tar.gz', size);
    expect(r.put).toMatchObject({ size, sha256: r.digest });
    expect(r.readBack).toEqual({ bytes: size, digest: r.digest });
    expect(r.peakGrowth, `peak RSS growth ${(r.peakGrowth / 1048576).toFixed(0)} MB`).toBeLessThan(150 * 1024 * 1024);
    await store.delete('big_1.0.0.release.tar.gz');
  });
});

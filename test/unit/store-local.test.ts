import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { DeliverError, UsageError } from '../../src/output/errors.js';
import { LocalStore, localStoreDir } from '../../src/store/local.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const FILE = 'demo_1.0.0.release.tar.gz';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

let root: string;
let store: LocalStore;
beforeEach(() => {
  root = tmp('store-local-');
  store = new LocalStore(join(root, '.deliver', 'releases'), root);
});

describe('LocalStore', () => {
  it('puts, stats, lists, gets and deletes', async () => {
    const data = randomBytes(300_000);
    const progress: number[] = [];
    const put = await store.put(FILE, Readable.from([data]), { onProgress: (n) => progress.push(n) });
    expect(put).toMatchObject({ app: 'demo', version: '1.0.0', type: 'release', file: FILE, size: data.length, sha256: sha(data) });
    expect(progress.at(-1)).toBe(data.length);
    expect(store.description).toBe('local .deliver/releases');
    expect(readFileSync(join(root, '.deliver/releases', `${FILE}.sha256`), 'utf8')).toBe(`${sha(data)}  ${FILE}\n`);

    await store.put('demo_1.10.0.release.tar.gz', Readable.from([Buffer.from('b')]));
    await store.put('demo_1.9.0.upgrade.tar.gz', Readable.from([Buffer.from('c')]));
    await store.put('demo_web_2.0.0.release.tar.gz', Readable.from([Buffer.from('d')]));
    expect((await store.list('demo')).map((r) => r.file)).toEqual([FILE, 'demo_1.9.0.upgrade.tar.gz', 'demo_1.10.0.release.tar.gz']);
    expect((await store.list('*')).length).toBe(4);

    const got = await store.get(FILE);
    expect(got.sha256).toBe(sha(data));
    expect(got.size).toBe(data.length);
    expect((await readAll(got.stream)).equals(data)).toBe(true);

    await store.delete(FILE);
    expect(await store.stat(FILE)).toBeUndefined();
    expect(readdirSync(join(root, '.deliver/releases')).filter((f) => f.startsWith(FILE))).toEqual([]);
    await expect(store.delete(FILE)).rejects.toThrow(`local .deliver/releases: ${FILE} not found`);
    await expect(store.get(FILE)).rejects.toThrow(/not found/);
  });

  it('lists nothing (no error) when the directory does not exist yet', async () => {
    expect(await store.list('demo')).toEqual([]);
    expect(await store.stat(FILE)).toBeUndefined();
  });

  it('refuses to overwrite without force, overwrites with force', async () => {
    await store.put(FILE, Readable.from([Buffer.from('one')]));
    const err = await store.put(FILE, Readable.from([Buffer.from('two')])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliverError);
    expect((err as Error).message).toBe(`local .deliver/releases: ${FILE} already exists; use --force to overwrite it`);
    const again = await store.put(FILE, Readable.from([Buffer.from('two')]), { force: true });
    expect(again.sha256).toBe(sha('two'));
    expect((await readAll((await store.get(FILE)).stream)).toString()).toBe('two');
  });

  it('keeps a write invisible until complete, and leaves nothing when the source fails', async () => {
    const src = new PassThrough();
    const pending = store.put(FILE, src);
    src.write(Buffer.alloc(64 * 1024, 1));
    await new Promise((r) => setTimeout(r, 50));
    const dir = join(root, '.deliver/releases');
    expect(readdirSync(dir).every((f) => f.startsWith('.tmp-'))).toBe(true);
    expect(await store.list('demo')).toEqual([]);
    expect(await store.stat(FILE)).toBeUndefined();
    src.destroy(new Error('build host went away'));
    await expect(pending).rejects.toThrow(/local \.deliver\/releases: cannot store demo_1\.0\.0\.release\.tar\.gz: build host went away/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('leaves nothing when an interrupt aborts the write', async () => {
    const ac = new AbortController();
    const src = new PassThrough();
    const pending = store.put(FILE, src, { signal: ac.signal });
    src.write(Buffer.alloc(1024));
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await expect(pending).rejects.toMatchObject({ exitCode: 130 });
    expect(readdirSync(join(root, '.deliver/releases'))).toEqual([]);
  });

  it('verifies an expected digest and size on the way in', async () => {
    await expect(store.put(FILE, Readable.from([Buffer.from('abc')]), { sha256: sha('abd') })).rejects.toThrow(
      `local .deliver/releases: ${FILE}: checksum mismatch: expected sha256 ${sha('abd')}, got ${sha('abc')}`,
    );
    await expect(store.put(FILE, Readable.from([Buffer.from('abc')]), { size: 4 })).rejects.toThrow(/got 3 bytes, expected 4/);
    expect(readdirSync(join(root, '.deliver/releases'))).toEqual([]);
    expect((await store.put(FILE, Readable.from([Buffer.from('abc')]), { sha256: sha('abc'), size: 3 })).sha256).toBe(sha('abc'));
  });

  it('refuses a release whose bytes changed behind its back', async () => {
    const data = randomBytes(200_000);
    await store.put(FILE, Readable.from([data]));
    const path = join(root, '.deliver/releases', FILE);
    const bad = Buffer.from(data);
    bad[123_456] = (bad[123_456] as number) ^ 0xff;
    writeFileSync(path, bad);
    const got = await store.get(FILE);
    await expect(readAll(got.stream)).rejects.toThrow(
      `local .deliver/releases: ${FILE}: checksum mismatch: expected sha256 ${sha(data)}, got ${sha(bad)}`,
    );
    writeFileSync(path, data.subarray(0, 1000));
    await expect(readAll((await store.get(FILE)).stream)).rejects.toThrow(/checksum mismatch/);
  });

  it('rejects file names that are paths or hidden', async () => {
    for (const bad of ['../x_1.release.tar.gz', 'a/b_1.release.tar.gz', '.tmp-abc', '', `${FILE}.sha256`]) {
      await expect(store.stat(bad)).rejects.toThrow(UsageError);
    }
  });

  it('reads edeliver stores (.deliver with files in releases/), hashing files that have no digest', async () => {
    mkdirSync(join(root, '.deliver', 'releases'), { recursive: true });
    writeFileSync(join(root, '.deliver', 'releases', FILE), 'from edeliver');
    const legacy = new LocalStore(join(root, '.deliver'), root);
    expect(legacy.dir).toBe(join(root, '.deliver', 'releases'));
    expect(localStoreDir(join(root, 'other'))).toBe(join(root, 'other'));
    const [r] = await legacy.list('demo');
    expect(r?.sha256).toBeUndefined();
    const got = await legacy.get(FILE);
    expect(got.sha256).toBe(sha('from edeliver'));
    expect((await readAll(got.stream)).toString()).toBe('from edeliver');
  });
});

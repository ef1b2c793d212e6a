import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseCopyWords } from '../../src/cli/commands/store-copy.js';
import { UsageError } from '../../src/output/errors.js';
import { copyRelease, downloadToFile } from '../../src/store/copy.js';
import { LocalStore } from '../../src/store/local.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const FILE = 'demo_1.2.0.release.tar.gz';

let root: string;
let a: LocalStore;
let b: LocalStore;
beforeEach(() => {
  root = tmp('store-copy-');
  a = new LocalStore(join(root, 'a'), root);
  b = new LocalStore(join(root, 'b'), root);
});

describe('copyRelease', () => {
  it('copies bytes and digest, refusing an existing file without force', async () => {
    const data = randomBytes(100_000);
    await a.put(FILE, Readable.from([data]));
    const r = await copyRelease(a, b, FILE);
    expect(r).toMatchObject({ file: FILE, size: data.length, sha256: sha(data) });
    expect(readFileSync(join(root, 'b', FILE)).equals(data)).toBe(true);
    await expect(copyRelease(a, b, FILE)).rejects.toThrow(`local b: ${FILE} already exists; use --force to overwrite it`);
    await expect(copyRelease(a, b, FILE, { force: true })).resolves.toMatchObject({ sha256: sha(data) });
  });

  it('publishes nothing when the source is corrupted', async () => {
    const data = randomBytes(100_000);
    await a.put(FILE, Readable.from([data]));
    const bad = Buffer.from(data);
    bad[5] = (bad[5] as number) ^ 1;
    writeFileSync(join(root, 'a', FILE), bad);
    await expect(copyRelease(a, b, FILE)).rejects.toThrow(`local a: ${FILE}: checksum mismatch: expected sha256 ${sha(data)}, got ${sha(bad)}`);
    expect(existsSync(join(root, 'b')) ? readdirSync(join(root, 'b')) : []).toEqual([]);
  });
});

describe('downloadToFile', () => {
  it('writes into a directory or to a file path, keeping existing files unless forced', async () => {
    await a.put(FILE, Readable.from([Buffer.from('payload')]));
    mkdirSync(join(root, 'dl'));
    const r = await downloadToFile(a, FILE, join(root, 'dl'));
    expect(r).toEqual({ path: join(root, 'dl', FILE), size: 7, sha256: sha('payload') });
    expect(readFileSync(r.path, 'utf8')).toBe('payload');
    await expect(downloadToFile(a, FILE, join(root, 'dl'))).rejects.toThrow(`${join(root, 'dl', FILE)} already exists; use --force to overwrite it`);
    const named = await downloadToFile(a, FILE, join(root, 'new', 'x.tgz'));
    expect(readFileSync(named.path, 'utf8')).toBe('payload');
    writeFileSync(join(root, 'a', FILE), 'PAYLOAD');
    await expect(downloadToFile(a, FILE, join(root, 'dl'), { force: true })).rejects.toThrow(/checksum mismatch/);
    expect(readFileSync(r.path, 'utf8')).toBe('payload');
    expect(readdirSync(join(root, 'dl'))).toEqual([FILE]);
  });
});

describe('parseCopyWords', () => {
  it('reads release|upgrade [VERSION] and FILE', () => {
    expect(parseCopyWords(['release', '1.2.0', '/tmp/x'])).toEqual({ target: { type: 'release', version: '1.2.0' }, rest: ['/tmp/x'] });
    expect(parseCopyWords(['upgrade'])).toEqual({ target: { type: 'upgrade' }, rest: [] });
    expect(parseCopyWords([FILE, 'dest'])).toEqual({ target: { file: FILE }, rest: ['dest'] });
    expect(() => parseCopyWords(['release', 'latest!'])).toThrow(UsageError);
    expect(() => parseCopyWords(['../x.tar.gz'])).toThrow(UsageError);
    expect(() => parseCopyWords(['nonsense'])).toThrow(/expected release, upgrade or a release file name/);
    expect(() => parseCopyWords([])).toThrow(UsageError);
  });
});

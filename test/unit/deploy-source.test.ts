// The release source: a store without local files is read once into a temp file that every host is sent from.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { prepareSource } from '../../src/deploy/source.js';
import { LocalStore } from '../../src/store/local.js';
import type { ReleaseStore, StoredRelease } from '../../src/store/types.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

const body = 'release bytes '.repeat(1000);
const sha = createHash('sha256').update(body).digest('hex');
const stored: StoredRelease = { app: 'demo', version: '1.0.0', type: 'release', file: 'demo_1.0.0.release.tar.gz', size: body.length, modified: new Date(0), sha256: sha };

describe('prepareSource', () => {
  it('reads a non-local store once into a temp file and removes it on dispose', async () => {
    let gets = 0;
    const store: ReleaseStore = {
      description: 's3://bucket/prefix',
      list: async () => [stored],
      stat: async () => stored,
      put: async () => stored,
      delete: async () => undefined,
      get: async () => {
        gets++;
        return { stream: Readable.from([Buffer.from(body)]), sha256: sha, size: body.length };
      },
    };
    const src = await prepareSource(store, stored);
    expect(src.sha256).toBe(sha);
    expect(src.size).toBe(body.length);
    expect(await text(src.open())).toBe(body);
    expect(await text(src.open())).toBe(body);
    expect(gets).toBe(1);
    expect(existsSync(src.path)).toBe(true);
    await src.dispose();
    expect(existsSync(src.path)).toBe(false);
  });

  it('names the store and file when fetching fails', async () => {
    const store = {
      description: 's3://bucket',
      get: async () => ({ stream: Readable.from((async function* () { yield Buffer.from('x'); throw new Error('connection reset'); })()), sha256: sha, size: 1 }),
    } as unknown as ReleaseStore;
    await expect(prepareSource(store, stored)).rejects.toThrow('could not fetch demo_1.0.0.release.tar.gz from s3://bucket: connection reset');
  });

  it('streams a local store file directly (no copy)', async () => {
    const dir = tmp('src-');
    writeFileSync(join(dir, stored.file), body);
    const src = await prepareSource(new LocalStore(dir), { ...stored, sha256: undefined } as unknown as StoredRelease);
    expect(src.path).toBe(join(dir, stored.file));
    expect(src.sha256).toBe(sha);
    await src.dispose();
    expect(readFileSync(src.path, 'utf8')).toBe(body);
  });
});

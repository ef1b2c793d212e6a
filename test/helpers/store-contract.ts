// What every release store (remote, S3) must do alike, checked by the same code against each real backend.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { expect } from 'vitest';
import type { ReleaseStore } from '../../src/store/types.js';

export const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A whole stream as one Buffer (node's own consumer). */
export { readAll };

/**
 * With `file` (a `demo_1.0.0` release holding `data`) already stored: lists only the app's releases and upgrades in
 * version order with their digests, gets `data` back with its digest, refuses to overwrite without force and
 * overwrites with it (the store then holds `x`).
 */
export async function expectListsGetsOverwrites(store: ReleaseStore, file: string, data: Buffer): Promise<void> {
  await store.put('demo_1.10.0.release.tar.gz', Readable.from([Buffer.from('b')]), { sha256: sha('b'), size: 1 });
  await store.put('demo_1.9.0.upgrade.tar.gz', Readable.from([Buffer.from('c')]));
  await store.put('demo_web_1.0.0.release.tar.gz', Readable.from([Buffer.from('d')]));
  const listed = await store.list('demo');
  expect(listed.map((r) => r.file)).toEqual([file, 'demo_1.9.0.upgrade.tar.gz', 'demo_1.10.0.release.tar.gz']);
  expect(listed.map((r) => r.sha256)).toEqual([sha(data), sha('c'), sha('b')]);
  expect((await store.list('*')).length).toBe(4);

  const got = await store.get(file);
  expect(got).toMatchObject({ sha256: sha(data), size: data.length });
  expect((await readAll(got.stream)).equals(data)).toBe(true);

  await expect(store.put(file, Readable.from([Buffer.from('x')]))).rejects.toThrow(`${store.description}: ${file} already exists; use --force to overwrite it`);
  expect((await store.put(file, Readable.from([Buffer.from('x')]), { force: true })).sha256).toBe(sha('x'));
}

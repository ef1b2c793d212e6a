// One file streamed to many hosts: each reader gets every byte, chunks are read once while readers keep pace, and a
// reader that falls behind the bounded cache reads its chunks again instead of waiting for (or holding up) others.
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { SharedFileReader } from '../../src/deploy/shared-reader.js';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { randomSource } from '../helpers/big-release.js';
import { sha } from '../helpers/store-contract.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

function fileOf(bytes: number): { path: string; data: Buffer } {
  const path = join(tmp('shr-'), 'release.tar.gz');
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 7919) % 251;
  writeFileSync(path, data);
  return { path, data };
}

describe('SharedFileReader', () => {
  it('gives every concurrent reader the whole file and reads each chunk once', async () => {
    const { path, data } = fileOf(1_000_003);
    const r = new SharedFileReader(path, data.length, { chunkSize: 64 * 1024 });
    const got = await Promise.all(Array.from({ length: 8 }, () => buffer(r.open())));
    for (const g of got) expect(g.equals(data)).toBe(true);
    expect(r.chunkReads).toBe(Math.ceil(data.length / (64 * 1024)));
  });

  it('a reader far behind re-reads evicted chunks and still gets the right bytes', async () => {
    const { path, data } = fileOf(600_000);
    const r = new SharedFileReader(path, data.length, { chunkSize: 10_000, cacheBytes: 50_000 });
    const slow = r.open(); // opened (so the cache is not dropped) but not read until the fast one is done
    const fast = await buffer(r.open());
    expect(fast.equals(data)).toBe(true);
    const before = r.chunkReads;
    expect(before).toBe(60);
    expect((await buffer(slow)).equals(data)).toBe(true);
    // Its chunks had left the 5-chunk cache: it read them again (its own reads then pushed out the cached tail).
    expect(r.chunkReads - before).toBe(60);
  });

  it('fails a reader when the file shrank while it was being sent', async () => {
    const { path, data } = fileOf(300_000);
    const r = new SharedFileReader(path, data.length, { chunkSize: 100_000 });
    truncateSync(path, 150_000);
    await expect(buffer(r.open())).rejects.toThrow(/shorter than 300000 bytes/);
  });

  it('handles an empty file and a file of random bytes larger than the cache', async () => {
    const empty = fileOf(0);
    expect((await buffer(new SharedFileReader(empty.path, 0).open())).length).toBe(0);
    const dir = tmp('shr-');
    const path = join(dir, 'big');
    const size = 3 * 1024 * 1024;
    const hash = createHash('sha256');
    await pipeline(randomSource(size, hash), createWriteStream(path));
    const sha256 = hash.digest('hex');
    const r = new SharedFileReader(path, size, { chunkSize: 256 * 1024, cacheBytes: 512 * 1024 });
    const [a, b] = await Promise.all([buffer(r.open()), buffer(r.open())]);
    expect([sha(a), sha(b)]).toEqual([sha256, sha256]);
  });
});

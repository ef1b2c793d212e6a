import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DeliverError } from '../../src/output/errors.js';
import {
  HashingStream,
  VerifyingStream,
  formatSha256Line,
  parseSha256Text,
  sha256File,
} from '../../src/store/checksum.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

async function drain(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('HashingStream', () => {
  it('passes bytes through unchanged and hashes them', async () => {
    const data = Buffer.from('a'.repeat(100_000) + 'b');
    const h = new HashingStream();
    const out = drain(h);
    await pipeline(Readable.from([data.subarray(0, 5000), data.subarray(5000)]), h);
    expect((await out).equals(data)).toBe(true);
    expect(h.digest()).toBe(sha(data));
    expect(h.bytes).toBe(data.length);
  });

  it('reports progress and refuses a digest before the end', () => {
    const seen: number[] = [];
    const h = new HashingStream((n) => seen.push(n));
    h.write(Buffer.from('abc'));
    expect(seen).toEqual([3]);
    expect(() => h.digest()).toThrow(/before the stream ended/);
  });
});

describe('VerifyingStream', () => {
  it('ends normally when the digest matches', async () => {
    const v = new VerifyingStream({ store: 'local x', file: 'a_1.release.tar.gz', expected: sha('hello') });
    const out = drain(v);
    v.end('hello');
    expect((await out).toString()).toBe('hello');
  });

  it('errors at the end, naming store, file and both digests', async () => {
    const expected = sha('hello');
    const v = new VerifyingStream({ store: 's3://b/p', file: 'a_1.release.tar.gz', expected });
    const out = drain(v);
    v.end('hellO');
    const err = await out.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DeliverError);
    expect((err as Error).message).toBe(`s3://b/p: a_1.release.tar.gz: checksum mismatch: expected sha256 ${expected}, got ${sha('hellO')}`);
  });

  it('calls a short stream truncated when the size is known', async () => {
    const v = new VerifyingStream({ store: 'st', file: 'f', expected: sha('hello'), size: 5 });
    const out = drain(v);
    v.end('hel');
    await expect(out).rejects.toThrow(/truncated or resized \(3 of 5 bytes\), checksum mismatch/);
  });

  it('never emits end for bad bytes (a consumer that renames on finish publishes nothing)', async () => {
    const v = new VerifyingStream({ store: 'st', file: 'f', expected: '0'.repeat(64) });
    let ended = false;
    v.on('end', () => (ended = true));
    const sink = new PassThrough();
    sink.resume();
    await expect(pipeline(Readable.from([Buffer.from('x')]), v, sink)).rejects.toThrow(/checksum mismatch/);
    expect(ended).toBe(false);
  });
});

describe('sha256 files', () => {
  it('hashes a file by streaming it', async () => {
    const dir = tmp('sum-');
    const f = join(dir, 'x');
    writeFileSync(f, 'content');
    expect(await sha256File(f)).toBe(sha('content'));
  });

  it('writes and reads sha256sum format', () => {
    const hex = sha('x');
    expect(formatSha256Line(hex, 'a_1.release.tar.gz')).toBe(`${hex}  a_1.release.tar.gz\n`);
    expect(parseSha256Text(`${hex}  a_1.release.tar.gz\n`)).toBe(hex);
    expect(parseSha256Text(hex.toUpperCase())).toBe(hex);
    expect(parseSha256Text('not a digest  f')).toBeUndefined();
    expect(parseSha256Text('')).toBeUndefined();
  });
});

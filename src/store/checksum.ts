// sha256 computed while bytes stream through, so a release is hashed exactly once and never held in memory.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeliverError } from '../output/errors.js';

const HEX64 = /^[0-9a-f]{64}$/;

export function isSha256Hex(value: string): boolean {
  return HEX64.test(value);
}

/** Passes bytes through unchanged and hashes them; `digest()` is valid once the stream has ended. */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private hex: string | undefined;
  /** Bytes seen so far. */
  bytes = 0;

  /**
   * With `sizeCheck`, a stream of any other length fails at its end (before the reader sees 'end'), so a
   * consumer that publishes on completion never publishes a short or long copy.
   */
  constructor(
    private readonly onProgress?: (bytes: number) => void,
    private readonly sizeCheck?: { store: string; file: string; size: number },
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onProgress?.(this.bytes);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.hex = this.hash.digest('hex');
    const c = this.sizeCheck;
    if (c && this.bytes !== c.size) return cb(new DeliverError(`${c.store}: ${c.file}: got ${this.bytes} bytes, expected ${c.size}`));
    cb();
  }

  /** Hex sha256 of everything that passed; throws if the stream has not ended yet (a bug in the caller). */
  digest(): string {
    if (this.hex === undefined) throw new Error('HashingStream.digest() called before the stream ended');
    return this.hex;
  }
}

/** The stream a store's put() hashes its input with: verifying when a digest is expected, size-checked when known. */
export function inboundHasher(store: string, file: string, opts: { sha256?: string; size?: number; onProgress?: (bytes: number) => void }): HashingStream {
  if (opts.sha256) return new VerifyingStream({ store, file, expected: opts.sha256, ...(opts.size !== undefined ? { size: opts.size } : {}) }, opts.onProgress);
  return new HashingStream(opts.onProgress, opts.size === undefined ? undefined : { store, file, size: opts.size });
}

export interface VerifyTarget {
  /** Store description (`local .deliver/releases`, `s3://bucket/prefix`). */
  store: string;
  file: string;
  /** Expected hex sha256. */
  expected: string;
  /** Expected size, when known: a short stream is reported as truncated rather than as a digest mismatch. */
  size?: number;
}

/** The one-line error for bytes that do not match their recorded digest. */
export function checksumMismatch(t: VerifyTarget, actual: string, bytes?: number): DeliverError {
  const truncated = t.size !== undefined && bytes !== undefined && bytes !== t.size;
  const what = truncated ? `truncated or resized (${bytes} of ${t.size} bytes), ` : '';
  return new DeliverError(
    `${t.store}: ${t.file}: ${what}checksum mismatch: expected sha256 ${t.expected}, got ${actual}`,
    { hint: 'the stored release is corrupted or was changed behind the store; rebuild or re-upload it with --force' },
  );
}

/**
 * Passes bytes through and, at the end, fails the stream (before it ends for the reader) if the sha256 differs.
 * A consumer that writes to a temp file and renames only after 'finish' therefore never publishes bad bytes.
 */
export class VerifyingStream extends HashingStream {
  constructor(
    private readonly target: VerifyTarget,
    onProgress?: (bytes: number) => void,
  ) {
    super(onProgress);
  }

  override _flush(cb: TransformCallback): void {
    super._flush((err) => {
      if (err) return cb(err);
      const actual = this.digest();
      if (actual !== this.target.expected.toLowerCase()) return cb(checksumMismatch(this.target, actual, this.bytes));
      cb();
    });
  }
}

/** Streams a file through sha256. */
export async function sha256File(path: string): Promise<string> {
  const h = new HashingStream();
  h.resume();
  await pipeline(createReadStream(path), h);
  return h.digest();
}

/** `<hex>  <file>\n`: sha256sum's format, so `sha256sum -c` works in the store directory. */
export function formatSha256Line(hex: string, file: string): string {
  return `${hex}  ${file}\n`;
}

/** Reads the digest from a `.sha256` file's text (sha256sum format, or a bare digest); undefined if none. */
export function parseSha256Text(text: string): string | undefined {
  const first = text.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  return isSha256Hex(first) ? first : undefined;
}

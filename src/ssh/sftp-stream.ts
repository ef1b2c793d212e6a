// Streams over one SFTP session with several requests in flight. ssh2's own streams wait for each 32-64 KiB
// request before sending the next, which caps a release upload at one chunk per round trip; keeping a bounded
// window of requests outstanding fills the pipe while memory stays at a few MiB whatever the file size.
import { Readable, Writable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';

const WRITE_WINDOW_BYTES = 1 * 1024 * 1024;
const READ_CHUNK = 64 * 1024;
const READ_REQUESTS = 16;

/** Writes sequential chunks at increasing offsets; `_write` returns early while the window has room. */
export class SftpWriteStream extends Writable {
  private pos = 0;
  private inflightBytes = 0;
  private inflight = 0;
  private acked = 0;
  private failed: Error | undefined;
  private waiting: ((err?: Error | null) => void) | undefined;
  private finishing: ((err?: Error | null) => void) | undefined;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly handle: Buffer,
    private readonly onProgress?: (bytes: number) => void,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.failed) return cb(this.failed);
    const len = chunk.length;
    const at = this.pos;
    this.pos += len;
    this.inflight++;
    this.inflightBytes += len;
    this.sftp.write(this.handle, chunk, 0, len, at, (err) => {
      this.inflight--;
      this.inflightBytes -= len;
      if (err) this.failed ??= err;
      else {
        this.acked += len;
        this.onProgress?.(this.acked);
      }
      this.settle();
    });
    if (this.inflightBytes < WRITE_WINDOW_BYTES) cb();
    else this.waiting = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.inflight === 0) cb(this.failed);
    else this.finishing = cb;
  }

  private settle(): void {
    if (this.waiting && (this.failed || this.inflightBytes < WRITE_WINDOW_BYTES)) {
      const w = this.waiting;
      this.waiting = undefined;
      w(this.failed);
    }
    if (this.finishing && this.inflight === 0) {
      const f = this.finishing;
      this.finishing = undefined;
      f(this.failed);
    }
  }

  get bytesAcked(): number {
    return this.acked;
  }
}

/** Reads `size` bytes with up to READ_REQUESTS reads outstanding, delivering them in order. */
export class SftpReadStream extends Readable {
  private nextPos = 0;
  private deliverPos = 0;
  private inflight = 0;
  private wanting = false;
  private eof = false;
  private ended = false;
  private readonly done = new Map<number, Buffer>();

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly handle: Buffer,
    private readonly size: number,
    private readonly onProgress?: (bytes: number) => void,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _read(): void {
    this.wanting = true;
    this.fill();
    this.deliver();
  }

  private request(pos: number, len: number): void {
    this.inflight++;
    const buf = Buffer.allocUnsafe(len);
    this.sftp.read(this.handle, buf, 0, len, pos, (err, n) => {
      this.inflight--;
      if (this.destroyed) return;
      if (err) {
        // EOF before `size`: the file shrank while we read it
        if ((err as { code?: number }).code === 1) {
          this.eof = true;
          this.done.set(pos, Buffer.alloc(0));
        } else return void this.destroy(err);
      } else {
        const got = n ?? 0;
        this.done.set(pos, buf.subarray(0, got));
        if (got === 0) this.eof = true;
        else if (got < len) this.request(pos + got, len - got); // short read: ask for the rest
      }
      this.deliver();
      this.fill();
    });
  }

  private fill(): void {
    while (this.wanting && !this.eof && this.inflight < READ_REQUESTS && this.nextPos < this.size && this.done.size < READ_REQUESTS * 2) {
      const len = Math.min(READ_CHUNK, this.size - this.nextPos);
      this.request(this.nextPos, len);
      this.nextPos += len;
    }
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.push(null);
  }

  private deliver(): void {
    if (this.ended) return;
    let chunk: Buffer | undefined;
    while ((chunk = this.done.get(this.deliverPos)) !== undefined) {
      this.done.delete(this.deliverPos);
      if (chunk.length === 0) return this.end();
      this.deliverPos += chunk.length;
      this.onProgress?.(this.deliverPos);
      if (!this.push(chunk)) this.wanting = false;
    }
    if (this.deliverPos >= this.size) this.end();
  }
}

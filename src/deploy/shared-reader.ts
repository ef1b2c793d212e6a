// Every host streams the same file. Reading it once per host costs 16 hosts 16 reads of every byte, and as many
// fresh buffers for the garbage collector; hosts that move at about the same pace can share each chunk instead.
// A host that falls behind is never held back and never holds the others back: once its chunk has left the
// bounded cache it reads that chunk again from the file.
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

export interface SharedReaderOptions {
  /** Bytes per chunk (each host's reads and SSH writes come in this size). */
  chunkSize?: number;
  /** Most bytes kept for hosts that have not reached a chunk yet; older chunks are dropped first. */
  cacheBytes?: number;
}

export class SharedFileReader {
  private readonly chunkSize: number;
  private readonly cacheBytes: number;
  /** Chunks read or being read, oldest first (a Map keeps insertion order). */
  private readonly cache = new Map<number, Promise<Buffer>>();
  private fd: Promise<FileHandle> | undefined;
  private readers = 0;
  /** Chunks read from the file so far (tests check that concurrent readers share them). */
  chunkReads = 0;

  constructor(
    private readonly path: string,
    private readonly size: number,
    opts: SharedReaderOptions = {},
  ) {
    this.chunkSize = opts.chunkSize ?? 256 * 1024;
    this.cacheBytes = opts.cacheBytes ?? 8 * 1024 * 1024;
  }

  /** A stream of the whole file; each call is an independent reader. */
  open(): Readable {
    const chunks = Math.ceil(this.size / this.chunkSize);
    this.readers++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      if (--this.readers === 0) void this.close();
    };
    let next = 0;
    const chunk = (i: number) => this.chunk(i);
    return new Readable({
      // One chunk at a time: the SSH channel's own buffer is the read-ahead.
      highWaterMark: 1,
      read(this: Readable) {
        if (next >= chunks) {
          release();
          this.push(null);
          return;
        }
        const i = next++;
        chunk(i).then(
          (buf) => this.push(buf),
          (err: Error) => this.destroy(err),
        );
      },
      destroy(err, cb) {
        release();
        cb(err);
      },
    });
  }

  private chunk(i: number): Promise<Buffer> {
    const hit = this.cache.get(i);
    if (hit) return hit;
    const p = this.readChunk(i);
    this.cache.set(i, p);
    p.catch(() => this.cache.delete(i));
    while (this.cache.size * this.chunkSize > this.cacheBytes) {
      const oldest = this.cache.keys().next().value as number;
      this.cache.delete(oldest);
    }
    return p;
  }

  private async readChunk(i: number): Promise<Buffer> {
    this.fd ??= open(this.path, 'r');
    const fd = await this.fd;
    const start = i * this.chunkSize;
    const len = Math.min(this.chunkSize, this.size - start);
    this.chunkReads++;
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await fd.read(buf, got, len - got, start + got);
      if (bytesRead === 0) throw new Error(`${this.path} is shorter than ${this.size} bytes (it changed while it was being sent)`);
      got += bytesRead;
    }
    return buf;
  }

  private async close(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    this.cache.clear();
    if (fd) await (await fd.catch(() => undefined))?.close().catch(() => undefined);
  }
}

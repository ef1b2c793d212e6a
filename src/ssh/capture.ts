// Bounded capture of a remote stream: complete lines go to the caller as they arrive, and only the last
// OUTPUT_LIMIT bytes are kept, so a chatty `mix compile` cannot grow memory without bound.
import { StringDecoder } from 'node:string_decoder';
import { OUTPUT_LIMIT } from './types.js';

/** The last `max` lines seen, across streams, in arrival order (the tail shown when a step fails). */
export class LineRing {
  private readonly buf: string[] = [];
  constructor(private readonly max: number) {}
  push(line: string): void {
    this.buf.push(line);
    if (this.buf.length > this.max) this.buf.shift();
  }
  lines(): string[] {
    return [...this.buf];
  }
}

export class StreamCapture {
  private chunks: Buffer[] = [];
  private size = 0;
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(
    private readonly onLine: ((line: string) => void) | undefined,
    private readonly ring: LineRing | undefined,
    private readonly limit = OUTPUT_LIMIT,
  ) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
    }
    this.partial += this.decoder.write(chunk);
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      this.emit(this.partial.slice(0, nl));
      this.partial = this.partial.slice(nl + 1);
    }
    // A "line" with no newline for 64 KiB (progress bars, binary) is passed on rather than buffered forever.
    if (this.partial.length > this.limit) {
      this.emit(this.partial);
      this.partial = '';
    }
  }

  /** Flushes an unterminated last line. */
  end(): void {
    this.partial += this.decoder.end();
    if (this.partial !== '') this.emit(this.partial);
    this.partial = '';
  }

  private emit(line: string): void {
    const clean = line.endsWith('\r') ? line.slice(0, -1) : line;
    this.ring?.push(clean);
    this.onLine?.(clean);
  }

  /** The kept output (at most `limit` bytes, cut at a character boundary). */
  text(): string {
    let buf = Buffer.concat(this.chunks);
    if (buf.length > this.limit) {
      buf = buf.subarray(buf.length - this.limit);
      // skip UTF-8 continuation bytes left over from the cut
      let i = 0;
      while (i < buf.length && i < 4 && (buf[i]! & 0xc0) === 0x80) i++;
      buf = buf.subarray(i);
    }
    return buf.toString('utf8');
  }
}

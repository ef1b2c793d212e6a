// A large release for memory tests: random bytes streamed in 1 MiB chunks (never held whole), and a store round
// trip that reports the peak RSS growth of this process while the bytes go in and out.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReleaseStore } from '../../src/store/types.js';

export function randomSource(total: number, hash?: ReturnType<typeof createHash>): Readable {
  let left = total;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(left, 1024 * 1024);
      left -= n;
      const chunk = randomBytes(n);
      hash?.update(chunk);
      this.push(chunk);
    },
  });
}

/** Random bytes in 1 MiB chunks that fail like a dropped build-host connection after `failAfter` bytes. */
export function failingSource(failAfter: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= failAfter) return void this.destroy(new Error('build host connection lost'));
      sent += 1024 * 1024;
      this.push(randomBytes(1024 * 1024));
    },
  });
}

/** Puts `size` random bytes as `file`, reads them back, and checks size and digest both ways. */
export async function roundTrip(
  store: ReleaseStore,
  file: string,
  size: number,
): Promise<{ peakGrowth: number; put: Awaited<ReturnType<ReleaseStore['put']>>; digest: string; readBack: { bytes: number; digest: string } }> {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  try {
    const h = createHash('sha256');
    const put = await store.put(file, randomSource(size, h));
    const digest = h.digest('hex');
    const got = await store.get(file);
    const back = createHash('sha256');
    let bytes = 0;
    for await (const c of got.stream) {
      back.update(c as Buffer);
      bytes += (c as Buffer).length;
    }
    return { peakGrowth: peak - base, put, digest, readBack: { bytes, digest: back.digest('hex') } };
  } finally {
    clearInterval(timer);
  }
}

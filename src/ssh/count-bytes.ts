// Progress counting for a stream on its way to a consumer that may start reading later.
import { pipeline, Transform, type Readable } from 'node:stream';

/**
 * `bytes`, counted as they pass. Not with a 'data' listener on the source: that starts it flowing at once, and what
 * it reads before its consumer is ready (an SSH channel still opening: a delta's fallback opens a new one) is lost.
 */
export function countBytes(bytes: Readable, onBytes: (n: number) => void): Readable {
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
  return pipeline(bytes, counted, () => undefined);
}

// The release tarball every host receives. A local store's file is streamed to each host directly; any other
// store (remote, S3) is read once into a local temp file (streamed, never held in memory) and sent from there.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeliverError } from '../output/errors.js';
import { sha256File } from '../store/checksum.js';
import type { ReleaseStore, StoredRelease } from '../store/types.js';

export interface ReleaseSource {
  readonly file: string;
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  open(): Readable;
  /** Removes the temp copy (no-op for a local store). */
  dispose(): Promise<void>;
}

interface PathStore {
  pathOf(file: string): string;
}

function hasPath(store: ReleaseStore): store is ReleaseStore & PathStore {
  return typeof (store as Partial<PathStore>).pathOf === 'function';
}

export async function prepareSource(store: ReleaseStore, release: StoredRelease, signal?: AbortSignal): Promise<ReleaseSource> {
  if (hasPath(store)) {
    const path = store.pathOf(release.file);
    const sha256 = release.sha256 ?? (await sha256File(path));
    const size = (await stat(path)).size;
    return { file: release.file, path, sha256, size, open: () => createReadStream(path), dispose: async () => undefined };
  }
  const dir = await mkdtemp(join(tmpdir(), 'deliver-release-'));
  const path = join(dir, release.file);
  try {
    const got = await store.get(release.file, signal ? { signal } : {});
    await pipeline(got.stream, createWriteStream(path, { mode: 0o600 }), signal ? { signal } : {});
    const sha256 = got.sha256 || (await sha256File(path));
    const size = (await stat(path)).size;
    return { file: release.file, path, sha256, size, open: () => createReadStream(path), dispose: () => rm(dir, { recursive: true, force: true }) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    if (signal?.aborted) throw err;
    if (err instanceof DeliverError) throw err;
    throw new DeliverError(`could not fetch ${release.file} from ${store.description}: ${(err as Error).message}`, { cause: err });
  }
}

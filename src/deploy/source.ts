// The release tarball every host receives. A local store's file is streamed to each host directly; any other
// store (remote, S3) is read once into a local temp file (streamed, never held in memory) and sent from there.
// With `--pull` (S3 only) nothing is read here: each host downloads the object itself (pull.ts).
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeliverError } from '../output/errors.js';
import { isSha256Hex, sha256File } from '../store/checksum.js';
import type { ReleaseStore, StoredRelease } from '../store/types.js';
import { assertPullable, PULL_URL_TTL_SECONDS } from './pull.js';
import { SharedFileReader } from './shared-reader.js';
import type { ReleaseRef } from './deploy-plan.js';

/** 256 KiB reads (not Node's 64 KiB): a quarter of the reads; SSH packets are 32 KiB anyway. */
const READ_CHUNK = 256 * 1024;

/** Hosts share each chunk read (shared-reader.ts) instead of reading the whole file once per host. */
function sharedOpen(path: string, size: number): () => Readable {
  const reader = new SharedFileReader(path, size, { chunkSize: READ_CHUNK });
  return () => reader.open();
}

export interface ReleaseSource {
  readonly file: string;
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  open(): Readable;
  /** Removes the temp copy (no-op for a local store). */
  dispose(): Promise<void>;
  /**
   * Set in pull mode: hosts download the release themselves; `url()` signs a fresh short-lived GET URL (a local
   * computation, no request). `open()` and `path` are then not usable: no bytes pass through this machine.
   */
  readonly pull?: { url(): Promise<string> };
}

export interface SourceOptions {
  /** Hosts download from the (S3) store themselves; any other store is a usage error. */
  pull?: boolean;
}

interface PathStore {
  pathOf(file: string): string;
}

function hasPath(store: ReleaseStore): store is ReleaseStore & PathStore {
  return typeof (store as Partial<PathStore>).pathOf === 'function';
}

export async function prepareSource(store: ReleaseStore, release: StoredRelease, signal?: AbortSignal, opts: SourceOptions = {}): Promise<ReleaseSource> {
  if (opts.pull) return pullSource(store, release);
  if (hasPath(store)) {
    const path = store.pathOf(release.file);
    const sha256 = release.sha256 ?? (await sha256File(path));
    const size = (await stat(path)).size;
    return { file: release.file, path, sha256, size, open: sharedOpen(path, size), dispose: async () => undefined };
  }
  const dir = await mkdtemp(join(tmpdir(), 'deliver-release-'));
  const path = join(dir, release.file);
  try {
    const got = await store.get(release.file, signal ? { signal } : {});
    await pipeline(got.stream, createWriteStream(path, { mode: 0o600 }), signal ? { signal } : {});
    const sha256 = got.sha256 || (await sha256File(path));
    const size = (await stat(path)).size;
    return { file: release.file, path, sha256, size, open: sharedOpen(path, size), dispose: () => rm(dir, { recursive: true, force: true }) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    if (signal?.aborted) throw err;
    if (err instanceof DeliverError) throw err;
    throw new DeliverError(`could not fetch ${release.file} from ${store.description}: ${(err as Error).message}`, { cause: err });
  }
}

/** Pull mode: only the digest is needed here (hosts verify against it); the object is never read by this process. */
async function pullSource(store: ReleaseStore, release: StoredRelease): Promise<ReleaseSource> {
  assertPullable(store);
  const sha256 = release.sha256 ?? (await store.stat(release.file))?.sha256;
  if (!sha256 || !isSha256Hex(sha256)) {
    throw new DeliverError(`${store.description}: ${release.file} has no stored sha256, so hosts could not verify a download`, {
      hint: 'deploy without --pull (the release is then hashed while it streams), or re-upload it with `deliver upload --force`',
    });
  }
  const file = release.file;
  return {
    file,
    path: '',
    sha256,
    size: release.size,
    open: () => {
      throw new Error(`${file} is pulled by the hosts; it is never read here`);
    },
    dispose: async () => undefined,
    pull: { url: () => store.presignedGetUrl(file, PULL_URL_TTL_SECONDS) },
  };
}

/**
 * What a plan needs of the release, read-only: the stored digest and size; without a stored digest the bytes are
 * hashed here (a remote or S3 store's into a temp copy, removed again). Nothing on any host changes.
 */
export async function releaseRefOf(store: ReleaseStore, release: StoredRelease, signal?: AbortSignal, opts: SourceOptions = {}): Promise<ReleaseRef> {
  if (release.sha256 && isSha256Hex(release.sha256) && !opts.pull) return { file: release.file, sha256: release.sha256, size: release.size, pull: false };
  const source = await prepareSource(store, release, signal, opts);
  await source.dispose();
  return { file: source.file, sha256: source.sha256, size: source.size, pull: source.pull !== undefined };
}

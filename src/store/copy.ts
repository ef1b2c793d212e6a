// Copies between stores and into plain files, verified end to end: the source's digest travels with the bytes
// and the destination checks it before anything becomes visible.
import { createWriteStream } from 'node:fs';
import { mkdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DeliverError } from '../output/errors.js';
import { publishTemp } from './local.js';
import { tempName } from './names.js';
import { alreadyExists, wrapStoreError } from './store-errors.js';
import type { ReleaseStore, StoredRelease } from './types.js';

export interface CopyOptions {
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
}

/** Streams `file` from one store into another (never through memory or a temp file on this machine). */
export async function copyRelease(from: ReleaseStore, to: ReleaseStore, file: string, opts: CopyOptions = {}): Promise<StoredRelease> {
  // Refuse before opening the source, so a refused copy costs one round trip.
  if (!opts.force && (await to.stat(file))) throw alreadyExists(to.description, file);
  const got = await from.get(file, opts.signal ? { signal: opts.signal } : {});
  try {
    return await to.put(file, got.stream, {
      force: opts.force ?? false,
      size: got.size,
      ...(got.sha256 ? { sha256: got.sha256 } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
  } finally {
    got.stream.destroy();
  }
}

/**
 * Streams `file` from a store to `dest` (a file path, or an existing directory to put it in). The bytes land in
 * a hidden temp file next to `dest` and are renamed only after the store's digest matched; an existing file is
 * kept unless `force`. Returns the path written.
 */
export async function downloadToFile(
  from: ReleaseStore,
  file: string,
  dest: string,
  opts: CopyOptions = {},
): Promise<{ path: string; size: number; sha256: string }> {
  const isDir = await stat(dest).then((s) => s.isDirectory(), () => false);
  const path = isDir ? join(dest, file) : dest;
  const exists = await stat(path).then(() => true, () => false);
  if (exists && !opts.force) throw new DeliverError(`${path} already exists; use --force to overwrite it`);
  const got = await from.get(file, opts.signal ? { signal: opts.signal } : {});
  const dir = dirname(path);
  const tmp = join(dir, tempName());
  try {
    await mkdir(dir, { recursive: true });
    let bytes = 0;
    got.stream.on('data', (c: Buffer) => {
      bytes += c.length;
      opts.onProgress?.(bytes);
    });
    await pipeline(got.stream, createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true }), ...(opts.signal ? [{ signal: opts.signal }] : []));
    await publishTemp(tmp, path, Boolean(opts.force), () => new DeliverError(`${path} already exists; use --force to overwrite it`));
    return { path, size: got.size, sha256: got.sha256 };
  } catch (err) {
    got.stream.destroy();
    await unlink(tmp).catch(() => undefined);
    throw wrapStoreError(from.description, `download ${file} to ${path}`, err);
  }
}

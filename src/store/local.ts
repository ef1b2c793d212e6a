// A release store in a local directory. Writes land in a hidden temp file in the same directory and are
// renamed into place only after the bytes are complete, synced and match their digest.
import { createReadStream, createWriteStream, statSync, type WriteStream } from 'node:fs';
import { link, mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, join, relative, isAbsolute } from 'node:path';
import { addAbortSignal, pipeline as pipelineCb, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VerifyingStream, formatSha256Line, inboundHasher, parseSha256Text, sha256File } from './checksum.js';
import { assertStoreFileName, shaFileName, storedRelease, tempName } from './names.js';
import { alreadyExists, notFound, wrapStoreError } from './store-errors.js';
import type { PutOptions, ReleaseStore, StoredRelease } from './types.js';
import { isReleaseFileOf, sortReleases } from './versions.js';

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Where a store path keeps its files. deliver's default RELEASE_STORE is `.deliver/releases` and files live
 * directly in it. edeliver's store path was `.deliver` with files in `.deliver/releases/`; so a path whose
 * `releases/` subdirectory exists, or whose name is `.deliver`, uses `<path>/releases/` (existing edeliver
 * projects keep working without moving files).
 */
export function localStoreDir(path: string): string {
  const sub = join(path, 'releases');
  return basename(path) === '.deliver' || isDir(sub) ? sub : path;
}

/**
 * Gives a finished temp file its final name: a rename with `force`, else link() + unlink, because link() fails if
 * the name exists, so no-overwrite holds even against a concurrent writer (`exists()` is then thrown).
 */
export async function publishTemp(tmp: string, final: string, force: boolean, exists: () => Error): Promise<void> {
  if (force) return rename(tmp, final);
  try {
    await link(tmp, final);
  } catch (err) {
    if (errno(err) === 'EEXIST') throw exists();
    throw err;
  }
  await unlinkQuiet(tmp);
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

async function unlinkQuiet(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

export class LocalStore implements ReleaseStore {
  readonly kind = 'local' as const;
  /** Absolute directory holding the release files. */
  readonly dir: string;
  readonly description: string;

  /** `path` is absolute or relative to `cwd`; the description shows it relative to `cwd` when inside it. */
  constructor(path: string, cwd: string = process.cwd()) {
    const abs = isAbsolute(path) ? path : join(cwd, path);
    this.dir = localStoreDir(abs);
    const rel = relative(cwd, this.dir);
    this.description = `local ${rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? this.dir : rel}`;
  }

  /** Absolute path of a stored file (deploys stream it from here without a copy). */
  pathOf(file: string): string {
    assertStoreFileName(file, this.description);
    return join(this.dir, file);
  }

  async list(app: string): Promise<StoredRelease[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (errno(err) === 'ENOENT') return [];
      throw wrapStoreError(this.description, 'list releases', err);
    }
    const out: StoredRelease[] = [];
    for (const name of names) {
      if (name.startsWith('.') || !isReleaseFileOf(name, app)) continue;
      const r = await this.stat(name);
      if (r) out.push(r);
    }
    return sortReleases(out);
  }

  async stat(file: string): Promise<StoredRelease | undefined> {
    const path = this.pathOf(file);
    let st;
    try {
      st = await stat(path);
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw wrapStoreError(this.description, `stat ${file}`, err);
    }
    if (!st.isFile()) return undefined;
    return storedRelease(file, st.size, st.mtime, await this.readSha(file));
  }

  private async readSha(file: string): Promise<string | undefined> {
    try {
      return parseSha256Text(await readFile(join(this.dir, shaFileName(file)), 'utf8'));
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw wrapStoreError(this.description, `read ${shaFileName(file)}`, err);
    }
  }

  async put(file: string, source: Readable, opts: PutOptions = {}): Promise<StoredRelease> {
    const final = this.pathOf(file);
    if (!opts.force && (await this.stat(file))) throw alreadyExists(this.description, file);
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      throw wrapStoreError(this.description, `create ${this.dir}`, err);
    }
    const tmp = join(this.dir, tempName());
    const tmpSha = `${tmp}.sha256`;
    let sink: WriteStream | undefined;
    try {
      const hasher = inboundHasher(this.description, file, opts);
      // flush: fsync before close, so the rename below never publishes bytes that are still only in the page cache.
      sink = createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true });
      await pipeline(source, hasher, sink, ...(opts.signal ? [{ signal: opts.signal }] : []));
      const digest = hasher.digest();
      await writeFile(tmpSha, formatSha256Line(digest, file), { mode: 0o644, flag: 'wx' });
      // The digest lands first: a reader never sees the new release paired with no (or the old) digest for long.
      await rename(tmpSha, join(this.dir, shaFileName(file)));
      await publishTemp(tmp, final, Boolean(opts.force), () => alreadyExists(this.description, file));
      const st = await stat(final);
      return storedRelease(file, st.size, st.mtime, digest);
    } catch (err) {
      // A pipeline that fails early can reject before the sink's open() has even created the file: wait for the
      // sink to close, or the unlink below runs first and the temp file is left behind.
      if (sink && !sink.closed) await new Promise<void>((resolve) => sink!.once('close', () => resolve()));
      await unlinkQuiet(tmp);
      await unlinkQuiet(tmpSha);
      throw wrapStoreError(this.description, `store ${file}`, err);
    }
  }

  async get(file: string, opts: { signal?: AbortSignal } = {}): Promise<{ stream: Readable; sha256: string; size: number }> {
    const r = await this.stat(file);
    if (!r) throw notFound(this.description, file);
    // Releases stored without a digest (copied in by edeliver) are hashed first, so every read is verified.
    const sha256 = r.sha256 ?? (await sha256File(this.pathOf(file)).catch((err) => {
      throw wrapStoreError(this.description, `read ${file}`, err);
    }));
    const verify = new VerifyingStream({ store: this.description, file, expected: sha256, size: r.size });
    const src = createReadStream(this.pathOf(file));
    if (opts.signal) addAbortSignal(opts.signal, src);
    pipelineCb(src, verify, () => undefined);
    return { stream: verify, sha256, size: r.size };
  }

  async delete(file: string): Promise<void> {
    if (!(await this.stat(file))) throw notFound(this.description, file);
    try {
      await unlink(this.pathOf(file));
      await unlinkQuiet(join(this.dir, shaFileName(file)));
    } catch (err) {
      throw wrapStoreError(this.description, `delete ${file}`, err);
    }
  }
}

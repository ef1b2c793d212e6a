// A release store in a directory on an SSH host (`user@host:/path`), over the shared pooled connection.
// Files live directly in the path (edeliver's layout). Writes go to a hidden temp file, are checked with the
// host's own sha256sum against the digest streamed from here, and only then renamed into place.
import { type Readable } from 'node:stream';
import { DeliverError } from '../output/errors.js';
import { raw, sh, type Shell } from '../ssh/quote.js';
import type { Backend, ExecResult, HostTarget, Transport } from '../ssh/types.js';
import { VerifyingStream, inboundHasher, parseSha256Text } from './checksum.js';
import { assertStoreFileName, shaFileName, storedRelease, tempName } from './names.js';
import { alreadyExists, notFound, wrapStoreError } from './store-errors.js';
import type { PutOptions, ReleaseStore, StoredRelease } from './types.js';
import { isReleaseFileOf, sortReleases } from './versions.js';

/** Exit code our scripts use for "the file already exists" (distinct from sh/coreutils codes). */
const EXISTS = 17;

/** A directory as a shell word; a leading `~/` becomes "$HOME"/… since quoting would stop the shell expanding it. */
export function remoteDirWord(path: string): Shell {
  if (path === '~') return raw('"$HOME"');
  if (path.startsWith('~/')) return sh`"$HOME"/${path.slice(2)}`;
  return sh`${path}`;
}

/**
 * Lines `size mtime<TAB>sha256<TAB>name` for each existing file among `patterns` (globs built with `sh`).
 * One round trip lists every release with its digest. A missing store directory lists nothing.
 */
export function listCommand(dir: Shell, patterns: Shell[]): Shell {
  return sh`[ -d ${dir} ] || exit 0; cd ${dir} || exit 1; for f in ${patterns}; do [ -f "$f" ] || continue; printf '%s\\t%s\\t%s\\n' "$(stat -c '%s %Y' -- "$f")" "$(head -c 64 -- "$f.sha256" 2>/dev/null)" "$f"; done`;
}

/** Renames the verified temp file (and its digest) into place; with `force` false, refuses an existing file. */
export function publishCommand(dir: Shell, tmp: string, file: string, digest: string, force: boolean): Shell {
  const guard = force ? raw('') : sh`if [ -e ${file} ]; then echo ${`${file} already exists`} >&2; exit ${EXISTS}; fi; `;
  return sh`cd ${dir} && ${guard}printf '%s  %s\\n' ${digest} ${file} > ${`${tmp}.sha256`} && mv -f -- ${`${tmp}.sha256`} ${shaFileName(file)} && mv -f -- ${tmp} ${file}`;
}

export function parseListOutput(stdout: string): { file: string; size: number; modified: Date; sha256?: string }[] {
  const out: { file: string; size: number; modified: Date; sha256?: string }[] = [];
  for (const line of stdout.split('\n')) {
    const [sizeMtime, sha, ...rest] = line.split('\t');
    const [size, mtime] = (sizeMtime ?? '').split(' ');
    const file = rest.join('\t');
    if (!file || !/^\d+$/.test(size ?? '') || !/^\d+$/.test(mtime ?? '')) continue;
    const digest = parseSha256Text(sha ?? '');
    out.push({ file, size: Number(size), modified: new Date(Number(mtime) * 1000), ...(digest ? { sha256: digest } : {}) });
  }
  return out;
}

function tail(text: string): string {
  const lines = text.trim().split('\n').filter((l) => l !== '');
  return lines.slice(-1)[0] ?? '';
}

export class RemoteStore implements ReleaseStore {
  readonly kind = 'remote' as const;
  readonly description: string;
  readonly target: HostTarget;
  private backend: Promise<Backend> | undefined;
  private absDir: string | undefined;

  /** `path` as written in RELEASE_STORE (absolute, relative to the login directory, or `~/…`). */
  constructor(
    target: HostTarget,
    readonly path: string,
    private readonly transport: Transport,
  ) {
    this.target = target;
    this.description = `${target.name}:${path}`;
  }

  private get dir(): Shell {
    return remoteDirWord(this.path);
  }

  /** The pooled connection to the store host, opened on first use. */
  connection(): Promise<Backend> {
    this.backend ??= this.transport.connect(this.target).catch((err) => {
      this.backend = undefined;
      throw wrapStoreError(this.description, 'connect', err);
    });
    return this.backend;
  }

  private async exec(command: Shell, what: string, opts: { signal?: AbortSignal } = {}): Promise<ExecResult> {
    const b = await this.connection();
    try {
      return await b.exec(command.text, opts.signal ? { signal: opts.signal } : {});
    } catch (err) {
      throw wrapStoreError(this.description, what, err);
    }
  }

  private failed(what: string, r: ExecResult): DeliverError {
    return new DeliverError(`${this.description}: cannot ${what}: ${tail(r.stderr) || `exit code ${r.code}`}`);
  }

  /** Absolute store directory on the host (SFTP does not expand `~` or resolve like a login shell). */
  private async absoluteDir(create: boolean): Promise<string> {
    if (this.absDir) return this.absDir;
    const cmd = create ? sh`mkdir -p ${this.dir} && cd ${this.dir} && pwd -P` : sh`cd ${this.dir} && pwd -P`;
    const r = await this.exec(cmd, create ? 'create the store directory' : 'open the store directory');
    if (r.code !== 0) throw this.failed(create ? 'create the store directory' : 'open the store directory', r);
    this.absDir = r.stdout.trim();
    return this.absDir;
  }

  private async query(patterns: Shell[]): Promise<StoredRelease[]> {
    const r = await this.exec(listCommand(this.dir, patterns), 'list releases');
    if (r.code !== 0) throw this.failed('list releases', r);
    return parseListOutput(r.stdout).map((e) => storedRelease(e.file, e.size, e.modified, e.sha256));
  }

  async list(app: string): Promise<StoredRelease[]> {
    const a = app === '' || app === '*' ? raw('*') : sh`${app}`;
    const found = await this.query([raw(`${a.text}_*.release.tar.gz`), raw(`${a.text}_*.upgrade.tar.gz`)]);
    return sortReleases(found.filter((r) => isReleaseFileOf(r.file, app)));
  }

  async stat(file: string): Promise<StoredRelease | undefined> {
    assertStoreFileName(file, this.description);
    const found = await this.query([sh`${file}`]);
    return found.find((r) => r.file === file);
  }

  private async remoteSha256(path: string, what: string): Promise<string> {
    const r = await this.exec(sh`sha256sum -- ${path}`, what);
    const digest = r.code === 0 ? parseSha256Text(r.stdout) : undefined;
    if (!digest) throw this.failed(what, r);
    return digest;
  }

  async put(file: string, source: Readable, opts: PutOptions = {}): Promise<StoredRelease> {
    assertStoreFileName(file, this.description);
    if (!opts.force && (await this.stat(file))) throw alreadyExists(this.description, file);
    const dir = await this.absoluteDir(true);
    const tmp = tempName();
    const b = await this.connection();
    try {
      const hasher = inboundHasher(this.description, file, opts);
      source.on('error', (err) => hasher.destroy(err));
      source.pipe(hasher);
      await b.upload(hasher, `${dir}/${tmp}`, { mode: 0o644, ...(opts.signal ? { signal: opts.signal } : {}) });
      if (hasher.errored) throw hasher.errored;
      const digest = hasher.digest();
      const written = await this.remoteSha256(`${dir}/${tmp}`, `verify the upload of ${file}`);
      if (written !== digest) {
        throw new DeliverError(`${this.description}: ${file}: upload corrupted: sent sha256 ${digest}, the store host has ${written}`);
      }
      const r = await this.exec(publishCommand(sh`${dir}`, tmp, file, digest, opts.force ?? false), `store ${file}`);
      if (r.code === EXISTS) throw alreadyExists(this.description, file);
      if (r.code !== 0) throw this.failed(`store ${file}`, r);
      const stored = await this.stat(file);
      if (!stored) throw new DeliverError(`${this.description}: ${file} vanished right after it was stored`);
      return stored;
    } catch (err) {
      await b.exec(sh`rm -f -- ${`${dir}/${tmp}`} ${`${dir}/${tmp}.sha256`}`.text).catch(() => undefined);
      throw wrapStoreError(this.description, `store ${file}`, err);
    }
  }

  async get(file: string, opts: { signal?: AbortSignal } = {}): Promise<{ stream: Readable; sha256: string; size: number }> {
    const r = await this.stat(file);
    if (!r) throw notFound(this.description, file);
    const dir = await this.absoluteDir(false);
    // Releases without a digest file (stored by edeliver) get one from the host, so every read is verified.
    const sha256 = r.sha256 ?? (await this.remoteSha256(`${dir}/${file}`, `hash ${file}`));
    const b = await this.connection();
    let src: Readable;
    try {
      src = await b.download(`${dir}/${file}`, opts.signal ? { signal: opts.signal } : {});
    } catch (err) {
      throw wrapStoreError(this.description, `read ${file}`, err);
    }
    const verify = new VerifyingStream({ store: this.description, file, expected: sha256, size: r.size });
    src.on('error', (err) => verify.destroy(wrapStoreError(this.description, `read ${file}`, err)));
    verify.on('close', () => {
      if (!src.readableEnded) src.destroy();
    });
    src.pipe(verify);
    return { stream: verify, sha256, size: r.size };
  }

  async delete(file: string): Promise<void> {
    if (!(await this.stat(file))) throw notFound(this.description, file);
    const r = await this.exec(sh`cd ${this.dir} && rm -f -- ${file} ${shaFileName(file)}`, `delete ${file}`);
    if (r.code !== 0) throw this.failed(`delete ${file}`, r);
  }
}

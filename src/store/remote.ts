// A release store in a directory on an SSH host (`user@host:/path`), over the shared pooled connection.
// Files live directly in the path (edeliver's layout). Writes go to a hidden temp file, are checked with the
// host's own sha256sum against the digest streamed from here, and only then renamed into place.
import { type Readable } from 'node:stream';
import { DeliverError } from '../output/errors.js';
import { and, chain, forIn, ifThen, raw, remotePath, sh, type Shell } from '../ssh/quote.js';
import type { Backend, ExecResult, HostTarget, Transport } from '../ssh/types.js';
import { VerifyingStream, inboundHasher, parseSha256Text } from './checksum.js';
import { assertStoreFileName, shaFileName, storedRelease, tempName } from './names.js';
import { alreadyExists, notFound, wrapStoreError } from './store-errors.js';
import type { PutOptions, ReleaseStore, StoredRelease } from './types.js';
import { isReleaseFileOf, sortReleases } from './versions.js';

/** Exit codes our scripts use (distinct from sh/coreutils codes): the file exists; the upload's bytes differ. */
const EXISTS = 17;
const CORRUPT = 18;

/** Prints `size mtime<TAB>sha256<TAB>name` for file "$f" (run inside the store directory). */
const PRINT_ENTRY = raw(`printf '%s\\t%s\\t%s\\n' "$(stat -c '%s %Y' -- "$f")" "$(head -c 64 -- "$f.sha256" 2>/dev/null)" "$f"`);

/**
 * The store's absolute directory (first line), then one entry line per existing file among `patterns` (globs
 * built with `sh`): one round trip lists every release with its digest. A missing directory prints nothing.
 */
export function listCommand(dir: Shell, patterns: Shell[]): Shell {
  return chain(sh`[ -d ${dir} ] || exit 0`, sh`cd ${dir} || exit 1`, sh`pwd -P`, forIn('f', sh`${patterns}`, chain(sh`[ -f "$f" ] || continue`, PRINT_ENTRY)));
}

/** Without `force`: stop with EXISTS if `file` is there already. */
function existsGuard(file: string, force: boolean): Shell {
  return force ? raw('') : ifThen(sh`[ -e ${file} ]`, chain(sh`echo ${`${file} already exists`} >&2`, sh`exit ${EXISTS}`));
}

/** Creates the store directory and prints its absolute path; without `force`, fails (17) if `file` exists. */
export function storeDirCommand(dir: Shell, file: string, force: boolean): Shell {
  return chain(sh`mkdir -p ${dir} || exit 1`, sh`cd ${dir} || exit 1`, existsGuard(file, force), sh`pwd -P`);
}

/**
 * Checks the uploaded temp file with the host's own sha256sum (18 and the actual digest on stderr if it differs),
 * renames it and its digest into place (refusing an existing file without `force`: 17), and prints its entry.
 */
export function publishCommand(dir: Shell, tmp: string, file: string, digest: string, force: boolean): Shell {
  const guard = existsGuard(file, force);
  return chain(
    sh`cd ${dir} || exit 1`,
    sh`a=$(sha256sum < ${tmp}) || exit 1`,
    sh`a=\${a%% *}`,
    ifThen(sh`[ "$a" != ${digest} ]`, chain(sh`echo "$a" >&2`, sh`exit ${CORRUPT}`)),
    guard,
    and(
      sh`printf '%s  %s\\n' ${digest} ${file} > ${`${tmp}.sha256`}`,
      sh`mv -f -- ${`${tmp}.sha256`} ${shaFileName(file)}`,
      sh`mv -f -- ${tmp} ${file}`,
      sh`f=${file}`,
      PRINT_ENTRY,
    ),
  );
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
    return remotePath(this.path);
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

  /** Entries matching `patterns`, and the store's absolute directory (undefined when it does not exist). */
  private async query(patterns: Shell[]): Promise<{ dir: string | undefined; entries: StoredRelease[] }> {
    const r = await this.exec(listCommand(this.dir, patterns), 'list releases');
    if (r.code !== 0) throw this.failed('list releases', r);
    const firstLine = r.stdout.split('\n')[0] ?? '';
    const entries = parseListOutput(r.stdout).map((e) => storedRelease(e.file, e.size, e.modified, e.sha256));
    return { dir: firstLine.startsWith('/') ? firstLine : undefined, entries };
  }

  async list(app: string): Promise<StoredRelease[]> {
    const a = app === '' || app === '*' ? raw('*') : sh`${app}`;
    const { entries } = await this.query([raw(`${a.text}_*.release.tar.gz`), raw(`${a.text}_*.upgrade.tar.gz`)]);
    return sortReleases(entries.filter((r) => isReleaseFileOf(r.file, app)));
  }

  private async lookup(file: string): Promise<{ dir: string | undefined; entry: StoredRelease | undefined }> {
    assertStoreFileName(file, this.description);
    const { dir, entries } = await this.query([sh`${file}`]);
    return { dir, entry: entries.find((r) => r.file === file) };
  }

  async stat(file: string): Promise<StoredRelease | undefined> {
    return (await this.lookup(file)).entry;
  }

  /** Two commands and one SFTP stream per release: prepare (mkdir, exists?), upload, verify+publish+stat. */
  async put(file: string, source: Readable, opts: PutOptions = {}): Promise<StoredRelease> {
    assertStoreFileName(file, this.description);
    const force = opts.force ?? false;
    const prep = await this.exec(storeDirCommand(this.dir, file, force), `store ${file}`);
    if (prep.code === EXISTS) throw alreadyExists(this.description, file);
    if (prep.code !== 0) throw this.failed('create the store directory', prep);
    // SFTP needs an absolute path: it neither expands `~` nor starts where a login shell does.
    const dir = prep.stdout.trim().split('\n').pop() ?? '';
    const tmp = tempName();
    const b = await this.connection();
    try {
      const hasher = inboundHasher(this.description, file, opts);
      source.on('error', (err) => hasher.destroy(err));
      source.pipe(hasher);
      await b.upload(hasher, `${dir}/${tmp}`, { mode: 0o644, ...(opts.signal ? { signal: opts.signal } : {}) });
      if (hasher.errored) throw hasher.errored;
      const digest = hasher.digest();
      const r = await this.exec(publishCommand(sh`${dir}`, tmp, file, digest, force), `store ${file}`);
      if (r.code === EXISTS) throw alreadyExists(this.description, file);
      if (r.code === CORRUPT) {
        throw new DeliverError(`${this.description}: ${file}: upload corrupted: sent sha256 ${digest}, the store host has ${tail(r.stderr)}`);
      }
      if (r.code !== 0) throw this.failed(`store ${file}`, r);
      const [entry] = parseListOutput(r.stdout);
      if (!entry) throw new DeliverError(`${this.description}: ${file} vanished right after it was stored`);
      return storedRelease(entry.file, entry.size, entry.modified, digest);
    } catch (err) {
      await b.exec(sh`rm -f -- ${`${dir}/${tmp}`} ${`${dir}/${tmp}.sha256`}`.text).catch(() => undefined);
      throw wrapStoreError(this.description, `store ${file}`, err);
    }
  }

  async get(file: string, opts: { signal?: AbortSignal } = {}): Promise<{ stream: Readable; sha256: string; size: number }> {
    const { dir, entry: r } = await this.lookup(file);
    if (!r || !dir) throw notFound(this.description, file);
    // Releases without a digest file (stored by edeliver) get one from the host, so every read is verified.
    let sha256 = r.sha256;
    if (!sha256) {
      const h = await this.exec(sh`sha256sum -- ${`${dir}/${file}`}`, `hash ${file}`);
      sha256 = h.code === 0 ? parseSha256Text(h.stdout) : undefined;
      if (!sha256) throw this.failed(`hash ${file}`, h);
    }
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

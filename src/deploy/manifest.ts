// A release root as a list of entries (path, type, mode, size, sha256), computed here from the tarball (streamed
// through tar-stream, never held in memory) and kept on every host next to each release it installed
// (`<root>/.deliver-manifest`). A delta deploy (delta.ts) compares the new release's manifest with the installed
// one's; the host checks the staged root against it before activation.
//
// The file's text, two sections (paths relative to the release root, sorted bytewise), written by deliver at
// install or recomputed on a host with `find` and `sha256sum` (delta-commands.ts recomputeManifestCommand):
//   [entries]   `f <mode> <size> <path>`, `d <mode> <path>`, `l <mode> <path> -> <target>`
//   [sha256]    `<sha256>  <path>` per file, sha256sum's format
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { extract, type Header } from 'tar-stream';

export type EntryType = 'f' | 'd' | 'l';

export interface Entry {
  path: string;
  type: EntryType;
  /** Permission bits (0o7777). */
  mode: number;
  /** Files only (0 otherwise). */
  size: number;
  /** Files only ('' otherwise). */
  sha256: string;
  /** Symlinks only. */
  target?: string;
}

export interface Manifest {
  /** Sorted by path (bytewise). */
  entries: Entry[];
  /** Why no delta can be built from or against this manifest (unusual names, hard links, devices…). */
  unsupported?: string;
  /** `APP/` when the tarball's entries carry that prefix (edeliver's mix archives), flattened on unpack. */
  prefix?: string;
}

/** Names a manifest can hold: the shell takes them literally (no quoting, no spaces) and xargs splits them safely. */
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function safePath(p: string): boolean {
  return SAFE.test(p) && !p.startsWith('/') && !p.startsWith('-') && !p.split('/').some((s) => s === '..' || s === '.' || s === '');
}

/** Top-level names deliver writes itself into a release root: never part of a manifest. */
export function isDeliverFile(path: string): boolean {
  return path.startsWith('.deliver-') && !path.includes('/');
}

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** `./a/b/` → `a/b`; '' for the root itself. */
function normal(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

function entryOf(h: Header, path: string, sha256: string): Entry | string {
  if (!safePath(path)) return `an entry name deliver does not link (${JSON.stringify(path)})`;
  const mode = h.mode & 0o7777;
  if (h.type === 'file' || h.type === 'contiguous-file') return { path, type: 'f', mode, size: h.size, sha256 };
  if (h.type === 'directory') return { path, type: 'd', mode, size: 0, sha256: '' };
  if (h.type === 'symlink') {
    if (!SAFE.test(h.linkname)) return `a symlink target deliver does not link (${JSON.stringify(h.linkname)})`;
    return { path, type: 'l', mode: 0o777, size: 0, sha256: '', target: h.linkname };
  }
  return `a ${h.type} entry (${path})`;
}

/**
 * The manifest of a release tarball as a full unpack leaves it (commands.ts unpackCommand): an `APP/` prefix
 * flattened, `releases/VSN/APP.tar.gz` dropped, parent directories the tarball only implies added (mode 0755).
 */
export async function manifestOfTarball(tarPath: string, app: string, version: string): Promise<Manifest> {
  const seen = new Map<string, Entry>();
  let unsupported: string | undefined;
  const ex = extract();
  ex.on('entry', (h, stream, next) => {
    const path = normal(h.name);
    const hash = createHash('sha256');
    stream.on('data', (c: unknown) => hash.update(c as Buffer));
    stream.on('end', () => {
      if (path !== '' && path !== '.') {
        const e = entryOf(h, path, hash.digest('hex'));
        if (typeof e === 'string') unsupported ??= e;
        else seen.set(path, e);
      }
      next();
    });
    stream.resume();
  });
  await pipeline(createReadStream(tarPath, { highWaterMark: 256 * 1024 }), createGunzip(), ex);
  return finish([...seen.values()], app, version, unsupported);
}

function finish(all: Entry[], app: string, version: string, unsupported?: string): Manifest {
  let entries = all;
  // edeliver's mix archives carry an `APP/` prefix, flattened on unpack (and anything beside it dropped).
  const has = (p: string) => entries.some((e) => e.path === p);
  const prefix = !has(`bin/${app}`) && has(`${app}/bin/${app}`) ? `${app}/` : '';
  if (prefix) entries = entries.filter((e) => e.path.startsWith(prefix)).map((e) => ({ ...e, path: e.path.slice(prefix.length) }));
  entries = entries.filter((e) => e.path !== `releases/${version}/${app}.tar.gz` && !isDeliverFile(e.path));
  const paths = new Set(entries.map((e) => e.path));
  for (const e of [...entries]) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!paths.has(dir)) {
        paths.add(dir);
        entries.push({ path: dir, type: 'd', mode: 0o755, size: 0, sha256: '' });
      }
    }
  }
  return { entries: entries.sort(byPath), ...(unsupported ? { unsupported } : {}), ...(prefix ? { prefix } : {}) };
}

const oct = (m: number) => m.toString(8);

function entryLine(e: Entry): string {
  if (e.type === 'f') return `f ${oct(e.mode)} ${e.size} ${e.path}`;
  if (e.type === 'd') return `d ${oct(e.mode)} ${e.path}`;
  return `l ${oct(e.mode)} ${e.path} -> ${e.target}`;
}

export function formatManifest(m: Manifest): string {
  const files = m.entries.filter((e) => e.type === 'f');
  return [
    '[entries]',
    ...m.entries.map(entryLine),
    '[sha256]',
    ...files.map((e) => `${e.sha256}  ${e.path}`),
    '',
  ].join('\n');
}

/**
 * A manifest file's text (written by formatManifest, or recomputed on a host by `find` and `sha256sum`). Anything
 * unexpected in it (a name the shell would need quoted, a file without a digest) makes it unsupported.
 */
export function parseManifest(text: string): Manifest {
  // Hosts that run the same release print the same text: parse it once (the result is only read).
  if (lastParsed?.text !== text) lastParsed = { text, manifest: parseText(text) };
  return lastParsed.manifest;
}

let lastParsed: { text: string; manifest: Manifest } | undefined;

function parseText(text: string): Manifest {
  const entries = new Map<string, Entry>();
  const sums = new Map<string, string>();
  let section = '';
  let unsupported: string | undefined;
  const bad = (why: string) => (unsupported ??= why);
  for (const line of text.split('\n')) {
    if (/^\[[a-z0-9]+\]$/.test(line)) section = line;
    else if (line === '') continue;
    else if (section === '[entries]') {
      const m = /^([fdl]) ([0-7]{1,4}) (?:(\d+) )?(\S+)(?: -> (\S+))?$/.exec(line);
      if (!m || (m[1] === 'f') !== (m[3] !== undefined) || (m[1] === 'l') !== (m[5] !== undefined) || !safePath(m[4]!)) bad(`manifest line ${JSON.stringify(line)}`);
      else entries.set(m[4]!, { path: m[4]!, type: m[1] as EntryType, mode: parseInt(m[2]!, 8), size: Number(m[3] ?? 0), sha256: '', ...(m[5] !== undefined ? { target: m[5] } : {}) });
    } else if (section === '[sha256]') {
      const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
      if (!m) bad(`manifest line ${JSON.stringify(line)}`);
      else sums.set(m[2]!, m[1]!);
    }
  }
  for (const e of entries.values()) {
    if (e.type !== 'f') continue;
    const sum = sums.get(e.path);
    if (!sum) bad(`no sha256 for ${e.path}`);
    else e.sha256 = sum;
  }
  if (entries.size === 0) bad('an empty manifest');
  return { entries: [...entries.values()].sort(byPath), ...(unsupported ? { unsupported } : {}) };
}

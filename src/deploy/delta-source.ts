// The release's manifest and its delta tarballs, computed on this machine from the release tarball (streamed).
// Hosts with the same installed release need the same delta: each distinct one is built once, into a temp file
// every such host is sent from, and removed with the source.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { extract, pack, type Header } from 'tar-stream';
import type { DeltaPlan } from './delta.js';
import { formatManifest, manifestOfTarball, type Manifest } from './manifest.js';

export interface DeltaTar {
  local: string;
  size: number;
}

export class DeltaSource {
  private manifestP?: Promise<Manifest>;
  private textP?: Promise<string>;
  private dir?: Promise<string>;
  private readonly tars = new Map<string, Promise<DeltaTar>>();

  constructor(
    private readonly tarPath: string,
    private readonly app: string,
    private readonly version: string,
  ) {}

  /** The new release's manifest (computed once; a start right away overlaps the hosts' handshakes). */
  manifest(): Promise<Manifest> {
    // A tarball tar-stream cannot read gets no delta; the full unpack on the host has the last word on it.
    this.manifestP ??= manifestOfTarball(this.tarPath, this.app, this.version).catch((err: Error) => ({ entries: [], unsupported: `a tarball deliver cannot read (${err.message})` }));
    return this.manifestP;
  }

  /** The manifest as the hosts keep it. */
  text(): Promise<string> {
    this.textP ??= this.manifest().then(formatManifest);
    return this.textP;
  }

  /** The delta tarball for `plan` (built once per distinct set of linked files). */
  tarFor(plan: DeltaPlan): Promise<DeltaTar> {
    const key = createHash('sha256').update(plan.link.join('\n')).digest('hex');
    let t = this.tars.get(key);
    if (!t) {
      t = this.build(plan, key);
      this.tars.set(key, t);
    }
    return t;
  }

  private async build(plan: DeltaPlan, key: string): Promise<DeltaTar> {
    this.dir ??= mkdtemp(join(tmpdir(), 'deliver-delta-'));
    const local = join(await this.dir, `${this.app}_${this.version}.delta-${key.slice(0, 12)}.tar.gz`);
    const prefix = (await this.manifest()).prefix ?? '';
    const send = new Map(plan.send.map((e) => [e.path, e]));
    const out = pack();
    const written = pipeline(out, createGzip(), createWriteStream(local, { mode: 0o600 }));
    const inTar = new Set<string>();
    const ex = extract();
    ex.on('entry', (h: Header, stream, next) => {
      const path = h.name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
      const rel = prefix && path.startsWith(prefix) ? path.slice(prefix.length) : path;
      const e = send.get(rel);
      if (!e || inTar.has(rel)) {
        stream.on('end', () => next());
        stream.resume();
        return;
      }
      inTar.add(rel);
      const sink = out.entry({ name: rel, type: h.type, mode: h.mode, size: h.size, mtime: h.mtime, linkname: h.linkname }, (err) => next(err));
      if (h.type === 'file' || h.type === 'contiguous-file') stream.pipe(sink);
      else stream.resume();
    });
    await pipeline(createReadStream(this.tarPath, { highWaterMark: 256 * 1024 }), createGunzip(), ex);
    // Directories the release tarball only implies (the manifest lists them) come last: tar sets their mode.
    for (const e of plan.send) if (e.type === 'd' && !inTar.has(e.path)) out.entry({ name: e.path, type: 'directory', mode: e.mode });
    out.finalize();
    await written;
    return { local, size: (await stat(local)).size };
  }

  async dispose(): Promise<void> {
    if (this.dir) await rm(await this.dir, { recursive: true, force: true });
  }
}

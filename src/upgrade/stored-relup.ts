// The relup of an upgrade in the store: the `.relup` copy `build upgrade` stores next to the tarball, else (an
// upgrade copied without it, or built by edeliver) `releases/VSN/relup` read out of the tarball itself.
import { buffer } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import { DeliverError } from '../output/errors.js';
import type { ReleaseStore } from '../store/types.js';
import { upgradeFileName } from './names.js';
import { parseRelup, type Relup } from './relup.js';

export function relupFileName(app: string, version: string): string {
  return `${upgradeFileName(app, version)}.relup`;
}

/** A file's bytes from a plain (ustar/GNU) tar archive, or undefined. `want` matches the member name. */
export function tarMember(tar: Buffer, want: (name: string) => boolean): Buffer | undefined {
  let longName: string | undefined;
  for (let off = 0; off + 512 <= tar.length; ) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) return undefined;
    const field = (start: number, len: number) => header.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    const prefix = field(257, 6).startsWith('ustar') ? field(345, 155) : '';
    const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    const body = tar.subarray(off + 512, off + 512 + size);
    longName = type === 'L' ? body.toString('utf8').replace(/\0.*$/s, '') : undefined;
    if ((type === '0' || type === '' ) && want(name)) return body;
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

export async function readStoredRelup(store: ReleaseStore, app: string, version: string, signal?: AbortSignal): Promise<Relup> {
  const opts = signal ? { signal } : {};
  const sidecar = relupFileName(app, version);
  if (await store.stat(sidecar)) {
    const got = await store.get(sidecar, opts);
    return parseRelup((await buffer(got.stream)).toString('utf8'), `${store.description}: ${sidecar}`);
  }
  const file = upgradeFileName(app, version);
  if (!(await store.stat(file))) {
    throw new DeliverError(`${store.description} has no upgrade ${file}`, { hint: 'build one with `deliver build upgrade --from=REF` or `--with=VERSION`' });
  }
  const got = await store.get(file, opts);
  const tar = gunzipSync(await buffer(got.stream));
  const relup = tarMember(tar, (n) => n.replace(/^\.\//, '') === `releases/${version}/relup`);
  if (!relup) throw new DeliverError(`${store.description}: ${file} has no releases/${version}/relup`);
  return parseRelup(relup.toString('utf8'), `${store.description}: ${file}`);
}

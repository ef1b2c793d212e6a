// File names inside a store: checked before they reach a path or a remote command, plus temp names for writes.
import { randomBytes } from 'node:crypto';
import { UsageError } from '../output/errors.js';
import { parseReleaseFileName } from './versions.js';
import type { StoredRelease } from './types.js';

/** Store entries are plain file names: no directories, no hidden/temp names, nothing a shell or S3 key mangles. */
export function assertStoreFileName(file: string, store: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+@=,~-]*$/.test(file) || file.includes('..') || file.endsWith('.sha256')) {
    throw new UsageError(`${store}: invalid release file name ${JSON.stringify(file)}`, {
      hint: 'expected APP_VERSION.release.tar.gz or APP_VERSION.upgrade.tar.gz (a plain file name, no directories)',
    });
  }
}

/** `.tmp-<random>`: hidden and never matching a release pattern, so listings never show a half-written file. */
export function tempName(): string {
  return `.tmp-${randomBytes(8).toString('hex')}`;
}

export function shaFileName(file: string): string {
  return `${file}.sha256`;
}

/** A StoredRelease for `file`; files that do not follow the naming scheme (raw uploads) keep their name as app. */
export function storedRelease(file: string, size: number, modified: Date, sha256?: string): StoredRelease {
  const p = parseReleaseFileName(file);
  const r: StoredRelease = {
    app: p?.app ?? file,
    version: p?.version ?? '',
    type: p?.type ?? 'release',
    file,
    size,
    modified,
  };
  if (sha256 !== undefined) r.sha256 = sha256;
  return r;
}

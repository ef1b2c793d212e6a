// Picks the release store a RELEASE_STORE value names. Commands only see the ReleaseStore interface.
import { isAbsolute, join } from 'node:path';
import { DeliverError } from '../output/errors.js';
import type { Settings } from '../config/types.js';
import type { HostTarget, Transport } from '../ssh/types.js';
import { LocalStore } from './local.js';
import { RemoteStore } from './remote.js';
import { S3Store, s3OptionsFrom } from './s3.js';
import { parseStoreSpec } from './spec.js';
import type { ReleaseStore } from './types.js';

export interface StoreContext {
  /** Base for a relative local store path when there are no settings (else the project directory is). */
  cwd: string;
  /** Needed for `user@host:/path` stores; the store shares the command's pooled connections. */
  transport?: Transport;
  /** S3_* settings and the project directory. */
  settings?: Settings;
}

/** deliver's default store: files directly in `.deliver/releases` of the project. */
export const DEFAULT_RELEASE_STORE = '.deliver/releases';

/**
 * The store named by `spec` (a local directory, `[user@]host:/path` or `s3://…`). Nothing is contacted here:
 * remote connections and S3 requests happen on first use. Relative local paths are relative to the project
 * directory (where `.deliver/` is), falling back to `cwd`.
 */
export function openStore(spec: string, ctx: StoreContext): ReleaseStore {
  const parsed = parseStoreSpec(spec);
  switch (parsed.kind) {
    case 'local': {
      const base = ctx.settings?.projectDir ?? ctx.cwd;
      return new LocalStore(isAbsolute(parsed.path) ? parsed.path : join(base, parsed.path), ctx.cwd);
    }
    case 'remote': {
      if (!ctx.transport) throw new DeliverError(`release store ${parsed.name}:${parsed.path} needs an SSH transport`);
      const target: HostTarget = parsed.user
        ? { name: parsed.name, host: parsed.host, user: parsed.user }
        : { name: parsed.name, host: parsed.host };
      return new RemoteStore(target, parsed.path, ctx.transport);
    }
    case 's3':
      return new S3Store(s3OptionsFrom(parsed, ctx.settings));
  }
}

/**
 * The store named by RELEASE_STORE. An empty value means the default, like an unset one: `openStore('')` would
 * otherwise be the project directory itself.
 */
export function openConfiguredStore(settings: Settings, ctx: { cwd: string; transport?: Transport }): ReleaseStore {
  return openStore(settings.get('RELEASE_STORE')?.trim() || DEFAULT_RELEASE_STORE, { ...ctx, settings });
}

export { LocalStore, localStoreDir } from './local.js';
export { RemoteStore } from './remote.js';
export { S3Store } from './s3.js';
export { parseStoreSpec, type StoreSpec } from './spec.js';
export { compareVersions, parseReleaseFileName, sortReleases, latestVersion, isReleaseFileOf } from './versions.js';
export { HashingStream, VerifyingStream, sha256File } from './checksum.js';

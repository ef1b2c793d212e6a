// Picks the release store a RELEASE_STORE value names. Commands only see the ReleaseStore interface.
import { isAbsolute, join } from 'node:path';
import { DeliverError } from '../output/errors.js';
import { DEFAULT_RELEASE_STORE, type Config } from '../config/config.js';
import type { S3Settings } from '../config/s3.js';
import type { HostTarget, Transport } from '../ssh/types.js';
import { LocalStore } from './local.js';
import { RemoteStore } from './remote.js';
import { S3Store, s3OptionsFrom } from './s3.js';
import { parseStoreSpec } from './spec.js';
import type { ReleaseStore } from './types.js';

export interface StoreContext {
  /** Base for a relative local store path when there is no project directory. */
  cwd: string;
  /** Needed for `user@host:/path` stores; the store shares the command's pooled connections. */
  transport?: Transport;
  /** The project directory (where `.deliver/` is): relative local stores are relative to it. */
  projectDir?: string;
  /** S3_* settings (asked for only when the store is S3); without them, the process environment's. */
  s3?: () => S3Settings;
}

export { DEFAULT_RELEASE_STORE };

/**
 * The store named by `spec` (a local directory, `[user@]host:/path` or `s3://…`). Nothing is contacted here:
 * remote connections and S3 requests happen on first use. Relative local paths are relative to the project
 * directory (where `.deliver/` is), falling back to `cwd`.
 */
export function openStore(spec: string, ctx: StoreContext): ReleaseStore {
  const parsed = parseStoreSpec(spec);
  switch (parsed.kind) {
    case 'local': {
      const base = ctx.projectDir ?? ctx.cwd;
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
      return new S3Store(s3OptionsFrom(parsed, ctx.s3?.()));
  }
}

/**
 * The store named by RELEASE_STORE. An empty value means the default, like an unset one: `openStore('')` would
 * otherwise be the project directory itself.
 */
export function openConfiguredStore(config: Config, ctx: { cwd: string; transport?: Transport }): ReleaseStore {
  return openStore(config.store.spec, { ...ctx, projectDir: config.projectDir, s3: () => config.store.s3 });
}

export { LocalStore, localStoreDir } from './local.js';
export { RemoteStore } from './remote.js';
export { S3Store } from './s3.js';
export { parseStoreSpec, type StoreSpec } from './spec.js';
export { compareVersions, parseReleaseFileName, sortReleases, latestVersion, isReleaseFileOf } from './versions.js';
export { HashingStream, VerifyingStream, sha256File } from './checksum.js';

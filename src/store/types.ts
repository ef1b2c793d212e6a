// One interface for every release store (local dir, remote user@host:/path, S3): commands never know which.
import type { Readable } from 'node:stream';

export type ReleaseType = 'release' | 'upgrade';

export interface StoredRelease {
  app: string;
  version: string;
  type: ReleaseType;
  /** `${app}_${version}.${type}.tar.gz` (edeliver's naming, so existing stores keep working). */
  file: string;
  size: number;
  /** When it was stored. */
  modified: Date;
  /** Hex sha256 from the `.sha256` file stored next to it, when present. */
  sha256?: string;
}

export interface PutOptions {
  /** Overwrite an existing release of the same name. */
  force?: boolean;
  /** Expected sha256 (verified while streaming in); computed and stored either way. */
  sha256?: string;
  size?: number;
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface ReleaseStore {
  /** Human description for messages, never containing a secret: `local .deliver/releases`, `s3://bucket/prefix`. */
  readonly description: string;
  /** Which backend this is (every store in src/store sets it). */
  readonly kind?: 'local' | 'remote' | 's3';
  list(app: string): Promise<StoredRelease[]>;
  stat(file: string): Promise<StoredRelease | undefined>;
  /** Streams in; visible under `file` only once complete and verified; stores `file.sha256` next to it. */
  put(file: string, source: Readable, opts?: PutOptions): Promise<StoredRelease>;
  /**
   * Streams out; the stream errors (naming store, file, both digests) if the bytes do not match the stored sha256.
   * Local and remote stores hash digest-less (edeliver) files first, so they always verify; only an S3 object
   * with neither a `.sha256` object nor metadata streams unverified, with `sha256` ''.
   */
  get(file: string, opts?: { signal?: AbortSignal }): Promise<{ stream: Readable; sha256: string; size: number }>;
  delete(file: string): Promise<void>;
  /** S3 only: a time-limited GET URL, so each deploy host can download the release itself (`--pull`). */
  presignedGetUrl?(file: string, ttlSeconds: number): Promise<string>;
}

export function releaseFileName(app: string, version: string, type: ReleaseType = 'release'): string {
  return `${app}_${version}.${type}.tar.gz`;
}

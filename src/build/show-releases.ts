// `deliver show releases`: the store's releases of APP as rows, oldest first in the order `--version=latest` uses
// (1.10.0 after 1.9.0; builds differing only in `+build` metadata by when they were stored).
import { formatBytes } from '../output/output.js';
import { sortReleases } from '../store/versions.js';
import type { StoredRelease } from '../store/types.js';
import { revisionFromVersion } from './version.js';

export interface ReleaseRow {
  app: string;
  version: string;
  revision?: string;
  type: StoredRelease['type'];
  size: number;
  built: string;
  file: string;
  sha256?: string;
  /** An upgrade's from-versions (read from its relup). */
  from?: string[];
}

export const RELEASE_HEADERS = ['Application', 'Version', 'Revision', 'Type', 'Size', 'Built'];

export function releaseRows(releases: readonly StoredRelease[]): ReleaseRow[] {
  return sortReleases(releases)
    .map((r) => {
      const row: ReleaseRow = { app: r.app, version: r.version, type: r.type, size: r.size, built: r.modified.toISOString(), file: r.file };
      const rev = revisionFromVersion(r.version);
      if (rev !== undefined) row.revision = rev;
      if (r.sha256 !== undefined) row.sha256 = r.sha256;
      return row;
    });
}

/** Table cells: sizes human-readable, times to the second in UTC. */
export function releaseCells(rows: readonly ReleaseRow[]): string[][] {
  return rows.map((r) => [r.app, r.version, r.revision ?? '-', r.from ? `${r.type} from ${r.from.join(', ')}` : r.type, formatBytes(r.size), r.built.replace('T', ' ').replace(/\.\d+Z$/, 'Z')]);
}

// Release versions computed in TypeScript (no mix task or rebar plugin in the user's project): the base version read
// from the project, then --increment-version / --set-version, then --auto-version metadata (edeliver's grammar:
// the first item joined with `+`, the rest with `-`, e.g. `1.2.3+82a5834-feature`).
import { UsageError } from '../output/errors.js';

export type Increment = 'patch' | 'minor' | 'major';

export type MetadataKind =
  | 'revision'
  | 'commit-count'
  | 'commit-count-branch'
  | 'branch'
  | 'branch-unless-master'
  | 'date'
  | 'time'
  | 'mix-env';

/** Values the metadata items are made of, gathered from the local git repository and the build's settings. */
export interface VersionFacts {
  /** Full sha of the commit being built. */
  sha: string;
  /** `git rev-list --all --count`. */
  commitCountAll: number;
  /** `git rev-list --count <sha>`. */
  commitCountBranch: number;
  branch: string;
  mixEnv: string;
  now: Date;
}

export interface VersionRequest {
  increment?: Increment;
  set?: string;
  metadata: MetadataKind[];
}

// edeliver accepts optional `append-`, `git-` and `build-` prefixes and a few aliases of commit-count.
const ALIASES: Record<string, MetadataKind> = {
  revision: 'revision',
  'commit-count': 'commit-count',
  'commit-count-all': 'commit-count',
  'commit-count-all-branches': 'commit-count',
  'commit-count-branch': 'commit-count-branch',
  branch: 'branch',
  'branch-unless-master': 'branch-unless-master',
  date: 'date',
  time: 'time',
  'mix-env': 'mix-env',
};

/** Parses `--auto-version=revision+branch` (also `,` or spaces as separators). `source` names the flag or file:line. */
export function parseAutoVersion(value: string, source: string): MetadataKind[] {
  const items = value
    .split(/[+,\s]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return items.map((item) => {
    const key = item.toLowerCase().replace(/^append-/, '').replace(/^(git|build)-/, '');
    const kind = ALIASES[key];
    if (kind === undefined) {
      if (/^(patch|minor|major|set)$/.test(key)) {
        throw new UsageError(`${source}: ${JSON.stringify(item)} is not metadata; use --increment-version=${key === 'set' ? 'patch' : key} or --set-version=V`);
      }
      throw new UsageError(
        `${source}: unknown auto-version item ${JSON.stringify(item)}`,
        { hint: `use one or more of ${Object.keys(ALIASES).join(', ')}, joined with +` },
      );
    }
    return kind;
  });
}

export function parseIncrement(value: string): Increment {
  const v = value.toLowerCase();
  if (v === 'patch' || v === 'minor' || v === 'major') return v;
  throw new UsageError(`--increment-version: expected patch, minor or major, got ${JSON.stringify(value)}`);
}

// A release version ends up in file names, directory names and shell words: keep it to safe characters.
const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z.+_-]*$/;

export function validateVersion(version: string, source: string): string {
  if (!VERSION_RE.test(version) || version.length > 128) {
    throw new UsageError(`${source}: invalid version ${JSON.stringify(version)} (use digits, letters, '.', '+', '-', '_')`);
  }
  return version;
}

/** `1.2.3` + patch → `1.2.4`; missing parts count as 0 (`1` + patch → `1.0.1`); pre-release/build suffixes are dropped. */
export function incrementVersion(base: string, inc: Increment): string {
  const core = base.split(/[+-]/, 1)[0] ?? base;
  const parts = core.split('.').map((p) => {
    const n = Number.parseInt(p, 10);
    return Number.isFinite(n) ? n : 0;
  });
  const [major = 0, minor = 0, patch = 0] = parts;
  switch (inc) {
    case 'major':
      return `${major + 1}.0.0`;
    case 'minor':
      return `${major}.${minor + 1}.0`;
    case 'patch':
      return `${major}.${minor}.${patch + 1}`;
  }
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Branch names become `[A-Za-z0-9-]` (as edeliver did) so the version stays one safe word. */
export function sanitizeBranch(branch: string): string {
  return branch.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
}

/** The value of one metadata item, or undefined when it is left out (branch-unless-master on master/main). */
export function metadataValue(kind: MetadataKind, f: VersionFacts): string | undefined {
  switch (kind) {
    case 'revision':
      return f.sha.slice(0, 7);
    case 'commit-count':
      return String(f.commitCountAll);
    case 'commit-count-branch':
      return String(f.commitCountBranch);
    case 'branch':
      return sanitizeBranch(f.branch) || undefined;
    case 'branch-unless-master':
      return f.branch === 'master' || f.branch === 'main' ? undefined : sanitizeBranch(f.branch) || undefined;
    case 'date':
      // UTC, so a version does not depend on the time zone of whoever ran the build.
      return `${f.now.getUTCFullYear()}${pad(f.now.getUTCMonth() + 1)}${pad(f.now.getUTCDate())}`;
    case 'time':
      return `${pad(f.now.getUTCHours())}${pad(f.now.getUTCMinutes())}${pad(f.now.getUTCSeconds())}`;
    case 'mix-env':
      return f.mixEnv;
  }
}

/** True when the request changes the project's version (so the build must rewrite it on the build host). */
export function changesVersion(req: VersionRequest): boolean {
  return req.increment !== undefined || req.set !== undefined || req.metadata.length > 0;
}

/** The final version: base → set/increment → metadata (first with `+`, the rest with `-`). */
export function computeVersion(base: string, req: VersionRequest, facts: VersionFacts): string {
  let v = req.set ?? base;
  if (req.increment !== undefined) v = incrementVersion(v, req.increment);
  const meta = req.metadata.map((k) => metadataValue(k, facts)).filter((m): m is string => m !== undefined && m !== '');
  if (meta.length > 0) v += `${v.includes('+') ? '-' : '+'}${meta.join('-')}`;
  return v;
}

/** The git revision carried in a version's metadata (`1.0.0+82a5834-main` → `82a5834`), for `show releases`. */
export function revisionFromVersion(version: string): string | undefined {
  const plus = version.indexOf('+');
  if (plus < 0) return undefined;
  const items = version.slice(plus + 1).split('-');
  // A short sha may be all digits; dates (8 digits), times (6) and commit counts (< 7 digits) are not 7 long.
  return items.find((i) => /^[0-9a-f]{7,40}$/.test(i) && (/[a-f]/.test(i) || i.length === 7));
}

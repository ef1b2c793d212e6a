// Release file names and version ordering. edeliver sorted with `sort -t. -k2,2n ...` on the whole file name,
// so majors sorted as text (10.0.0 before 9.0.0); deliver compares versions SemVer-style instead.
import type { ReleaseType } from './types.js';

export interface ParsedReleaseFile {
  app: string;
  version: string;
  type: ReleaseType;
}

/** OTP application names: unquoted atoms as mix and rebar3 create them (no `.`, `-` or `+`). */
const APP_NAME = /^[A-Za-z][A-Za-z0-9_@]*$/;
/**
 * A version: numeric dot-separated core, then optional `-pre-release` and/or `+build` parts.
 * Underscores are only allowed after the `-` / `+`, which keeps the app/version split unambiguous (see below).
 */
const VERSION = /^\d+(?:\.\d+)*(?:[-+][0-9A-Za-z._+-]*)?$/;
const SUFFIX = /\.(release|upgrade)\.tar\.gz$/;

/**
 * Splits `${app}_${version}.${type}.tar.gz`. App names may contain `_` and digits (`my_app`, `auth_2fa`),
 * versions may contain `_` in their pre-release/build part (`1.0.0+build_7`), so the split point is the `_`
 * where the left side is a valid app name and the right side a valid version. There is at most one such
 * point: a later `_` that is inside a valid version lies after a `-`/`+`, which cannot be in an app name.
 * Names matching neither grammar fall back to the last `_` followed by a digit. Returns undefined for other files.
 */
export function parseReleaseFileName(file: string): ParsedReleaseFile | undefined {
  const base = file.slice(file.lastIndexOf('/') + 1);
  const m = SUFFIX.exec(base);
  if (!m) return undefined;
  const type = m[1] as ReleaseType;
  const stem = base.slice(0, m.index);
  let fallback: ParsedReleaseFile | undefined;
  for (let i = stem.indexOf('_'); i !== -1; i = stem.indexOf('_', i + 1)) {
    const app = stem.slice(0, i);
    const version = stem.slice(i + 1);
    if (app === '' || !/^\d/.test(version)) continue;
    if (APP_NAME.test(app) && VERSION.test(version)) return { app, version, type };
    fallback = { app, version, type };
  }
  return fallback;
}

/**
 * True if `file` is a release file of `app` (exact app match, so `app` does not also match `app_web`);
 * `app` '' or '*' matches every release file.
 */
export function isReleaseFileOf(file: string, app: string, type?: ReleaseType): boolean {
  const p = parseReleaseFileName(file);
  return p !== undefined && (app === '' || app === '*' || p.app === app) && (type === undefined || p.type === type);
}

function splitVersion(v: string): { core: string[]; pre: string[]; build: string[] } {
  const plus = v.indexOf('+');
  const main = plus === -1 ? v : v.slice(0, plus);
  const build = plus === -1 ? [] : v.slice(plus + 1).split('.');
  const dash = main.indexOf('-');
  const core = (dash === -1 ? main : main.slice(0, dash)).split('.');
  const pre = dash === -1 ? [] : main.slice(dash + 1).split('.');
  return { core, pre, build };
}

const NUMERIC = /^\d+$/;

function compareNumericStrings(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Natural order inside alphanumeric identifiers (`rc9` < `rc10`, `82-abc` < `100-abc`); plain text otherwise. */
function compareNatural(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    const c = NUMERIC.test(x) && NUMERIC.test(y) ? compareNumericStrings(x, y) : x < y ? -1 : x > y ? 1 : 0;
    if (c !== 0) return c;
  }
  return Math.sign(pa.length - pb.length);
}

/** SemVer identifier precedence: numeric < alphanumeric, numbers numerically, the rest naturally. */
function compareIdentifier(a: string, b: string): number {
  const na = NUMERIC.test(a);
  const nb = NUMERIC.test(b);
  if (na && nb) return compareNumericStrings(a, b);
  if (na !== nb) return na ? -1 : 1;
  return compareNatural(a, b);
}

function compareIdentifiers(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareIdentifier(a[i] as string, b[i] as string);
    if (c !== 0) return c;
  }
  return Math.sign(a.length - b.length);
}

/** SemVer precedence: numeric core parts, then the pre-release; build metadata (`+...`) does not count. */
export function comparePrecedence(a: string, b: string): number {
  const va = splitVersion(a);
  const vb = splitVersion(b);
  const n = Math.max(va.core.length, vb.core.length);
  for (let i = 0; i < n; i++) {
    const c = compareIdentifier(va.core[i] ?? '0', vb.core[i] ?? '0');
    if (c !== 0) return c;
  }
  if (va.pre.length === 0 || vb.pre.length === 0) return vb.pre.length - va.pre.length === 0 ? 0 : va.pre.length === 0 ? 1 : -1;
  return compareIdentifiers(va.pre, vb.pre);
}

/**
 * Orders versions: numeric core parts numerically and any number of them (1.10.0 > 1.9.0, 1.0.0.1 > 1.0.0),
 * a pre-release below its release (1.0.0-rc.1 < 1.0.0) with SemVer identifier rules, and, where SemVer calls
 * versions equal, the `+build` part as a tie-breaker (edeliver's auto-versions `1.0.0+82` count commits).
 * Missing core parts count as 0 (1.0 == 1.0.0 apart from the final textual tie-break, which keeps sorting total).
 * Stored releases are ordered by compareBuilds, which asks when they were built before looking at `+build`.
 */
export function compareVersions(a: string, b: string): number {
  if (a === b) return 0;
  const p = comparePrecedence(a, b);
  if (p !== 0) return p;
  const ba = splitVersion(a).build;
  const bb = splitVersion(b).build;
  if (ba.length !== bb.length && (ba.length === 0 || bb.length === 0)) return ba.length === 0 ? -1 : 1;
  const c = compareIdentifiers(ba, bb);
  if (c !== 0) return c;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What compareBuilds needs: the version and when the release was stored, i.e. built and uploaded. */
export interface Built {
  version: string;
  modified: Date;
}

/**
 * Orders builds oldest first: by SemVer precedence, and among versions of equal precedence (differing only in
 * build metadata, like AUTO_VERSION=git-revision's 0.1.0+<revision>) the one stored last is the newer, whatever
 * its revision hash says. Equal times (a copy of many files within a second) fall back to compareVersions.
 */
export function compareBuilds(a: Built, b: Built): number {
  return comparePrecedence(a.version, b.version) || a.modified.getTime() - b.modified.getTime() || compareVersions(a.version, b.version);
}

/**
 * Sorts oldest first (compareBuilds); releases before upgrades of the same version. A version's files count as
 * stored when its last one was, so its release and upgrade tarballs stay together.
 */
export function sortReleases<T extends Built & { type: ReleaseType }>(items: readonly T[]): T[] {
  const stored = new Map<string, Date>();
  for (const r of items) if (r.modified > (stored.get(r.version) ?? new Date(-8.64e15))) stored.set(r.version, r.modified);
  const at = (r: T): Built => ({ version: r.version, modified: stored.get(r.version)! });
  return [...items].sort((x, y) => compareBuilds(at(x), at(y)) || (x.type === y.type ? 0 : x.type === 'release' ? -1 : 1));
}

/** The newest version among `versions` by name alone (undefined for none); stored releases: compareBuilds. */
export function latestVersion(versions: Iterable<string>): string | undefined {
  let best: string | undefined;
  for (const v of versions) if (best === undefined || compareVersions(v, best) > 0) best = v;
  return best;
}

// What kind of project is being built, read from the files of the commit (no build host needed, so --dry-run and
// error messages know it too), and how to put a computed version into the project's own files.
import { UsageError } from '../output/errors.js';
import type { BuildTool } from '../config/defaults.js';
import { parseBoolean } from '../config/values.js';

export type ReleaseTool = 'mix-release' | 'distillery' | 'rebar3' | 'relx';

export interface ProjectKind {
  buildTool: BuildTool;
  releaseTool: ReleaseTool;
  /** Why this tool was chosen (shown with --verbose and in errors). */
  reason: string;
}

/** Settings that override detection (edeliver's names). */
export interface ToolOverrides {
  BUILD_CMD?: string | undefined;
  RELEASE_CMD?: string | undefined;
  USING_DISTILLERY?: string | undefined;
}

/** Picks the build and release tool from the commit's file list (paths relative to the repository root). */
export function detectProject(files: ReadonlySet<string>, o: ToolOverrides = {}): ProjectKind {
  const has = (f: string) => files.has(f);
  const releaseCmd = o.RELEASE_CMD?.trim().toLowerCase() || undefined;
  const buildCmd = o.BUILD_CMD?.trim().toLowerCase() || undefined;
  for (const [name, v] of [['RELEASE_CMD', releaseCmd], ['BUILD_CMD', buildCmd]] as const) {
    if (v === 'rebar') throw new UsageError(`${name}=rebar: rebar 2 is not supported; use rebar3`);
    if (v !== undefined && !['mix', 'rebar3', 'relx'].includes(v)) {
      throw new UsageError(`${name}=${v}: expected mix, rebar3 or relx`);
    }
  }
  if (buildCmd === 'relx') throw new UsageError('BUILD_CMD=relx: relx only builds releases; use BUILD_CMD=rebar3 or mix');

  let releaseTool: ReleaseTool;
  let reason: string;
  if (releaseCmd === 'relx' || (releaseCmd === undefined && has('relx.config'))) {
    releaseTool = 'relx';
    reason = releaseCmd ? 'RELEASE_CMD=relx' : 'relx.config';
  } else if (releaseCmd === 'rebar3' || (releaseCmd === undefined && has('rebar.config'))) {
    releaseTool = 'rebar3';
    reason = releaseCmd ? 'RELEASE_CMD=rebar3' : 'rebar.config';
  } else if (releaseCmd === 'mix' || (releaseCmd === undefined && has('mix.exs'))) {
    // edeliver needed USING_DISTILLERY=false for Elixir's own `mix release`; here Distillery is only chosen when the
    // project has Distillery's rel/config.exs (or the user says so).
    const said = o.USING_DISTILLERY?.trim() ? parseBoolean(o.USING_DISTILLERY) === true : undefined;
    const distillery = said ?? has('rel/config.exs');
    releaseTool = distillery ? 'distillery' : 'mix-release';
    reason = distillery
      ? said ? 'USING_DISTILLERY=true' : 'rel/config.exs (Distillery)'
      : 'mix.exs without rel/config.exs (mix release, Elixir >= 1.9)';
    if (releaseCmd) reason = `RELEASE_CMD=mix, ${reason}`;
  } else {
    throw new UsageError('no release tool found in the project: expected mix.exs (mix release / Distillery), rebar.config (rebar3) or relx.config at the repository root', {
      hint: 'set RELEASE_CMD=mix|rebar3|relx in .deliver/config if the project builds differently',
    });
  }

  let buildTool: BuildTool;
  if (buildCmd === 'mix' || buildCmd === 'rebar3') buildTool = buildCmd;
  else if (releaseTool === 'mix-release' || releaseTool === 'distillery') buildTool = 'mix';
  else if (has('rebar.config')) buildTool = 'rebar3';
  else if (has('mix.exs')) buildTool = 'mix';
  else buildTool = 'rebar3';
  if (buildTool === 'rebar3' && (releaseTool === 'mix-release' || releaseTool === 'distillery')) {
    throw new UsageError(`BUILD_CMD=rebar3 cannot build a ${releaseTool === 'distillery' ? 'Distillery' : 'mix'} release; use BUILD_CMD=mix`);
  }
  return { buildTool, releaseTool, reason };
}

/** A file of the project whose text must change so that the release carries the computed version. */
export interface VersionEdit {
  path: string;
  content: string;
}

export interface ProjectVersion {
  /** The version written in the project, when it can be read statically. */
  base?: string;
  /** Where it was read (for messages). */
  source?: string;
}

const MIX_LITERAL = /(\bversion:\s*)"([^"\\]*)"/;
const MIX_ATTR_REF = /\bversion:\s*@([a-z_][A-Za-z0-9_]*)/;

function mixAttrRe(attr: string): RegExp {
  return new RegExp(`(^[ \\t]*@${attr}\\s+)"([^"\\\\]*)"`, 'm');
}

/** The project version of a mix.exs: `version: "1.0.0"` or `version: @version` with `@version "1.0.0"`. */
export function readMixVersion(mixExs: string): string | undefined {
  const lit = MIX_LITERAL.exec(mixExs);
  const ref = MIX_ATTR_REF.exec(mixExs);
  if (ref && (!lit || ref.index < lit.index)) return mixAttrRe(ref[1] ?? '').exec(mixExs)?.[2];
  return lit?.[2];
}

/** mix.exs with its project version replaced; undefined when the version is not a literal deliver can rewrite. */
export function rewriteMixVersion(mixExs: string, version: string): string | undefined {
  const lit = MIX_LITERAL.exec(mixExs);
  const ref = MIX_ATTR_REF.exec(mixExs);
  if (ref && (!lit || ref.index < lit.index)) {
    const re = mixAttrRe(ref[1] ?? '');
    if (!re.test(mixExs)) return undefined;
    return mixExs.replace(re, (_m, head: string) => `${head}"${version}"`);
  }
  if (!lit) return undefined;
  return mixExs.replace(MIX_LITERAL, (_m, head: string) => `${head}"${version}"`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// `{release, {demo, "0.1.0"}` in rebar.config / relx.config; the name may be quoted ('demo').
function relxReleaseRe(app: string): RegExp {
  const name = escapeRe(app);
  return new RegExp(`(\\{\\s*release\\s*,\\s*\\{\\s*'?${name}'?\\s*,\\s*)("(?:[^"\\\\]*)"|[a-z][A-Za-z0-9_]*)`);
}

export function readRelxVersion(config: string, app: string): string | undefined {
  const m = relxReleaseRe(app).exec(config);
  const v = m?.[2];
  return v?.startsWith('"') ? v.slice(1, -1) : undefined;
}

export function rewriteRelxVersion(config: string, app: string, version: string): string | undefined {
  const re = relxReleaseRe(app);
  if (!re.test(config)) return undefined;
  return config.replace(re, (_m, head: string) => `${head}"${version}"`);
}

const APP_SRC_VSN = /(\{\s*vsn\s*,\s*)("(?:[^"\\]*)"|[a-z][A-Za-z0-9_]*|\{[^}]*\})/;

export function readAppSrcVersion(appSrc: string): string | undefined {
  const v = APP_SRC_VSN.exec(appSrc)?.[2];
  return v?.startsWith('"') ? v.slice(1, -1) : undefined;
}

export function rewriteAppSrcVersion(appSrc: string, version: string): string | undefined {
  if (!APP_SRC_VSN.test(appSrc)) return undefined;
  return appSrc.replace(APP_SRC_VSN, (_m, head: string) => `${head}"${version}"`);
}

/** The .app.src of the OTP application named like the release, in a rebar3 single-app or umbrella layout. */
export function findAppSrc(files: ReadonlySet<string>, app: string): string | undefined {
  for (const p of [`apps/${app}/src/${app}.app.src`, `src/${app}.app.src`]) if (files.has(p)) return p;
  return undefined;
}

/** Reads a file of the commit being built. */
export type ReadProjectFile = (path: string) => Promise<string>;

/** The project's own version (before --set/--increment/--auto-version). */
export async function readProjectVersion(kind: ProjectKind, files: ReadonlySet<string>, app: string, read: ReadProjectFile): Promise<ProjectVersion> {
  if (kind.releaseTool === 'mix-release' || kind.releaseTool === 'distillery') {
    if (!files.has('mix.exs')) return {};
    const v = readMixVersion(await read('mix.exs'));
    return v === undefined ? {} : { base: v, source: 'mix.exs' };
  }
  const cfg = kind.releaseTool === 'relx' && files.has('relx.config') ? 'relx.config' : 'rebar.config';
  if (files.has(cfg)) {
    const v = readRelxVersion(await read(cfg), app);
    if (v !== undefined) return { base: v, source: cfg };
  }
  const appSrc = findAppSrc(files, app);
  if (appSrc) {
    const v = readAppSrcVersion(await read(appSrc));
    if (v !== undefined) return { base: v, source: appSrc };
  }
  return {};
}

/**
 * The edits that make the release tool produce `version`: mix.exs's project version for mix; for rebar3/relx the
 * relx release vsn and the vsn of the application named like the release. They are written on the build host's work
 * tree only; the next build's `git reset --hard` restores the files.
 */
export async function versionEdits(kind: ProjectKind, files: ReadonlySet<string>, app: string, version: string, read: ReadProjectFile): Promise<VersionEdit[]> {
  const fail = (what: string) =>
    new UsageError(`cannot set the version ${version}: ${what}`, {
      hint: 'write the version as a literal string there, or build without --set-version/--increment-version/--auto-version',
    });
  if (kind.releaseTool === 'mix-release' || kind.releaseTool === 'distillery') {
    if (!files.has('mix.exs')) throw fail('the project has no mix.exs at its root');
    const content = rewriteMixVersion(await read('mix.exs'), version);
    if (content === undefined) throw fail('mix.exs has no `version: "..."` (or `version: @attr` with `@attr "..."`) to rewrite');
    return [{ path: 'mix.exs', content }];
  }
  const edits: VersionEdit[] = [];
  const cfg = kind.releaseTool === 'relx' && files.has('relx.config') ? 'relx.config' : 'rebar.config';
  if (!files.has(cfg)) throw fail(`the project has no ${cfg}`);
  const relx = rewriteRelxVersion(await read(cfg), app, version);
  if (relx === undefined) throw fail(`${cfg} has no {release, {${app}, "..."}, ...} entry`);
  edits.push({ path: cfg, content: relx });
  const appSrc = findAppSrc(files, app);
  if (appSrc) {
    const content = rewriteAppSrcVersion(await read(appSrc), version);
    if (content !== undefined) edits.push({ path: appSrc, content });
  }
  return edits;
}

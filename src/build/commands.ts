// Every command line the build runs on the build host, as pure functions (Kamal style): unit-tested, printed verbatim
// by --dry-run, and executed over the one pooled connection. Values always go through `sh` / `quote`.
import { and, chain, envPrefix, forIn, ifThen, or, quote, raw, remotePath, sh, Shell } from '../ssh/quote.js';

export { remotePath };
import type { ProjectKind } from './project.js';

/**
 * Start of every build-host script: source the build user's profile (PATH to erlang/elixir, env vars) — expanded on
 * the build host, not locally as edeliver did — then stop at the first error and work in the build directory.
 */
export function prelude(buildDir: string, profile: string | undefined): Shell {
  const p = profile === undefined || profile === '' ? raw('"$HOME"/.profile') : remotePath(profile);
  return chain(ifThen(sh`[ -f ${p} ]`, sh`. ${p}`), raw('set -e'), sh`cd ${remotePath(buildDir)}`);
}

/** Wraps a step: prelude + command(s). */
export function inBuildDir(buildDir: string, profile: string | undefined, ...cmds: Shell[]): Shell {
  return chain(...prelude(buildDir, profile).joined!.parts, and(...cmds));
}

/** Creates the non-bare repository pushes go to (first use), lets pushes update its checked-out branch, prints its absolute path. */
export function initRepository(buildAt: string): Shell {
  const dir = remotePath(buildAt);
  return and(
    or(raw('command -v git >/dev/null 2>&1'), chain(sh`echo ${'git is not installed on the build host (or not in PATH)'} >&2`, raw('exit 127'))),
    sh`mkdir -p ${dir}`,
    sh`cd ${dir}`,
    ifThen(raw('[ ! -d .git ]'), raw('git init -q')),
    raw('git config receive.denyCurrentBranch ignore'),
    raw('pwd'),
  );
}

export function gitReset(sha: string): Shell {
  return sh`git reset --hard -q ${sha}`;
}

export function gitClean(paths: readonly string[]): Shell {
  return sh`git clean -ffdxq -- ${paths.length > 0 ? paths : ['.']}`;
}

export function gitSubmodules(): Shell {
  return ifThen(raw('[ -f .gitmodules ]'), and(raw('git submodule sync --recursive -q'), raw('git submodule update --init --recursive --force -q')));
}

/** Writes stdin to `path` in the build directory (used for the version edits, which are not in the command line). */
export function writeFile(path: string): Shell {
  return sh`cat > ${path}`;
}

export interface ToolSettings {
  kind: ProjectKind;
  app: string;
  mixEnv: string;
  /** rebar3 profile for the release (REBAR_PROFILE, default prod). */
  rebarProfile: string;
  /** `--release NAME` for umbrella projects with several releases. */
  releaseName?: string | undefined;
  skipMixClean: boolean;
  verbose: boolean;
  /** The commit contains its own `rebar3` / `relx` script (used instead of the one in PATH). */
  localRebar3: boolean;
  localRelx: boolean;
  /** MIX_CMD / REBAR3_CMD / RELX_CMD overrides: trusted shell from the user's own config, like edeliver. */
  mixCmd?: string | undefined;
  rebar3Cmd?: string | undefined;
  relxCmd?: string | undefined;
  rebarConfig?: string | undefined;
  releaseCmdOptions?: string | undefined;
}

export function mix(t: ToolSettings): Shell {
  // MIX_CMD is the user's own config (like a hook body), so it is used as shell text on purpose.
  return raw(`${envPrefix({ MIX_ENV: t.mixEnv }).text} ${t.mixCmd?.trim() || 'mix'}`);
}

export function rebar3(t: ToolSettings): Shell {
  const cmd = t.rebar3Cmd?.trim() || (t.localRebar3 ? './rebar3' : 'rebar3');
  const cfg = t.rebarConfig ? sh` -C ${t.rebarConfig}`.text : '';
  return raw(`${cmd}${cfg} as ${quote(t.rebarProfile)}`);
}

function relx(t: ToolSettings): Shell {
  return raw(t.relxCmd?.trim() || (t.localRelx ? './relx' : 'relx'));
}

/** Fetch dependencies (`pre/post_erlang_get_and_update_deps`). Nothing here needs the network unless the project does. */
export function depsCommands(t: ToolSettings): Shell[] {
  if (t.kind.buildTool === 'rebar3') return [sh`${rebar3(t)} get-deps`];
  return [
    // Hex is needed only when the lock file has hex packages; rebar3 for rebar deps is copied from the local one
    // (no download) when mix has none yet.
    ifThen(raw(`grep -q ':hex,' mix.lock 2>/dev/null`), sh`${mix(t)} local.hex --force --if-missing`),
    ifThen(
      raw('[ ! -e "$HOME/.mix/rebar3" ] && [ ! -e "${MIX_HOME:-$HOME/.mix}/rebar3" ] && command -v rebar3 >/dev/null 2>&1'),
      sh`${mix(t)} local.rebar rebar3 "$(command -v rebar3)" --force >/dev/null`,
    ),
    sh`${mix(t)} deps.get --only ${t.mixEnv}`,
  ];
}

/** Clean + compile (`pre/post_erlang_clean_compile`). */
export function compileCommands(t: ToolSettings): Shell[] {
  if (t.kind.buildTool === 'rebar3') {
    return [...(t.skipMixClean ? [] : [sh`${rebar3(t)} clean`]), sh`${rebar3(t)} compile`];
  }
  return [...(t.skipMixClean ? [] : [sh`${mix(t)} clean`]), sh`${mix(t)} compile`];
}

/** Runs the release tool (`pre/post_erlang_generate_release`). */
export function releaseCommands(t: ToolSettings): Shell[] {
  const extra = t.releaseCmdOptions?.trim() ? raw(` ${t.releaseCmdOptions.trim()}`) : raw('');
  const name = t.releaseName ?? t.app;
  switch (t.kind.releaseTool) {
    case 'mix-release':
      // --overwrite: without a git clean the previous release dir exists and mix would prompt.
      return [sh`${mix(t)} release${t.releaseName ? sh` ${t.releaseName}` : raw('')} --overwrite${t.verbose ? raw('') : raw(' --quiet')}${extra}`];
    case 'distillery':
      return [sh`${mix(t)} distillery.release --env=${t.mixEnv} --name=${name}${t.verbose ? raw(' --verbose') : raw('')}${extra}`];
    case 'rebar3':
      return [sh`${rebar3(t)} release -n ${name}${extra}`];
    case 'relx':
      return [sh`${relx(t)} release${extra}`];
  }
}

/** Where the release tool leaves the release, relative to the build directory. */
export function releaseDirFor(t: ToolSettings): string {
  const name = t.releaseName ?? t.app;
  switch (t.kind.releaseTool) {
    case 'mix-release':
      return `_build/${t.mixEnv}/rel/${name}`;
    case 'distillery':
      return `_build/${t.mixEnv}/rel/${name}`;
    case 'rebar3':
      return `_build/${t.rebarProfile}/rel/${name}`;
    case 'relx':
      return `_rel/${name}`;
  }
}

/**
 * Reports the built release: `found <start_erl.data>` and `version <dir>` lines for `releaseDir`, or, when it is
 * missing, `candidate <dir>` for every release found under _build/_rel (so the error can list them).
 */
export function inspectRelease(releaseDir: string): Shell {
  const d = sh`${releaseDir}`.text;
  return ifThen(
    raw(`[ -d ${d}/releases ]`),
    chain(
      ifThen(raw(`[ -f ${d}/releases/start_erl.data ]`), raw(`printf 'found %s\\n' "$(cat ${d}/releases/start_erl.data)"`), raw('echo found')),
      forIn('v', raw(`${d}/releases/*/`), and(raw('[ -d "$v" ]'), raw(`printf 'version %s\\n' "$(basename "$v")"`))),
      raw('true'),
    ),
    chain(raw(`find _build _rel -maxdepth 6 -type d -name releases 2>/dev/null | sed -n 's|/releases$||p' | sed 's/^/candidate /'`), raw('true')),
  );
}

export interface InspectedRelease {
  exists: boolean;
  /** Release version named in releases/start_erl.data (`ERTS_VSN REL_VSN`). */
  current?: string;
  versions: string[];
  candidates: string[];
}

export function parseInspectRelease(stdout: string): InspectedRelease {
  const r: InspectedRelease = { exists: false, versions: [], candidates: [] };
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (t === 'found' || t.startsWith('found ')) {
      r.exists = true;
      const parts = t.slice(6).trim().split(/\s+/);
      if (parts.length >= 2 && parts[1]) r.current = parts[1];
    } else if (t.startsWith('version ')) r.versions.push(t.slice(8));
    else if (t.startsWith('candidate ')) r.candidates.push(t.slice(10));
  }
  return r;
}

/**
 * Packs the release ROOT (bin/, lib/, releases/, erts-*) into a tarball with no leading directory, written under a
 * temporary name and renamed, so a download never sees a partial file.
 */
export function packRelease(releaseDir: string, tarball: string): Shell {
  const tmp = `${tarball}.partial`;
  return and(sh`mkdir -p ${dirname(tarball)}`, sh`rm -f ${tmp}`, sh`tar -czf ${tmp} -C ${releaseDir} .`, sh`mv -f ${tmp} ${tarball}`, sh`wc -c < ${tarball}`);
}

export function removeFile(path: string): Shell {
  return sh`rm -f ${path}`;
}

function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? (i === 0 ? '/' : '.') : p.slice(0, i);
}

/** The script a hook's `__sync_remote` sends, run like edeliver did: profile, `set -e`, in the build directory. */
export function hookScript(buildDir: string, profile: string | undefined, script: string): string {
  return `${prelude(buildDir, profile).text}\n${script}\n`;
}

export { Shell };

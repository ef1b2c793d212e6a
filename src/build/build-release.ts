// `deliver build release`: push the commit to the build host, build it there with the project's own tools, and
// stream the release tarball into the store, in phases: resolve the commit and the version (locally, then the build
// host's directory) → the remote steps and hooks (build-plan.ts, run by build-run.ts) → the store. A dry run
// computes the same steps and prints them (planBuild). Every remote step runs on the one pooled connection; the
// only other process is the local `git push` (system git + ssh with the SSH layer's settings).
import type { Config } from '../config/config.js';
import { DeliverError, UsageError } from '../output/errors.js';
import type { Output } from '../output/output.js';
import { expandHome } from '../plan/home.js';
import { appendSteps, type RunPlan, type Step } from '../plan/plan.js';
import type { Backend } from '../ssh/types.js';
import type { ReleaseStore } from '../store/types.js';
import { releaseFileName } from '../store/types.js';
import { buildSteps, storeSteps, type BuildFacts } from './build-plan.js';
import { runBuildStep, runBuildSteps, type BuildRun } from './build-run.js';
import * as cmd from './commands.js';
import { commitCounts, listFiles, repoRoot, resolveBuildRef, showFile, uncommittedChanges, type BuildRef } from './git-local.js';
import { detectProject, readProjectVersion, versionEdits, type ProjectKind, type VersionEdit } from './project.js';
import { changesVersion, computeVersion, validateVersion, type VersionFacts, type VersionRequest } from './version.js';

export interface BuildReleaseOptions {
  branch?: string;
  revision?: string;
  tag?: string;
  mixEnv: string;
  version: VersionRequest;
  /** `--release NAME`: which release of an umbrella project. */
  release?: string;
  skipGitClean: boolean;
  skipMixClean: boolean;
  force: boolean;
  /** `build upgrade --from`: a release of this version already in the store is used as it is (not rebuilt or replaced). */
  useStored?: boolean;
  /** `build appups`: build only, leave the store alone (the release stays on the build host for the next steps). */
  skipStore?: boolean;
  /** `build upgrade`: build, but keep a release of the built version the store already has (no --force needed). */
  keepStored?: boolean;
}

export interface BuildHostInfo {
  /** Label for messages (`user@host[:port]`). */
  name: string;
  host: string;
  user?: string | undefined;
  port?: number | undefined;
}

export interface BuildReleaseDeps {
  /** The project's configuration, typed (config/config.ts). */
  config: Config;
  out: Output;
  signal: AbortSignal;
  /** The project directory (inside the git repository). */
  cwd: string;
  buildHost: BuildHostInfo;
  /** Connected lazily so local errors (unknown branch, no release tool) never wait for SSH. */
  backend: () => Promise<Backend>;
  store: () => Promise<ReleaseStore>;
  /** `GIT_SSH_COMMAND` for the push, with the same host key policy and identities as the pooled connection. */
  gitSshCommand: () => Promise<string>;
  /** Runs after the release is built and stored (the upgrade steps, on the same connection); not for a `useStored` release. */
  onBuilt?: (b: BuiltRelease) => Promise<void>;
}

/** The built release on the build host, and the build in progress (its steps run with runBuildStep). */
export interface BuiltRelease {
  version: string;
  /** Absolute release directory on the build host. */
  releaseDir: string;
  run: BuildRun;
}

export interface BuildReleaseResult {
  app: string;
  version: string;
  file: string;
  sha256: string;
  size: number;
  store: string;
  revision: string;
  branch: string;
  tag?: string;
  buildHost: string;
  releaseTool: ProjectKind['releaseTool'];
  durationMs: number;
  /** The release was already in the store (`useStored`) and was not built. */
  fromStore?: boolean;
}

/** A setting `build release` cannot do without (exit 2 naming the config file otherwise). */
function required<T>(config: Config, name: string, value: T | undefined): T {
  if (value === undefined || value === '') {
    throw new UsageError(`${name} is not set: \`build release\` needs APP, BUILD_HOST, BUILD_USER and BUILD_AT`, {
      hint: `set ${name}="..." in ${config.file}`,
    });
  }
  return value;
}

/** What the local repository says: the commit, the project, the version (and the edits that set it). */
interface LocalBuild {
  app: string;
  root: string;
  ref: BuildRef;
  kind: ProjectKind;
  files: Set<string>;
  version: string | undefined;
  edits: VersionEdit[];
}

/** Phase 1a, local only (no SSH yet, so an unknown branch or a missing release tool fails fast). */
async function resolveLocal(o: BuildReleaseOptions, d: BuildReleaseDeps): Promise<LocalBuild> {
  const { config, out } = d;
  const app = required(config, 'APP', config.app);
  required(config, 'BUILD_AT', config.build.buildAt);
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(app)) {
    throw new UsageError(`APP=${JSON.stringify(app)} (${config.where('APP')}): expected an OTP application name (letters, digits, _)`);
  }
  if (o.release !== undefined && !/^[A-Za-z][A-Za-z0-9_]*$/.test(o.release)) {
    throw new UsageError(`--release: invalid release name ${JSON.stringify(o.release)}`);
  }
  const releaseName = o.release ?? app;
  const root = await repoRoot(d.cwd);
  const ref: BuildRef = await resolveBuildRef(root, { branch: o.branch, revision: o.revision, tag: o.tag });
  const dirty = await uncommittedChanges(root);
  if (dirty.length > 0) {
    out.warn(`${dirty.length} uncommitted change(s) in ${root} are NOT part of this build; building ${ref.describe} (${ref.sha.slice(0, 7)}) as committed`);
  }
  const files = await listFiles(root, ref.sha);
  const kind = detectProject(files, config.build.detect);
  const read = (p: string) => showFile(root, ref.sha, p);
  const base = await readProjectVersion(kind, files, releaseName, read);
  const configured = config.build.releaseVersion;
  if (!changesVersion(o.version)) return { app, root, ref, kind, files, version: configured ?? base.base, edits: [] };
  if (o.version.set === undefined && base.base === undefined) {
    throw new UsageError(`cannot read the project's version to ${o.version.increment ? 'increment' : 'extend'} it`, {
      hint: 'write it as a literal (mix.exs `version: "1.0.0"`, rebar.config {release, {app, "1.0.0"}, ...}) or use --set-version=V',
    });
  }
  const facts: VersionFacts = { sha: ref.sha, commitCountAll: 0, commitCountBranch: 0, branch: ref.branch, mixEnv: o.mixEnv, now: new Date() };
  if (o.version.metadata.some((m) => m === 'commit-count' || m === 'commit-count-branch')) {
    const c = await commitCounts(root, ref.sha);
    facts.commitCountAll = c.all;
    facts.commitCountBranch = c.branch;
  }
  const version = validateVersion(computeVersion(base.base ?? '', o.version, facts), 'version');
  return { app, root, ref, kind, files, version, edits: await versionEdits(kind, files, releaseName, version, read) };
}

/** The release tool's settings for this build. */
function toolSettings(o: BuildReleaseOptions, d: BuildReleaseDeps, l: LocalBuild): cmd.ToolSettings {
  const b = d.config.build;
  return {
    kind: l.kind,
    app: l.app,
    mixEnv: o.mixEnv,
    rebarProfile: b.rebarProfile,
    releaseName: o.release,
    skipMixClean: o.skipMixClean,
    verbose: d.out.verbose,
    localRebar3: l.files.has('rebar3'),
    localRelx: l.files.has('relx'),
    ...b.commands,
  };
}

/** Phase 1b: the build host's directory (a `~/…` BUILD_AT is expanded by a read-only query) and every fact the plan needs. */
async function resolveRemote(o: BuildReleaseOptions, d: BuildReleaseDeps, l: LocalBuild, backend: Backend, store: ReleaseStore): Promise<{ f: BuildFacts; home: Step[] }> {
  const b = d.config.build;
  const buildAt = b.buildAt!;
  const dir = await expandHome(backend, buildAt, d.signal);
  const tools = toolSettings(o, d, l);
  const f: BuildFacts = {
    app: l.app,
    ref: l.ref,
    version: l.version,
    edits: l.edits,
    tools,
    buildAt,
    buildDir: dir.dir,
    profile: b.profile,
    relDir: b.releaseDir ?? cmd.releaseDirFor(tools),
    skipGitClean: o.skipGitClean || b.skipGitClean,
    gitCleanPaths: b.gitCleanPaths,
    agentForward: Boolean(process.env.SSH_AUTH_SOCK),
    hooks: d.config.hooks,
    host: d.buildHost.name,
    pushUrl: pushUrl(d.buildHost, dir.dir),
    store: store.description,
  };
  return { f, home: dir.steps };
}

/** Fails before any remote work when the store already has the version (the store is asked, read-only). */
async function checkStore(o: BuildReleaseOptions, l: LocalBuild, store: ReleaseStore): Promise<void> {
  if (l.version !== undefined && !o.force && !o.useStored && !o.skipStore && !o.keepStored) await assertNotInStore(store, releaseFileName(l.app, l.version), l.app, l.version);
}

/** `--dry-run`: the plan a build would execute, with its read-only queries (the store, the build host's home) run. */
export async function planBuild(o: BuildReleaseOptions, d: BuildReleaseDeps): Promise<RunPlan> {
  return (await planBuildFacts(o, d)).plan;
}

/** The plan, the facts it was computed from (none when a stored release is used as it is) and the version it builds. */
export async function planBuildFacts(o: BuildReleaseOptions, d: BuildReleaseDeps): Promise<{ plan: RunPlan; f?: BuildFacts; version: string | undefined }> {
  const l = await resolveLocal(o, d);
  const store = await d.store();
  const title = `build release ${l.app}${l.version ? ` ${l.version}` : ''}`;
  const facts = [`${l.ref.describe} (${l.ref.sha.slice(0, 7)}) with ${l.kind.releaseTool} (${l.kind.reason}), version ${l.version ?? 'as the release tool builds it'}`];
  if (o.useStored && l.version !== undefined && (await store.stat(releaseFileName(l.app, l.version)))) {
    return { plan: { title, facts: [...facts, `${store.description} already has ${releaseFileName(l.app, l.version)}: it is used as it is, nothing is built`], hosts: [] }, version: l.version };
  }
  await checkStore(o, l, store);
  const { f, home } = await resolveRemote(o, d, l, await d.backend(), store);
  const steps = appendSteps(appendSteps(home, buildSteps(f)), o.skipStore ? [] : storeSteps(f, f.version ?? 'VERSION', o.force));
  return { plan: { title, facts: [...facts, `store: ${store.description}`], hosts: [{ host: f.host, steps, facts: [`builds in ${f.buildDir}`] }] }, f, version: l.version };
}

export async function buildRelease(o: BuildReleaseOptions, d: BuildReleaseDeps): Promise<BuildReleaseResult> {
  const started = Date.now();
  const l = await resolveLocal(o, d);
  d.out.debug(`building ${l.ref.describe} (${l.ref.sha}) with ${l.kind.releaseTool} (${l.kind.reason})${l.version ? `, version ${l.version}` : ''}`);
  const store = await d.store();
  if (o.useStored && l.version !== undefined) {
    const have = await store.stat(releaseFileName(l.app, l.version));
    if (have) return storedResult(have, store.description, l.ref, d.buildHost.name, l.kind, started);
  }
  await checkStore(o, l, store);
  const backend = await d.backend();
  const { f } = await resolveRemote(o, d, l, backend, store);
  const x: BuildRun = { f, backend, store, out: d.out, signal: d.signal, config: d.config, root: l.root, buildHost: d.buildHost, mixEnv: o.mixEnv, gitSshCommand: d.gitSshCommand };
  const version = await build(x);
  return storePhase(o, d, x, version, started);
}

/** Phase 2: the remote steps and hooks, then which version the release tool built. */
async function build(x: BuildRun): Promise<string> {
  const { f } = x;
  const done = await runBuildSteps(x, buildSteps(f));
  const inspected = cmd.parseInspectRelease(done.get('find the release')?.result?.stdout ?? '');
  if (!inspected.exists) {
    throw new DeliverError(`${f.host}: no release found at ${f.buildDir}/${f.relDir} after \`${f.tools.kind.releaseTool}\``, {
      detail: inspected.candidates.length > 0
        ? `releases found on the build host:\n${inspected.candidates.map((c) => `  ${f.buildDir}/${c}`).join('\n')}`
        : 'no release directory was found under _build or _rel',
      hint: inspected.candidates.length > 1
        ? 'an umbrella project with several releases: choose one with --release NAME (or set RELEASE_DIR)'
        : 'check APP (it names the release) or set RELEASE_DIR to the release directory relative to BUILD_AT',
    });
  }
  return validateVersion(pickVersion(inspected, f.version, f.host, `${f.buildDir}/${f.relDir}`), `${f.host}: built release version`);
}

/** Phase 3: into the store (unless it keeps what it has), then the upgrade steps of `build upgrade`. */
async function storePhase(o: BuildReleaseOptions, d: BuildReleaseDeps, x: BuildRun, version: string, started: number): Promise<BuildReleaseResult> {
  const { f, store } = x;
  const file = releaseFileName(f.app, version);
  // The upgrade steps run after the release is stored: they add the old release to the release directory.
  const built = async () => {
    const releaseDir = f.relDir.startsWith('/') ? f.relDir : `${f.buildDir}/${f.relDir}`;
    if (d.onBuilt) await d.onBuilt({ version, releaseDir, run: x });
  };
  if (o.skipStore) {
    await built();
    return { ...storedResult({ app: f.app, version, file, size: 0 }, store.description, f.ref, f.host, f.tools.kind, started), fromStore: false };
  }
  if (o.useStored || o.keepStored) {
    const have = await store.stat(file);
    if (have) {
      if (o.keepStored) {
        d.out.info(`keeping ${file} that ${store.description} already has (the build of ${f.ref.sha.slice(0, 7)} is not stored over it)`);
        await built();
      }
      return storedResult(have, store.description, f.ref, f.host, f.tools.kind, started);
    }
  }
  if (!o.force && version !== f.version) await assertNotInStore(store, file, f.app, version);
  const [pack, put, remove] = storeSteps(f, version, o.force);
  let stored: { sha256?: string; size: number };
  try {
    const size = Number.parseInt((await runBuildStep(x, pack!)).result?.stdout.trim().split('\n').pop() ?? '', 10);
    stored = (await runBuildStep(x, put!, Number.isFinite(size) ? size : undefined)).stored!;
  } finally {
    await runBuildStep(x, remove!).catch(() => undefined);
  }
  await built();
  const result: BuildReleaseResult = {
    app: f.app,
    version,
    file,
    sha256: stored.sha256 ?? '',
    size: stored.size,
    store: store.description,
    revision: f.ref.sha,
    branch: f.ref.branch,
    buildHost: f.host,
    releaseTool: f.tools.kind.releaseTool,
    durationMs: Date.now() - started,
  };
  if (f.ref.tag !== undefined) result.tag = f.ref.tag;
  return result;
}

/** The result for a release that is (or, with skipStore, will not be) in the store rather than freshly stored. */
function storedResult(
  r: { app: string; version: string; file: string; size: number; sha256?: string },
  store: string,
  ref: BuildRef,
  buildHost: string,
  kind: ProjectKind,
  started: number,
): BuildReleaseResult {
  const result: BuildReleaseResult = {
    app: r.app,
    version: r.version,
    file: r.file,
    sha256: r.sha256 ?? '',
    size: r.size,
    store,
    revision: ref.sha,
    branch: ref.branch,
    buildHost,
    releaseTool: kind.releaseTool,
    durationMs: Date.now() - started,
    fromStore: true,
  };
  if (ref.tag !== undefined) result.tag = ref.tag;
  return result;
}

function pickVersion(r: cmd.InspectedRelease, expected: string | undefined, host: string, dir: string): string {
  if (expected !== undefined) {
    if (r.versions.includes(expected)) return expected;
    throw new DeliverError(`${host}: the release tool did not build version ${expected} in ${dir}`, {
      detail: `versions found in ${dir}/releases: ${r.versions.join(', ') || '(none)'}`,
      hint: 'check that the release version follows the project version (mix.exs / rebar.config), or set RELEASE_VERSION',
    });
  }
  if (r.current !== undefined && r.versions.includes(r.current)) return r.current;
  if (r.versions.length === 1 && r.versions[0]) return r.versions[0];
  throw new DeliverError(`${host}: cannot tell which version was built in ${dir}`, {
    detail: `versions found: ${r.versions.join(', ') || '(none)'}`,
    hint: 'set RELEASE_VERSION in the config, or build without --skip-git-clean',
  });
}

async function assertNotInStore(store: ReleaseStore, file: string, app: string, version: string): Promise<void> {
  if (await store.stat(file)) {
    throw new UsageError(`${store.description} already has ${file} (${app} ${version})`, {
      hint: 'use --force to replace it, or build another version (e.g. --auto-version=revision)',
    });
  }
}

/** `ssh://user@host:port/abs/path` for the push (the path is the build directory's absolute path on the host). */
export function pushUrl(h: BuildHostInfo, dir: string): string {
  const user = h.user ? `${encodeURIComponent(h.user)}@` : '';
  const host = h.host.includes(':') ? `[${h.host}]` : h.host;
  const port = h.port !== undefined && h.port !== 22 ? `:${h.port}` : '';
  const path = dir.startsWith('/') ? dir : dir.startsWith('~') ? `/${dir}` : `/~/${dir}`;
  // git hands the path to git-receive-pack quoted and undecoded, so it is used as it is.
  return `ssh://${user}${host}${port}${path}`;
}


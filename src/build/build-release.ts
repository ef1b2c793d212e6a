// `deliver build release`: push the commit to the build host, build it there with the project's own tools, and
// stream the release tarball into the store. Every remote step runs on the one pooled connection (`backend`); the
// only other process is the local `git push` (system git + ssh with the SSH layer's settings).
import type { Readable } from 'node:stream';
import type { Settings } from '../config/types.js';
import { remoteDirOf } from '../config/validate.js';
import { DeliverError, InterruptedError, RemoteError, UsageError } from '../output/errors.js';
import type { Output } from '../output/output.js';
import { formatBytes } from '../output/output.js';
import type { Shell } from '../ssh/quote.js';
import type { Backend, ExecResult } from '../ssh/types.js';
import type { ReleaseStore } from '../store/types.js';
import { releaseFileName } from '../store/types.js';
import * as cmd from './commands.js';
import { commitCounts, listFiles, repoRoot, resolveBuildRef, showFile, uncommittedChanges, type BuildRef } from './git-local.js';
import { runHook } from './hooks.js';
import { detectProject, readProjectVersion, versionEdits, type ProjectKind, type VersionEdit } from './project.js';
import { pushCommit } from './push.js';
import { LineTail } from './tail.js';
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
  settings: Settings;
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
  dryRun: boolean;
  /** Runs after the release is built and stored (the upgrade steps, on the same connection); not for a `useStored` release. */
  onBuilt?: (b: BuiltRelease) => Promise<void>;
}

export type RemoteStep = (name: string, command: Shell, opts?: { stdin?: string | Buffer | Readable; agentForward?: boolean; quiet?: boolean }) => Promise<ExecResult>;

/** The built release on the build host, and the step runner of the build (failures show step, command, output). */
export interface BuiltRelease {
  version: string;
  /** Absolute build directory; the release directory in it. */
  buildDir: string;
  releaseDir: string;
  tools: cmd.ToolSettings;
  backend: Backend;
  store: ReleaseStore;
  step: RemoteStep;
  /** Wraps commands with the build's prelude (profile, set -e, cd build directory). */
  inDir: (...c: Shell[]) => Shell;
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
  dryRun?: boolean;
  /** The release was already in the store (`useStored`) and was not built. */
  fromStore?: boolean;
}

/** Build variables as edeliver named them; `settings` first, then the values of this build. */
function required(settings: Settings, name: string): string {
  const v = settings.get(name);
  if (v === undefined || v.trim() === '') {
    throw new UsageError(`${name} is not set: \`build release\` needs APP, BUILD_HOST, BUILD_USER and BUILD_AT`, {
      hint: `set ${name}="..." in ${settings.file}`,
    });
  }
  return v.trim();
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

export async function buildRelease(o: BuildReleaseOptions, d: BuildReleaseDeps): Promise<BuildReleaseResult> {
  const started = Date.now();
  const { settings, out } = d;
  const app = required(settings, 'APP');
  required(settings, 'BUILD_AT');
  const buildAt = remoteDirOf(settings, ['BUILD_AT'])!;
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(app)) {
    throw new UsageError(`APP=${JSON.stringify(app)} (${settings.where('APP')}): expected an OTP application name (letters, digits, _)`);
  }
  if (o.release !== undefined && !/^[A-Za-z][A-Za-z0-9_]*$/.test(o.release)) {
    throw new UsageError(`--release: invalid release name ${JSON.stringify(o.release)}`);
  }
  const releaseName = o.release ?? app;
  const profile = settings.get('PROFILE');

  // 1. Local: what to build.
  const root = await repoRoot(d.cwd);
  const ref: BuildRef = await resolveBuildRef(root, { branch: o.branch, revision: o.revision, tag: o.tag });
  const dirty = await uncommittedChanges(root);
  if (dirty.length > 0) {
    out.warn(`${dirty.length} uncommitted change(s) in ${root} are NOT part of this build; building ${ref.describe} (${ref.sha.slice(0, 7)}) as committed`);
  }
  const files = await listFiles(root, ref.sha);
  const kind = detectProject(files, {
    BUILD_CMD: settings.get('BUILD_CMD'),
    RELEASE_CMD: settings.get('RELEASE_CMD'),
    USING_DISTILLERY: settings.get('USING_DISTILLERY'),
  });
  const read = (p: string) => showFile(root, ref.sha, p);
  const base = await readProjectVersion(kind, files, releaseName, read);

  let expected: string | undefined = settings.get('RELEASE_VERSION')?.trim() || undefined;
  let edits: VersionEdit[] = [];
  if (changesVersion(o.version)) {
    if (o.version.set === undefined && base.base === undefined) {
      throw new UsageError(`cannot read the project's version to ${o.version.increment ? 'increment' : 'extend'} it`, {
        hint: 'write it as a literal (mix.exs `version: "1.0.0"`, rebar.config {release, {app, "1.0.0"}, ...}) or use --set-version=V',
      });
    }
    const facts: VersionFacts = {
      sha: ref.sha,
      commitCountAll: 0,
      commitCountBranch: 0,
      branch: ref.branch,
      mixEnv: o.mixEnv,
      now: new Date(),
    };
    if (o.version.metadata.some((m) => m === 'commit-count' || m === 'commit-count-branch')) {
      const c = await commitCounts(root, ref.sha);
      facts.commitCountAll = c.all;
      facts.commitCountBranch = c.branch;
    }
    expected = validateVersion(computeVersion(base.base ?? '', o.version, facts), 'version');
    edits = await versionEdits(kind, files, releaseName, expected, read);
  }
  const version = expected ?? base.base;
  out.debug(`building ${ref.describe} (${ref.sha}) with ${kind.releaseTool} (${kind.reason})${version ? `, version ${version}` : ''}`);

  // Fail before any remote work if the store already has this release.
  const store = await d.store();
  if (o.useStored && version !== undefined && !d.dryRun) {
    const have = await store.stat(releaseFileName(app, version));
    if (have) return storedResult(have, store.description, ref, d.buildHost.name, kind, started);
  }
  if (version !== undefined && !o.force && !d.dryRun && !o.useStored && !o.skipStore && !o.keepStored) await assertNotInStore(store, releaseFileName(app, version), app, version);

  const tools: cmd.ToolSettings = {
    kind,
    app,
    mixEnv: o.mixEnv,
    rebarProfile: settings.get('REBAR_PROFILE')?.trim() || 'prod',
    releaseName: o.release,
    skipMixClean: o.skipMixClean,
    verbose: out.verbose,
    localRebar3: files.has('rebar3'),
    localRelx: files.has('relx'),
    mixCmd: settings.get('MIX_CMD'),
    rebar3Cmd: settings.get('REBAR3_CMD'),
    relxCmd: settings.get('RELX_CMD'),
    rebarConfig: settings.get('REBAR_CONFIG'),
    releaseCmdOptions: settings.get('RELEASE_CMD_OPTIONS'),
  };

  const backend = await d.backend();
  const host = d.buildHost.name;
  let buildDir = buildAt;

  const vars = (): Record<string, string> => {
    // edeliver's defaults for what its README hooks use (`$MIX_CMD phoenix.digest`, `source $PROFILE`); the
    // config's own values win, then this build's facts.
    const v: Record<string, string> = {
      MIX_CMD: 'mix',
      REBAR3_CMD: tools.localRebar3 ? './rebar3' : 'rebar3',
      RELX_CMD: tools.localRelx ? './relx' : 'relx',
      PROFILE: '~/.profile',
    };
    for (const c of settings.all()) v[c.name] = c.value;
    Object.assign(v, {
      APP: app,
      BUILD_AT: buildDir,
      BUILD_HOST: d.buildHost.host,
      BUILD_USER: d.buildHost.user ?? settings.get('BUILD_USER') ?? '',
      TARGET_MIX_ENV: o.mixEnv,
      MIX_ENV: o.mixEnv,
      BRANCH: ref.branch,
      REFSPEC: ref.branch,
      REVISION: ref.sha,
      VERSION: version ?? '',
      RELEASE_VERSION: version ?? '',
      RELEASE_NAME: releaseName,
      MODE: out.verbose ? 'verbose' : 'compact',
      VERBOSE: out.verbose ? 'true' : '',
      SILENCE: '',
    });
    if (ref.tag !== undefined) v.TAG = ref.tag;
    return v;
  };

  const hook = async (name: string) => {
    if (!settings.hooks.has(name)) return;
    const t0 = Date.now();
    if (d.dryRun) {
      out.info(`# hook ${name} (runs locally; its __sync_remote scripts run on ${host})`);
      return;
    }
    await runHook(name, {
      hooks: settings.hooks,
      vars: vars(),
      cwd: root,
      out,
      signal: d.signal,
      syncRemote: async (script, tail) => {
        out.debug(`${host}$ ${script.trim()}`);
        const r = await backend.exec('bash -s', {
          stdin: cmd.hookScript(buildDir, profile, script),
          onStdout: (l) => { tail.push(l); out.debug(l); },
          onStderr: (l) => { tail.push(l); out.debug(l); },
          signal: d.signal,
          agentForward: Boolean(process.env.SSH_AUTH_SOCK),
        });
        return r.code;
      },
    });
    out.step(`hook ${name}`, Date.now() - t0);
  };

  // Runs one remote step; on failure: the step, the command and the last 40 lines of its output.
  const step: RemoteStep = async (name, command, opts = {}) => {
    if (d.signal.aborted) throw new InterruptedError();
    const tail = new LineTail(40);
    const t0 = Date.now();
    out.debug(`${host}$ ${command.text}`);
    const r = await backend.exec(command.text, {
      ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
      ...(opts.agentForward ? { agentForward: true } : {}),
      signal: d.signal,
      onStdout: (l) => { tail.push(l); if (!opts.quiet) out.debug(l); },
      onStderr: (l) => { tail.push(l); out.debug(l); },
    });
    if (d.signal.aborted) throw new InterruptedError();
    if (r.code !== 0) {
      const output = tail.length > 0 ? `--- last ${tail.length} lines of output ---\n${tail.text()}` : '(no output)';
      throw new RemoteError(host, `build step "${name}" failed (exit status ${r.code})`, {
        step: name,
        command: command.text,
        detail: `command: ${command.text}\n${output}`,
      });
    }
    if (!d.dryRun) out.step(name, Date.now() - t0);
    return r;
  };
  const inDir = (...c: Shell[]) => cmd.inBuildDir(buildDir, profile, ...c);

  // 2. The repository on the build host.
  await hook('pre_init_app_remotely');
  const init = await step(`prepare ${buildAt} on ${host}`, cmd.initRepository(buildAt));
  const abs = init.stdout.trim().split('\n').pop()?.trim();
  if (abs && abs.startsWith('/')) buildDir = abs;
  await hook('post_init_app_remotely');

  // 3. Push the commit (unpushed local commits build; uncommitted changes do not).
  await hook('pre_git_push');
  const t0 = Date.now();
  const url = pushUrl(d.buildHost, buildDir);
  if (d.dryRun) {
    out.info(`# local: GIT_SSH_COMMAND=<ssh settings of ${host}> git push --force --tags ${url} ${ref.sha}:refs/heads/${ref.branch}`);
  } else {
    await pushCommit({ root, url, sha: ref.sha, branch: ref.branch, sshCommand: await d.gitSshCommand(), host, out, signal: d.signal });
    out.step(`push ${ref.describe} (${ref.sha.slice(0, 7)})`, Date.now() - t0);
  }
  await hook('post_git_push');

  // 4. Check out exactly that commit, clean, submodules, version.
  const checkout: Shell[] = [cmd.gitReset(ref.sha)];
  const skipGitClean = o.skipGitClean || truthy(settings.get('SKIP_GIT_CLEAN'));
  if (!skipGitClean) checkout.push(cmd.gitClean((settings.get('GIT_CLEAN_PATHS') ?? '.').split(/\s+/).filter((p) => p !== '')));
  checkout.push(cmd.gitSubmodules());
  await step(`check out ${ref.sha.slice(0, 7)}${skipGitClean ? '' : ' (clean)'}`, inDir(...checkout));
  for (const e of edits) {
    await step(`set version ${version} in ${e.path}`, inDir(cmd.writeFile(e.path)), { stdin: e.content });
  }

  // 5-7. Dependencies, compile, release.
  const agentForward = Boolean(process.env.SSH_AUTH_SOCK);
  await hook('pre_erlang_get_and_update_deps');
  await step('fetch dependencies', inDir(...cmd.depsCommands(tools)), { agentForward });
  await hook('post_erlang_get_and_update_deps');
  await hook('pre_erlang_clean_compile');
  await step(o.skipMixClean ? 'compile' : 'clean and compile', inDir(...cmd.compileCommands(tools)), { agentForward });
  await hook('post_erlang_clean_compile');
  await hook('pre_erlang_generate_release');
  await step(`generate release (${kind.releaseTool})`, inDir(...cmd.releaseCommands(tools)));
  await hook('post_erlang_generate_release');

  // 8. Find the release and its version.
  const relDir = settings.get('RELEASE_DIR')?.trim() || cmd.releaseDirFor(tools);
  const inspected = cmd.parseInspectRelease((await step('find the release', inDir(cmd.inspectRelease(relDir)), { quiet: true })).stdout);
  let builtVersion: string;
  if (d.dryRun) {
    builtVersion = version ?? '<version>';
  } else {
    if (!inspected.exists) {
      throw new DeliverError(`${host}: no release found at ${buildDir}/${relDir} after \`${kind.releaseTool}\``, {
        detail: inspected.candidates.length > 0
          ? `releases found on the build host:\n${inspected.candidates.map((c) => `  ${buildDir}/${c}`).join('\n')}`
          : 'no release directory was found under _build or _rel',
        hint: inspected.candidates.length > 1
          ? 'an umbrella project with several releases: choose one with --release NAME (or set RELEASE_DIR)'
          : 'check APP (it names the release) or set RELEASE_DIR to the release directory relative to BUILD_AT',
      });
    }
    builtVersion = pickVersion(inspected, version, host, `${buildDir}/${relDir}`);
  }
  validateVersion(builtVersion, `${host}: built release version`);
  const file = releaseFileName(app, builtVersion);
  // The upgrade steps run after the release is stored: they add the old release to the release directory.
  const built = async () => {
    const releaseDir = relDir.startsWith('/') ? relDir : `${buildDir}/${relDir}`;
    if (d.onBuilt) await d.onBuilt({ version: builtVersion, buildDir, releaseDir, tools, backend, store, step, inDir });
  };
  if (o.skipStore) {
    await built();
    return { ...storedResult({ app, version: builtVersion, file, size: 0 }, store.description, ref, host, kind, started), fromStore: false };
  }
  if ((o.useStored || o.keepStored) && !d.dryRun) {
    const have = await store.stat(file);
    if (have) {
      if (o.keepStored) {
        out.info(`keeping ${file} that ${store.description} already has (the build of ${ref.sha.slice(0, 7)} is not stored over it)`);
        await built();
      }
      return storedResult(have, store.description, ref, host, kind, started);
    }
  }
  if (!o.force && !d.dryRun && builtVersion !== version) await assertNotInStore(store, file, app, builtVersion);

  // 9. Pack and stream into the store (temp name + rename inside the store; sha256 computed on the way).
  const remoteTar = `${buildDir}/_build/deliver/${file}`;
  const packed = await step(`pack ${file}`, inDir(cmd.packRelease(relDir, remoteTar)), { quiet: true });
  const remoteSize = Number.parseInt(packed.stdout.trim().split('\n').pop() ?? '', 10);
  let stored: { sha256?: string; size: number } = { size: Number.isFinite(remoteSize) ? remoteSize : 0 };
  if (d.dryRun) {
    out.info(`# download ${host}:${remoteTar} into ${store.description} as ${file} (sha256 computed while streaming)`);
  } else {
    const t1 = Date.now();
    try {
      const stream = await backend.download(remoteTar, { signal: d.signal });
      const putOpts: Parameters<ReleaseStore['put']>[2] = { force: o.force, signal: d.signal };
      if (Number.isFinite(remoteSize)) putOpts.size = remoteSize;
      stored = await store.put(file, stream, putOpts);
    } finally {
      await backend.exec(inDir(cmd.removeFile(remoteTar)).text).catch(() => undefined);
    }
    out.step(`store ${file} (${formatBytes(stored.size)}) in ${store.description}`, Date.now() - t1);
  }
  await built();

  const result: BuildReleaseResult = {
    app,
    version: builtVersion,
    file,
    sha256: stored.sha256 ?? '',
    size: stored.size,
    store: store.description,
    revision: ref.sha,
    branch: ref.branch,
    buildHost: host,
    releaseTool: kind.releaseTool,
    durationMs: Date.now() - started,
  };
  if (ref.tag !== undefined) result.tag = ref.tag;
  if (d.dryRun) result.dryRun = true;
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


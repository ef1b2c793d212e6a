// What `build release` does on the build host, as data: pure functions of the resolved build (BuildFacts) returning
// the ordered steps — hooks and `git push` on this machine, the build's commands on the build host, streaming the
// tarball into the store. A real build executes them (build-run.ts); --dry-run prints them (src/output/plan.ts).
import type { HookDef } from '../config/types.js';
import { StepList, type Step } from '../plan/plan.js';
import { raw, sh, type Shell } from '../ssh/quote.js';
import { releaseFileName } from '../store/types.js';
import * as cmd from './commands.js';
import type { BuildRef } from './git-local.js';
import type { VersionEdit } from './project.js';
import { pushArgs } from './push.js';

/** What the resolve phase found: the commit, the project, the version and where everything goes. */
export interface BuildFacts {
  app: string;
  ref: BuildRef;
  /** The version the build must produce (config, flags or the project's files), if known before building. */
  version: string | undefined;
  edits: VersionEdit[];
  tools: cmd.ToolSettings;
  /** BUILD_AT as configured, and its absolute path on the build host. */
  buildAt: string;
  buildDir: string;
  profile: string | undefined;
  /** The release directory, relative to the build directory (or absolute: RELEASE_DIR). */
  relDir: string;
  skipGitClean: boolean;
  gitCleanPaths: string[];
  agentForward: boolean;
  hooks: ReadonlyMap<string, HookDef>;
  /** The build host's label, and the push URL of its repository. */
  host: string;
  pushUrl: string;
  store: string;
}

/** What runs it: on the build host, a hook or `git push` here, a file between the build host and the store. */
export type BuildAction =
  | { kind: 'remote' }
  | { kind: 'hook'; hook: string }
  | { kind: 'push' }
  | { kind: 'store'; remote: string; file: string; force: boolean }
  | { kind: 'upload'; file: string; remote: string; edited?: boolean };

export interface BuildStep extends Step {
  action: BuildAction;
  /** The bytes a `text` input describes. */
  text?: string;
}

/** Builds a build's step list: remote steps, hooks (only those the config defines), local transfers. */
export class BuildSteps {
  private readonly list = new StepList();
  private readonly actions: Array<Pick<BuildStep, 'action' | 'text'>> = [];

  constructor(private readonly f: Pick<BuildFacts, 'hooks' | 'host' | 'buildDir' | 'profile'>) {}

  /** A command in the build directory (profile, `set -e`, cd): `inDir` false for one that makes the directory. */
  remote(name: string, does: string, cmds: Shell[], more: { text?: { what: string; text: string }; agentForward?: boolean; bestEffort?: boolean; inDir?: boolean } = {}): this {
    const script = more.inDir === false ? cmds[0]! : cmd.inBuildDir(this.f.buildDir, this.f.profile, ...cmds);
    const input = more.text ? { kind: 'text' as const, what: more.text.what, bytes: Buffer.byteLength(more.text.text) } : undefined;
    this.list.add(name, does, script, { ...(input ? { input } : {}), ...(more.agentForward ? { agentForward: true } : {}), ...(more.bestEffort ? { bestEffort: true } : {}) });
    this.actions.push({ action: { kind: 'remote' }, ...(more.text ? { text: more.text.text } : {}) });
    return this;
  }

  hook(name: string): this {
    const def = this.f.hooks.get(name);
    if (def === undefined) return this;
    const where = `${def.location.file}:${def.location.line}`;
    this.list.add(`hook ${name}`, `the config's ${name} (${where}); its __sync_remote scripts run on ${this.f.host} in ${this.f.buildDir}`, raw(name), { local: true });
    this.actions.push({ action: { kind: 'hook', hook: name } });
    return this;
  }

  local(name: string, does: string, script: Shell, action: BuildAction): this {
    this.list.add(name, does, script, { local: true });
    this.actions.push({ action });
    return this;
  }

  get steps(): BuildStep[] {
    return this.list.steps.map((s, i) => ({ ...s, ...this.actions[i]! }));
  }
}

/** Hooks around a step, as edeliver named them (`pre_erlang_clean_compile` …). */
function around(s: BuildSteps, hook: string, add: () => void): void {
  s.hook(`pre_${hook}`);
  add();
  s.hook(`post_${hook}`);
}

/** Phase 2: from an empty or used build directory to a built release (hooks in edeliver's order). */
export function buildSteps(f: BuildFacts): BuildStep[] {
  const s = new BuildSteps(f);
  const t = f.tools;
  const short = f.ref.sha.slice(0, 7);
  around(s, 'init_app_remotely', () =>
    s.remote(`prepare ${f.buildAt} on ${f.host}`, `the git repository in ${f.buildDir} (created on first use)`, [cmd.initRepository(f.buildAt)], { inDir: false }));
  around(s, 'git_push', () =>
    s.local(`push ${f.ref.describe} (${short})`, `git push of ${f.ref.sha} to ${f.pushUrl} as ${f.ref.branch} (local commits need not be pushed anywhere else)`,
      sh`git ${pushArgs(f.pushUrl, f.ref.sha, f.ref.branch)}`, { kind: 'push' }));
  const checkout = [cmd.gitReset(f.ref.sha), ...(f.skipGitClean ? [] : [cmd.gitClean(f.gitCleanPaths)]), cmd.gitSubmodules()];
  s.remote(`check out ${short}${f.skipGitClean ? '' : ' (clean)'}`, `exactly ${f.ref.sha}${f.skipGitClean ? ', keeping untracked files' : `, untracked files removed (${f.gitCleanPaths.join(' ')})`}, submodules`, checkout);
  for (const e of f.edits) s.remote(`set version ${f.version} in ${e.path}`, `writes ${e.path} with version ${f.version}`, [cmd.writeFile(e.path)], { text: { what: `the new ${e.path}`, text: e.content } });
  const fwd = { agentForward: f.agentForward };
  around(s, 'erlang_get_and_update_deps', () => s.remote('fetch dependencies', `${t.kind.buildTool} dependencies for ${t.mixEnv}`, cmd.depsCommands(t), fwd));
  around(s, 'erlang_clean_compile', () => s.remote(t.skipMixClean ? 'compile' : 'clean and compile', `${t.kind.buildTool}${t.skipMixClean ? '' : ', after a clean'}`, cmd.compileCommands(t), fwd));
  around(s, 'erlang_generate_release', () => s.remote(`generate release (${t.kind.releaseTool})`, `the release ${t.releaseName ?? t.app}${f.version ? ` ${f.version}` : ''}`, cmd.releaseCommands(t)));
  s.remote('find the release', `its versions in ${f.relDir}`, [cmd.inspectRelease(f.relDir)]);
  return s.steps;
}

/** The built release's tarball on the build host (removed once stored). */
export function remoteTarball(f: BuildFacts, version: string): string {
  return `${f.buildDir}/_build/deliver/${releaseFileName(f.app, version)}`;
}

/** Phase 3: pack, stream into the store, remove the tarball from the build host (also when storing failed). */
export function storeSteps(f: BuildFacts, version: string, force: boolean): BuildStep[] {
  const file = releaseFileName(f.app, version);
  const tar = remoteTarball(f, version);
  const s = new BuildSteps(f);
  s.remote(`pack ${file}`, `the release directory ${f.relDir} as ${tar}`, [cmd.packRelease(f.relDir, tar)]);
  s.local(`store ${file}`, `streams ${tar} from ${f.host} into ${f.store}${force ? ' (replacing a stored one)' : ''}, sha256 computed on the way`, raw(''), { kind: 'store', remote: tar, file, force });
  s.remote(`remove ${file} from ${f.host}`, 'the packed tarball (also when storing failed)', [cmd.removeFile(tar)], { bestEffort: true });
  return s.steps;
}

// Executes a build's steps (build-plan.ts): remote ones by the shared runner on the build host's pooled connection,
// hooks and `git push` on this machine, tarballs between the build host and the store. A failed remote step names
// the step, the command and the last lines of its output.
import { Readable } from 'node:stream';
import type { Config } from '../config/config.js';
import { DeliverError, InterruptedError, RemoteError } from '../output/errors.js';
import type { Output } from '../output/output.js';
import { formatBytes } from '../output/output.js';
import { runStep } from '../plan/execute.js';
import type { Step } from '../plan/plan.js';
import { ERROR_TAIL_LINES, type Backend, type ExecResult } from '../ssh/types.js';
import type { ReleaseStore } from '../store/types.js';
import type { BuildFacts, BuildStep } from './build-plan.js';
import { hookScript } from './commands.js';
import { runHook } from './hooks.js';
import { pushCommit } from './push.js';

/** A build in progress: the connection, the store and what the hooks see. */
export interface BuildRun {
  f: BuildFacts;
  backend: Backend;
  store: ReleaseStore;
  out: Output;
  signal: AbortSignal;
  config: Config;
  /** The project's git repository (hooks run there; `git push` pushes from it). */
  root: string;
  /** The build host as the config names it (BUILD_HOST, BUILD_USER), for the hooks. */
  buildHost: { host: string; user?: string | undefined };
  mixEnv: string;
  gitSshCommand: () => Promise<string>;
}

export interface StepOutcome {
  result?: ExecResult;
  /** A `store` step: what the store holds now. */
  stored?: { sha256?: string; size: number };
}

/** Runs one step; `size` is a `store` step's tarball size when known (the store checks it). */
export async function runBuildStep(x: BuildRun, s: BuildStep, size?: number): Promise<StepOutcome> {
  if (x.signal.aborted) throw new InterruptedError();
  const t0 = Date.now();
  const a = s.action;
  let outcome: StepOutcome = {};
  let label = s.name;
  switch (a.kind) {
    case 'remote':
      // The login shell, as edeliver: the steps source the user's PROFILE (ssh/remote-shell.ts).
      outcome = { result: await runStep(x.backend, s, { signal: x.signal, loginShell: true, open: () => s.text ?? '', output: debugLines(x.out), check: (st, r) => failed(x, st, r) }) };
      if (s.bestEffort) return outcome;
      break;
    case 'hook':
      await hook(x, a.hook);
      break;
    case 'push':
      await pushCommit({ root: x.root, url: x.f.pushUrl, sha: x.f.ref.sha, branch: x.f.ref.branch, sshCommand: await x.gitSshCommand(), host: x.f.host, out: x.out, signal: x.signal });
      break;
    case 'store': {
      const stream = await x.backend.download(a.remote, { signal: x.signal });
      // A store that refuses before reading leaves the download open: closed here, not left to fail later.
      const stored = await x.store.put(a.file, stream, { force: a.force, signal: x.signal, ...(size !== undefined ? { size } : {}) }).catch((e: unknown) => {
        stream.destroy();
        throw e;
      });
      outcome = { stored };
      label = `store ${a.file} (${formatBytes(stored.size)}) in ${x.store.description}`;
      break;
    }
    case 'upload':
      label = await upload(x, a.file, a.remote, a.edited ?? false);
  }
  x.out.step(label, Date.now() - t0);
  return outcome;
}

/** Runs `steps` in order. */
export async function runBuildSteps(x: BuildRun, steps: readonly BuildStep[]): Promise<Map<string, StepOutcome>> {
  const done = new Map<string, StepOutcome>();
  for (const s of steps) done.set(s.name, await runBuildStep(x, s));
  return done;
}

function debugLines(out: Output) {
  return { onStdout: (l: string) => out.debug(l), onStderr: (l: string) => out.debug(l) };
}

/** A remote step's failure: the step, the command and the last lines of its output (read whole, then cut). */
function failed(x: BuildRun, s: Step, r: ExecResult): void {
  if (x.signal.aborted) throw new InterruptedError();
  if (r.code === 0 || s.bestEffort) return;
  const lines = [...r.stdout.split('\n'), ...r.stderr.split('\n')].filter((l) => l !== '').slice(-ERROR_TAIL_LINES);
  const output = lines.length > 0 ? `--- last ${lines.length} lines of output ---\n${lines.join('\n')}` : '(no output)';
  throw new RemoteError(x.f.host, `build step "${s.name}" failed (exit status ${r.code})`, { step: s.name, command: s.script.text, detail: `command: ${s.script.text}\n${output}` });
}

async function hook(x: BuildRun, name: string): Promise<void> {
  const { f } = x;
  await runHook(name, {
    hooks: f.hooks,
    vars: hookVars(x),
    cwd: x.root,
    out: x.out,
    signal: x.signal,
    syncRemote: async (script, tail) => {
      x.out.debug(`${f.host}$ ${script.trim()}`);
      const r = await x.backend.exec('bash -s', {
        stdin: hookScript(f.buildDir, f.profile, script),
        onStdout: (l) => { tail.push(l); x.out.debug(l); },
        onStderr: (l) => { tail.push(l); x.out.debug(l); },
        signal: x.signal,
        agentForward: f.agentForward,
        loginShell: true,
      });
      return r.code;
    },
  });
}

/** Variables a hook sees, as edeliver named them: edeliver's defaults, then the config's values, then this build's. */
export function hookVars(x: Pick<BuildRun, 'f' | 'config' | 'buildHost' | 'mixEnv' | 'out'>): Record<string, string> {
  const { f } = x;
  const v: Record<string, string> = {
    MIX_CMD: 'mix',
    REBAR3_CMD: f.tools.localRebar3 ? './rebar3' : 'rebar3',
    RELX_CMD: f.tools.localRelx ? './relx' : 'relx',
    PROFILE: '~/.profile',
  };
  Object.assign(v, x.config.hookEnv);
  Object.assign(v, {
    APP: f.app,
    BUILD_AT: f.buildDir,
    BUILD_HOST: x.buildHost.host,
    BUILD_USER: x.buildHost.user ?? x.config.build.buildUser ?? '',
    TARGET_MIX_ENV: x.mixEnv,
    MIX_ENV: x.mixEnv,
    BRANCH: f.ref.branch,
    REFSPEC: f.ref.branch,
    REVISION: f.ref.sha,
    VERSION: f.version ?? '',
    RELEASE_VERSION: f.version ?? '',
    RELEASE_NAME: f.tools.releaseName ?? f.app,
    MODE: x.out.verbose ? 'verbose' : 'compact',
    VERBOSE: x.out.verbose ? 'true' : '',
    SILENCE: '',
  });
  if (f.ref.tag !== undefined) v.TAG = f.ref.tag;
  return v;
}

/**
 * A file from the store to the build host. `edited`: the appups `build appups` stored, which the user may have
 * edited since (a checksum mismatch then means an edit, and the edited text is used, and said so).
 */
async function upload(x: BuildRun, file: string, remote: string, edited: boolean): Promise<string> {
  const got = await x.store.get(file, { signal: x.signal });
  if (!edited) {
    await x.backend.upload(got.stream, remote, { signal: x.signal });
    return `upload ${file} (${formatBytes(got.size)}) to the build host`;
  }
  const chunks: Buffer[] = [];
  try {
    for await (const c of got.stream) chunks.push(Buffer.from(c as Buffer));
  } catch (e) {
    if (!(e instanceof DeliverError && /checksum mismatch/.test(e.message))) throw e;
    x.out.info(`${file} was edited after \`build appups\` stored it: using the edited appups`);
  }
  await x.backend.upload(Readable.from([Buffer.concat(chunks)]), remote, { signal: x.signal });
  return `upload ${file} (appups from ${x.store.description})`;
}

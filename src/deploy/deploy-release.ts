// One host's deploy, start to finish, independent of every other host (no lockstep barrier):
// lock → state → upload, or the host's own download with --pull (skipped when the same release is installed) →
// verify sha256 → unpack to staging → link config → install → env file → activate (one rename) → (re)start + health check → audit → prune → unlock.
// Until `activate`, the host's `$DELIVER_TO/$APP` still points at the old release; temp files go on failure.
import { existsSync, createReadStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HookDef } from '../config/types.js';
import { DeliverError, InterruptedError, RemoteError } from '../output/errors.js';
import type { Readable } from 'node:stream';
import type { Paused } from '../ssh/continuation.js';
import { and, sh, type Shell } from '../ssh/quote.js';
import type { Backend, ExecOptions, ExecResult } from '../ssh/types.js';
import { auditEntry } from './audit.js';
import {
  activateCommand, auditCommand, cleanupCommand, DONE_MARK, doneMarkCommand, EXIT_ACTIVATE, EXIT_CHECKSUM, EXIT_UPLOAD, healthCheckCommand, homeCommand, installCommand, linkConfigCommand, prepareCommand,
  pruneCommand, receiveCommand, stateCommand, stepMarkCommand, stepOfLine, unpackCommand, verifyCommand,
} from './commands.js';
import { hookCommand, type DeployHookName } from './hooks.js';
import { envFile, layoutFor, releaseDir, stagingDir, tempId, uploadPath, type Layout } from './layout.js';
import { acquireLock, keepLock, lostLockError, newOwner, releaseCommand, releaseLock, type LockKeeper } from './lock.js';
import { detectKind, isRunning, startNode, stopNode, type NodeContext } from './node.js';
import type { ReleaseKind } from './node-commands.js';
import { EXIT_DOWNLOAD, pullCommand, pullFailure, pullInput } from './pull.js';
import type { ReleaseSource } from './source.js';
import { afterActivation, parseHostState, pruneList, sectionOf, type HostState } from './state.js';

export interface DeployEvents {
  /** A host entered a step (live status line). */
  step?: (host: string, step: string) => void;
  progress?: (host: string, bytes: number, total: number) => void;
  /** Remote output lines (shown with --verbose). */
  line?: (host: string, stream: 'stdout' | 'stderr', line: string) => void;
  warn: (message: string) => void;
}

export interface DeployPlan {
  app: string;
  env: string;
  version: string;
  source: ReleaseSource;
  /** DELIVER_TO; a host's own path (`user@host:/path` nodes) wins. */
  deliverTo: string;
  keepReleases: number;
  startDeploy: boolean;
  cleanDeploy: boolean;
  links: { vmArgs?: string; sysConfig?: string };
  /** Local `.deliver/<env>.env`, uploaded with mode 0600 when it exists. */
  envFileLocal?: string;
  hooks: ReadonlyMap<string, HookDef>;
  /** Shell command run in the release root after start; retried until it succeeds or healthTimeoutMs passes. */
  healthCheck?: string;
  healthTimeoutMs: number;
  startTimeoutMs: number;
  lock: { waitMs: number; ttlMs: number };
  /** What the lock and audit log say is running (`deploy release`, `update`). */
  command: string;
  /** RELEASE_KIND / USING_DISTILLERY=true: the release kind, when the user set it. */
  configuredKind?: ReleaseKind;
  signal?: AbortSignal;
  events: DeployEvents;
  dryRun?: boolean;
}

export interface HostDeployResult {
  version: string;
  previous?: string;
  /** False when the host already had this exact release (same sha256). */
  uploaded: boolean;
  started: boolean;
}

/**
 * The layout on one host: its node path, else DELIVER_TO. `~/…` is the login user's home on that host, asked once
 * here: paths are quoted everywhere and SFTP expands nothing, so a `~` left in would name a directory called `~`.
 */
export async function hostLayout(backend: Backend, deliverTo: string, app: string, path?: string): Promise<Layout> {
  const dir = path ?? deliverTo;
  if (!dir.startsWith('~/')) return layoutFor(dir, app);
  const home = (await backend.run(homeCommand().text, { step: 'connect' })).stdout.trim();
  // A dry run prints the commands without running them: `$HOME` names the directory there.
  return layoutFor(`${home || '$HOME'}/${dir.slice(2)}`, app);
}

function remoteStep(host: string, step: string, err: unknown): DeliverError {
  if (err instanceof DeliverError) return err;
  return new RemoteError(host, `${step} failed: ${(err as Error)?.message ?? String(err)}`, { step, cause: err });
}

export async function deployHost(backend: Backend, plan: DeployPlan): Promise<HostDeployResult> {
  const host = backend.target.name;
  const l = await hostLayout(backend, plan.deliverTo, plan.app, backend.target.path);
  const id = tempId();
  const owner = newOwner(plan.command, plan.version);
  const sig = plan.signal;
  const withSig: ExecOptions = {
    ...(sig ? { signal: sig } : {}),
    ...(plan.events.line ? { onStdout: (s: string) => plan.events.line!(host, 'stdout', s), onStderr: (s: string) => plan.events.line!(host, 'stderr', s) } : {}),
  };
  let current = 'connect';
  /** The lock's heartbeat, from the moment it is ours. */
  let keeper: LockKeeper | undefined;
  const step = (name: string) => {
    if (sig?.aborted) throw new InterruptedError();
    // Another deploy may be working here now: nothing more of ours runs on this host.
    if (keeper?.lost) throw lostLockError(host, current);
    current = name;
    plan.events.step?.(host, name);
  };
  const run = (cmd: { text: string }, name: string, extra: ExecOptions = {}) => backend.run(cmd.text, { step: name, ...withSig, ...extra });
  const tarPath = uploadPath(l, plan.source.file, id);
  let locked = false;
  /** Our lock was already removed by the last remote command. */
  let unlocked = false;
  let state: HostState | undefined;
  /** The lock command, still open and waiting for the rest of its script (see continuation.ts). */
  let held: Paused | undefined;
  const closeHeld = async () => {
    const h = held;
    held = undefined;
    if (h) await h.close().catch(() => undefined);
  };
  // Combined round trips announce their steps on stdout; those lines drive the status line and are not shown.
  const onStdout = (line: string) => {
    const at = stepOfLine(line);
    if (line === DONE_MARK) return;
    if (at !== undefined) {
      current = at;
      plan.events.step?.(host, at);
    } else plan.events.line?.(host, 'stdout', line);
  };
  const output = { onStdout, ...(withSig.onStderr ? { onStderr: withSig.onStderr } : {}) };
  try {
    step('lock');
    // The host's state rides along with taking the lock, and the lock command then stays open: the upload and
    // unpack that follow run in that same remote shell, so a plain deploy costs each host one session.
    const prepCmd = sh`${stateCommand(l)}; echo '[installed-sha]'; ${prepareCommand(l, plan.version)}`;
    const after = await acquireLock(backend, l, owner, {
      after: prepCmd,
      hold: true,
      dirs: [l.incoming, l.releases],
      output,
      waitMs: plan.lock.waitMs,
      ttlMs: plan.lock.ttlMs,
      warn: plan.events.warn,
      onWait: (holder) => plan.events.warn(`${host}: waiting for the deploy lock held by ${holder}`),
      ...(plan.dryRun ? { dryRun: true } : {}),
      ...(sig ? { signal: sig } : {}),
    });
    locked = true;
    if (!plan.dryRun) keeper = keepLock(backend, l, owner.id, plan.lock.ttlMs);
    held = after?.held;

    step('prepare');
    if (after && after.code !== 0) {
      const detail = after.stdout.trim().split('\n').slice(-20).join('\n');
      throw new RemoteError(host, `prepare failed with exit code ${after.code}`, { step: 'prepare', command: prepCmd.text, ...(detail ? { detail } : {}) });
    }
    const prep = after ? after.stdout : (await run(prepCmd, 'prepare')).stdout;
    state = parseHostState(prep);
    const existingSha = sectionOf(prep, 'installed-sha')[0] ?? '';
    if (plan.cleanDeploy) {
      // edeliver's --clean-deploy: drop every other stored release (never the active or running one).
      const prune = pruneCommand(l, pruneList(state, 1).filter((v) => v !== plan.version));
      if (prune) await run(prune, 'clean');
    }
    const hookVars = (dir: string) => ({
      APP: plan.app,
      VERSION: plan.version,
      DEPLOY_ENVIRONMENT: plan.env,
      DELIVER_TO: l.deliverTo,
      RELEASE_DIR: dir,
      PREVIOUS_VERSION: state?.active,
    });
    const hookCmd = (name: DeployHookName, dir: string) => hookCommand(plan.hooks, name, hookVars(dir));
    const hook = async (name: DeployHookName, dir: string) => {
      const cmd = hookCmd(name, dir);
      if (cmd) {
        step(name);
        await run(cmd, name);
      }
    };

    const previous = state.active !== plan.version ? state.active : undefined;
    const record = (started: boolean) => {
      const entry = auditEntry({ action: 'deploy', env: plan.env, version: plan.version, ...(previous ? { previous } : {}), result: 'ok', started });
      const prune = pruneCommand(l, pruneList(afterActivation(state!, plan.version), plan.keepReleases));
      // The audit line and pruning never fail a deploy that is already active.
      return sh`{ ${auditCommand(l, entry)}; ${prune ?? sh`true`}; } || true`;
    };
    const reuse = existingSha === plan.source.sha256 && state.releases.includes(plan.version);
    if (!reuse) {
      const stage = stagingDir(l, plan.version, id);
      const pre = hookCmd('pre_extract_release_archive', stage);
      const post = hookCmd('post_extract_release_archive', stage);
      const hooks = Boolean(pre || post);
      // One round trip from the transfer to the unpack (each part stops the chain). With no extract hooks in
      // between, install rides along; when nothing else has to happen before activation (no restart, no env
      // file), activation, the audit line and the unlock too. `deliver-unlocked` on stdout says our lock is
      // gone (else `finally` removes it).
      const inline = !hooks && !plan.startDeploy && !(plan.envFileLocal && existsSync(plan.envFileLocal));
      // Inline, the unlock's `rm` also removes the upload (cleanupCommand does when anything fails before it).
      const unpack = and(unpackCommand(l, tarPath, plan.version, id, plan.source.sha256, { keepTarball: inline }), linkConfigCommand(l, plan.version, id, plan.links) ?? '');
      const chain = and(
        // --pull: the host downloads from S3 itself; the signed URL follows the script on stdin, never a command
        // line. A subshell, because the download script ends with `exit 0` when it succeeds.
        plan.source.pull ? sh`( ${pullCommand(tarPath)} )` : receiveCommand(tarPath),
        stepMarkCommand('verify'),
        verifyCommand(tarPath, plan.source.sha256, plan.source.size),
        ...(hooks ? [] : [stepMarkCommand('unpack'), unpack, installCommand(l, plan.version, id)]),
        ...(inline
          ? [stepMarkCommand('activate'), sh`{ ${activateCommand(l, plan.version, id)} || exit ${EXIT_ACTIVATE}; }`, sh`{ ${record(false)}; }`, sh`{ ${releaseCommand(l, owner.id, [tarPath])} && echo deliver-unlocked || true; }`]
          : []),
        doneMarkCommand(),
      );
      step(plan.source.pull ? 'download' : 'upload');
      const r = await transfer(backend, plan, chain, held, { ...withSig, ...output });
      held = undefined;
      if (r.code !== 0) {
        const out = `${r.stderr}${r.stdout}`.trim().split('\n').filter((x) => stepOfLine(x) === undefined && x !== DONE_MARK).slice(-20).join('\n');
        if (r.code === EXIT_DOWNLOAD) throw new RemoteError(host, pullFailure(r.stderr, r.code), { step: 'download' });
        if (r.code === EXIT_UPLOAD) {
          const at = plan.source.pull ? 'download' : 'upload';
          throw new RemoteError(host, out.split('\n').pop() || `${at} failed`, { step: at });
        }
        if (r.code === EXIT_CHECKSUM) throw new RemoteError(host, out.split('\n').pop() ?? 'checksum mismatch', { step: 'verify' });
        if (r.code === EXIT_ACTIVATE) throw new RemoteError(host, `activate failed`, { step: 'activate', ...(out ? { detail: out } : {}) });
        throw new RemoteError(host, `${current} failed (exit ${r.code})`, { step: current, ...(out ? { detail: out } : {}) });
      }
      if (!plan.dryRun && !r.stdout.split('\n').includes(DONE_MARK)) {
        throw new RemoteError(host, `${current} ended early: the remote script stopped before its last step (exit 0)`, { step: current });
      }
      if (inline) {
        unlocked = /^deliver-unlocked$/m.test(r.stdout);
        return { version: plan.version, ...(previous ? { previous } : {}), uploaded: true, started: false };
      }
      if (hooks) {
        await hook('pre_extract_release_archive', stage);
        step('unpack');
        await run(unpack, 'unpack');
        await hook('post_extract_release_archive', stage);
        step('install');
        await run(installCommand(l, plan.version, id), 'install');
      }
    } else await closeHeld();

    if (plan.envFileLocal && existsSync(plan.envFileLocal)) {
      step('env file');
      const remote = envFile(l, plan.env);
      try {
        await backend.upload(createReadStream(plan.envFileLocal), `${remote}.tmp-${id}`, { mode: 0o600, ...(sig ? { signal: sig } : {}) });
      } catch (err) {
        if (sig?.aborted) throw new InterruptedError();
        throw remoteStep(host, 'env file', err);
      }
      await run(sh`chmod 600 ${`${remote}.tmp-${id}`} && mv -f ${`${remote}.tmp-${id}`} ${remote}`, 'env file');
    }

    step('activate');
    if (!plan.startDeploy) {
      await run(sh`${activateCommand(l, plan.version, id)} && ${record(false)}`, 'activate');
      return { version: plan.version, ...(previous ? { previous } : {}), uploaded: !reuse, started: false };
    }
    await run(activateCommand(l, plan.version, id), 'activate');
    let started = false;
    if (plan.startDeploy) {
      const nctx: NodeContext = {
        backend,
        layout: l,
        envFile: envFile(l, plan.env),
        ...(plan.configuredKind ? { configuredKind: plan.configuredKind } : {}),
        ...(plan.dryRun ? { dryRun: true } : {}),
        ...(sig ? { signal: sig } : {}),
        ...(plan.events.line ? { onLine: (s: 'stdout' | 'stderr', line: string) => plan.events.line!(host, s, line) } : {}),
      };
      try {
        await hook('pre_start_deployed_release', l.root);
        step('restart');
        const kind = await detectKind(nctx);
        await stopNode(nctx, kind, plan.startTimeoutMs);
        await startNode(nctx, kind, plan.startTimeoutMs);
        started = true;
        await hook('post_start_deployed_release', l.root);
        if (plan.healthCheck) {
          step('health');
          await healthCheck(backend, l, plan.healthCheck, plan.healthTimeoutMs, sig);
        }
      } catch (err) {
        if (sig?.aborted) throw err;
        const back = previous ? await rollbackAfterFailedStart(backend, nctx, l, previous, id, plan.startTimeoutMs) : undefined;
        const e = remoteStep(host, 'start', err);
        if (back) {
          throw new RemoteError(host, `${e.message.replace(`${host}: `, '')} (${back})`, {
            step: e instanceof RemoteError && e.step ? e.step : 'start',
            ...(e.detail ? { detail: e.detail } : {}),
          });
        }
        throw e;
      }
    }

    step('record');
    await run(record(started), 'record');
    return { version: plan.version, ...(previous ? { previous } : {}), uploaded: !reuse, started };
  } catch (err) {
    // Best effort: the connection may be gone (that host then keeps its old release; the lock goes stale).
    if (locked) {
      await backend.exec(cleanupCommand(l, plan.version, id, tarPath).text, { timeoutMs: 15_000 }).catch(() => undefined);
      const e = err instanceof DeliverError ? err : undefined;
      await backend
        .exec(
          auditCommand(
            l,
            auditEntry({
              action: 'deploy',
              env: plan.env,
              version: plan.version,
              result: 'failed',
              ...(e instanceof RemoteError && e.step ? { step: e.step } : {}),
              error: sig?.aborted ? 'interrupted' : (e?.message ?? String(err)),
            }),
          ).text,
          { timeoutMs: 15_000 },
        )
        .catch(() => undefined);
    }
    if (sig?.aborted && !(err instanceof InterruptedError)) throw new InterruptedError();
    // Every failure names the step it happened in (a dropped connection has none of its own).
    if (err instanceof RemoteError && !err.step) {
      throw new RemoteError(host, err.message.replace(`${host}: `, ''), { step: current, cause: err, ...(err.detail ? { detail: err.detail } : {}), ...(err.hint ? { hint: err.hint } : {}) });
    }
    throw remoteStep(host, current, err);
  } finally {
    await closeHeld();
    await keeper?.stop();
    // Also when interrupted while taking it: the remote mkdir may have won. Only our own lock is ever removed.
    if ((locked || sig?.aborted) && !unlocked) await releaseLock(backend, l, owner.id).catch(() => undefined);
  }
}

/**
 * Runs `chain` (transfer → verify → …) in the held lock command when there is one, else as its own command, with
 * its input after it on stdin: the tarball (streamed with backpressure, progress as it is handed to SSH) or, with
 * --pull, the presigned URL. A dry run prints the command and what its stdin would carry.
 */
async function transfer(backend: Backend, plan: DeployPlan, chain: Shell, held: Paused | undefined, opts: ExecOptions): Promise<ExecResult> {
  const host = backend.target.name;
  const sig = plan.signal;
  let input: Readable | string;
  if (plan.dryRun) input = plan.source.pull ? 'https://presigned.invalid/url\n' : `<${plan.source.size} bytes of ${plan.source.file}>`;
  else if (plan.source.pull) input = pullInput(await plan.source.pull.url());
  else {
    let sent = 0;
    const counted = plan.source.open();
    counted.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      plan.events.progress?.(host, sent, plan.source.size);
    });
    input = counted;
  }
  try {
    return held ? await held.send(chain, input) : await backend.exec(chain.text, { ...opts, stdin: input });
  } catch (err) {
    if (sig?.aborted) throw new InterruptedError();
    throw err;
  }
}

/** Runs HEALTH_CHECK in the release root until it exits 0, or fails with its last output after the timeout. */
export async function healthCheck(backend: Backend, l: Layout, command: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const cmd = healthCheckCommand(l, command).text;
  for (;;) {
    const r = await backend.exec(cmd, { timeoutMs: Math.max(5_000, timeoutMs), ...(signal ? { signal } : {}) });
    if (r.code === 0) return;
    if (Date.now() >= deadline) {
      const out = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-10).join('\n');
      throw new RemoteError(backend.target.name, `health check failed (exit ${r.code}) after ${Math.round(timeoutMs / 1000)}s: ${command}`, {
        step: 'health',
        ...(out ? { detail: out } : {}),
      });
    }
    try {
      await sleep(1000, undefined, signal ? { signal } : undefined);
    } catch {
      throw new InterruptedError();
    }
  }
}

/** After a failed start or health check: point back at the previous release and start it if possible. */
async function rollbackAfterFailedStart(
  backend: Backend,
  nctx: NodeContext,
  l: Layout,
  previous: string,
  id: string,
  timeoutMs: number,
): Promise<string> {
  const quiet: NodeContext = { backend, layout: l, ...(nctx.envFile ? { envFile: nctx.envFile } : {}), ...(nctx.configuredKind ? { configuredKind: nctx.configuredKind } : {}) };
  try {
    if (!(await backend.exec(sh`[ -d ${releaseDir(l, previous)} ]`.text)).code) {
      const kind = await detectKind(quiet);
      if (await isRunning(quiet, kind)) await stopNode(quiet, kind, timeoutMs).catch(() => undefined);
      await backend.run(activateCommand(l, previous, `${id}r`).text, { step: 'rollback' });
      const prevKind = await detectKind(quiet);
      await startNode(quiet, prevKind, timeoutMs);
      return `rolled back to ${previous}, which is running`;
    }
    return `previous release ${previous} is gone; ${l.root} stays on the new release`;
  } catch (err) {
    return `rollback to ${previous} failed too: ${(err as Error).message}`;
  }
}

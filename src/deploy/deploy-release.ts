// One host's deploy, start to finish, independent of every other host (no lockstep barrier), in four phases that
// share one HostRun: lock and inspect → transfer and install → activate and start → clean up on failure. The steps
// come from deploy-plan.ts (the plan a dry run prints); this file only executes them. Until `activate`, the host's
// `$DELIVER_TO/$APP` still points at the old release; temp files go on failure.
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { DeliverError, InterruptedError, RemoteError } from '../output/errors.js';
import { runStep, runSteps, type RunStepOptions } from '../plan/execute.js';
import { appendSteps, StepList, type HostPlan, type Step, type StepInput } from '../plan/plan.js';
import { continuationScript, DONE_MARK, stepOfLine } from '../plan/session.js';
import { sh, type Shell } from '../ssh/quote.js';
import { countBytes } from '../ssh/count-bytes.js';
import type { Backend, ExecOptions, ExecResult } from '../ssh/types.js';
import type { Paused } from '../ssh/continuation.js';
import { activateCommand, cleanupCommand, EXIT_ACTIVATE, EXIT_CHECKSUM, EXIT_UPLOAD } from './commands.js';
import { decideDelta } from './delta.js';
import { EXIT_DELTA } from './delta-commands.js';
import type { DeltaSource } from './delta-source.js';
import {
  deltaOffReason, deploySteps, failedAuditCommand, inspectScript, nodeOf, parseInspected, prepareScript, previousOf, reuses, startDeploySteps, type DeployConfig, type DeployHost,
  type Inspected, type ReleaseRef,
} from './deploy-plan.js';
import { hostDir } from './host-dir.js';
import { releaseDir, tempId, uploadPath, type Layout } from './layout.js';
import { acquireLock, keepLock, lostLockError, newOwner, releaseLock, type LockKeeper } from './lock.js';
import { detectStep, kindOf, runningPid, runningStep, scriptCheck, type NodeTarget } from './node-plan.js';
import type { ReleaseKind } from './node-commands.js';
import { planNode, runNode } from './node-run.js';
import { EXIT_DOWNLOAD, pullFailure, pullInput } from './pull.js';
import type { ReleaseSource } from './source.js';

export interface DeployEvents {
  /** A host entered a step (live status line). */
  step?: (host: string, step: string) => void;
  progress?: (host: string, bytes: number, total: number) => void;
  /** Remote output lines (shown with --verbose). */
  line?: (host: string, stream: 'stdout' | 'stderr', line: string) => void;
  warn: (message: string) => void;
}

/** A deploy's settings plus the release's bytes and where progress goes. */
export interface DeployOptions extends DeployConfig {
  source: ReleaseSource;
  /** The release's manifest and delta tarballs (read from the release here; none with --pull). */
  delta?: DeltaSource;
  signal?: AbortSignal;
  events: DeployEvents;
}

export interface HostDeployResult {
  version: string;
  previous?: string;
  /** False when the host already had this exact release (same sha256). */
  uploaded: boolean;
  started: boolean;
  /** What the host received: a delta against its installed release, the full tarball, or nothing. */
  transfer: 'delta' | 'full' | 'none';
  /** Release bytes the host received (both tarballs after a delta that fell back; downloaded ones with --pull). */
  receivedBytes: number;
  /** Why the host got the full tarball (no installed release, --no-delta, a failed delta…). */
  fullReason?: string;
}

/** The delta failed on the host (exit 9): it gets the full tarball on a new command. */
class DeltaFailed extends Error {}

export function releaseRef(source: ReleaseSource): ReleaseRef {
  return { file: source.file, sha256: source.sha256, size: source.size, pull: source.pull !== undefined };
}

/**
 * The env file to upload, if any: the local file, then the host's cluster lines (after it, so that a RELEASE_NODE
 * in the file does not undo CLUSTER_NODE_NAME). The bytes are those envFileText sends.
 */
export function localEnvFile(path: string | undefined, cluster?: string): { local?: string; bytes: number; cluster?: string } | undefined {
  const file = path && existsSync(path) ? { local: path, bytes: statSync(path).size } : undefined;
  if (!cluster) return file;
  return { ...(file ? { local: file.local } : {}), bytes: (file ? file.bytes + 1 : 0) + Buffer.byteLength(cluster), cluster };
}

/** What the env file step sends: the file, a newline (the file may not end with one), the host's cluster lines. */
export function envFileText(input: { local?: string; cluster?: string }): string {
  const file = input.local ? readFileSync(input.local, 'utf8') : undefined;
  return [file, input.cluster].filter((x) => x !== undefined).join('\n');
}

/** The fixed names and facts of one host's deploy (`host`: its target name, for its cluster lines). */
export function deployTarget(cfg: DeployConfig, release: ReleaseRef, layout: Layout, host: string): DeployHost {
  const env = localEnvFile(cfg.envFileLocal, cfg.clusterEnv?.get(host));
  return { cfg, release, layout, ids: { id: tempId(), owner: newOwner(cfg.command, cfg.version) }, ...(env ? { envFile: env } : {}) };
}

/** One host's deploy in progress: what the phases share. */
interface HostRun {
  backend: Backend;
  host: string;
  h: DeployHost;
  o: DeployOptions;
  current: string;
  /** The lock's heartbeat, from the moment it is ours. */
  keeper?: LockKeeper;
  locked: boolean;
  /** Our lock was already removed by a remote command of the plan. */
  unlocked: boolean;
  /** The lock command, still open and waiting for the rest of its script (see continuation.ts). */
  held?: Paused;
  seen?: Inspected;
  /** Bytes of a delta sent before it failed on the host. */
  deltaSent: number;
}

/**
 * Decides, from what the host has, whether it gets a delta (building its tarball, once per distinct one) and
 * adds the release's manifest the new root keeps. Without `src` (--pull, a dry run that does not read the
 * release) the host gets the full tarball.
 */
export async function withTransfer(h: DeployHost, seen: Inspected, src: DeltaSource | undefined): Promise<DeployHost> {
  if (reuses(h, seen)) return h;
  const next = src && (await src.manifest());
  const d = decideDelta({ ...(next ? { next } : {}), ...(seen.base ? { base: seen.base } : {}), version: h.cfg.version, ...(deltaOffReason(h.cfg) ? { off: deltaOffReason(h.cfg)! } : {}) });
  const manifest = next && !next.unsupported ? { manifest: await src!.text() } : {};
  if (d.full !== undefined) return { ...h, ...manifest, full: d.full };
  return { ...h, ...manifest, delta: { plan: d.delta, tar: await src!.tarFor(d.delta) } };
}

function withoutDelta(h: DeployHost, why: string): DeployHost {
  const { delta: _, ...rest } = h;
  return { ...rest, full: why };
}

export async function deployHost(backend: Backend, o: DeployOptions): Promise<HostDeployResult> {
  const { layout } = await hostDir(backend, o.deliverTo, o.app, backend.target.path, o.signal);
  const run: HostRun = { backend, host: backend.target.name, h: deployTarget(o, releaseRef(o.source), layout, backend.target.name), o, current: 'connect', locked: false, unlocked: false, deltaSent: 0 };
  try {
    const seen = await lockAndInspect(run);
    run.h = await withTransfer(run.h, seen, o.delta);
    let steps = deploySteps(run.h, seen);
    try {
      await transferAndInstall(run, steps);
    } catch (err) {
      if (!(err instanceof DeltaFailed)) throw err;
      o.events.warn(`${run.host}: ${err.message}; sending the full tarball instead`);
      run.deltaSent = run.h.delta!.tar.size;
      run.h = withoutDelta(run.h, `the delta failed (${err.message})`);
      steps = deploySteps(run.h, seen);
      await fullAfterDelta(run, steps);
    }
    await activateAndStart(run, steps);
    return resultOf(run, seen);
  } catch (err) {
    throw await cleanUp(run, err);
  } finally {
    await closeHeld(run);
    await run.keeper?.stop();
    // Also when interrupted while taking it: the remote mkdir may have won. Only our own lock is ever removed.
    if ((run.locked || o.signal?.aborted) && !run.unlocked) await releaseLock(backend, run.h.layout, run.h.ids.owner.id).catch(() => undefined);
  }
}

function resultOf(run: HostRun, seen: Inspected): HostDeployResult {
  const { h, o } = run;
  const previous = previousOf(h, seen);
  const transfer = reuses(h, seen) ? 'none' : h.delta ? 'delta' : 'full';
  const bytes = transfer === 'none' ? 0 : h.delta ? h.delta.tar.size : h.release.size;
  return {
    version: o.version,
    ...(previous ? { previous } : {}),
    uploaded: transfer !== 'none',
    started: o.startDeploy,
    transfer,
    receivedBytes: bytes + run.deltaSent,
    ...(transfer === 'full' && h.full ? { fullReason: h.full } : {}),
  };
}

/** Before each step: stop when interrupted or when the lock is no longer ours; show the step. */
function enter(run: HostRun, name: string): void {
  if (run.o.signal?.aborted) throw new InterruptedError();
  // Another deploy may be working here now: nothing more of ours runs on this host.
  if (run.keeper?.lost) throw lostLockError(run.host, run.current);
  run.current = name;
  run.o.events.step?.(run.host, name);
}

/** Session output: step marks drive the status line and are not shown; other lines go to --verbose. */
function output(run: HostRun): Pick<ExecOptions, 'onStdout' | 'onStderr'> {
  const line = run.o.events.line;
  return {
    onStdout: (text: string) => {
      const at = stepOfLine(text);
      if (text === DONE_MARK) return;
      if (at !== undefined) {
        run.current = at;
        run.o.events.step?.(run.host, at);
      } else line?.(run.host, 'stdout', text);
    },
    ...(line ? { onStderr: (text: string) => line(run.host, 'stderr', text) } : {}),
  };
}

function stepOptions(run: HostRun): RunStepOptions {
  return { ...(run.o.signal ? { signal: run.o.signal } : {}), onStep: (s) => enter(run, s.name), open: (i) => openInput(run, i), output: output(run) };
}

/**
 * Phase 1: the lock; the host's state rides along with taking it, and the lock command then stays open: the steps
 * that follow in the same session run in that same remote shell, so a plain deploy costs each host one session.
 */
async function lockAndInspect(run: HostRun): Promise<Inspected> {
  const { backend, h, o } = run;
  const l = h.layout;
  enter(run, 'lock');
  const prep = prepareScript(h);
  const after = await acquireLock(backend, l, h.ids.owner, {
    after: prep,
    hold: true,
    dirs: [l.incoming, l.releases],
    output: output(run),
    waitMs: o.lock.waitMs,
    ttlMs: o.lock.ttlMs,
    warn: o.events.warn,
    onWait: (holder) => o.events.warn(`${run.host}: waiting for the deploy lock held by ${holder}`),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  run.locked = true;
  run.keeper = keepLock(backend, l, h.ids.owner.id, o.lock.ttlMs);
  run.held = after?.held;
  enter(run, 'prepare');
  if (!after || after.code !== 0) {
    const detail = (after?.stdout ?? '').trim().split('\n').slice(-20).join('\n');
    throw new RemoteError(run.host, `prepare failed with exit code ${after?.code ?? 255}`, { step: 'prepare', command: prep.text, ...(detail ? { detail } : {}) });
  }
  run.seen = parseInspected(after.stdout);
  return run.seen;
}

/**
 * Phase 2: the rest of the lock's session (pruning, transfer, verify, unpack, install and, when nothing else
 * must happen first, activation, audit line and unlock) sent to the held shell with its input; then the steps
 * up to the activation that need commands of their own (extract hooks, env file).
 */
async function transferAndInstall(run: HostRun, steps: Step[]): Promise<void> {
  const rest = steps.filter((s) => s.session === 1).slice(1);
  const held = run.held;
  run.held = undefined;
  if (rest.length === 0) await held?.close().catch(() => undefined);
  else await sendSession(run, (script, data) => held!.send(script, data), rest);
  if (run.unlocked) return;
  await runSteps(run.backend, beforeActivate(steps), stepOptions(run));
}

/** After a failed delta: the full tarball's transfer chain (the lock is still ours) on a command of its own. */
async function fullAfterDelta(run: HostRun, steps: Step[]): Promise<void> {
  const rest = steps.filter((s) => s.session === 1 && s.name !== 'lock' && s.name !== 'clean');
  const { signal } = run.o;
  await sendSession(run, (script, data) => run.backend.exec(script.text, { ...output(run), ...(signal ? { signal } : {}), ...(data !== undefined ? { stdin: data } : {}) }), rest);
  if (run.unlocked) return;
  await runSteps(run.backend, beforeActivate(steps), stepOptions(run));
}

function beforeActivate(steps: Step[]): Step[] {
  const later = steps.filter((s) => s.session > 1);
  const at = later.findIndex((s) => s.name === 'activate');
  return at < 0 ? later : later.slice(0, at);
}

type Send = (script: Shell, data?: Readable | string) => Promise<ExecResult>;

async function sendSession(run: HostRun, send: Send, rest: Step[]): Promise<void> {
  const { host } = run;
  enter(run, rest[0]!.name);
  const input = rest.find((s) => s.input.kind !== 'none')?.input;
  let r;
  try {
    r = await send(continuationScript(rest), input ? await openInput(run, input) : undefined);
  } catch (err) {
    if (run.o.signal?.aborted) throw new InterruptedError();
    throw err;
  }
  if (r.code !== 0) {
    const out = `${r.stderr}${r.stdout}`.trim().split('\n').filter((x) => stepOfLine(x) === undefined && x !== DONE_MARK).slice(-20).join('\n');
    const at = run.h.release.pull ? 'download' : 'upload';
    if (r.code === EXIT_DOWNLOAD) throw new RemoteError(host, pullFailure(r.stderr, r.code), { step: 'download' });
    if (r.code === EXIT_UPLOAD) throw new RemoteError(host, out.split('\n').pop() || `${at} failed`, { step: at });
    if (r.code === EXIT_CHECKSUM) throw new RemoteError(host, out.split('\n').pop() ?? 'checksum mismatch', { step: 'verify' });
    if (r.code === EXIT_DELTA) throw new DeltaFailed(r.stderr.trim().split('\n').pop()?.replace(/^delta: /, '') || `the delta failed (exit ${r.code})`);
    if (r.code === EXIT_ACTIVATE) throw new RemoteError(host, `activate failed`, { step: 'activate', ...(out ? { detail: out } : {}) });
    throw new RemoteError(host, `${run.current} failed (exit ${r.code})`, { step: run.current, ...(out ? { detail: out } : {}) });
  }
  if (!r.stdout.split('\n').includes(DONE_MARK)) {
    throw new RemoteError(host, `${run.current} ended early: the remote script stopped before its last step (exit 0)`, { step: run.current });
  }
  run.unlocked = /^deliver-unlocked$/m.test(r.stdout);
}

/**
 * What a step's stdin carries: the tarball (streamed with backpressure, progress as it is handed to SSH), the
 * presigned URL (--pull) or the env file.
 */
async function openInput(run: HostRun, input: StepInput): Promise<Readable | string> {
  const { source, events } = run.o;
  if (input.kind === 'presigned-url') return pullInput(await source.pull!.url());
  if (input.kind === 'env-file') return envFileText(input);
  let sent = 0;
  const total = input.kind === 'delta' ? input.bytes : source.size;
  const bytes = input.kind === 'delta' ? createReadStream(input.local) : source.open();
  return countBytes(bytes, (n) => {
    sent += n;
    events.progress?.(run.host, sent, total);
  });
}


/**
 * Phase 3: activation (with the audit line and unlock when no start follows); with START_DEPLOY the release kind
 * and the node's pid are read once the release is active, and the start steps follow from them. A failed start
 * or health check points back at the previous release and starts it.
 */
async function activateAndStart(run: HostRun, steps: Step[]): Promise<void> {
  if (run.unlocked) return;
  const later = steps.filter((s) => s.session > 1);
  const [activate, ...rest] = later.slice(later.findIndex((s) => s.name === 'activate'));
  const opts = stepOptions(run);
  await runStep(run.backend, activate!, opts);
  if (!run.o.startDeploy) return finish(run, rest, opts);
  let stage2: Step[];
  try {
    await runSteps(run.backend, rest, opts); // pre_start_deployed_release
    const node = await readNode(run, opts);
    stage2 = startDeploySteps(run.h, run.seen!, node.kind, node.pid);
    await runSteps(run.backend, stage2.slice(0, stage2.findIndex((s) => s.name === 'record')), { ...opts, check: scriptCheck(run.host, nodeOf(run.h), node.kind) });
  } catch (err) {
    if (run.o.signal?.aborted) throw err;
    throw await backToPrevious(run, err);
  }
  await finish(run, stage2.slice(stage2.findIndex((s) => s.name === 'record')), opts);
}

/** The audit line and the unlock (best effort both). */
async function finish(run: HostRun, steps: Step[], opts: RunStepOptions): Promise<void> {
  for (const s of steps) {
    await runStep(run.backend, s, opts);
    if (s.name === 'unlock') run.unlocked = true;
  }
}

/** The two read-only steps that decide a start: the release kind and whether (with which pid) the node runs. */
function nodeQueries(h: DeployHost, kind: ReleaseKind): Step[] {
  return runningStep(nodeOf(h), kind, detectStep(h.layout, new StepList())).steps;
}

/** Runs nodeQueries: the kind (none: nothing active) and the pid (undefined: not running). */
async function readNode(run: { backend: Backend; h: DeployHost }, opts: RunStepOptions): Promise<{ kind: ReleaseKind; pid: number | undefined; steps: Step[] }> {
  const [detect] = nodeQueries(run.h, 'mix');
  const host = run.backend.target.name;
  const kind = kindOf(host, nodeOf(run.h), (await runStep(run.backend, detect!, opts)).stdout, true)!;
  const steps = nodeQueries(run.h, kind);
  const pid = runningPid(await runStep(run.backend, steps[1]!, { ...opts, check: scriptCheck(host, nodeOf(run.h), kind) }));
  return { kind, pid, steps };
}

/** After a failed start or health check: the error, saying whether the previous release runs again. */
async function backToPrevious(run: HostRun, err: unknown): Promise<DeliverError> {
  const { host, h } = run;
  const previous = previousOf(h, run.seen!);
  const back = previous ? await rollbackAfterFailedStart(run.backend, nodeOf(h), previous, h.ids.id) : undefined;
  const e = remoteStep(host, 'start', err);
  if (!back) return e;
  return new RemoteError(host, `${e instanceof RemoteError ? e.reason : e.message} (${back})`, {
    step: e instanceof RemoteError && e.step ? e.step : 'start',
    ...(e.detail ? { detail: e.detail } : {}),
  });
}

/** Phase 4: temp files of this deploy removed and a `failed` audit line (best effort); the error names its step. */
async function cleanUp(run: HostRun, err: unknown): Promise<DeliverError> {
  const { backend, host, h, o } = run;
  if (run.locked) {
    // Best effort: the connection may be gone (that host then keeps its old release; the lock goes stale).
    const tar = uploadPath(h.layout, h.release.file, h.ids.id);
    await backend.exec(cleanupCommand(h.layout, o.version, h.ids.id, tar).text, { timeoutMs: 15_000 }).catch(() => undefined);
    const e = err instanceof DeliverError ? err : undefined;
    const message = o.signal?.aborted ? 'interrupted' : (e?.message ?? String(err));
    await backend.exec(failedAuditCommand(h, e instanceof RemoteError ? e.step : undefined, message).text, { timeoutMs: 15_000 }).catch(() => undefined);
  }
  if (o.signal?.aborted && !(err instanceof InterruptedError)) return new InterruptedError();
  // Every failure names the step it happened in (a dropped connection has none of its own).
  if (err instanceof RemoteError && !err.step) {
    return new RemoteError(host, err.reason, { step: run.current, cause: err, ...(err.detail ? { detail: err.detail } : {}), ...(err.hint ? { hint: err.hint } : {}) });
  }
  return remoteStep(host, run.current, err);
}

async function closeHeld(run: HostRun): Promise<void> {
  const h = run.held;
  run.held = undefined;
  if (h) await h.close().catch(() => undefined);
}

function remoteStep(host: string, step: string, err: unknown): DeliverError {
  if (err instanceof DeliverError) return err;
  return new RemoteError(host, `${step} failed: ${(err as Error)?.message ?? String(err)}`, { step, cause: err });
}

/** After a failed start or health check: point back at the previous release and start it if possible. */
async function rollbackAfterFailedStart(backend: Backend, n: NodeTarget, previous: string, id: string): Promise<string> {
  const l = n.layout;
  try {
    if (!(await backend.exec(sh`[ -d ${releaseDir(l, previous)} ]`.text)).code) {
      const stop = await planNode(backend, n, { action: 'stop' });
      await runNode(backend, n, stop.kind, stop.plan).catch(() => undefined);
      await backend.run(activateCommand(l, previous, `${id}r`).text, { step: 'rollback' });
      const start = await planNode(backend, n, { action: 'start' });
      await runNode(backend, n, start.kind, start.plan);
      return `rolled back to ${previous}, which is running`;
    }
    return `previous release ${previous} is gone; ${l.root} stays on the new release`;
  } catch (err) {
    return `rollback to ${previous} failed too: ${(err as Error).message}`;
  }
}

/**
 * The dry run's view of one host: the same read-only look the lock step takes (run for real), then the steps a
 * real run would send. With START_DEPLOY the release kind and pid are read from what runs now.
 */
export async function planDeployHost(backend: Backend, target: DeployHost, signal?: AbortSignal, src?: DeltaSource): Promise<HostPlan> {
  const opts: RunStepOptions = signal ? { signal } : {};
  const inspect = new StepList().add('inspect', "read the host's state (read-only)", inspectScript(target), { query: true }).steps[0]!;
  // Every line kept (a result keeps only its last 64 KiB; the installed release's manifest can be longer).
  const lines: string[] = [];
  const r = await runStep(backend, inspect, { ...opts, lines: true, output: { onStdout: (l) => lines.push(l) } });
  if (r.code !== 0) throw new RemoteError(backend.target.name, `reading the host's state failed (exit ${r.code})`, { step: 'inspect', detail: r.stderr.trim() });
  const seen = parseInspected(lines.join('\n'));
  const h = await withTransfer(target, seen, src);
  let steps = deploySteps(h, seen);
  const facts = deployFacts(h, seen);
  if (h.cfg.startDeploy) {
    const node = await readNode({ backend, h }, opts).catch(() => undefined);
    const kind = node?.kind ?? 'mix';
    if (!node) facts.push(`node: nothing active to read the release kind from; the start steps are shown for a ${kind} release (the real run reads it after activating ${h.cfg.version})`);
    else facts.push(`node: ${kind} release, ${node.pid === undefined ? 'not running' : `running${node.pid ? ` (OS pid ${node.pid})` : ''}`} (read now; the real run reads it again after activating)`);
    steps = appendSteps(appendSteps(steps, node?.steps ?? nodeQueries(h, kind)), startDeploySteps(h, seen, kind, node?.pid));
  }
  return { host: backend.target.name, steps, facts };
}

function deployFacts(h: DeployHost, seen: Inspected): string[] {
  const s = seen.state;
  const installed = s.releases.length ? s.releases.join(', ') : 'none';
  return [
    `active: ${s.active ?? (s.legacyDir ? 'an edeliver-style directory' : 'none')}; installed: ${installed}`,
    reuses(h, seen) ? `upload skipped: ${h.cfg.version} with the same sha256 is installed` : transferFact(h, seen),
  ];
}

function transferFact(h: DeployHost, seen: Inspected): string {
  if (h.delta) {
    const { plan, tar } = h.delta;
    return `delta against ${plan.base}: ${plan.link.length} files hard-linked, ${plan.send.filter((e) => e.type === 'f').length} files sent in ${tar.size} bytes (the full tarball: ${h.release.size})`;
  }
  const missing = seen.base && !seen.base.manifest && h.full?.startsWith('no manifest') ? ' (the real run computes it on the host first, then decides)' : '';
  return `${h.release.pull ? 'download' : 'upload'}: ${h.release.file} (${h.release.size} bytes)${h.full ? `, full tarball: ${h.full}` : ''}${missing}`;
}

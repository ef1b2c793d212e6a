// One host's hot upgrade, executed: what it runs (read-only facts, gathered for every host before any changes), then
// the steps upgrade-plan.ts computes from them. A failed install is reported with release_handler's reason and the
// version the node runs afterwards (asked until it answers: release_handler may be restarting it in place).
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeliverError, InterruptedError, RemoteError } from '../output/errors.js';
import { runStep, runSteps, type RunStepOptions } from '../plan/execute.js';
import { appendSteps, StepList, type HostPlan, type Step } from '../plan/plan.js';
import { chain, group, sh } from '../ssh/quote.js';
import type { Backend, ExecResult } from '../ssh/types.js';
import { EXIT_ACTIVATE, EXIT_CHECKSUM, EXIT_UPLOAD } from '../deploy/commands.js';
import { envFile, tempId, type Layout } from '../deploy/layout.js';
import { acquireLock, keepLock, lostLockError, newOwner, releaseLock, type LockKeeper } from '../deploy/lock.js';
import { queryResult } from '../deploy/node.js';
import { detectStep, kindOf, runningPid, scriptCheck, type NodeTarget } from '../deploy/node-plan.js';
import type { ReleaseKind } from '../deploy/node-commands.js';
import { stateStep } from '../deploy/rollback.js';
import { parseHostState, type HostState } from '../deploy/state.js';
import { dropTarballCommand, parseInstallOutput } from './install-commands.js';
import { nodeFactSteps, upgradeAudit, upgradeSteps, upgradeUpload, type RunningNode, type UpgradeConfig, type UpgradeHost } from './upgrade-plan.js';

/** What a host runs, read before anything changes anywhere. */
export interface UpgradeFacts {
  host: string;
  layout: Layout;
  state: HostState;
  /** Undefined: no release of the app deployed there. */
  kind?: ReleaseKind;
  running: boolean;
  /** The version the node runs (release_handler's current/permanent). */
  version?: string;
  pid?: string;
  /** The read-only steps that were run (a dry run prints them). */
  steps: Step[];
}

function opts(signal?: AbortSignal): RunStepOptions {
  return signal ? { signal } : {};
}

/** The version a `version` step answered, or undefined (no answer, still starting, an error term). */
function versionOf(host: string, n: NodeTarget, kind: ReleaseKind, r: ExecResult): string | undefined {
  const q = queryResult({ host, app: n.layout.app, kind, ...(n.configuredKind ? { configured: true } : {}) }, { action: 'version' }, r);
  const v = q.stdout.trim().split('\n').pop()?.trim();
  return q.code === 0 && v && /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(v) ? v : undefined;
}

/** The node's pid and version, asked by nodeFactSteps. */
async function askNode(backend: Backend, n: NodeTarget, kind: ReleaseKind, signal?: AbortSignal): Promise<{ pid?: string; version?: string; steps: Step[] }> {
  const host = backend.target.name;
  const steps = nodeFactSteps(n, kind, new StepList()).steps;
  const pid = runningPid(await runStep(backend, steps[0]!, { ...opts(signal), check: scriptCheck(host, n, kind) }));
  if (pid === undefined) return { steps: steps.slice(0, 1) };
  const version = versionOf(host, n, kind, await runStep(backend, steps[1]!, opts(signal)));
  return { pid: String(pid), ...(version ? { version } : {}), steps };
}

export async function readUpgradeFacts(backend: Backend, n: NodeTarget, signal?: AbortSignal): Promise<UpgradeFacts> {
  const host = backend.target.name;
  const l = n.layout;
  const s = new StepList([stateStep(l)]);
  const st = await runStep(backend, s.steps[0]!, opts(signal));
  if (st.code !== 0) throw new RemoteError(host, `reading the host's state failed (exit ${st.code})`, { step: 'state' });
  const state = parseHostState(st.stdout);
  const base = { host, layout: l, state, running: false };
  if (!state.active && !state.legacyDir) return { ...base, steps: s.steps };
  detectStep(l, s);
  const kind = kindOf(host, n, (await runStep(backend, s.steps[1]!, opts(signal))).stdout, true)!;
  const node = await askNode(backend, n, kind, signal);
  const running = Boolean(node.pid && node.version);
  return { ...base, kind, running, ...(node.version ? { version: node.version } : {}), ...(node.pid ? { pid: node.pid } : {}), steps: appendSteps(s.steps, node.steps) };
}

/** Why each host cannot take the upgrade to `to` (which goes from `accepts`); empty when all can. */
export function upgradeRefusals(facts: UpgradeFacts[], accepts: string[], to: string): string[] {
  const from = accepts.join(', ') || '(no version)';
  return facts.flatMap((f) => {
    if (!f.kind) return [`${f.host}: no release deployed; the upgrade to ${to} goes from ${from}`];
    if (f.state.legacyDir) return [`${f.host}: ${f.layout.root} is an edeliver-style directory, not deliver's link: deploy a release with deliver and restart once first`];
    if (!f.pid) return [`${f.host}: the node is not running (active release ${f.state.active ?? 'unknown'}); the upgrade to ${to} goes from ${from}`];
    if (!f.version) return [`${f.host}: the node (OS pid ${f.pid}) does not say which version it runs (still starting?); the upgrade to ${to} goes from ${from}`];
    if (!accepts.includes(f.version)) return [`${f.host}: runs ${f.version}; the upgrade to ${to} goes from ${from}`];
    return [];
  });
}

/** The host's upgrade, from facts that passed upgradeRefusals. */
export function upgradeTarget(cfg: UpgradeConfig, tarball: UpgradeHost['tarball'], f: UpgradeFacts): UpgradeHost {
  const node: RunningNode = { state: f.state, kind: f.kind!, from: f.version!, pid: f.pid! };
  return { cfg, tarball, layout: f.layout, node, id: tempId(), owner: newOwner('deploy upgrade', cfg.version) };
}

/** The dry run's view of one host: the facts' read-only steps (they ran), then the upgrade's. */
export function upgradePlan(h: UpgradeHost, f: UpgradeFacts): HostPlan {
  const s = f.state;
  return {
    host: f.host,
    steps: appendSteps(f.steps, upgradeSteps(h)),
    facts: [`active: ${s.active ?? 'none'}; node started from ${s.started ?? 'the active release'}`, `${h.node.kind} node, OS pid ${h.node.pid}, runs ${h.node.from}`],
  };
}

export interface UpgradeRun {
  n: NodeTarget;
  lock: { waitMs: number; ttlMs: number };
  signal?: AbortSignal;
  open: () => Readable;
  events: { step?: (host: string, step: string) => void; warn: (message: string) => void };
}

export interface HostUpgradeResult {
  from: string;
  to: string;
  pid: string;
}

/** Checks each step's answer: upload exit codes, the installer's verdict, the new version and the same pid. */
function answerCheck(h: UpgradeHost, host: string, run: UpgradeRun): (step: Step, r: ExecResult) => void {
  const script = scriptCheck(host, run.n, h.node.kind);
  return (step, r) => {
    script(step, r);
    const last = `${r.stderr}${r.stdout}`.trim().split('\n').pop() ?? '';
    if (step.name === 'upload' && r.code === EXIT_CHECKSUM) throw new RemoteError(host, last, { step: 'verify' });
    if (step.name === 'upload' && r.code === EXIT_UPLOAD) throw new RemoteError(host, last || 'upload failed', { step: 'upload' });
    if (step.name === 'activate' && r.code === EXIT_ACTIVATE) throw new RemoteError(host, 'activate failed', { step: 'activate', ...(last ? { detail: last } : {}) });
    if (step.name === 'install') {
      const verdict = parseInstallOutput(h.node.kind, r.code, `${r.stdout}\n${r.stderr}`);
      if (!verdict.ok) throw new InstallFailed(verdict.reason);
    }
    if (step.name === 'check') {
      const now = versionOf(host, run.n, h.node.kind, r);
      if (now !== h.cfg.version) throw new RemoteError(host, `after the upgrade the node runs ${now ?? 'no answer'}, not ${h.cfg.version}`, { step: 'check' });
    }
    if (step.name === 'pid') {
      const pid = runningPid(r);
      if (String(pid) !== h.node.pid) throw new RemoteError(host, `the node's OS pid changed (${h.node.pid} → ${pid ?? 'none'}): it was restarted, not upgraded`, { step: 'pid' });
    }
  };
}

class InstallFailed extends Error {}

export async function upgradeHost(backend: Backend, h: UpgradeHost, run: UpgradeRun): Promise<HostUpgradeResult> {
  const host = backend.target.name;
  const l = h.layout;
  const steps = upgradeSteps(h);
  let keeper: LockKeeper | undefined;
  let locked = false;
  let current = 'lock';
  const o: RunStepOptions = {
    ...opts(run.signal),
    onStep: (s) => {
      if (keeper?.lost) throw lostLockError(host, current);
      current = s.name;
      run.events.step?.(host, s.name);
    },
    open: () => run.open(),
    check: answerCheck(h, host, run),
  };
  try {
    run.events.step?.(host, 'lock');
    await acquireLock(backend, l, h.owner, { ...run.lock, dirs: [l.incoming, l.releases], warn: run.events.warn, ...opts(run.signal) });
    locked = true;
    keeper = keepLock(backend, l, h.owner.id, run.lock.ttlMs);
    await runSteps(backend, steps.slice(1), o);
    locked = false;
    return { from: h.node.from, to: h.cfg.version, pid: h.node.pid };
  } catch (err) {
    const e = err instanceof InstallFailed ? await installFailed(backend, h, run, err.message) : err;
    if (locked) await cleanUp(backend, h, current, e, run.signal);
    if (run.signal?.aborted && !(e instanceof InterruptedError)) throw new InterruptedError();
    if (e instanceof RemoteError && !e.step) throw new RemoteError(host, e.message.replace(`${host}: `, ''), { step: current, ...(e.detail ? { detail: e.detail } : {}) });
    if (e instanceof DeliverError) throw e;
    throw new RemoteError(host, `${current} failed: ${(e as Error)?.message ?? String(e)}`, { step: current, cause: e });
  } finally {
    await keeper?.stop();
    if (locked) await releaseLock(backend, l, h.owner.id).catch(() => undefined);
  }
}

/** The upload and tarball go, and a `failed` audit line (best effort: the connection may be gone). */
async function cleanUp(backend: Backend, h: UpgradeHost, step: string, err: unknown, signal?: AbortSignal): Promise<void> {
  const error = signal?.aborted ? 'interrupted' : err instanceof DeliverError ? err.message : String(err);
  const drop = dropTarballCommand(h.layout, h.node.kind, h.cfg.version, envFile(h.layout, h.cfg.env));
  const cmd = chain(sh`rm -f ${upgradeUpload(h)}`, group(drop), upgradeAudit(h, 'failed', { step, error }));
  await backend.exec(cmd.text, { timeoutMs: 30_000 }).catch(() => undefined);
}

/**
 * release_handler said no: before its point of no return nothing changed; after it, it restarts the node in place
 * into the release it made permanent last (the one the node ran). Ask until the node answers again.
 */
async function installFailed(backend: Backend, h: UpgradeHost, run: UpgradeRun, reason: string): Promise<RemoteError> {
  const host = backend.target.name;
  let now: { pid?: string; version?: string } = {};
  for (const deadline = Date.now() + run.n.timeoutMs; !now.version && Date.now() < deadline && !run.signal?.aborted; ) {
    now = await askNode(backend, run.n, h.node.kind, run.signal).catch(() => ({}));
    if (!now.version) await sleep(1000);
  }
  const pid = now.pid === h.node.pid ? `same OS pid ${now.pid}` : now.pid ? `OS pid ${now.pid}, was ${h.node.pid}` : 'no OS pid';
  const where = now.version ? `the node runs ${now.version} (${pid})` : `the node does not answer within ${Math.round(run.n.timeoutMs / 1000)}s`;
  return new RemoteError(host, `release_handler could not install ${h.cfg.version}: ${reason}; ${where}`, { step: 'install' });
}

// `deliver rollback <env> [--version=V]`: every host goes back to its previous release (or V) in one command.
// All hosts are checked first; if the target release is missing anywhere, nothing changes. Nodes that were
// running are restarted on the target release. Per host: the lock, the release kind and the node's pid (read-only),
// then the steps rollbackSteps plans from them.
import { DeliverError, RemoteError } from '../output/errors.js';
import { runStep, runSteps, type RunStepOptions } from '../plan/execute.js';
import { appendSteps, StepList, type HostPlan, type Step } from '../plan/plan.js';
import type { Backend } from '../ssh/types.js';
import { auditEntry } from './audit.js';
import { activateCommand, auditCommand, stateCommand } from './commands.js';
import { envFile, tempId, type Layout } from './layout.js';
import { acquireCommand, acquireLock, keepLock, lostLockError, newOwner, releaseLock, unlockCommand, type LockOwner } from './lock.js';
import { detectStep, kindOf, runningPid, runningStep, scriptCheck, startSteps, stopSteps, type NodeTarget } from './node-plan.js';
import type { ReleaseKind } from './node-commands.js';
import { parseHostState, previousVersion, type HostState } from './state.js';

export interface RollbackTarget {
  host: string;
  layout: Layout;
  state: HostState;
  /** Version to activate, undefined when none is available. */
  to?: string;
}

/** Decides each host's target; throws naming every host where it is missing (nothing has changed yet). */
export function planRollback(hosts: { host: string; layout: Layout; stateText: string }[], version?: string): RollbackTarget[] {
  const plan = hosts.map(({ host, layout, stateText }) => {
    const state = parseHostState(stateText);
    const to = version ?? previousVersion(state);
    return { host, layout, state, ...(to && state.releases.includes(to) ? { to } : {}) };
  });
  const missing = plan.filter((p) => !p.to);
  if (missing.length) {
    const what = version ? `release ${version} is not installed` : 'there is no previous release';
    throw new DeliverError(`rollback refused: ${what} on ${missing.length} of ${plan.length} host(s): ${missing.map((m) => m.host).join(', ')}`, {
      detail: missing.map((m) => `  ${m.host}: installed ${m.state.releases.join(', ') || '(none)'}${m.state.active ? `, active ${m.state.active}` : ''}`).join('\n'),
      hint: version ? 'pick a version installed everywhere (deliver show deploys <env>) or deploy it' : 'name one with --version=V',
    });
  }
  return plan;
}

/** Read-only, on every host before anything changes: where the link points, what is installed, the history. */
export function stateStep(l: Layout): Step {
  return new StepList().add('state', "read the host's state (installed releases, history)", stateCommand(l), { query: true }).steps[0]!;
}

export async function readState(backend: Backend, l: Layout, signal?: AbortSignal): Promise<string> {
  const r = await runStep(backend, stateStep(l), signal ? { signal } : {});
  if (r.code !== 0) throw new RemoteError(backend.target.name, `reading the host's state failed (exit ${r.code})`, { step: 'state', ...(r.stderr.trim() ? { detail: r.stderr.trim() } : {}) });
  return r.stdout;
}

export interface RollbackOptions {
  env: string;
  lock: { waitMs: number; ttlMs: number };
  startTimeoutMs: number;
  signal?: AbortSignal;
  warn: (m: string) => void;
  step?: (host: string, step: string) => void;
}

export interface HostRollbackResult {
  from?: string;
  to: string;
  restarted: boolean;
}

/** One host's rollback: its target, the lock owner and temp id (fixed for the run), and its node. */
export interface RollbackHost {
  t: RollbackTarget;
  owner: LockOwner;
  id: string;
  node: NodeTarget;
  env: string;
}

export function rollbackHostOf(t: RollbackTarget, env: string, startTimeoutMs: number, configuredKind?: ReleaseKind): RollbackHost {
  const node: NodeTarget = { layout: t.layout, envFile: envFile(t.layout, env), timeoutMs: startTimeoutMs, ...(configuredKind ? { configuredKind } : {}) };
  return { t, owner: newOwner('rollback', t.to), id: tempId(), node, env };
}

export function rollbackLockStep(r: RollbackHost): Step {
  return new StepList().add('lock', `take the deploy lock ${r.t.layout.lock}`, acquireCommand(r.t.layout, r.owner)).steps[0]!;
}

/**
 * After the lock and the node queries (kind undefined: nothing there to start; pid undefined: not running): stop
 * a running node, activate the target, start it again, audit line, unlock.
 */
export function rollbackSteps(r: RollbackHost, kind: ReleaseKind | undefined, pid: number | undefined): Step[] {
  const { t } = r;
  const l = t.layout;
  const to = t.to!;
  const running = kind !== undefined && pid !== undefined;
  const s = new StepList();
  if (running) stopSteps(r.node, kind, pid, s);
  s.add('activate', `point ${l.root} at ${to}${t.state.active ? ` (was ${t.state.active})` : ''}`, activateCommand(l, to, r.id));
  if (running) startSteps(r.node, kind, to, s);
  const entry = auditEntry({ action: 'rollback', env: r.env, version: to, ...(t.state.active ? { previous: t.state.active } : {}), result: 'ok', started: running });
  s.add('record', 'append to the audit log', auditCommand(l, entry), { bestEffort: true });
  s.add('unlock', 'remove the deploy lock', unlockCommand(l, r.owner.id), { bestEffort: true, timeoutMs: 15_000 });
  return s.steps;
}

/** The read-only node queries (only when something is active): the kind, then the pid. */
async function readNode(backend: Backend, r: RollbackHost, opts: RunStepOptions): Promise<{ kind?: ReleaseKind; pid?: number; steps: Step[] }> {
  if (!r.t.state.active && !r.t.state.legacyDir) return { steps: [] };
  const detect = detectStep(r.t.layout, new StepList()).steps;
  const detected = (await runStep(backend, detect[0]!, opts)).stdout;
  let kind: ReleaseKind | undefined;
  try {
    kind = kindOf(r.t.host, r.node, detected);
  } catch {
    // A release whose kind cannot be told is not stopped or started (as before the plans): the activation still runs.
  }
  if (!kind) return { steps: detect };
  const ask = runningStep(r.node, kind, new StepList()).steps;
  const pid = runningPid(await runStep(backend, ask[0]!, { ...opts, check: scriptCheck(r.t.host, r.node, kind) }));
  return { kind, ...(pid !== undefined ? { pid } : {}), steps: appendSteps(detect, ask) };
}

export async function rollbackHost(backend: Backend, r: RollbackHost, opts: RollbackOptions): Promise<HostRollbackResult> {
  const { t } = r;
  const l = t.layout;
  const sig = opts.signal;
  opts.step?.(t.host, 'lock');
  await acquireLock(backend, l, r.owner, { ...opts.lock, warn: opts.warn, ...(sig ? { signal: sig } : {}) });
  const keeper = keepLock(backend, l, r.owner.id, opts.lock.ttlMs);
  let current = 'lock';
  const run: RunStepOptions = {
    ...(sig ? { signal: sig } : {}),
    onStep: (s) => {
      if (keeper.lost) throw lostLockError(t.host, current);
      current = s.name;
      opts.step?.(t.host, s.name);
    },
  };
  let unlocked = false;
  try {
    const node = await readNode(backend, r, run);
    const steps = rollbackSteps(r, node.kind, node.pid);
    await runSteps(backend, steps.slice(0, -1), node.kind ? { ...run, check: scriptCheck(t.host, r.node, node.kind) } : run);
    await keeper.stop();
    await runStep(backend, steps[steps.length - 1]!, run);
    unlocked = true;
    return { ...(t.state.active ? { from: t.state.active } : {}), to: t.to!, restarted: node.pid !== undefined && node.kind !== undefined };
  } catch (err) {
    if (err instanceof RemoteError && !err.step) throw new RemoteError(t.host, err.reason, { step: current, cause: err });
    throw err;
  } finally {
    await keeper.stop();
    if (!unlocked) await releaseLock(backend, l, r.owner.id).catch(() => undefined);
  }
}

/** The dry run's view: the node queries run for real (read-only), the rest as the real run would send it. */
export async function planRollbackHost(backend: Backend, r: RollbackHost, signal?: AbortSignal): Promise<HostPlan> {
  const node = await readNode(backend, r, signal ? { signal } : {});
  const steps = appendSteps(appendSteps(appendSteps([stateStep(r.t.layout)], [rollbackLockStep(r)]), node.steps), rollbackSteps(r, node.kind, node.pid));
  const running = node.kind !== undefined && node.pid !== undefined;
  return {
    host: r.t.host,
    steps,
    facts: [`active: ${r.t.state.active ?? 'none'}; rolling back to ${r.t.to}`, `node: ${node.kind ? `${node.kind} release, ${running ? 'running: stopped and started again' : 'not running: not started'}` : 'nothing to stop or start'}`],
  };
}

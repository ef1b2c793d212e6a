// `deliver rollback <env> [--version=V]`: every host goes back to its previous release (or V) in one command.
// All hosts are checked first; if the target release is missing anywhere, nothing changes. Nodes that were
// running are restarted on the target release.
import { DeliverError } from '../output/errors.js';
import type { Backend } from '../ssh/types.js';
import { auditEntry } from './audit.js';
import { activateCommand, auditCommand, stateCommand } from './commands.js';
import { envFile, tempId, type Layout } from './layout.js';
import { acquireLock, keepLock, lostLockError, newOwner, releaseLock } from './lock.js';
import { detectKind, isRunning, startNode, stopNode, type NodeContext } from './node.js';
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

export async function readState(backend: Backend, l: Layout, signal?: AbortSignal): Promise<string> {
  return (await backend.run(stateCommand(l).text, { step: 'state', ...(signal ? { signal } : {}) })).stdout;
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

export async function rollbackHost(backend: Backend, t: RollbackTarget, opts: RollbackOptions): Promise<HostRollbackResult> {
  const l = t.layout;
  const to = t.to!;
  const owner = newOwner('rollback', to);
  const sig = opts.signal;
  opts.step?.(t.host, 'lock');
  await acquireLock(backend, l, owner, { ...opts.lock, warn: opts.warn, ...(sig ? { signal: sig } : {}) });
  const keeper = keepLock(backend, l, owner.id, opts.lock.ttlMs);
  let current = 'lock';
  const step = (name: string) => {
    if (keeper.lost) throw lostLockError(t.host, current);
    current = name;
    opts.step?.(t.host, name);
  };
  try {
    const nctx: NodeContext = { backend, layout: l, envFile: envFile(l, opts.env), ...(sig ? { signal: sig } : {}) };
    let running = false;
    let kind;
    if (t.state.active || t.state.legacyDir) {
      kind = await detectKind(nctx).catch(() => undefined);
      running = kind ? await isRunning(nctx, kind) : false;
    }
    if (running && kind) {
      step('stop');
      await stopNode(nctx, kind, opts.startTimeoutMs);
    }
    step('activate');
    await backend.run(activateCommand(l, to, tempId()).text, { step: 'activate', ...(sig ? { signal: sig } : {}) });
    if (running) {
      step('start');
      await startNode(nctx, await detectKind(nctx), opts.startTimeoutMs);
    }
    await backend
      .exec(auditCommand(l, auditEntry({ action: 'rollback', env: opts.env, version: to, ...(t.state.active ? { previous: t.state.active } : {}), result: 'ok', started: running })).text)
      .catch(() => undefined);
    return { ...(t.state.active ? { from: t.state.active } : {}), to, restarted: running };
  } finally {
    await keeper.stop();
    await releaseLock(backend, l, owner.id).catch(() => undefined);
  }
}

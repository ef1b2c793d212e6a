// Node commands on one host (start, stop, restart, ping, version, pid, rpc, eval, migrate, run): the release kind
// and, for start/stop/restart, whether the node runs are read first (read-only, also in a dry run); the steps
// follow from them (node-plan.ts). The real run then executes the steps that change something.
import { RemoteError } from '../output/errors.js';
import { runStep, type RunStepOptions } from '../plan/execute.js';
import { StepList, type HostPlan } from '../plan/plan.js';
import type { Backend, ExecResult } from '../ssh/types.js';
import { defaultUnavailable } from './migrations.js';
import type { NodeQuery } from './node.js';
import type { ReleaseKind } from './node-commands.js';
import { detectStep, kindOf, queryStep, runningPid, runningStep, scriptCheck, startSteps, stopSteps, type NodeTarget } from './node-plan.js';

export type NodeRequest = NodeQuery | { action: 'start' | 'stop' | 'restart' };

export async function planNode(backend: Backend, n: NodeTarget, q: NodeRequest, signal?: AbortSignal): Promise<{ plan: HostPlan; kind: ReleaseKind }> {
  const host = backend.target.name;
  const l = n.layout;
  const opts: RunStepOptions = signal ? { signal } : {};
  const s = detectStep(l, new StepList());
  const kind = kindOf(host, n, (await runStep(backend, s.steps[0]!, opts)).stdout, true)!;
  const facts = [`${kind} release at ${l.root}${n.configuredKind ? ' (RELEASE_KIND)' : ''}`];
  if (q.action === 'start' || q.action === 'stop' || q.action === 'restart') {
    runningStep(n, kind, s);
    const pid = runningPid(await runStep(backend, s.steps[s.steps.length - 1]!, { ...opts, check: scriptCheck(host, n, kind) }));
    facts.push(pid === undefined ? 'the node does not run' : `the node runs${pid ? ` (OS pid ${pid})` : ''}`);
    if (q.action === 'start' && pid !== undefined) throw new RemoteError(host, `${l.app} is already running`, { step: 'start', hint: 'use `deliver restart <env>`' });
    if (pid !== undefined) stopSteps(n, kind, pid, s);
    if (q.action !== 'stop') startSteps(n, kind, 'the active release', s);
  } else {
    const unavailable = q.action === 'migrate' ? defaultUnavailable(q.migration, kind) : undefined;
    if (unavailable) throw new RemoteError(host, unavailable, { step: 'migrate' });
    queryStep(n, kind, q as NodeQuery, s);
  }
  return { plan: { host, steps: s.steps, facts }, kind };
}

/**
 * Runs the plan's steps that change something (its queries ran while planning); the last step's result. A release
 * script that answers as the wrong kind of release names RELEASE_KIND (one-shot queries: queryResult does).
 */
export async function runNode(backend: Backend, n: NodeTarget, kind: ReleaseKind, plan: HostPlan, signal?: AbortSignal): Promise<ExecResult> {
  const opts: RunStepOptions = { ...(signal ? { signal } : {}), check: scriptCheck(plan.host, n, kind) };
  let last: ExecResult = { code: 0, stdout: '', stderr: '', durationMs: 0 };
  for (const s of plan.steps.filter((x) => !x.query)) last = await runStep(backend, s, opts);
  return last;
}

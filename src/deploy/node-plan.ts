// The steps of node control (start, stop, restart, one-shot queries) for one host, given what was read from it:
// the release kind and whether the node runs. Pure: deploy, rollback and the node commands all plan with these.
import type { Step, StepList } from '../plan/plan.js';
import type { ExecResult } from '../ssh/types.js';
import { chain, ifThen, sh, whileDo, type Shell } from '../ssh/quote.js';
import type { Layout } from './layout.js';
import { describeMigration } from './migrations.js';
import { assertKnownCommand, kindFrom, queryCommand, type NodeQuery } from './node.js';
import { confirmUpCommand, confirmUpDoes } from './node-confirm.js';
import { detectKindCommand, logTailCommand, runningCheckCommand, startCommand, stopCommand, waitDownNodeCommand, waitUpNodeCommand, type ReleaseKind } from './node-commands.js';

export interface NodeTarget {
  layout: Layout;
  /** The environment's env file on the host, sourced before the release script. */
  envFile?: string;
  timeoutMs: number;
  /** RELEASE_KIND / USING_DISTILLERY=true: wins over what detect finds. */
  configuredKind?: ReleaseKind;
}

/** Read-only: the release kind of what `$DELIVER_TO/$APP` points at. */
export function detectStep(l: Layout, steps: StepList): StepList {
  return steps.add('detect', `find the release kind of ${l.root}/bin/${l.app}`, detectKindCommand(l), { query: true });
}

/** The kind detect's answer gives (RELEASE_KIND wins); undefined when nothing is deployed (unless `required`). */
export function kindOf(host: string, n: NodeTarget, detected: string, required = false): ReleaseKind | undefined {
  return kindFrom(host, n.layout, detected, n.configuredKind, required);
}

/** The steps that call the release script itself (not a hook, not the user's HEALTH_CHECK). */
const SCRIPT_STEPS = new Set(['running?', 'stop', 'start', 'up']);

/** A RunStepOptions check: a release script step that answers "no such command" names RELEASE_KIND. */
export function scriptCheck(host: string, n: NodeTarget, kind: ReleaseKind): (step: Step, r: ExecResult) => void {
  const s = { host, app: n.layout.app, kind, ...(n.configuredKind ? { configured: true } : {}) };
  return (step, r) => {
    if (SCRIPT_STEPS.has(step.name) && r.code !== 0) assertKnownCommand(s, `${r.stdout}\n${r.stderr}`, step.name === 'running?' ? 'stop' : step.name);
  };
}

/** Read-only: whether the node runs (its name in epmd; the OS pid from `bin/APP pid` only when epmd cannot be watched). */
export function runningStep(n: NodeTarget, kind: ReleaseKind, steps: StepList): StepList {
  return steps.add('running?', `does it run? its name in epmd -names (or, if epmd cannot be watched, bin/${n.layout.app} pid)`, runningCheckCommand(n.layout, kind, n.envFile), { query: true, timeoutMs: 20_000 });
}

/** The node's OS pid from runningStep's answer; undefined when it does not run. */
export function runningPid(r: { code: number; stdout: string }): number | undefined {
  if (r.code !== 0) return undefined;
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return /^\d+$/.test(last) ? Number(last) : 0;
}

/** Waits on the host until process `pid` is gone (a cheap `kill -0` loop instead of booting a VM per poll). */
export function waitGoneCommand(pid: number, timeoutMs: number): Shell {
  return chain(sh`i=0`, whileDo(sh`kill -0 ${pid} 2>/dev/null`, chain(sh`i=$((i+1))`, ifThen(sh`[ $i -gt ${Math.ceil(timeoutMs / 200)} ]`, sh`exit 1`), sh`sleep 0.2`)));
}

/** Stop the running node (pid from runningStep: 0 when the script gave none) and wait until it is gone. */
export function stopSteps(n: NodeTarget, kind: ReleaseKind, pid: number, steps: StepList): StepList {
  const secs = Math.round(n.timeoutMs / 1000);
  steps.add('stop', `stop the running node${pid ? ` (OS pid ${pid})` : ''}`, stopCommand(n.layout, kind, n.envFile), { timeoutMs: n.timeoutMs + 30_000 });
  const failure = `${n.layout.app} still runs ${secs}s after stop`;
  if (pid) return steps.add('stopped', `wait up to ${secs}s until pid ${pid} is gone`, waitGoneCommand(pid, n.timeoutMs), once(n, failure));
  return steps.add('stopped', `wait up to ${secs}s until the node's name is gone from epmd`, waitDownNodeCommand(n.layout, kind, n.timeoutMs, n.envFile), once(n, failure));
}

/** A wait that loops on the host itself: one command, failing with `failure` (and its last lines) at its end. */
function once(n: NodeTarget, failure: string) {
  return { poll: { timeoutMs: 0, everyMs: 0, failure }, timeoutMs: n.timeoutMs + 10_000 };
}

/**
 * Start the active release, wait until its name is in epmd (no VM per poll), confirm once with the release's own
 * command (retried only while the node finishes booting), show the tail of its log.
 */
export function startSteps(n: NodeTarget, kind: ReleaseKind, what: string, steps: StepList): StepList {
  const secs = Math.round(n.timeoutMs / 1000);
  const failure = `${n.layout.app} did not answer within ${secs}s after start`;
  steps.add('start', `start ${what} (${kind} release script)`, startCommand(n.layout, kind, n.envFile), { timeoutMs: n.timeoutMs + 30_000 });
  steps.add('registered', `wait up to ${secs}s until the node's name is in epmd -names (the release's erts; no VM per poll)`, waitUpNodeCommand(n.layout, kind, n.timeoutMs, n.envFile), once(n, failure));
  steps.add('up', `confirm that the node answers (${confirmUpDoes(n.layout.app, kind)})`, confirmUpCommand(n.layout, kind, n.envFile), { poll: { timeoutMs: n.timeoutMs, everyMs: 300, failure } });
  return steps.add('log', "show the last lines of the node's log", logTailCommand(n.layout), { bestEffort: true });
}

/** A one-shot action (ping, version, pid, rpc, eval, migrate, run). */
export function queryStep(n: NodeTarget, kind: ReleaseKind, q: NodeQuery, steps: StepList): StepList {
  const what = q.action === 'rpc' || q.action === 'eval' ? `${q.action} ${q.expr}` : q.action === 'run' ? `bin/${n.layout.app} ${q.args.join(' ')}` : q.action === 'migrate' ? describeMigration(q.migration) : q.action === 'cluster' ? 'list the nodes this node is connected to (node() and nodes())' : q.action;
  return steps.add(q.action, `${what} (${kind} release)`, queryCommand(n.layout, kind, q, n.envFile), { timeoutMs: 120_000, answer: true });
}

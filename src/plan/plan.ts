// What a command will do on each host, as data (SSHKit's "command is data"): the ordered steps, each with its
// script, its input and the remote session it runs in. A real run executes this (src/plan/execute.ts); a dry run
// prints it (src/output/plan.ts). Plans are computed by pure functions of (config, release, host state).
import type { Shell } from '../ssh/quote.js';

/** What a step's remote command reads on stdin (described, never the bytes or a secret). */
export type StepInput =
  | { kind: 'none' }
  | { kind: 'tarball'; file: string; bytes: number }
  | { kind: 'presigned-url'; file: string }
  /** The project's `.deliver/<env>.env` (when there is one), then this host's CLUSTER_NODE_NAME lines (no secret in them). */
  | { kind: 'env-file'; local?: string; bytes: number; cluster?: string }
  /** A delta tarball built on this machine (src/deploy/delta-source.ts) against the host's installed release. */
  | { kind: 'delta'; local: string; bytes: number; base: string }
  /** Text the plan holds (a version edit, the upgrade program); `what` names it. */
  | { kind: 'text'; what: string; bytes: number };

/** Rerun the script until it exits 0, at most this long (waits for a node, health checks). */
export interface Poll {
  timeoutMs: number;
  everyMs: number;
  /** The error when it never succeeds (`{exit}`: the last exit status). */
  failure: string;
}

export interface Step {
  /** Short name, also the status line's and the error's step. */
  name: string;
  /** One line with the values that matter. */
  does: string;
  script: Shell;
  input: StepInput;
  /**
   * Steps with the same number run in one remote shell, in order: the first is the command, the rest its
   * continuation (ssh/continuation.ts). Consecutive numbers otherwise: one command each.
   */
  session: number;
  poll?: Poll;
  /** A failure does not fail the command (the audit line, a best-effort log tail). */
  bestEffort?: boolean;
  /** Its output and exit status are the command's answer, read by the caller (ping, version, rpc, migrate). */
  answer?: boolean;
  /** Kill the command after this long (node start/stop). */
  timeoutMs?: number;
  /** Read-only: a dry run runs it too (the plan's later steps depend on its answer). */
  query?: boolean;
  /** Runs on this machine, not on the host (a build's hooks, `git push`, streaming into the store). */
  local?: boolean;
  /** The local ssh-agent is forwarded (a build's dependency fetch: private git dependencies). */
  agentForward?: boolean;
}

export interface HostPlan {
  host: string;
  steps: Step[];
  /** What the plan was computed from (state read from the host, decisions), one line each. */
  facts: string[];
}

export interface RunPlan {
  /** e.g. `deploy release 0.2.0 to production`. */
  title: string;
  hosts: HostPlan[];
  /** Lines about the whole run (where the release comes from). */
  facts: string[];
}

const NONE: StepInput = { kind: 'none' };

/** A step of its own remote command, numbered after `steps`. */
export function nextSession(steps: readonly Step[]): number {
  return (steps[steps.length - 1]?.session ?? 0) + 1;
}

/** `a` then `b`, each of `b`'s sessions numbered after `a`'s (the two never share one). */
export function appendSteps(a: readonly Step[], b: readonly Step[]): Step[] {
  const base = a[a.length - 1]?.session ?? 0;
  const first = b[0]?.session ?? 1;
  return [...a, ...b.map((s) => ({ ...s, session: s.session - first + base + 1 }))];
}

type More = Partial<Pick<Step, 'input' | 'poll' | 'bestEffort' | 'answer' | 'query' | 'timeoutMs' | 'local' | 'agentForward'>>;

/** Builds a host's step list: `add` starts a new session, `join` continues the last one. */
export class StepList {
  constructor(readonly steps: Step[] = []) {}

  add(name: string, does: string, script: Shell, more: More = {}): this {
    this.steps.push({ name, does, script, input: more.input ?? NONE, session: nextSession(this.steps), ...pick(more) });
    return this;
  }

  join(name: string, does: string, script: Shell, more: More = {}): this {
    this.steps.push({ name, does, script, input: more.input ?? NONE, session: Math.max(1, nextSession(this.steps) - 1), ...pick(more) });
    return this;
  }
}

function pick(more: More): Partial<Step> {
  return {
    ...(more.timeoutMs ? { timeoutMs: more.timeoutMs } : {}), ...(more.poll ? { poll: more.poll } : {}), ...(more.bestEffort ? { bestEffort: true } : {}), ...(more.answer ? { answer: true } : {}), ...(more.query ? { query: true } : {}),
    ...(more.local ? { local: true } : {}), ...(more.agentForward ? { agentForward: true } : {}) };
}

export function describeInput(i: StepInput): string {
  switch (i.kind) {
    case 'none':
      return 'none';
    case 'tarball':
      return `the release tarball ${i.file} (${i.bytes} bytes)`;
    case 'presigned-url':
      return `a presigned URL for ${i.file} (expires in minutes; never on a command line)`;
    case 'env-file':
      return `${i.local ? `the env file ${i.local}` : 'an env file'}${i.cluster ? `${i.local ? ' and' : ' with'} this host's cluster lines (${i.cluster.trim().split('\n').slice(1).join('; ')})` : ''} (${i.bytes} bytes)`;
    case 'delta':
      return `the delta tarball against ${i.base} (${i.bytes} bytes, built on this machine)`;
    case 'text':
      return `${i.what} (${i.bytes} bytes)`;
  }
}

/** The plan as data for --json: scripts as text. */
export function planJson(p: RunPlan): object {
  return {
    dryRun: true,
    title: p.title,
    facts: p.facts,
    hosts: p.hosts.map((h) => ({
      host: h.host,
      facts: h.facts,
      steps: h.steps.map((s, i) => ({
        n: i + 1,
        name: s.name,
        does: s.does,
        session: s.session,
        input: s.input,
        ...(s.poll ? { poll: s.poll } : {}),
        ...(s.bestEffort ? { bestEffort: true } : {}),
        ...(s.answer ? { answer: true } : {}),
        ...(s.query ? { readOnly: true } : {}),
        ...(s.local ? { local: true } : {}),
        script: s.script.text,
      })),
    })),
  };
}

// Runs a host's plan on its Backend: one remote command per session, a poll step until it succeeds, a failure
// raised as a RemoteError naming the host and the step. The input a step describes is opened by the caller.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { InterruptedError, RemoteError } from '../output/errors.js';
import { ERROR_TAIL_LINES, type Backend, type ExecOptions, type ExecResult } from '../ssh/types.js';
import type { Step, StepInput } from './plan.js';

export interface RunStepOptions {
  signal?: AbortSignal;
  /** Called before each step (the status line); may throw to stop before it (a lost lock). */
  onStep?: (step: Step) => void;
  /** The bytes a step's input describes (the tarball, the env file). */
  open?: (input: StepInput) => Promise<Readable | string> | Readable | string;
  output?: Pick<ExecOptions, 'onStdout' | 'onStderr'>;
  /** Query steps pass their output to `output` too (the caller reads every line, beyond what a result keeps). */
  lines?: boolean;
  /**
   * Reads a step's whole answer before its exit status counts (a release script that answers as the wrong kind of
   * release prints that line before a long usage text, beyond the tail a failure keeps); may throw.
   */
  check?: (step: Step, result: ExecResult) => void;
  /** Run the steps with the login shell, not /bin/sh (ssh/remote-shell.ts). */
  loginShell?: boolean;
}

/** Runs one step (its own remote command). Query, answer and best-effort steps return their result whatever the exit. */
export async function runStep(backend: Backend, step: Step, opts: RunStepOptions = {}): Promise<ExecResult> {
  opts.onStep?.(step);
  const base: ExecOptions = {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(step.timeoutMs ? { timeoutMs: step.timeoutMs } : {}),
    ...(step.agentForward ? { agentForward: true } : {}),
    ...(opts.loginShell ? { loginShell: true } : {}),
    // A query's lines go to a caller that asks for them with `lines` (not to the live output).
    ...(step.bestEffort || step.answer || (step.query && !opts.lines) ? {} : opts.output),
  };
  if (step.poll) return poll(backend, step, base, opts.signal, opts.check);
  const stdin = step.input.kind === 'none' ? undefined : await opts.open?.(step.input);
  const o: ExecOptions = { ...base, ...(stdin !== undefined ? { stdin } : {}) };
  try {
    if (step.query || step.bestEffort || step.answer) return checked(step, await backend.exec(step.script.text, o), opts.check);
    if (opts.check) return failOn(backend, step, checked(step, await backend.exec(step.script.text, o), opts.check));
    return await backend.run(step.script.text, { ...o, step: step.name });
  } catch (err) {
    if (opts.signal?.aborted) throw new InterruptedError();
    if (step.bestEffort || step.answer) return { code: 255, stdout: '', stderr: String((err as Error)?.message ?? err), durationMs: 0 };
    throw err;
  }
}

function checked(step: Step, r: ExecResult, check: RunStepOptions['check']): ExecResult {
  check?.(step, r);
  return r;
}

/** What `backend.run` raises for a failed command, for a result read whole by `check`. */
function failOn(backend: Backend, step: Step, r: ExecResult): ExecResult {
  if (r.code === 0) return r;
  const how = r.signal ? `was killed by signal ${r.signal}` : `failed with exit code ${r.code}`;
  const detail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-ERROR_TAIL_LINES).join('\n');
  throw new RemoteError(backend.target.name, `${step.name} ${how}`, { step: step.name, command: step.script.text, ...(detail ? { detail } : {}) });
}

/** Runs `steps` in order, each its own remote command. */
export async function runSteps(backend: Backend, steps: readonly Step[], opts: RunStepOptions = {}): Promise<void> {
  for (const s of steps) await runStep(backend, s, opts);
}

async function poll(backend: Backend, step: Step, o: ExecOptions, signal?: AbortSignal, check?: RunStepOptions['check']): Promise<ExecResult> {
  const p = step.poll!;
  const deadline = Date.now() + p.timeoutMs;
  for (;;) {
    if (signal?.aborted) throw new InterruptedError();
    const r = await backend.exec(step.script.text, { timeoutMs: Math.max(5_000, p.timeoutMs), ...o });
    if (r.code === 0) return r;
    check?.(step, r);
    if (Date.now() >= deadline) {
      const out = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-10).join('\n');
      throw new RemoteError(backend.target.name, p.failure.replace('{exit}', String(r.code)), { step: step.name, ...(out ? { detail: out } : {}) });
    }
    try {
      await sleep(p.everyMs, undefined, signal ? { signal } : undefined);
    } catch {
      throw new InterruptedError();
    }
  }
}

// Runs a host's plan on its Backend: one remote command per session, a poll step until it succeeds, a failure
// raised as a RemoteError naming the host and the step. The input a step describes is opened by the caller.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { InterruptedError, RemoteError } from '../output/errors.js';
import type { Backend, ExecOptions, ExecResult } from '../ssh/types.js';
import type { Step, StepInput } from './plan.js';

export interface RunStepOptions {
  signal?: AbortSignal;
  /** Called before each step (the status line); may throw to stop before it (a lost lock). */
  onStep?: (step: Step) => void;
  /** The bytes a step's input describes (the tarball, the env file). */
  open?: (input: StepInput) => Promise<Readable | string> | Readable | string;
  output?: Pick<ExecOptions, 'onStdout' | 'onStderr'>;
}

/** Runs one step (its own remote command). Query and best-effort steps return their result whatever the exit. */
export async function runStep(backend: Backend, step: Step, opts: RunStepOptions = {}): Promise<ExecResult> {
  opts.onStep?.(step);
  const base: ExecOptions = {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(step.timeoutMs ? { timeoutMs: step.timeoutMs } : {}),
    ...(step.query || step.bestEffort ? {} : opts.output),
  };
  if (step.poll) return poll(backend, step, base, opts.signal);
  const stdin = step.input.kind === 'none' ? undefined : await opts.open?.(step.input);
  const o: ExecOptions = { ...base, ...(stdin !== undefined ? { stdin } : {}) };
  try {
    if (step.query || step.bestEffort) return await backend.exec(step.script.text, o);
    return await backend.run(step.script.text, { ...o, step: step.name });
  } catch (err) {
    if (opts.signal?.aborted) throw new InterruptedError();
    if (step.bestEffort) return { code: 255, stdout: '', stderr: String((err as Error)?.message ?? err), durationMs: 0 };
    throw err;
  }
}

/** Runs `steps` in order, each its own remote command. */
export async function runSteps(backend: Backend, steps: readonly Step[], opts: RunStepOptions = {}): Promise<void> {
  for (const s of steps) await runStep(backend, s, opts);
}

async function poll(backend: Backend, step: Step, o: ExecOptions, signal?: AbortSignal): Promise<ExecResult> {
  const p = step.poll!;
  const deadline = Date.now() + p.timeoutMs;
  for (;;) {
    if (signal?.aborted) throw new InterruptedError();
    const r = await backend.exec(step.script.text, { timeoutMs: Math.max(5_000, p.timeoutMs), ...o });
    if (r.code === 0) return r;
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

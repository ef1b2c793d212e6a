// Runs one function per host with bounded concurrency and collects a result for every host (Fabric's
// GroupResult): a failing host never stops the others unless more than `maxFail` hosts have failed, and then
// only hosts not yet started are skipped. Results come back in input order.
import pLimit from 'p-limit';
import { DeliverError, InterruptedError, RemoteError } from '../output/errors.js';
import type { HostTarget } from './types.js';

export type HostResult<T> =
  | { target: HostTarget; ok: true; value: T; ms: number }
  | { target: HostTarget; ok: false; error: Error; step?: string; ms: number };

export interface FanOutOptions {
  /** Hosts running at once. */
  concurrency: number;
  /** Aborting skips hosts not yet started (running ones see the signal through their own calls). */
  signal?: AbortSignal;
  /** Once more than this many hosts failed, hosts not yet started are skipped. Default: never skip. */
  maxFail?: number;
}

/** The error given to hosts that never started because too many others failed. */
export class SkippedError extends DeliverError {
  constructor(
    readonly host: string,
    reason: string,
  ) {
    super(`${host}: skipped (${reason})`);
  }
}

export async function fanOut<T>(
  targets: readonly HostTarget[],
  fn: (target: HostTarget) => Promise<T>,
  opts: FanOutOptions,
): Promise<HostResult<T>[]> {
  const limit = pLimit(Math.max(1, Math.floor(opts.concurrency) || 1));
  let failures = 0;
  const maxFail = opts.maxFail ?? Infinity;

  return Promise.all(
    targets.map((target) =>
      limit(async (): Promise<HostResult<T>> => {
        if (opts.signal?.aborted) {
          return { target, ok: false, error: new InterruptedError(`${target.name}: skipped (interrupted)`), ms: 0 };
        }
        if (failures > maxFail) {
          return { target, ok: false, error: new SkippedError(target.name, `${failures} hosts failed, more than the allowed ${maxFail}`), ms: 0 };
        }
        const started = Date.now();
        try {
          const value = await fn(target);
          return { target, ok: true, value, ms: Date.now() - started };
        } catch (err) {
          failures++;
          const error = err instanceof Error ? err : new Error(String(err));
          const step = err instanceof RemoteError ? err.step : undefined;
          return { target, ok: false, error, ...(step ? { step } : {}), ms: Date.now() - started };
        }
      }),
    ),
  );
}

/** Splits results into successes and failures (for summaries and exit codes). */
export function partitionResults<T>(results: readonly HostResult<T>[]): {
  ok: Extract<HostResult<T>, { ok: true }>[];
  failed: Extract<HostResult<T>, { ok: false }>[];
} {
  const ok: Extract<HostResult<T>, { ok: true }>[] = [];
  const failed: Extract<HostResult<T>, { ok: false }>[] = [];
  for (const r of results) {
    if (r.ok) ok.push(r);
    else failed.push(r);
  }
  return { ok, failed };
}

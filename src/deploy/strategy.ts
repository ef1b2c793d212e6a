// How hosts are rolled through: all at once (bounded), in batches with a gate between them, or one canary first.
// Each host runs its whole pipeline independently; batches only decide when a host may start.
import pLimit from 'p-limit';
import { UsageError, isDeliverError, RemoteError } from '../output/errors.js';
import { DEFAULT_CONCURRENCY } from '../config/typed.js';
import type { HostTarget } from '../ssh/types.js';

export type StrategyName = 'parallel' | 'rolling' | 'canary';

export interface StrategyOptions {
  strategy: StrategyName;
  concurrency: number;
  /** Rolling batch size: `N` hosts or `P%` of them (default 1). */
  batchSize?: string;
  /** Failures tolerated before no further host starts: `N` or `P%`. Default: parallel none stops; rolling/canary 0. */
  maxFail?: string;
}

export type HostStatus = 'ok' | 'failed' | 'skipped' | 'interrupted';

export interface HostOutcome<R> {
  host: string;
  status: HostStatus;
  /** The step that failed (lock, upload, verify, unpack, activate, start, health, ...). */
  step?: string;
  error?: string;
  value?: R;
  durationMs: number;
}

export function parseStrategy(value: string | undefined): StrategyName {
  const v = value ?? 'parallel';
  if (v === 'parallel' || v === 'rolling' || v === 'canary') return v;
  throw new UsageError(`--strategy: expected parallel, rolling or canary, got ${JSON.stringify(v)}`);
}

/** `N` or `P%` of `total`; percentages round up for batch sizes and down for failure budgets. */
export function parseCount(value: string, total: number, flag: string, round: 'up' | 'down'): number {
  const m = /^(\d+)(%?)$/.exec(value.trim());
  if (!m) throw new UsageError(`${flag}: expected a number or a percentage (e.g. 2 or 25%), got ${JSON.stringify(value)}`);
  const n = Number(m[1]);
  if (!m[2]) return n;
  if (n > 100) throw new UsageError(`${flag}: a percentage must be at most 100%, got ${value}`);
  const exact = (total * n) / 100;
  return round === 'up' ? Math.ceil(exact) : Math.floor(exact);
}

// Handshakes have their own, smaller bounds than DEFAULT_CONCURRENCY (SshOptions.maxConcurrentStarts, and per server in transport.ts).
export { DEFAULT_CONCURRENCY };

export function parseConcurrency(value: string | undefined, fallback = DEFAULT_CONCURRENCY): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--concurrency: expected a whole number ≥ 1, got ${JSON.stringify(value)}`);
  return Number(value);
}

export function planBatches<T>(hosts: readonly T[], opts: StrategyOptions): T[][] {
  if (hosts.length === 0) return [];
  if (opts.strategy === 'parallel') return [[...hosts]];
  if (opts.strategy === 'canary') return hosts.length === 1 ? [[...hosts]] : [[hosts[0]!], hosts.slice(1)];
  const size = Math.max(1, parseCount(opts.batchSize ?? '1', hosts.length, '--batch-size', 'up'));
  const out: T[][] = [];
  for (let i = 0; i < hosts.length; i += size) out.push(hosts.slice(i, i + size));
  return out;
}

export function failureBudget(opts: StrategyOptions, total: number): number {
  if (opts.maxFail !== undefined) return parseCount(opts.maxFail, total, '--max-fail', 'down');
  return opts.strategy === 'parallel' ? total : 0;
}

export function errorStep(err: unknown): string | undefined {
  if (err instanceof RemoteError) return err.step;
  return (err as { step?: string } | undefined)?.step;
}

export function errorText(err: unknown): string {
  if (isDeliverError(err)) return err.detail ? `${err.message}\n${err.detail}` : err.message;
  return err instanceof Error ? err.message : String(err);
}

export interface RunHooks {
  /** Called between batches; a thrown error or false stops the rollout (remaining hosts are skipped). */
  afterBatch?: (batch: number, outcomes: HostOutcome<unknown>[]) => boolean | Promise<boolean>;
}

/**
 * Runs `fn` for every host by the strategy. Never rejects: every host gets an outcome. When the failure budget is
 * exceeded or the signal aborts, hosts not yet started are `skipped`; running ones finish (or stop on the signal).
 */
export async function runStrategy<R>(
  targets: readonly HostTarget[],
  fn: (target: HostTarget) => Promise<R>,
  opts: StrategyOptions & { signal?: AbortSignal } & RunHooks,
): Promise<HostOutcome<R>[]> {
  const budget = failureBudget(opts, targets.length);
  const outcomes = new Map<string, HostOutcome<R>>();
  let failures = 0;
  let stopped = false;
  const limit = pLimit(Math.max(1, opts.concurrency));
  const batches = planBatches(targets, opts);
  for (const [bi, batch] of batches.entries()) {
    if (stopped || opts.signal?.aborted) break;
    const batchOutcomes = await Promise.all(
      batch.map((t) =>
        limit(async (): Promise<HostOutcome<R>> => {
          if (stopped || opts.signal?.aborted) return { host: t.name, status: opts.signal?.aborted ? 'interrupted' : 'skipped', durationMs: 0 };
          const t0 = Date.now();
          try {
            const value = await fn(t);
            return { host: t.name, status: 'ok', value, durationMs: Date.now() - t0 };
          } catch (err) {
            const aborted = opts.signal?.aborted ?? false;
            if (!aborted) {
              failures += 1;
              if (failures > budget) stopped = true;
            }
            const step = errorStep(err);
            return { host: t.name, status: aborted ? 'interrupted' : 'failed', ...(step ? { step } : {}), error: errorText(err), durationMs: Date.now() - t0 };
          }
        }),
      ),
    );
    for (const o of batchOutcomes) outcomes.set(o.host, o);
    if (bi < batches.length - 1 && !stopped && opts.afterBatch) {
      let go = false;
      try {
        go = await opts.afterBatch(bi + 1, batchOutcomes as HostOutcome<unknown>[]);
      } catch {
        go = false;
      }
      if (!go) stopped = true;
    }
  }
  return targets.map(
    (t) => outcomes.get(t.name) ?? { host: t.name, status: opts.signal?.aborted ? 'interrupted' : 'skipped', durationMs: 0 },
  );
}

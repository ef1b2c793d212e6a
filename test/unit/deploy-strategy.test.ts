import { describe, expect, it } from 'vitest';
import { RemoteError } from '../../src/output/errors.js';
import { DEFAULT_CONCURRENCY, failureBudget, parseConcurrency, parseCount, parseStrategy, planBatches, runStrategy } from '../../src/deploy/strategy.js';

const hosts = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `h${i + 1}`, host: `h${i + 1}` }));

describe('strategy planning', () => {
  it('takes up to 32 hosts at once unless --concurrency says otherwise', () => {
    expect(DEFAULT_CONCURRENCY).toBe(32);
    expect(parseConcurrency(undefined)).toBe(32);
    expect(parseConcurrency('4')).toBe(4);
    expect(() => parseConcurrency('0')).toThrow('--concurrency: expected a whole number ≥ 1, got "0"');
  });

  it('plans parallel, rolling and canary batches', () => {
    const h = [1, 2, 3, 4, 5];
    expect(planBatches(h, { strategy: 'parallel', concurrency: 2 })).toEqual([[1, 2, 3, 4, 5]]);
    expect(planBatches(h, { strategy: 'rolling', concurrency: 2, batchSize: '2' })).toEqual([[1, 2], [3, 4], [5]]);
    expect(planBatches(h, { strategy: 'rolling', concurrency: 2, batchSize: '40%' })).toEqual([[1, 2], [3, 4], [5]]);
    expect(planBatches(h, { strategy: 'rolling', concurrency: 2 })).toHaveLength(5);
    expect(planBatches(h, { strategy: 'canary', concurrency: 2 })).toEqual([[1], [2, 3, 4, 5]]);
    expect(planBatches([], { strategy: 'canary', concurrency: 2 })).toEqual([]);
  });
  it('parses counts and rejects nonsense with a usage error', () => {
    expect(parseCount('25%', 10, '--max-fail', 'down')).toBe(2);
    expect(parseCount('25%', 10, '--batch-size', 'up')).toBe(3);
    expect(() => parseCount('x', 10, '--max-fail', 'down')).toThrow('--max-fail: expected a number or a percentage');
    expect(() => parseCount('120%', 10, '--max-fail', 'down')).toThrow('at most 100%');
    expect(() => parseStrategy('blue-green')).toThrow('--strategy: expected parallel, rolling or canary');
    expect(failureBudget({ strategy: 'rolling', concurrency: 1 }, 8)).toBe(0);
    expect(failureBudget({ strategy: 'parallel', concurrency: 1 }, 8)).toBe(8);
  });
});

describe('runStrategy', () => {
  it('rolling stops after the batch where a host failed and names the step', async () => {
    const started: string[] = [];
    const res = await runStrategy(hosts(6), async (t) => {
      started.push(t.name);
      if (t.name === 'h2') throw new RemoteError(t.name, 'health check failed', { step: 'health' });
      return 1;
    }, { strategy: 'rolling', concurrency: 4, batchSize: '2' });
    expect(started.sort()).toEqual(['h1', 'h2']);
    expect(res.map((r) => r.status)).toEqual(['ok', 'failed', 'skipped', 'skipped', 'skipped', 'skipped']);
    expect(res[1]).toMatchObject({ step: 'health', error: 'h2: health check failed' });
  });
  it('parallel respects concurrency and runs every host despite failures', async () => {
    let running = 0;
    let peak = 0;
    const res = await runStrategy(hosts(9), async (t) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      if (t.name === 'h3') throw new Error('boom');
    }, { strategy: 'parallel', concurrency: 3 });
    expect(peak).toBe(3);
    expect(res.filter((r) => r.status === 'failed').map((r) => r.host)).toEqual(['h3']);
    expect(res.filter((r) => r.status === 'ok')).toHaveLength(8);
  });
  it('--max-fail stops starting hosts once exceeded; canary gates the rest', async () => {
    const res = await runStrategy(hosts(6), async () => {
      throw new Error('no');
    }, { strategy: 'parallel', concurrency: 1, maxFail: '1' });
    expect(res.map((r) => r.status)).toEqual(['failed', 'failed', 'skipped', 'skipped', 'skipped', 'skipped']);
    const gated = await runStrategy(hosts(4), async () => 1, { strategy: 'canary', concurrency: 4, afterBatch: () => false });
    expect(gated.map((r) => r.status)).toEqual(['ok', 'skipped', 'skipped', 'skipped']);
  });
  it('an abort marks unstarted hosts interrupted', async () => {
    const ac = new AbortController();
    const res = await runStrategy(hosts(3), async (t) => {
      if (t.name === 'h1') ac.abort();
      throw new Error('stopped');
    }, { strategy: 'parallel', concurrency: 1, signal: ac.signal });
    expect(res.map((r) => r.status)).toEqual(['interrupted', 'interrupted', 'interrupted']);
  });
});

import { describe, expect, it } from 'vitest';
import { RemoteError } from '../../src/output/errors.js';
import { fanOut, partitionResults, SkippedError } from '../../src/ssh/fanout.js';
import type { HostTarget } from '../../src/ssh/types.js';

const hosts = (n: number): HostTarget[] => Array.from({ length: n }, (_, i) => ({ name: `host${i + 1}`, host: `host${i + 1}` }));
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fanOut', () => {
  it('returns a result per host in input order, failures isolated', async () => {
    const results = await fanOut(
      hosts(6),
      async (t) => {
        await delay(t.name === 'host1' ? 30 : 1);
        if (t.name === 'host3') throw new RemoteError(t.name, 'boom', { step: 'unpack' });
        return t.name.toUpperCase();
      },
      { concurrency: 3 },
    );
    expect(results.map((r) => r.target.name)).toEqual(['host1', 'host2', 'host3', 'host4', 'host5', 'host6']);
    expect(results.map((r) => r.ok)).toEqual([true, true, false, true, true, true]);
    const failed = results[2]!;
    expect(failed.ok === false && failed.step).toBe('unpack');
    expect(failed.ok === false && failed.error.message).toBe('host3: boom');
    expect(results[0]!.ok && results[0]!.value).toBe('HOST1');
    const { ok, failed: f } = partitionResults(results);
    expect(ok).toHaveLength(5);
    expect(f).toHaveLength(1);
  });

  it('never runs more than `concurrency` at once', async () => {
    let running = 0;
    let peak = 0;
    await fanOut(
      hosts(20),
      async () => {
        running++;
        peak = Math.max(peak, running);
        await delay(5);
        running--;
      },
      { concurrency: 4 },
    );
    expect(peak).toBe(4);
  });

  it('skips hosts not yet started once more than maxFail failed', async () => {
    const started: string[] = [];
    const results = await fanOut(
      hosts(6),
      async (t) => {
        started.push(t.name);
        await delay(1);
        if (t.name === 'host1' || t.name === 'host2') throw new Error('down');
        return 1;
      },
      { concurrency: 1, maxFail: 1 },
    );
    expect(started).toEqual(['host1', 'host2']);
    expect(results.slice(2).every((r) => !r.ok && r.error instanceof SkippedError)).toBe(true);
    expect(results[2]!.ok === false && results[2]!.error.message).toMatch(/host3: skipped \(2 hosts failed/);
  });

  it('maxFail 0 with one failure still lets running hosts finish', async () => {
    const results = await fanOut(
      hosts(3),
      async (t) => {
        if (t.name === 'host1') throw new Error('x');
        await delay(10);
        return t.name;
      },
      { concurrency: 3, maxFail: 0 },
    );
    expect(results.map((r) => r.ok)).toEqual([false, true, true]);
  });

  it('an aborted signal skips hosts not yet started', async () => {
    const ac = new AbortController();
    const results = await fanOut(
      hosts(4),
      async (t) => {
        if (t.name === 'host1') ac.abort();
        await delay(1);
        return t.name;
      },
      { concurrency: 1, signal: ac.signal },
    );
    expect(results.map((r) => r.ok)).toEqual([true, false, false, false]);
    expect(results[1]!.ok === false && results[1]!.error.message).toContain('interrupted');
  });

  it('handles an empty host list and non-Error throws', async () => {
    expect(await fanOut([], async () => 1, { concurrency: 2 })).toEqual([]);
    const [r] = await fanOut(hosts(1), async () => {
      throw 'plain string';
    }, { concurrency: 1 });
    expect(r!.ok === false && r!.error.message).toBe('plain string');
  });
});

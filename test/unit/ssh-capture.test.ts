import { describe, expect, it } from 'vitest';
import { LineRing, StreamCapture } from '../../src/ssh/capture.js';

describe('StreamCapture', () => {
  it('emits complete lines across chunk boundaries and flushes the last one', () => {
    const lines: string[] = [];
    const c = new StreamCapture((l) => lines.push(l), undefined);
    c.push(Buffer.from('one\ntw'));
    c.push(Buffer.from('o\r\nthree'));
    expect(lines).toEqual(['one', 'two']);
    c.end();
    expect(lines).toEqual(['one', 'two', 'three']);
    expect(c.text()).toBe('one\ntwo\r\nthree');
  });

  it('decodes UTF-8 split across chunks', () => {
    const lines: string[] = [];
    const c = new StreamCapture((l) => lines.push(l), undefined);
    const bytes = Buffer.from('☃ snow\n');
    c.push(bytes.subarray(0, 1));
    c.push(bytes.subarray(1));
    expect(lines).toEqual(['☃ snow']);
  });

  it('keeps only the last `limit` bytes', () => {
    const c = new StreamCapture(undefined, undefined, 1000);
    for (let i = 0; i < 500; i++) c.push(Buffer.from(`line ${String(i).padStart(4, '0')}\n`));
    c.end();
    const text = c.text();
    expect(text.length).toBeLessThanOrEqual(1000);
    expect(text.endsWith('line 0499\n')).toBe(true);
    expect(text).not.toContain('line 0001');
  });

  it('never starts the kept text in the middle of a UTF-8 character', () => {
    const c = new StreamCapture(undefined, undefined, 10);
    c.push(Buffer.from('ééééééééé'));
    expect(c.text()).not.toContain('\uFFFD');
  });

  it('passes on an overlong line rather than buffering it forever', () => {
    const lines: string[] = [];
    const c = new StreamCapture((l) => lines.push(l), undefined, 100);
    c.push(Buffer.alloc(250, 'x'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toHaveLength(250);
  });
});

describe('LineRing', () => {
  it('keeps the last N lines from both streams in arrival order', () => {
    const ring = new LineRing(3);
    const out = new StreamCapture(undefined, ring);
    const err = new StreamCapture(undefined, ring);
    out.push(Buffer.from('o1\n'));
    err.push(Buffer.from('e1\n'));
    out.push(Buffer.from('o2\no3\n'));
    expect(ring.lines()).toEqual(['e1', 'o2', 'o3']);
  });
});

import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PidMarkerFilter, withPidMarker } from '../../src/ssh/pid-marker.js';

function feed(chunks: string[]): { pid: number | undefined; out: string } {
  let out = '';
  const f = new PidMarkerFilter((b) => (out += b.toString()));
  for (const c of chunks) f.push(Buffer.from(c));
  f.flush();
  return { pid: f.pid, out };
}

describe('PidMarkerFilter', () => {
  it('takes the marker off the first line and forwards the rest', () => {
    expect(feed(['deliver-pid:4242\nreal error\n'])).toEqual({ pid: 4242, out: 'real error\n' });
  });

  it('finds the marker split across chunks', () => {
    expect(feed(['deliver-', 'pid:17', '\n', 'x'])).toEqual({ pid: 17, out: 'x' });
  });

  it('finds the marker after shell start-up noise (a .bashrc writing to stderr) and keeps that noise', () => {
    expect(feed(['pyenv: cannot rehash\n', 'deliver-pid:99\nboom\n'])).toEqual({ pid: 99, out: 'pyenv: cannot rehash\nboom\n' });
  });

  it('forwards everything when no marker ever comes', () => {
    expect(feed(['no marker here\n', 'deliver-pid:abc\n'])).toEqual({ pid: undefined, out: 'no marker here\ndeliver-pid:abc\n' });
  });

  it('stops holding output back after 64 KiB without a marker', () => {
    let out = 0;
    const f = new PidMarkerFilter((b) => (out += b.length));
    f.push(Buffer.alloc(70 * 1024, 'a'));
    expect(out).toBe(70 * 1024);
    f.push(Buffer.from('deliver-pid:1\n'));
    expect(f.pid).toBeUndefined();
  });

  it('withPidMarker prints the shell pid before the command runs (real sh)', () => {
    const stderr = execFileSync('sh', ['-c', `{ ${withPidMarker('echo out; echo err >&2')}; } 2>&1 1>/dev/null`], { encoding: 'utf8' });
    const r = feed([stderr]);
    expect(r.pid).toBeGreaterThan(1);
    expect(r.out).toBe('err\n');
  });
});

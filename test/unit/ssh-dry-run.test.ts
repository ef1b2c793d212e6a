import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Output } from '../../src/output/output.js';
import { sh } from '../../src/ssh/quote.js';
import { createTransport } from '../../src/ssh/transport.js';
import { DryRunBackend } from '../../src/ssh/dry-run.js';

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk, _e, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { out: new Output({ stdout: stream, stderr: stream, color: false }), text: () => text };
}

describe('dry-run transport', () => {
  it('prints exactly the command lines per host and runs nothing', async () => {
    const { out, text } = capture();
    const t = createTransport({ dryRun: true, out });
    const b1 = await t.connect({ name: 'host1', host: 'h1' });
    const b2 = await t.connect({ name: 'deploy@host2', host: 'h2', user: 'deploy' });
    expect(b1).toBeInstanceOf(DryRunBackend);
    const marker = `/tmp/dry-run-must-not-exist-${process.pid}`;
    const r = await b1.exec(sh`touch ${marker} && echo ${"it's"}`.text);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '', durationMs: 0 });
    await b2.run('mix release', { step: 'release' });
    const up = await b2.upload(Readable.from([Buffer.alloc(1000), Buffer.alloc(24)]), '/srv/app/rel.tar.gz', { mode: 0o600 });
    expect(up.bytes).toBe(1024);
    const down = await b1.download('/srv/app/x');
    const chunks: Buffer[] = [];
    for await (const c of down) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).length).toBe(0);
    await t.closeAll();
    expect(text()).toBe(
      [
        `[host1] $ touch ${marker} && echo 'it'\\''s'`,
        '[deploy@host2] $ mix release',
        '[deploy@host2] upload 1024 bytes -> /srv/app/rel.tar.gz (mode 0600)',
        '[host1] download /srv/app/x',
        '',
      ].join('\n'),
    );
    const { existsSync } = await import('node:fs');
    expect(existsSync(marker)).toBe(false);
  });

  it('prints nothing on stdout in --json mode (and does print without it: the check can fail)', async () => {
    const printed = async (json: boolean) => {
      let text = '';
      const stream = new Writable({
        write(chunk, _e, cb) {
          text += String(chunk);
          cb();
        },
      });
      const t = createTransport({ dryRun: true, out: new Output({ json, stdout: stream, stderr: new Writable({ write: (_c, _e, cb) => cb() }), color: false }) });
      await (await t.connect({ name: 'h', host: 'h' })).exec('true');
      return text;
    };
    expect(await printed(false)).toBe('[h] $ true\n');
    expect(await printed(true)).toBe('');
  });
});

// The `local` environment: its words, its directory (TEST_LOCALLY_AT) and the local-shell Backend it runs through.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { environmentFrom } from '../../src/cli/common.js';
import { loadSettings } from '../../src/config/load.js';
import { localDeployDir, validateSettings } from '../../src/config/validate.js';
import { InterruptedError, RemoteError } from '../../src/output/errors.js';
import { LOCAL_TARGET, LocalBackend, LocalTransport } from '../../src/ssh/local.js';
import type { Transport } from '../../src/ssh/types.js';

const root = mkdtempSync(join(tmpdir(), 'deliver-local-unit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function settings(config: string) {
  const dir = join(root, `p${++n}`);
  mkdirSync(join(dir, '.deliver'), { recursive: true });
  writeFileSync(join(dir, '.deliver', 'config'), config);
  return { dir, s: await loadSettings({ cwd: dir, env: { HOME: '/home/t', PATH: process.env.PATH ?? '/usr/bin:/bin' } }) };
}

describe('the local environment', () => {
  it("takes edeliver's words for it", () => {
    expect(['local', 'locally', 'localhost', 'LOCAL'].map((w) => environmentFrom(['to', w]))).toEqual(['local', 'local', 'local', 'local']);
  });

  it('lives in TEST_LOCALLY_AT, default .local-release in the project; relative to the project', async () => {
    const a = await settings('APP=demo\n');
    expect(localDeployDir(a.s)).toBe(join(a.dir, '.local-release'));
    const b = await settings('APP=demo\nTEST_LOCALLY_AT=try/here\n');
    expect(localDeployDir(b.s)).toBe(join(b.dir, 'try', 'here'));
    const c = await settings('APP=demo\nTEST_LOCALLY_AT=/\n');
    expect(() => localDeployDir(c.s)).toThrow(/config:2.*TEST_LOCALLY_AT="\/": refusing the root directory/s);
    expect(validateSettings(c.s).errors.map((e) => e.message)).toEqual([expect.stringMatching(/TEST_LOCALLY_AT/)]);
  });
});

describe('LocalBackend', () => {
  const b = new LocalBackend();

  it('runs sh -c with stdin, captures both streams and the exit code', async () => {
    const r = await b.exec('read x; echo "got $x"; echo err >&2; exit 3', { stdin: 'hello\n' });
    expect([r.code, r.stdout, r.stderr]).toEqual([3, 'got hello\n', 'err\n']);
    const s = await b.exec('cat', { stdin: Readable.from([Buffer.from('a'), Buffer.from('b')]) });
    expect(s.stdout).toBe('ab');
    await expect(b.run('echo out; exit 4', { step: 'x' })).rejects.toThrow(RemoteError);
  });

  it('stops the whole process group on a timeout or an abort', async () => {
    const t0 = Date.now();
    await expect(b.exec('sleep 30 & sleep 30; wait', { timeoutMs: 300 })).rejects.toThrow(/local: command timed out/);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    await expect(b.exec('sleep 30', { signal: ac.signal })).rejects.toBeInstanceOf(InterruptedError);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('writes and reads files with the mode asked for', async () => {
    const f = join(root, 'up.bin');
    expect(await b.upload(Readable.from([Buffer.from('12345')]), f, { mode: 0o600 })).toEqual({ bytes: 5 });
    expect([readFileSync(f, 'utf8'), statSync(f).mode & 0o777]).toEqual(['12345', 0o600]);
    const chunks: Buffer[] = [];
    for await (const c of await b.download(f)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('12345');
    await expect(b.download(join(root, 'missing'))).rejects.toThrow(/local: cannot read/);
  });

  it('the transport gives this machine for the local target and SSH for every other host', async () => {
    const asked: string[] = [];
    const ssh: Transport = { connect: (t) => (asked.push(t.name), Promise.resolve(b)), closeAll: () => Promise.resolve() };
    const t = new LocalTransport(ssh);
    expect(await t.connect(LOCAL_TARGET)).toBeInstanceOf(LocalBackend);
    await t.connect({ name: 'build', host: 'build' });
    expect(asked).toEqual(['build']);
  });
});

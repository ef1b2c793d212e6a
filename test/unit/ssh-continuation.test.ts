// The two-halves remote shell (continuation.ts) and the deploy's receive step, run by real dash and bash.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { EXIT_UPLOAD, receiveCommand, verifyCommand } from '../../src/deploy/commands.js';
import { execUntil, runScriptFromStdin, scriptInput } from '../../src/ssh/continuation.js';
import { and, sh } from '../../src/ssh/quote.js';
import { localShellBackend } from '../helpers/local-shell.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

const READY = (line: string) => line === 'READY';

describe.each(['sh', 'bash'])('continuation with %s', (shell) => {
  const backend = () => localShellBackend('web1', shell);

  it('runs the rest in the same shell, with the bytes after it as its stdin, and returns its exit status', async () => {
    const dir = tmp('cont-');
    const seen: string[] = [];
    const b = backend();
    const started = await execUntil(b, `x=42; echo before; echo READY; ${runScriptFromStdin().text}`, READY, { onStdout: (l) => seen.push(l) });
    expect(started.paused?.head).toBe('before\nREADY\n');
    const file = join(dir, 'got');
    const r = await started.paused!.send(sh`echo "x=$x" && head -c 5 > ${file} && cat ${file} && echo && exit 3`, 'hello world');
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('x=42\nhello\n');
    expect(readFileSync(file, 'utf8')).toBe('hello');
    // Only the continuation's lines are passed on; the head is returned.
    expect(seen).toEqual(['x=42', 'hello']);
    expect(b.commands).toHaveLength(1);
  });

  it('streams megabytes of binary input intact', async () => {
    const dir = tmp('cont-');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const file = join(dir, 'blob');
    const started = await execUntil(backend(), `echo READY; ${runScriptFromStdin().text}`, READY);
    const sha = createHash('sha256').update(data).digest('hex');
    const r = await started.paused!.send(and(receiveCommand(file), verifyCommand(file, sha, data.length)), Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
    expect(r.code, r.stderr).toBe(0);
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('close() ends the command without running anything more', async () => {
    const dir = tmp('cont-');
    const started = await execUntil(backend(), `echo READY; ${runScriptFromStdin().text}; touch ${join(dir, 'after')}`, READY);
    const r = await started.paused!.close();
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'after'))).toBe(false);
  });

  it('returns the result when the command ends without pausing', async () => {
    const started = await execUntil(backend(), `echo HELD; exit 0; echo READY; ${runScriptFromStdin().text}`, READY);
    expect(started.paused).toBeUndefined();
    expect(started.result).toMatchObject({ code: 0, stdout: 'HELD\n' });
  });

  it('never runs a truncated script or a bad length line', async () => {
    const dir = tmp('cont-');
    const marker = join(dir, 'ran');
    const full = scriptInput(sh`touch ${marker}`);
    const b = backend();
    for (const input of [full.slice(0, -3), `${full.split('\n')[0]}\n`, 'abc\ntouch x\n', '']) {
      const r = await b.exec(runScriptFromStdin().text, { stdin: input });
      expect(r.code).toBe(0);
      expect(existsSync(marker)).toBe(false);
    }
    expect((await b.exec(runScriptFromStdin().text, { stdin: full })).code).toBe(0);
    expect(existsSync(marker)).toBe(true);
  });

  it('receive + verify refuse a short upload (exit EXIT_UPLOAD) and remove the partial file', async () => {
    const dir = tmp('cont-');
    const file = join(dir, 'part');
    const sha = createHash('sha256').update(Buffer.alloc(100)).digest('hex');
    const r = await backend().exec(and(receiveCommand(file), verifyCommand(file, sha, 100)).text, { stdin: Buffer.alloc(60) });
    expect(r.code).toBe(EXIT_UPLOAD);
    expect(r.stderr).toContain('upload incomplete: received 60 of 100 bytes');
    expect(existsSync(file)).toBe(false);
  });
});

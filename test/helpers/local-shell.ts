// A Backend that runs command lines with a local shell: the deploy's remote scripts (lock, continuation) are
// exercised by a real sh (dash on Debian) or bash without a network. Upload/download are not needed there.
import { spawn } from 'node:child_process';
import { StreamCapture } from '../../src/ssh/capture.js';
import { RemoteError } from '../../src/output/errors.js';
import type { Backend, ExecOptions, ExecResult } from '../../src/ssh/types.js';

export function localShellBackend(name = 'local', shell = 'sh'): Backend & { commands: string[] } {
  const commands: string[] = [];
  const exec = (command: string, opts: ExecOptions = {}): Promise<ExecResult> =>
    new Promise((resolve) => {
      commands.push(command);
      const t0 = Date.now();
      const p = spawn(shell, ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out = new StreamCapture(opts.onStdout, undefined);
      const err = new StreamCapture(opts.onStderr, undefined);
      p.stdout.on('data', (d: Buffer) => out.push(d));
      p.stderr.on('data', (d: Buffer) => err.push(d));
      p.stdin.on('error', () => undefined); // the command may exit before reading all of its input
      const input = opts.stdin;
      if (input === undefined) p.stdin.end();
      else if (typeof input === 'string' || Buffer.isBuffer(input)) p.stdin.end(input);
      else input.pipe(p.stdin);
      p.on('close', (code) => {
        out.end();
        err.end();
        if (input !== undefined && typeof input === 'object' && !Buffer.isBuffer(input)) input.unpipe(p.stdin);
        resolve({ code: code ?? 1, stdout: out.text(), stderr: err.text(), durationMs: Date.now() - t0 });
      });
    });
  return {
    target: { name, host: name },
    commands,
    exec,
    async run(command: string, opts: ExecOptions = {}) {
      const r = await exec(command, opts);
      if (r.code !== 0) throw new RemoteError(name, `exit ${r.code}: ${r.stderr}`);
      return r;
    },
    upload: () => Promise.reject(new Error('no upload')),
    download: () => Promise.reject(new Error('no download')),
  };
}

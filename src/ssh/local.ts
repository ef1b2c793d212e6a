// The Backend for this machine (edeliver's `local` environment, TEST_LOCALLY_AT): the same command lines a deploy
// host gets, run by a local `sh -c` instead of over SSH, so a release can be tried here before it is shipped.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { countBytes } from './count-bytes.js';
import { pipeline } from 'node:stream/promises';
import { InterruptedError, RemoteError } from '../output/errors.js';
import { LineRing, StreamCapture } from './capture.js';
import { ERROR_TAIL_LINES, type Backend, type ExecOptions, type ExecResult, type HostTarget, type Transport, type TransferOptions } from './types.js';

/** The target every `local` command acts on. */
export const LOCAL_TARGET: HostTarget = { name: 'local', host: 'localhost' };

export class LocalBackend implements Backend {
  constructor(
    readonly target: HostTarget = LOCAL_TARGET,
    /** The shell that runs each command line (`sh`, as a login shell over SSH would be for deliver's scripts). */
    private readonly shell = 'sh',
  ) {}

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.execWith(command, opts);
  }

  async run(command: string, opts: ExecOptions & { step?: string } = {}): Promise<ExecResult> {
    const ring = new LineRing(ERROR_TAIL_LINES);
    const r = await this.execWith(command, opts, ring);
    if (r.code !== 0) {
      const how = r.signal ? `was killed by signal ${r.signal}` : `failed with exit code ${r.code}`;
      throw new RemoteError(this.target.name, `${opts.step ?? 'command'} ${how}`, { ...(opts.step ? { step: opts.step } : {}), command, detail: ring.lines().join('\n') });
    }
    return r;
  }

  /**
   * One `sh -c` in a process group of its own: a timeout or Ctrl-C stops the whole group, as the SSH backend
   * kills the remote one. The result comes when the shell exits and its output pipes close.
   */
  private execWith(command: string, opts: ExecOptions, ring?: LineRing): Promise<ExecResult> {
    const label = this.target.name;
    if (opts.signal?.aborted) return Promise.reject(new InterruptedError(`${label}: interrupted`));
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const p = spawn(this.shell, ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      const out = new StreamCapture(opts.onStdout, ring);
      const err = new StreamCapture(opts.onStderr, ring);
      let failed: Error | undefined;
      const kill = (why: Error) => {
        failed ??= why;
        try {
          process.kill(-p.pid!, 'SIGTERM');
        } catch {
          // already gone
        }
      };
      const onAbort = () => kill(new InterruptedError(`${label}: interrupted`));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const timer = opts.timeoutMs ? setTimeout(() => kill(new RemoteError(label, `command timed out after ${Math.round(opts.timeoutMs! / 1000)}s`, { command })), opts.timeoutMs) : undefined;
      p.stdout.on('data', (d: Buffer) => out.push(d));
      p.stderr.on('data', (d: Buffer) => err.push(d));
      p.stdin.on('error', () => undefined); // the command may exit before reading all of its input
      const input = opts.stdin;
      if (input === undefined) p.stdin.end();
      else if (typeof input === 'string' || Buffer.isBuffer(input)) p.stdin.end(input);
      else input.pipe(p.stdin);
      p.on('exit', () => {
        if (input !== undefined && typeof input === 'object' && !Buffer.isBuffer(input)) {
          input.unpipe(p.stdin);
          p.stdin.end();
        }
      });
      p.on('error', (e) => kill(new RemoteError(label, `cannot run sh: ${e.message}`, { command })));
      p.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        out.end();
        err.end();
        if (failed) return reject(failed);
        resolve({ code: code ?? 128, ...(signal ? { signal } : {}), stdout: out.text(), stderr: err.text(), durationMs: Date.now() - started });
      });
    });
  }

  async upload(source: Readable, path: string, opts: TransferOptions = {}): Promise<{ bytes: number }> {
    let bytes = 0;
    source.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      opts.onProgress?.(bytes);
    });
    try {
      await pipeline(source, createWriteStream(path, opts.mode !== undefined ? { mode: opts.mode } : {}), ...(opts.signal ? [{ signal: opts.signal }] : []));
      if (opts.mode !== undefined) await chmod(path, opts.mode);
    } catch (e) {
      if (opts.signal?.aborted) throw new InterruptedError(`${this.target.name}: writing ${path} interrupted`);
      throw new RemoteError(this.target.name, `cannot write ${path}: ${(e as Error).message}`);
    }
    return { bytes };
  }

  async download(path: string, opts: TransferOptions = {}): Promise<Readable> {
    const stream = createReadStream(path);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (e) => reject(new RemoteError(this.target.name, `cannot read ${path}: ${e.message}`)));
    });
    if (!opts.onProgress) return stream;
    let bytes = 0;
    return countBytes(stream, (n) => opts.onProgress!((bytes += n)));
  }
}

/**
 * The `local` environment's transport: LOCAL_TARGET is this machine; every other host (the build host of `update`,
 * a `user@host:/path` release store) is reached through `others`, the SSH transport.
 */
export class LocalTransport implements Transport {
  private readonly backend = new LocalBackend();
  constructor(private readonly others: Transport) {}
  connect(target: HostTarget): Promise<Backend> {
    return target === LOCAL_TARGET ? Promise.resolve(this.backend) : this.others.connect(target);
  }
  closeAll(): Promise<void> {
    return this.others.closeAll();
  }
}

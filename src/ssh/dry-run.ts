// --dry-run: a Backend that prints, per host, exactly the command lines that would run and runs nothing
// remotely (SSHKit's Printer). Every command reports success with empty output, so a dry run walks the whole plan.
import { Readable } from 'node:stream';
import type { Output } from '../output/output.js';
import type { Backend, ExecOptions, ExecResult, HostTarget, TransferOptions, Transport } from './types.js';

export class DryRunBackend implements Backend {
  constructor(
    readonly target: HostTarget,
    private readonly out: Output,
  ) {}

  private print(line: string): void {
    this.out.info(`[${this.target.name}] ${line}`);
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.print(`$ ${command}`);
    // What goes to stdin (a deploy's continuation script and tarball, a presigned URL placeholder) is shown too.
    if (typeof opts.stdin === 'string') this.print(`  stdin: ${JSON.stringify(opts.stdin)}`);
    else if (opts.stdin !== undefined) this.print(`  stdin: ${Buffer.isBuffer(opts.stdin) ? `${opts.stdin.length} bytes` : 'a stream'}`);
    return Promise.resolve({ code: 0, stdout: '', stderr: '', durationMs: 0 });
  }

  run(command: string, opts: ExecOptions & { step?: string } = {}): Promise<ExecResult> {
    return this.exec(command, opts);
  }

  /** Drains the source (so producers finish and sizes are real) and prints what would be uploaded. */
  async upload(source: Readable, remotePath: string, opts: TransferOptions = {}): Promise<{ bytes: number }> {
    let bytes = 0;
    for await (const chunk of source) {
      bytes += (chunk as Buffer).length;
      opts.onProgress?.(bytes);
    }
    this.print(`upload ${bytes} bytes -> ${remotePath}${opts.mode !== undefined ? ` (mode ${opts.mode.toString(8).padStart(4, '0')})` : ''}`);
    return { bytes };
  }

  download(remotePath: string, _opts: TransferOptions = {}): Promise<Readable> {
    this.print(`download ${remotePath}`);
    return Promise.resolve(Readable.from([]));
  }
}

export class DryRunTransport implements Transport {
  constructor(private readonly out: Output) {}

  connect(target: HostTarget): Promise<Backend> {
    return Promise.resolve(new DryRunBackend(target, this.out));
  }

  closeAll(): Promise<void> {
    return Promise.resolve();
  }
}

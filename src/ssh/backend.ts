// The Backend over one live ssh2 connection: every exec is a channel on it, and one SFTP session (opened on
// first use) carries every transfer, so a deploy step costs no new handshake.
import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import type { Client, ClientChannel, SFTPWrapper } from 'ssh2';
import { DeliverError, InterruptedError, RemoteError } from '../output/errors.js';
import { LineRing, StreamCapture } from './capture.js';
import { PidMarkerFilter } from './pid-marker.js';
import { remoteCommandLine } from './remote-shell.js';
import { SftpReadStream, SftpWriteStream } from './sftp-stream.js';
import { ERROR_TAIL_LINES, type Backend, type ExecOptions, type ExecResult, type HostTarget, type TransferOptions } from './types.js';

/** One authenticated ssh2 connection, shared by every Backend (target) that resolves to the same host. */
/**
 * Commands running at once on one connection. sshd's MaxSessions (default 10) refuses more sessions per
 * connection; one is kept for the SFTP session and one for killing a timed-out command.
 */
export const MAX_SESSIONS_PER_CONNECTION = 8;

/** Attempts to open a session that sshd refused for now (about 2 s in all; see execSession). */
const OPEN_RETRIES = 12;
/** How long a kill waits for the command's PID line before it only closes the channel. */
const PID_WAIT_MS = 5_000;

export class SshConnection {
  private sftpSession: Promise<SFTPWrapper> | undefined;
  lost: Error | undefined;
  /** Channels opened on this connection (exec, SFTP, forwarded), for tests and --verbose statistics. */
  channels = 0;
  /** Queues commands beyond MAX_SESSIONS_PER_CONNECTION instead of letting sshd refuse them. */
  readonly sessions = pLimit(MAX_SESSIONS_PER_CONNECTION);

  constructor(
    readonly client: Client,
    /** `user@host:port` this connection reached. */
    readonly address: string,
  ) {
    client.setMaxListeners(0); // one 'close' listener per running command
    const markLost = (err?: Error) => {
      this.lost ??= err ?? new Error('connection closed');
    };
    client.on('close', () => markLost());
    client.on('end', () => markLost());
    client.on('error', (err: Error) => markLost(err));
  }

  get alive(): boolean {
    return this.lost === undefined;
  }

  /** The connection's SFTP session, opened on first use. */
  sftp(label: string): Promise<SFTPWrapper> {
    if (!this.sftpSession) {
      this.sftpSession = new Promise<SFTPWrapper>((resolve, reject) => {
        this.client.sftp((err, s) => {
          if (err) {
            reject(
              new RemoteError(label, `cannot open an SFTP session: ${err.message}`, {
                hint: "the host's sshd needs `Subsystem sftp internal-sftp` (or sftp-server)",
              }),
            );
            return;
          }
          this.channels++;
          s.on('close', () => {
            this.sftpSession = undefined; // reopen lazily if the server closed it
          });
          resolve(s);
        });
      });
      this.sftpSession.catch(() => {
        this.sftpSession = undefined;
      });
    }
    return this.sftpSession;
  }

  /** Ends the connection and waits (briefly) for the socket to close. */
  close(): Promise<void> {
    if (this.lost) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      this.client.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      this.client.end();
    });
  }
}

/** The Backend for one target: commands and transfers over its host's pooled connection. */
export class SshBackend implements Backend {
  constructor(
    readonly target: HostTarget,
    readonly connection: SshConnection,
  ) {}

  private get client(): Client {
    return this.connection.client;
  }

  private get lost(): Error | undefined {
    return this.connection.lost;
  }

  private connectionLost(what: string, command?: string): RemoteError {
    return new RemoteError(this.target.name, `connection lost ${what}${this.lost ? `: ${this.lost.message}` : ''}`, command ? { command } : {});
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.execInternal(command, opts, undefined);
  }

  async run(command: string, opts: ExecOptions & { step?: string } = {}): Promise<ExecResult> {
    const ring = new LineRing(ERROR_TAIL_LINES);
    const res = await this.execInternal(command, opts, ring, opts.step);
    if (res.code !== 0) {
      const how = res.signal ? `was killed by signal ${res.signal}` : `failed with exit code ${res.code}`;
      throw new RemoteError(this.target.name, `${opts.step ?? 'command'} ${how}`, {
        ...(opts.step ? { step: opts.step } : {}),
        command,
        detail: ring.lines().join('\n'),
      });
    }
    return res;
  }

  private execInternal(command: string, opts: ExecOptions, ring: LineRing | undefined, step?: string): Promise<ExecResult> {
    return this.connection.sessions(() => this.execSession(command, opts, ring, step));
  }

  private execSession(command: string, opts: ExecOptions, ring: LineRing | undefined, step?: string): Promise<ExecResult> {
    const started = Date.now();
    const label = this.target.name;
    const stepOpts = { ...(step ? { step } : {}), command };
    if (opts.signal?.aborted) return Promise.reject(new InterruptedError(`${label}: interrupted`));
    if (this.lost) return Promise.reject(this.connectionLost('before running the command', command));
    return new Promise<ExecResult>((resolve, reject) => {
      let settled = false;
      let channel: ClientChannel | undefined;
      let timer: NodeJS.Timeout | undefined;
      let retry: NodeJS.Timeout | undefined;
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        if (retry) clearTimeout(retry);
        opts.signal?.removeEventListener('abort', onAbort);
        this.client.removeListener('close', onConnClose);
      };
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(err);
      };
      // Stop the remote command. sshd ignores SSH "signal" requests for root sessions (no privilege separation)
      // and closing a channel without a pty kills nothing, so killable commands report their shell's PID (the
      // process group sshd created with setsid) and a second channel kills that whole group.
      const killable = !opts.pty && (opts.timeoutMs !== undefined || opts.signal !== undefined);
      let remotePid: number | undefined;
      // A kill asked for before the command's PID arrived (the abort came while its channel was opening, or before
      // the marker line): the command runs all the same, so it is killed as soon as the PID comes.
      let killPending = false;
      let closeLater: NodeJS.Timeout | undefined;
      const killGroup = (pid: number) => {
        if (this.lost) return;
        const killCmd = `kill -TERM -- -${pid} 2>/dev/null || kill -TERM ${pid} 2>/dev/null; sleep 2; kill -KILL -- -${pid} 2>/dev/null; true`;
        try {
          this.client.exec(killCmd, (err, ch) => {
            if (err) return;
            ch.resume();
            ch.stderr.resume();
            ch.end();
          });
        } catch {
          // connection already closing
        }
      };
      const kill = () => {
        if (!channel) {
          killPending = killable;
          return;
        }
        try {
          channel.signal('TERM');
        } catch {
          // the channel may already be gone
        }
        if (remotePid !== undefined || !killable) {
          channel.close();
          if (remotePid !== undefined) killGroup(remotePid);
          return;
        }
        // Its PID is the first line the command writes: wait for it (a while), then close.
        killPending = true;
        const ch = channel;
        closeLater = setTimeout(() => ch.close(), PID_WAIT_MS);
      };
      const onAbort = () => {
        kill();
        fail(new InterruptedError(`${label}: interrupted while running ${step ?? 'a command'}`));
      };
      const onConnClose = () => fail(this.connectionLost(`while running ${step ?? 'a command'}`, command));
      unboundedListeners(opts.signal);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.client.once('close', onConnClose);
      if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
        timer = setTimeout(() => {
          kill();
          fail(new RemoteError(label, `${step ?? 'command'} timed out after ${formatSeconds(opts.timeoutMs!)}`, stepOpts));
        }, opts.timeoutMs);
      }

      const stdout = new StreamCapture(opts.onStdout, ring);
      const stderr = new StreamCapture(opts.onStderr, ring);
      const remoteCommand = remoteCommandLine(command, { pidMarker: killable, loginShell: opts.loginShell ?? false });
      const marker = killable ? new PidMarkerFilter((d) => stderr.push(d)) : undefined;
      const onStderrData = (d: Buffer) => {
        if (marker === undefined) return stderr.push(d);
        marker.push(d);
        if (marker.pid === undefined || remotePid !== undefined) return;
        remotePid = marker.pid;
        if (!killPending) return;
        if (closeLater) clearTimeout(closeLater);
        channel?.close();
        killGroup(remotePid);
      };
      let code: number | null | undefined;
      let signal: string | undefined;
      const open = (attempt: number) => {
        if (settled) return;
        try {
          this.client.exec(remoteCommand, { pty: opts.pty ?? false, ...(opts.agentForward ? { agentForward: true } : {}) }, (err, ch) => {
            if (err) {
              // sshd frees a closed session only after handling everything that arrived with its close: when several
              // commands end at once, the opens queued behind them can find MaxSessions still full. Try again shortly.
              if (attempt < OPEN_RETRIES && !this.lost && /open failed/i.test(err.message)) {
                retry = setTimeout(() => open(attempt + 1), Math.min(20 * 2 ** attempt, 250));
                return;
              }
              return fail(new RemoteError(label, `cannot start command: ${err.message}`, { ...stepOpts, cause: err }));
            }
            this.connection.channels++;
            channel = ch;
            if (settled) {
              // Timed out or aborted while the channel opened: the command has started; kill it once its PID comes.
              if (!killable) return void ch.close();
              ch.resume();
              ch.stderr.on('data', onStderrData);
              return kill();
            }
            ch.on('data', (d: Buffer) => stdout.push(d));
            ch.stderr.on('data', onStderrData);
            ch.on('exit', (c: number | null, sig?: string) => {
              code = c;
              if (sig) signal = sig;
              // The command is gone: stop feeding it stdin so sshd can close the channel now.
              if (opts.stdin && typeof opts.stdin === 'object' && !Buffer.isBuffer(opts.stdin)) {
                opts.stdin.unpipe(ch);
                ch.end();
              }
            });
            ch.on('close', () => {
              marker?.flush();
              stdout.end();
              stderr.end();
              if (settled) return;
              if (code === undefined && signal === undefined) {
                // No exit status: the connection died under the command (or sshd closed the channel). Let the
                // connection's own close event arrive first so the error names the real cause.
                setImmediate(() => {
                  if (this.lost) fail(this.connectionLost(`while running ${step ?? 'a command'}`, command));
                  else if (!settled) {
                    settled = true;
                    cleanup();
                    resolve({ code: 255, stdout: stdout.text(), stderr: stderr.text(), durationMs: Date.now() - started });
                  }
                });
                return;
              }
              settled = true;
              cleanup();
              resolve({
                code: code ?? (signal ? 128 : 255),
                ...(signal ? { signal } : {}),
                stdout: stdout.text(),
                stderr: stderr.text(),
                durationMs: Date.now() - started,
              });
            });
            const input = opts.stdin;
            if (input === undefined) ch.end();
            else if (typeof input === 'string' || Buffer.isBuffer(input)) ch.end(input);
            else {
              input.on('error', (e: Error) => {
                kill();
                fail(new RemoteError(label, `reading stdin for the command failed: ${e.message}`, stepOpts));
              });
              input.pipe(ch);
            }
          });
        } catch {
          // ssh2 throws synchronously when the socket is already gone
          fail(this.connectionLost(`before running ${step ?? 'the command'}`, command));
        }
      };
      open(0);
    });
  }

  async upload(source: Readable, remotePath: string, opts: TransferOptions = {}): Promise<{ bytes: number }> {
    const label = this.target.name;
    if (this.lost) throw this.connectionLost(`before uploading to ${remotePath}`);
    const sftp = await this.connection.sftp(label);
    const handle = await new Promise<Buffer>((resolve, reject) =>
      sftp.open(remotePath, 'w', opts.mode !== undefined ? { mode: opts.mode } : {}, (err, h) => (err ? reject(err) : resolve(h))),
    ).catch((err: Error) => {
      source.destroy();
      throw new RemoteError(label, `cannot write ${remotePath}: ${sftpMessage(err)}`);
    });
    const sink = new SftpWriteStream(sftp, handle, opts.onProgress);
    try {
      unboundedListeners(opts.signal);
      await pipeline(source, sink, ...(opts.signal ? [{ signal: opts.signal }] : []));
      // The create mode is filtered by the remote umask; set it exactly, as `install -m` would.
      if (opts.mode !== undefined) await new Promise<void>((resolve, reject) => sftp.fchmod(handle, opts.mode!, (e) => (e ? reject(e) : resolve())));
    } catch (err) {
      closeQuietly(sftp, handle);
      if (opts.signal?.aborted) throw new InterruptedError(`${label}: upload to ${remotePath} interrupted`);
      if (err instanceof DeliverError) throw err;
      throw new RemoteError(label, `upload to ${remotePath} failed after ${sink.bytesAcked} bytes: ${sftpMessage(err as Error)}`, { cause: err });
    }
    await new Promise<void>((resolve, reject) => sftp.close(handle, (e) => (e ? reject(e) : resolve()))).catch((err: Error) => {
      throw new RemoteError(label, `upload to ${remotePath} failed while closing the file: ${sftpMessage(err)}`);
    });
    return { bytes: sink.bytesAcked };
  }

  async download(remotePath: string, opts: TransferOptions = {}): Promise<Readable> {
    const label = this.target.name;
    if (this.lost) throw this.connectionLost(`before downloading ${remotePath}`);
    const sftp = await this.connection.sftp(label);
    const handle = await new Promise<Buffer>((resolve, reject) => sftp.open(remotePath, 'r', (err, h) => (err ? reject(err) : resolve(h)))).catch(
      (err: Error) => {
        throw new RemoteError(label, `cannot read ${remotePath}: ${sftpMessage(err)}`);
      },
    );
    const size = await new Promise<number>((resolve, reject) => sftp.fstat(handle, (err, st) => (err ? reject(err) : resolve(st.size)))).catch(
      (err: Error) => {
        closeQuietly(sftp, handle);
        throw new RemoteError(label, `cannot stat ${remotePath}: ${sftpMessage(err)}`);
      },
    );
    const stream = new SftpReadStream(sftp, handle, size, opts.onProgress);
    stream.on('close', () => closeQuietly(sftp, handle));
    if (opts.signal) {
      const signal = opts.signal;
      const onAbort = () => stream.destroy(new InterruptedError(`${label}: download of ${remotePath} interrupted`));
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        stream.on('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
    return stream;
  }

}

/**
 * One deploy's AbortSignal is shared by every host's in-flight step, each adding (and later removing) a listener;
 * more than 10 hosts at once is normal, not a leak, so Node's MaxListenersExceededWarning must not fire.
 */
function unboundedListeners(signal: AbortSignal | undefined): void {
  if (signal) setMaxListeners(0, signal);
}

function closeQuietly(sftp: SFTPWrapper, handle: Buffer): void {
  try {
    sftp.close(handle, () => undefined);
  } catch {
    // session already gone
  }
}

/** SFTP status errors carry terse texts ("No such file"); add the errno-like name users search for. */
function sftpMessage(err: Error): string {
  const code = (err as { code?: number }).code;
  if (code === 2) return `no such file or directory (${err.message})`;
  if (code === 3) return `permission denied (${err.message})`;
  return err.message;
}

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)}s`;
}

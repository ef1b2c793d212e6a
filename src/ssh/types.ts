// Contracts of the SSH layer (SSHKit's "backend"): what later modules (build, deploy, store) call.
import type { Readable } from 'node:stream';

export type HostKeyPolicy = 'strict' | 'accept-new';

/** A host as the user named it (config entry or --host); resolved against ~/.ssh/config when connecting. */
export interface HostTarget {
  /** Label used in every message and result: `user@host[:port]` as written. */
  readonly name: string;
  /** Host name or ~/.ssh/config alias. */
  readonly host: string;
  readonly user?: string;
  readonly port?: number;
  /** Per-node deploy path (edeliver's `<ENV>_NODES="user@host:/path"`). */
  readonly path?: string;
}

export interface ExecOptions {
  /** Called for every complete line of remote stdout / stderr (no trailing newline). */
  onStdout?: (line: string) => void;
  onStderr?: (line: string) => void;
  /** Data written to the remote command's stdin, then EOF. */
  stdin?: string | Buffer | Readable;
  /** Kill the remote command (and fail) after this many milliseconds. */
  timeoutMs?: number;
  /** Allocate a pty (interactive commands). */
  pty?: boolean;
  /** Forward the local ssh-agent for this command (private git deps on the build host). */
  agentForward?: boolean;
  /** Abort (e.g. Ctrl-C): the remote command gets a signal and the promise rejects. */
  signal?: AbortSignal;
  /** Run the command with the user's login shell instead of /bin/sh (remote-shell.ts): the build host's scripts. */
  loginShell?: boolean;
}

export interface ExecResult {
  readonly code: number;
  readonly signal?: string;
  /** Captured output, bounded (the last `OUTPUT_LIMIT` bytes are kept). */
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface TransferOptions {
  /** Octal file mode for uploads, e.g. 0o600. */
  mode?: number;
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

/** One pooled connection to one host. Every step of a command reuses it. */
export interface Backend {
  readonly target: HostTarget;
  /** Runs a shell command line (build it with `sh` from ./quote.ts). Never rejects for a non-zero exit. */
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Like exec, but a non-zero exit rejects with a RemoteError naming the host, command and output tail. */
  run(command: string, opts?: ExecOptions & { step?: string }): Promise<ExecResult>;
  /** Streams `source` to `remotePath` (written as given; callers write to a temp name and rename). */
  upload(source: Readable, remotePath: string, opts?: TransferOptions): Promise<{ bytes: number }>;
  /** A stream of the remote file's bytes. */
  download(remotePath: string, opts?: TransferOptions): Promise<Readable>;
}

export interface SshOptions {
  hostKeyPolicy: HostKeyPolicy;
  /** Extra known_hosts files (besides ~/.ssh/known_hosts and UserKnownHostsFile from ssh config). */
  knownHostsFiles?: string[];
  /** Defaults to ~/.ssh/config; `null` disables reading it. */
  sshConfigFile?: string | null;
  identityFiles?: string[];
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  /** Connection handshakes that may run at once, to different servers. */
  maxConcurrentStarts: number;
  /** Attempts for connection failures only (refused, reset, timeout). */
  connectAttempts: number;
}

/** Hands out one Backend per host (connect once, reuse), and closes them all at the end of a command. */
export interface Transport {
  connect(target: HostTarget): Promise<Backend>;
  closeAll(): Promise<void>;
}

/** Bytes of each output stream (stdout, stderr) an ExecResult keeps: the last 64 KiB. */
export const OUTPUT_LIMIT = 64 * 1024;

/** Lines of combined output a failed `run()` shows as the error's detail. */
export const ERROR_TAIL_LINES = 40;

// Error classes that carry deliver's exit-code contract: 1 failure, 2 usage/config error, 130 interrupted.
// The CLI prints `message` (one clear line, plus optional detail) and never a stack trace for these.

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

export class DeliverError extends Error {
  readonly exitCode: number;
  /** Extra lines shown under the message (e.g. the tail of a failing command's output). */
  readonly detail?: string;
  /** A short suggestion shown after the message. */
  readonly hint?: string;

  constructor(message: string, opts: { exitCode?: number; detail?: string; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.exitCode = opts.exitCode ?? EXIT_FAILURE;
    if (opts.detail !== undefined) this.detail = opts.detail;
    if (opts.hint !== undefined) this.hint = opts.hint;
  }
}

/** Wrong flag, unknown command, missing argument: exit 2. */
export class UsageError extends DeliverError {
  constructor(message: string, opts: { detail?: string; hint?: string } = {}) {
    super(message, { ...opts, exitCode: EXIT_USAGE });
  }
}

/** A problem in a config file, always located: `file:line: message`. Exit 2. */
export class ConfigError extends DeliverError {
  readonly file: string;
  readonly line: number | undefined;
  readonly reason: string;

  constructor(file: string, line: number | undefined, reason: string, opts: { hint?: string; detail?: string } = {}) {
    super(`${line === undefined ? file : `${file}:${line}`}: ${reason}`, { ...opts, exitCode: EXIT_USAGE });
    this.file = file;
    this.line = line;
    this.reason = reason;
  }
}

/** Something failed on a host (connection, command, transfer). Exit 1. */
export class RemoteError extends DeliverError {
  readonly host: string;
  /** The message without the host (`message` is `host: reason`). */
  readonly reason: string;
  readonly step: string | undefined;
  readonly command: string | undefined;

  constructor(host: string, message: string, opts: { step?: string; command?: string; detail?: string; hint?: string; cause?: unknown } = {}) {
    super(`${host}: ${message}`, opts);
    this.host = host;
    this.reason = message;
    this.step = opts.step;
    this.command = opts.command;
  }
}

/** The user pressed Ctrl-C (or the process got SIGTERM). Exit 130. */
export class InterruptedError extends DeliverError {
  constructor(message = 'interrupted') {
    super(message, { exitCode: EXIT_INTERRUPTED });
  }
}

export function isDeliverError(err: unknown): err is DeliverError {
  return err instanceof DeliverError;
}

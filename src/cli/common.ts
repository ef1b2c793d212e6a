// Pieces every command shares: the common options, the run context, edeliver-style positional words, and the
// wrapper that turns errors into one clear message and deliver's exit codes.
import { Command, Option } from 'commander';
import { Output } from '../output/output.js';
import { UsageError } from '../output/errors.js';
import { rejectEdeliverOptions, withEdeliverOptions } from './commands/edeliver.js';

export interface CommonOptions {
  verbose?: boolean;
  json?: boolean;
  dryRun?: boolean;
  config?: string;
  color?: boolean;
  hostKeyChecking?: 'strict' | 'accept-new';
}

export interface Context {
  out: Output;
  opts: CommonOptions;
  /** Aborted on Ctrl-C / SIGTERM: long steps pass it down and stop. */
  signal: AbortSignal;
  /** Directory the command runs in (the user's project). */
  cwd: string;
}

/** Options accepted by every command (`--opt=value` and `--opt value` both work through commander). */
export function withCommonOptions(cmd: Command): Command {
  return withEdeliverOptions(cmd)
    .option('-V, --verbose', 'stream remote output and show every command')
    .option('--json', 'print one JSON result on stdout (for scripts)')
    .option('--dry-run', 'print the plan: the steps each host would run, numbered (--verbose: their scripts); only read-only queries run')
    .option('--config <file>', 'config file (default: .deliver/config)')
    .option('--no-color', 'no colours (also: NO_COLOR env var)')
    .addOption(
      new Option('--host-key-checking <mode>', 'host key policy: strict (default) or accept-new').choices(['strict', 'accept-new']),
    );
}

let interruptSignal: AbortSignal = new AbortController().signal;
export function setInterruptSignal(signal: AbortSignal): void {
  interruptSignal = signal;
}

export function makeContext(opts: CommonOptions): Context {
  const out = new Output({
    json: opts.json ?? false,
    verbose: opts.verbose ?? false,
    ...(opts.color === false ? { color: false } : {}),
  });
  return { out, opts, signal: interruptSignal, cwd: process.cwd() };
}

export const ENVIRONMENT_FILLERS = new Set(['to', 'on']);

/** The environment that is this machine (edeliver's `deploy … local`): no hosts, the local shell. */
export const LOCAL_ENVIRONMENT = 'local';

/**
 * edeliver's positional grammar: `[to|on] [environment]`. Filler words are dropped; at most one environment
 * word remains. Options never get swallowed as an environment (edeliver's `ping --verbose` bug).
 */
export function environmentFrom(words: string[], fallback = 'staging'): string {
  const rest = words.filter((w) => !ENVIRONMENT_FILLERS.has(w.toLowerCase()));
  if (rest.some((w) => w.toLowerCase() === 'check')) {
    throw new UsageError('edeliver\'s `check` word (a config dry run) is its own command in deliver: deliver check [environment]');
  }
  if (rest.length > 1) throw new UsageError(`expected one environment, got: ${rest.join(' ')}`);
  const word = rest[0] ?? fallback;
  // edeliver took local, locally and localhost for its `local` environment (this machine, TEST_LOCALLY_AT).
  const env = /^(local|locally|localhost)$/i.test(word) ? LOCAL_ENVIRONMENT : word;
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(env)) {
    throw new UsageError(`invalid environment name ${JSON.stringify(env)}: use letters, digits and _ (e.g. staging, production, qa)`);
  }
  return env.toLowerCase();
}

/** Wraps a command action: builds the context and lets errors propagate to main's single error reporter. */
export function action<A extends unknown[]>(
  fn: (ctx: Context, ...args: A) => Promise<void> | void,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    // commander passes positionals..., options, command
    const cmd = args[args.length - 1] as Command;
    const opts = cmd.optsWithGlobals() as CommonOptions;
    rejectEdeliverOptions(opts as Record<string, unknown>);
    const ctx = makeContext(opts);
    await fn(ctx, ...(args.slice(0, -1) as A));
  };
}

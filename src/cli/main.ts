// deliver's entry: builds the commander program, maps every error to one clear message and an exit code
// (0 ok, 1 failure, 2 usage/config error, 130 interrupted), and turns Ctrl-C into a clean abort.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.js';
import { setInterruptSignal } from './common.js';
import { DeliverError, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE } from '../output/errors.js';
import { redact } from '../output/redact.js';

/** deliver's own package.json: the nearest one above this module (dist/cli/main.js, or the bundle dist/deliver.mjs). */
function packageVersion(): string {
  for (let dir = new URL('.', import.meta.url); ; ) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'deliver' && pkg.version) return pkg.version;
    } catch {
      // none here
    }
    const up = new URL('..', dir);
    if (up.href === dir.href) return 'unknown';
    dir = up;
  }
}

export function buildProgram(): Command {
  const program = new Command('deliver');
  program
    .description('Build Erlang/Elixir releases on a build host and ship them to your servers over SSH.')
    .version(packageVersion(), '-v, --version', 'print the version of deliver')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    // Program options only before the command word: `deploy release --version 1.2` is the release version.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(s.startsWith('error:') ? `deliver: ${s}` : s),
    });
  registerCommands(program);
  // Every subcommand reports usage errors through the same path (exit 2).
  for (const sub of program.commands) sub.exitOverride().showSuggestionAfterError(true);
  return program;
}

/** Prints an error the way users should see it and returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    // `deliver help` asked for it (exit code 0); a group without its subcommand (`deliver deploy`) got its help on
    // stderr instead of doing anything: a usage error.
    if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : EXIT_USAGE;
    return EXIT_USAGE; // commander already printed its one-line message
  }
  if (err instanceof DeliverError) {
    process.stderr.write(redact(`deliver: ${err.message}\n`));
    if (err.detail) process.stderr.write(redact(err.detail.endsWith('\n') ? err.detail : err.detail + '\n'));
    if (err.hint) process.stderr.write(redact(`hint: ${err.hint}\n`));
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(redact(`deliver: internal error: ${e?.stack ?? String(err)}\n`));
  return EXIT_FAILURE;
}

export async function main(argv: string[]): Promise<void> {
  const controller = new AbortController();
  setInterruptSignal(controller.signal);
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts > 1) process.exit(EXIT_INTERRUPTED); // second Ctrl-C: leave now
    process.stderr.write(`\ndeliver: ${sig} received, stopping (press Ctrl-C again to exit immediately)\n`);
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let code = 0;
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
  } catch (err) {
    code = reportError(err);
  }
  if (controller.signal.aborted && code !== 0) code = EXIT_INTERRUPTED;
  process.exitCode = code;
}

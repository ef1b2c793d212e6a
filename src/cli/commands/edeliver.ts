// edeliver's commands and options deliver has no counterpart for (edeliver-behaviour.md §1, §2): typed from habit,
// each is answered with exit 2 and one line saying how deliver does it, never "unknown command". docs/EDELIVER.md
// lists every edeliver command next to deliver's. Custom `.deliver/strategies/erlang-*` commands are named as such.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError } from '../../output/errors.js';

/** edeliver command word → what to do in deliver. */
export const EDELIVER_COMMANDS: Readonly<Record<string, string>> = {
  increase:
    "edeliver's `increase` edited version files; deliver does not: bump the version in mix.exs or *.app.src and commit, or build with `deliver build release --increment-version=patch|minor|major` or `--set-version=V`",
  pack: "edeliver's `pack` re-packed a stored release; deliver checks every stored release's sha256 on each host, so rebuild instead: `deliver build release` (`--force` replaces one in the store)",
  unpack: "edeliver's `unpack`: `deliver download release <version> <dir>` fetches the tarball (a plain tar.gz of the release root) to unpack with `tar -xzf`",
  edit: "edeliver's `edit relup`: deliver makes relups from appups; `deliver build appups --from=REF|--with=VSN` writes them to the release store to review and edit, and `deliver build upgrade` uses them",
  publish: "edeliver's `publish` released edeliver itself to hex; deliver puts releases in the store with `deliver build release` or `deliver upload release <version>`",
};

/** edeliver option → what to do in deliver (options deliver has, like --verbose or --force, are not here). */
export const EDELIVER_OPTIONS: readonly (readonly [flags: string, attribute: string, message: string])[] = [
  ['-C, --compact', 'compact', "edeliver's -C/--compact is deliver's default output: drop it"],
  ['-D, --debug', 'debug', "edeliver's -D/--debug: deliver's --verbose shows every remote command and its output, --dry-run prints the plan and changes nothing"],
  ['-P, --plain', 'plain', "edeliver's -P/--plain: deliver uses --no-color (or NO_COLOR=1)"],
  ['-S, --skip-existing', 'skipExisting', "edeliver's -S/--skip-existing is not needed: deliver never re-sends a release a host already has (same sha256); drop it"],
  ['--push', 'push', "edeliver's --push is for its docker release store, which deliver does not have: RELEASE_STORE is a directory, user@host:/path or s3://bucket[/prefix]"],
  ['--skip-relup-mod', 'skipRelupMod', "edeliver's --skip-relup-mod: relup modification modules are edeliver's: deliver writes the relup from the appups; generate them with `deliver build appups`, edit them in the store, and `deliver build upgrade` uses them (docs/UPGRADES.md)"],
  ['--skip-relup-modification', 'skipRelupModification', "edeliver's --skip-relup-modification: relup modification modules are edeliver's: deliver writes the relup from the appups; generate them with `deliver build appups`, edit them in the store, and `deliver build upgrade` uses them (docs/UPGRADES.md)"],
  ['--relup-mod <module>', 'relupMod', "edeliver's --relup-mod: relup modification modules are edeliver's: deliver writes the relup from the appups; generate them with `deliver build appups`, edit them in the store, and `deliver build upgrade` uses them (docs/UPGRADES.md)"],
  ['--runs-as-mix-task', 'runsAsMixTask', "edeliver's --runs-as-mix-task: deliver is not a mix task; run `deliver` itself"],
];

/** The hidden options every command accepts only to answer them (added by withCommonOptions). */
export function withEdeliverOptions(cmd: Command): Command {
  for (const [flags] of EDELIVER_OPTIONS) cmd.addOption(new Option(flags).hideHelp());
  return cmd;
}

/** Throws the one-line answer when the parsed options hold one of edeliver's. */
export function rejectEdeliverOptions(opts: Record<string, unknown>): void {
  for (const [, attribute, message] of EDELIVER_OPTIONS) {
    if (opts[attribute] !== undefined) throw new UsageError(message);
  }
}

/** `.deliver/strategies/erlang-<word>[-<info>]` in `cwd`: an edeliver custom command, if there is one. */
export function customStrategy(cwd: string, word: string): string | undefined {
  const dir = join(cwd, '.deliver', 'strategies');
  if (!/^[A-Za-z0-9_-]+$/.test(word) || !existsSync(dir)) return undefined;
  const file = readdirSync(dir).find((f) => f === `erlang-${word}` || f.startsWith(`erlang-${word}-`));
  return file ? `.deliver/strategies/${file}` : undefined;
}

export function registerEdeliver(program: Command): void {
  for (const [name, message] of Object.entries(EDELIVER_COMMANDS)) {
    program
      .command(name, { hidden: true })
      .description(message)
      .argument('[words...]')
      .allowUnknownOption()
      .helpOption(false)
      .action(() => {
        throw new UsageError(message);
      });
  }
  // Any other unknown word: an edeliver custom strategy, or commander's own "unknown command" with its suggestion.
  program.on('command:*', (operands: string[]) => {
    const file = customStrategy(process.cwd(), operands[0] ?? '');
    if (file) {
      throw new UsageError(`${file} is an edeliver custom strategy; deliver does not run strategies: put its steps in hooks (pre_*/post_* functions in .deliver/config) or a script around deliver's commands`);
    }
    (program as unknown as { unknownCommand(): never }).unknownCommand();
  });
}

// `deliver show deploys <env>`: the on-host audit logs of every host, merged by time.
import type { Command } from 'commander';
import { UsageError } from '../../output/errors.js';
import { openDeployEnv, withTargetOptions, type TargetFlags } from '../deploy-env.js';
import { showDeploys } from '../../deploy/run.js';
import { action, environmentFrom, withCommonOptions } from '../common.js';

/** `show` is shared with other modules (show releases): reuse the group if it exists. */
function showGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === 'show') ?? program.command('show').description('show releases and other information');
}

export function registerShowDeploys(program: Command): void {
  withTargetOptions(
    withCommonOptions(
      showGroup(program)
        .command('deploys')
        .alias('deploy')
        .argument('[words...]', '[on] <environment> (default staging)')
        .description('deploys, hot upgrades and rollbacks recorded on the hosts (audit log), oldest first')
        .option('-n, --lines <n>', 'entries read per host (default 20)'),
    ),
  ).action(
    action(async (ctx, words: string[], flags: TargetFlags & { lines?: string }) => {
      const n = flags.lines === undefined ? 20 : Number(flags.lines);
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`--lines: expected a whole number ≥ 1, got ${JSON.stringify(flags.lines)}`);
      const de = await openDeployEnv(ctx, environmentFrom(words), flags);
      try {
        await showDeploys(de, n);
      } finally {
        await de.transport.closeAll();
      }
    }),
  );
}

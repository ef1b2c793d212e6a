// `deliver rollback <env> [--version=V]`: back to the previous (or named) release on every host, in one command.
import type { Command } from 'commander';
import { openDeployEnv, withTargetOptions, type TargetFlags } from '../deploy-env.js';
import { rollback } from '../../deploy/run.js';
import { parseStrategy } from '../../deploy/strategy.js';
import { action, environmentFrom, withCommonOptions } from '../common.js';

type RollbackFlags = TargetFlags & { version?: string; lockWait?: string; concurrency?: string; strategy?: string; batchSize?: string; maxFail?: string };

export function registerRollback(program: Command): void {
  withTargetOptions(
    withCommonOptions(
      program
        .command('rollback')
        .argument('[words...]', '[on] <environment> (default staging)')
        .description('activate the previous release (or --version) on every host; running nodes are restarted on it')
        .option('--version <version>', 'release to return to (must be installed on every host)')
        .option('--lock-wait <seconds>', 'wait this long for a host held by a deploy')
        .option('--strategy <name>', 'parallel (default), rolling or canary')
        .option('--batch-size <n>', 'rolling: hosts per batch, N or P%')
        .option('--max-fail <n>', 'failed hosts tolerated before no further host starts'),
    ),
  ).action(
    action(async (ctx, words: string[], flags: RollbackFlags) => {
      const de = await openDeployEnv(ctx, environmentFrom(words), flags);
      try {
        await rollback(de, {
          strategy: parseStrategy(flags.strategy),
          ...(flags.version !== undefined ? { version: flags.version } : {}),
          ...(flags.lockWait !== undefined ? { lockWait: flags.lockWait } : {}),
          ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
          ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
          ...(flags.maxFail !== undefined ? { maxFail: flags.maxFail } : {}),
        });
      } finally {
        await de.transport.closeAll();
      }
    }),
  );
}

// `deliver rollback <env> [--version=V]`: back to the previous (or named) release on every host, in one command.
import type { Command } from 'commander';
import { fanFlags, openDeployEnv, withTargetOptions, type TargetFlags } from '../deploy-env.js';
import { rollback } from '../../deploy/run.js';
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
        await rollback(de, fanFlags(flags));
      } finally {
        await de.transport.closeAll();
      }
    }),
  );
}

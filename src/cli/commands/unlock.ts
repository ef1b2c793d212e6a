// `deliver unlock <env>`: remove the deploy lock on every host (after a deploy died), naming who held it.
import type { Command } from 'commander';
import { openDeployEnv, withTargetOptions, type TargetFlags } from '../deploy-env.js';
import { unlock } from '../../deploy/run.js';
import { action, environmentFrom, withCommonOptions } from '../common.js';

export function registerUnlock(program: Command): void {
  withTargetOptions(
    withCommonOptions(program.command('unlock').argument('[words...]', '[on] <environment> (default staging)').description('remove the deploy lock on every host of the environment')),
  ).action(
    action(async (ctx, words: string[], flags: TargetFlags) => {
      const de = await openDeployEnv(ctx, environmentFrom(words), flags);
      try {
        await unlock(de);
      } finally {
        await de.transport.closeAll();
      }
    }),
  );
}

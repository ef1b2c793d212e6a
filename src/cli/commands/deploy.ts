// `deliver deploy release [to] <env>`: ship a stored release to every host of the environment.
import type { Command } from 'commander';
import { deployFlags, openDeployEnv, openReleaseStore, withDeployOptions, withTargetOptions, type DeployCliFlags } from '../deploy-env.js';
import { deployRelease } from '../../deploy/run.js';
import { action, environmentFrom, withCommonOptions } from '../common.js';
import { migrationsAfterDeploy } from './migrate.js';

export function registerDeploy(program: Command): void {
  const deploy = program.command('deploy').description('deploy a release to an environment');
  withDeployOptions(
    withTargetOptions(
      withCommonOptions(
        deploy
          .command('release')
          .argument('[words...]', '[to] <environment> (default staging)')
          .description('upload a release from the store to every host, verify it, activate it atomically')
          .option('--version <version>', 'release version to deploy, or "latest"'),
      ),
    ),
  ).action(
    action(async (ctx, words: string[], flags: DeployCliFlags) => {
      const env = environmentFrom(words);
      const de = await openDeployEnv(ctx, env, flags);
      try {
        await deployRelease(de, openReleaseStore(de, ctx.cwd), { ...deployFlags(flags), ...migrationsAfterDeploy(de, flags.runMigrations) });
      } finally {
        await de.transport.closeAll();
      }
    }),
  );
}

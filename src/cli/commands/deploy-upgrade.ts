// `deliver deploy upgrade [to] <env> --version=V` (hot-upgrade the running nodes from the store's upgrade tarball)
// and `deliver upgrade [env]` (build the upgrade from what the hosts run, then hot-upgrade or deploy).
import type { Command } from 'commander';
import { fanFlags, openDeployEnv, openReleaseStore, withTargetOptions, type DeployCliFlags } from '../deploy-env.js';
import { buildUpgrade } from '../../upgrade/build-upgrade.js';
import { deployUpgrade } from '../../upgrade/deploy-upgrade.js';
import { upgradeEnvironment } from '../../upgrade/upgrade-env.js';
import { migrationsAfterDeploy } from './migrate.js';
import { formatMs } from '../../output/output.js';
import { action, environmentFrom, withCommonOptions } from '../common.js';
import { releaseOptions } from '../../build/options.js';
import { buildDeps, withBuildOptions, type BuildFlags } from './build.js';

function withUpgradeOptions(cmd: Command): Command {
  return withTargetOptions(withCommonOptions(cmd))
    .option('--strategy <name>', 'parallel (default), rolling or canary')
    .option('--batch-size <n>', 'rolling: hosts per batch, N or P% (default 1)')
    .option('--max-fail <n>', 'failed hosts tolerated before no further host starts, N or P% (default: parallel all, rolling/canary 0)')
    .option('--lock-wait <seconds>', 'wait this long for a host held by another deploy instead of failing')
    .option('--run-migrations', 'then run the migrations (deliver migrate) once, on the first host, before the upgrade is reported done');
}

function deployGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === 'deploy') ?? program.command('deploy').description('deploy a release to an environment');
}

export function registerDeployUpgrade(program: Command): void {
  withUpgradeOptions(
    deployGroup(program)
      .command('upgrade')
      .argument('[words...]', '[to] <environment> (default staging)')
      .description('hot-upgrade the running nodes with the store\'s APP_VERSION.upgrade.tar.gz (every host checked first)')
      .option('--version <version>', 'the version to upgrade to (an upgrade in the store)'),
  ).action(
    action(async (ctx, words: string[], flags: DeployCliFlags) => {
      const de = await openDeployEnv(ctx, environmentFrom(words), flags);
      try {
        await deployUpgrade(de, openReleaseStore(de, ctx.cwd), { ...fanFlags(flags), ...migrationsAfterDeploy(de, flags.runMigrations) });
      } finally {
        await de.transport.closeAll();
      }
    }),
  );

  withUpgradeOptions(
    withBuildOptions(
      program
        .command('upgrade')
        .argument('[words...]', '[to] <environment> (default staging)')
        .description('build an upgrade from the version the nodes run to the current branch, hot-upgrade the running nodes, deploy it to stopped ones')
        .option('--start-deploy', 'start the nodes of hosts that get the new version as a plain release'),
    ),
  ).action(
    action(async (ctx, words: string[], flags: DeployCliFlags & BuildFlags) => {
      const de = await openDeployEnv(ctx, environmentFrom(words), flags);
      try {
        const store = openReleaseStore(de, ctx.cwd);
        const deps = buildDeps(ctx, de.config, flags, { transport: de.transport, store: async () => store });
        const migrations = migrationsAfterDeploy(de, flags.runMigrations);
        await upgradeEnvironment(de, store, { ...fanFlags(flags), ...(flags.startDeploy ? { startDeploy: true } : {}), ...migrations }, async (source) => {
          const built = await buildUpgrade({ ...source, appupsOnly: false, release: releaseOptions(de.config.build, flags) }, deps);
          ctx.out.info(`${ctx.out.c.green('built')} upgrade ${built.app} ${built.from} → ${built.to} in ${formatMs(built.durationMs)}`);
          return built;
        });
      } finally {
        await de.transport.closeAll();
      }
    }),
  );
}

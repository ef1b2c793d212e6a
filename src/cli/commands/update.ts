// `deliver update [env] [--start-deploy]`: build a release on the build host, then deploy exactly that version
// (and restart with --start-deploy). The environment comes from the positional word only (edeliver matched the
// raw argument string, so a branch named `production-fix` deployed to production).
import type { Command } from 'commander';
import { deployFlags, openDeployEnv, openReleaseStore, withDeployOptions, withTargetOptions, type DeployCliFlags } from '../deploy-env.js';
import { deployRelease } from '../../deploy/run.js';
import { formatMs } from '../../output/output.js';
import { printPlan } from '../../output/plan.js';
import { buildRelease, planBuild } from '../../build/build-release.js';
import { releaseOptions } from '../../build/options.js';
import { action, environmentFrom, withCommonOptions } from '../common.js';
import { buildDeps, withBuildOptions, type BuildFlags } from './build.js';
import { migrationsAfterDeploy } from './migrate.js';

type UpdateFlags = DeployCliFlags & BuildFlags;

export function registerUpdate(program: Command): void {
  const cmd = program
    .command('update')
    .argument('[words...]', '[to] <environment> (default staging)')
    .description('build a release on the build host and deploy it (with --start-deploy: and restart the nodes)');
  withDeployOptions(withTargetOptions(withCommonOptions(withBuildOptions(cmd)))).action(
    action(async (ctx, words: string[], flags: UpdateFlags) => {
      const env = environmentFrom(words);
      const de = await openDeployEnv(ctx, env, flags);
      try {
        const store = openReleaseStore(de, ctx.cwd);
        // Checked before the build: a migration setting that cannot work fails in a second, not after a build.
        const migrations = migrationsAfterDeploy(de, flags.runMigrations);
        const opts = releaseOptions(de.config.build, flags);
        const deps = buildDeps(ctx, de.config, flags, { transport: de.transport, store: async () => store });
        if (de.dryRun) {
          // The deploy's plan depends on the release this build stores: it is named, not computed.
          const plan = await planBuild(opts, deps);
          const start = deployFlags(flags).startDeploy ? ' and restarts the nodes' : '';
          printPlan(ctx.out, { ...plan, facts: [...plan.facts, `then deploys the built release to ${env}${start} (\`deliver deploy release VERSION to ${env} --dry-run\` shows that plan once it is stored)`] });
          return await migrations.afterDeploy?.();
        }
        const built = await buildRelease(opts, deps);
        ctx.out.info(`${ctx.out.c.green('built')} ${built.app} ${built.version} in ${formatMs(built.durationMs)}`);
        await deployRelease(de, store, { ...deployFlags(flags), version: built.version, command: 'update', ...migrations });
      } finally {
        await de.transport.closeAll();
      }
    }),
  );
}

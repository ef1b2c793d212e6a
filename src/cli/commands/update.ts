// `deliver update [env] [--start-deploy]`: build a release on the build host, then deploy exactly that version
// (and restart with --start-deploy). The environment comes from the positional word only (edeliver matched the
// raw argument string, so a branch named `production-fix` deployed to production).
import type { Command } from 'commander';
import { deployFlags, openDeployEnv, openReleaseStore, withDeployOptions, withTargetOptions, type DeployCliFlags } from '../../deploy/cli-env.js';
import { deployRelease } from '../../deploy/run.js';
import { formatMs } from '../../output/output.js';
import { DryRunTransport } from '../../ssh/dry-run.js';
import { action, environmentFrom, withCommonOptions } from '../common.js';
import { buildWithFlags, withBuildOptions, type BuildFlags } from './build.js';
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
        // The deploy's transport is real (a dry run reads host state); the build's dry run keeps its printer.
        const transport = de.dryRun ? new DryRunTransport(ctx.out) : de.transport;
        const built = await buildWithFlags(ctx, de.settings, flags, { transport, store: async () => store, dryRun: de.dryRun });
        if (!de.dryRun) ctx.out.info(`${ctx.out.c.green('built')} ${built.app} ${built.version} in ${formatMs(built.durationMs)}`);
        await deployRelease(de, store, { ...deployFlags(flags), version: built.version, command: 'update', ...migrations });
      } finally {
        await de.transport.closeAll();
      }
    }),
  );
}

// `deliver build upgrade --from=REF | --with=VERSION [--to=REF]` and `deliver build appups --from|--with`.
import type { Command } from 'commander';
import { releaseOptions } from '../../build/options.js';
import { printPlan } from '../../output/plan.js';
import { buildUpgrade, checkUpgradeSource, planUpgrade } from '../../upgrade/build-upgrade.js';
import { formatBytes, formatMs } from '../../output/output.js';
import { action, withCommonOptions } from '../common.js';
import { buildSession, withBuildOptions, type BuildFlags } from './build.js';

interface UpgradeFlags extends BuildFlags {
  from?: string;
  with?: string;
  to?: string;
}

function buildGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === 'build') ?? program.command('build').description('build on the build host');
}

function register(program: Command, name: 'upgrade' | 'appups', description: string): void {
  withCommonOptions(
    withBuildOptions(buildGroup(program).command(name).description(description))
      .option('--from <ref>', 'build the release to upgrade from out of this git ref (tag, branch, sha), with its own version')
      .option('--with <version>', 'take the release to upgrade from out of the release store')
      .option('--to <ref>', 'git ref of the new release (default: HEAD of the current branch, or --branch/--revision/--tag)')
      .option('-F, --force', name === 'upgrade' ? 'replace the new release / the upgrade in the store' : 'replace the appups in the store'),
  ).action(
    action(async (ctx, flags: UpgradeFlags) => {
      checkUpgradeSource(flags, `build ${name}`);
      await buildSession(ctx, flags, async (config, deps) => {
        const o = { from: flags.from, with: flags.with, to: flags.to, appupsOnly: name === 'appups', release: releaseOptions(config.build, flags) };
        if (flags.dryRun) return printPlan(ctx.out, await planUpgrade(o, deps));
        const r = await buildUpgrade(o, deps);
        ctx.out.result(r);
        for (const a of r.appups) ctx.out.info(`  appup ${a.app} ${a.from} → ${a.to}: ${a.source}`);
        ctx.out.info(
          `${ctx.out.c.green('built')} ${name === 'upgrade' ? 'upgrade' : 'appups'} ${r.app} ${r.from} → ${ctx.out.c.bold(r.to)} → ${r.store}: ${r.file} (${formatBytes(r.size)}, sha256 ${r.sha256.slice(0, 12)}…) in ${formatMs(r.durationMs)}`,
        );
      });
    }),
  );
}

export function registerBuildUpgrade(program: Command): void {
  register(program, 'upgrade', 'build a hot-upgrade tarball (APP_VSN.upgrade.tar.gz) from --from=REF or --with=VERSION to the current branch (or --to=REF)');
  register(program, 'appups', 'generate the appups of an upgrade into the store (APP_OLD~NEW.appups) to review and edit');
}

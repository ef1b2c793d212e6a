// `deliver update [env] [--start-deploy]`: build a release on the build host, then deploy exactly that version
// (and restart with --start-deploy). The environment comes from the positional word only (edeliver matched the
// raw argument string, so a branch named `production-fix` deployed to production).
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildHostTarget } from '../../build/build-host.js';
import { buildRelease, type BuildReleaseOptions } from '../../build/build-release.js';
import { deployFlags, openDeployEnv, openReleaseStore, withDeployOptions, withTargetOptions, type DeployCliFlags } from '../../deploy/cli-env.js';
import { deployRelease } from '../../deploy/run.js';
import { gitSshCommand } from '../../ssh/index.js';
import { formatMs } from '../../output/output.js';
import { action, environmentFrom, withCommonOptions } from '../common.js';
import { versionRequest } from './build.js';

type UpdateFlags = DeployCliFlags & { branch?: string; autoVersion?: string; skipGitClean?: boolean; skipMixClean?: boolean; mixEnv?: string };

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

export function registerUpdate(program: Command): void {
  withDeployOptions(
    withTargetOptions(
      withCommonOptions(
        program
          .command('update')
          .argument('[words...]', '[to] <environment> (default staging)')
          .description('build a release on the build host and deploy it (with --start-deploy: and restart the nodes)')
          .option('--branch <name>', 'branch to build (default: the current branch)')
          .option('--auto-version <items>', 'append version metadata (see build release)')
          .option('--mix-env <env>', 'MIX_ENV for the build')
          .option('--skip-git-clean', 'no git clean -ffdx on the build host')
          .option('--skip-mix-clean', 'no mix clean / rebar3 clean'),
      ),
    ),
  ).action(
    action(async (ctx, words: string[], flags: UpdateFlags) => {
      const env = environmentFrom(words);
      const de = await openDeployEnv(ctx, env, flags);
      try {
        const settings = de.settings;
        const opts: BuildReleaseOptions = {
          mixEnv: flags.mixEnv ?? (settings.get('TARGET_MIX_ENV')?.trim() || 'prod'),
          version: versionRequest(flags, settings),
          skipGitClean: Boolean(flags.skipGitClean) || truthy(settings.get('SKIP_GIT_CLEAN')),
          skipMixClean: Boolean(flags.skipMixClean) || truthy(settings.get('SKIP_MIX_CLEAN')),
          force: truthy(settings.get('FORCE')),
        };
        if (flags.branch !== undefined) opts.branch = flags.branch;
        const target = buildHostTarget(settings);
        const store = openReleaseStore(de, ctx.cwd);
        const policy = flags.hostKeyChecking ?? (settings.get('HOST_KEY_CHECKING') === 'accept-new' ? 'accept-new' : 'strict');
        const built = await buildRelease(opts, {
          settings,
          out: ctx.out,
          signal: ctx.signal,
          cwd: ctx.cwd,
          buildHost: { name: target.name, host: target.host, user: target.user, port: target.port },
          backend: () => de.transport.connect(target),
          store: async () => store,
          gitSshCommand: async () => {
            const cfg = join(homedir(), '.ssh', 'config');
            return gitSshCommand(target, { hostKeyPolicy: policy, ...(existsSync(cfg) ? { sshConfigFile: cfg } : {}) });
          },
          dryRun: de.dryRun,
        });
        if (!de.dryRun) ctx.out.info(`${ctx.out.c.green('built')} ${built.app} ${built.version} in ${formatMs(built.durationMs)}`);
        await deployRelease(de, store, { ...deployFlags(flags), version: built.version, command: 'update' });
      } finally {
        await de.transport.closeAll();
      }
    }),
  );
}

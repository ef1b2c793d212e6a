// `deliver build release [options]`: build a release on the build host and put it into the release store.
import type { Command } from 'commander';
import { loadConfig, type Config } from '../../config/config.js';
import { buildRelease, planBuild, type BuildReleaseDeps } from '../../build/build-release.js';
import { releaseOptions, type BuildRequest } from '../../build/options.js';
import { formatBytes, formatMs } from '../../output/output.js';
import { printPlan } from '../../output/plan.js';
import { gitSshCommand } from '../../ssh/index.js';
import { transportFor } from '../transport.js';
import type { Transport } from '../../ssh/types.js';
import { openConfiguredStore } from '../../store/index.js';
import type { ReleaseStore } from '../../store/types.js';
import { action, withCommonOptions, type CommonOptions, type Context } from '../common.js';

export interface BuildFlags extends CommonOptions, BuildRequest {}

/** The build options, shared by `build release` and `update`. */
export function withBuildOptions(cmd: Command): Command {
  return cmd
    .option('--branch <name>', 'branch to build (default: the current branch); local commits need not be pushed anywhere')
    .option('--revision <rev>', 'commit to build')
    .option('--tag <tag>', 'tag to build')
    .option('--mix-env <env>', 'MIX_ENV for the build (default: TARGET_MIX_ENV, else prod)')
    .option('--auto-version <items>', 'append version metadata: revision, commit-count, commit-count-branch, branch, branch-unless-master, date, time, mix-env (joined with +)')
    .option('--increment-version <part>', 'increment the version for this build: patch, minor or major')
    .option('--set-version <version>', 'build with this version')
    .option('--release <name>', 'which release to build (umbrella projects with several releases)')
    .option('--skip-git-clean', 'keep the build directory (no git clean -ffdx): faster, not a full rebuild')
    .option('--skip-mix-clean', 'no mix clean / rebar3 clean before compiling');
}

/** The build host, its pooled connection, the store and the push's ssh command. */
export function buildDeps(
  ctx: Context,
  config: Config,
  flags: BuildFlags,
  deps: { transport: Transport; store: () => Promise<ReleaseStore> },
): BuildReleaseDeps {
  const { target } = config.buildHost();
  const policy = config.hostKeyPolicy(flags.hostKeyChecking);
  const timeout = config.ssh.connectTimeoutMs;
  return {
    config,
    out: ctx.out,
    signal: ctx.signal,
    cwd: ctx.cwd,
    buildHost: { name: target.name, host: target.host, user: target.user, port: target.port },
    backend: () => deps.transport.connect(target),
    store: deps.store,
    // `git push` uses the system ssh with the same config, known_hosts and host key policy as the pooled connection.
    gitSshCommand: async () => gitSshCommand(target, { hostKeyPolicy: policy, connectTimeoutMs: timeout }),
  };
}

/** A `build …` command's session: its configuration, the build host's pooled connection (closed at the end), the store. */
export async function buildSession(ctx: Context, flags: BuildFlags, run: (config: Config, deps: BuildReleaseDeps) => Promise<void>): Promise<void> {
  const config = await loadConfig({
    cwd: ctx.cwd,
    ...(flags.config !== undefined ? { configFile: flags.config } : {}),
    ...(flags.mixEnv !== undefined ? { mixEnv: flags.mixEnv } : {}),
  });
  const transport = transportFor(ctx, config, flags);
  try {
    await run(config, buildDeps(ctx, config, flags, { transport, store: async () => openConfiguredStore(config, { cwd: ctx.cwd, transport }) }));
  } finally {
    await transport.closeAll();
  }
}

export function registerBuild(program: Command): void {
  const build = program.command('build').description('build on the build host');
  withCommonOptions(
    withBuildOptions(
      build.command('release').description('build a release of the current branch (or --branch/--revision/--tag) on BUILD_HOST and store it'),
    ).option('-F, --force', 'replace a release of the same version in the store'),
  ).action(
    action(async (ctx, flags: BuildFlags) =>
      buildSession(ctx, flags, async (config, deps) => {
        const opts = releaseOptions(config.build, flags);
        if (flags.dryRun) return printPlan(ctx.out, await planBuild(opts, deps));
        const result = await buildRelease(opts, deps);
        ctx.out.result(result);
        ctx.out.info(
          `${ctx.out.c.green('built')} ${result.app} ${ctx.out.c.bold(result.version)} → ${result.store}: ${result.file} (${formatBytes(result.size)}, sha256 ${result.sha256.slice(0, 12)}…) in ${formatMs(result.durationMs)}`,
        );
      }),
    ),
  );
}

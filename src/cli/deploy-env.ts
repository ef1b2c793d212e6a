// Turns a command's flags and environment word into a DeployEnv: its typed config, hosts (filtered by --host), the
// transport and the store. A dry run connects for real: its read-only queries run, everything else is printed. Shared by every deploy/node command.
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { ConfigError, UsageError } from '../output/errors.js';
import { LOCAL_TARGET, LocalTransport } from '../ssh/local.js';
import { LOCAL_ENVIRONMENT } from './common.js';
import { transportFor } from './transport.js';
import { openConfiguredStore } from '../store/index.js';
import type { ReleaseStore } from '../store/types.js';
import type { CommonOptions, Context } from './common.js';
import type { DeployEnv, DeployFlags, FanFlags } from '../deploy/run.js';
import { DEFAULT_CONCURRENCY, parseStrategy } from '../deploy/strategy.js';

export interface DeployCliFlags extends TargetFlags {
  version?: string;
  startDeploy?: boolean;
  cleanDeploy?: boolean;
  strategy?: string;
  batchSize?: string;
  maxFail?: string;
  lockWait?: string;
  retryFailed?: boolean;
  healthCheck?: string;
  concurrency?: string;
  /** `--pull` / `--no-pull` (undefined: RELEASE_PULL decides). */
  pull?: boolean;
  /** `--run-migrations`: once, on the first host, after the release is in place. */
  runMigrations?: boolean;
  /** `--no-delta` (false) / `--delta` (undefined: DELTA_DEPLOY decides). */
  delta?: boolean;
}

/** The options of `deploy release` (and `update`). */
export function withDeployOptions(cmd: Command): Command {
  return cmd
    .option('--start-deploy', '(re)start the nodes on the new release and wait until they answer (START_DEPLOY=true)')
    .option('--clean-deploy', 'remove the other stored releases on each host first (CLEAN_DEPLOY=true)')
    .option('--strategy <name>', 'parallel (default), rolling or canary')
    .option('--batch-size <n>', 'rolling: hosts per batch, N or P% (default 1)')
    .option('--max-fail <n>', 'failed hosts tolerated before no further host starts, N or P% (default: parallel all, rolling/canary 0)')
    .option('--lock-wait <seconds>', 'wait this long for a host held by another deploy instead of failing')
    .option('--retry-failed', 'deploy only to the hosts that failed in the last deploy to this environment')
    .option('--health-check <command>', 'shell command run in the release root after start; must exit 0 (HEALTH_CHECK)')
    .option('--pull', 'S3 store: each host downloads the release itself via a short-lived presigned URL (RELEASE_PULL=true)')
    .option('--no-pull', 'stream the release through this machine even when RELEASE_PULL=true')
    .option('--run-migrations', 'then run the migrations (deliver migrate) once, on the first host, before the deploy is reported done')
    .option('--delta', 'hosts with a release installed get only what differs (the default; DELTA_DEPLOY=true)')
    .option('--no-delta', 'send every host the full release tarball (DELTA_DEPLOY=false)');
}

/** The flags every multi-host command that changes hosts shares (rollback, deploy upgrade). */
export type FanCliFlags = Pick<DeployCliFlags, 'strategy' | 'version' | 'lockWait' | 'concurrency' | 'batchSize' | 'maxFail'>;

export function fanFlags(flags: FanCliFlags): FanFlags & { version?: string; lockWait?: string } {
  return {
    strategy: parseStrategy(flags.strategy),
    ...(flags.version !== undefined ? { version: flags.version } : {}),
    ...(flags.lockWait !== undefined ? { lockWait: flags.lockWait } : {}),
    ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
    ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
    ...(flags.maxFail !== undefined ? { maxFail: flags.maxFail } : {}),
  };
}

export function deployFlags(flags: DeployCliFlags): DeployFlags {
  const f: DeployFlags = { strategy: parseStrategy(flags.strategy) };
  if (flags.version !== undefined) f.version = flags.version;
  if (flags.startDeploy) f.startDeploy = true;
  if (flags.cleanDeploy) f.cleanDeploy = true;
  if (flags.batchSize !== undefined) f.batchSize = flags.batchSize;
  if (flags.maxFail !== undefined) f.maxFail = flags.maxFail;
  if (flags.lockWait !== undefined) f.lockWait = flags.lockWait;
  if (flags.retryFailed) f.retryFailed = true;
  if (flags.healthCheck !== undefined) f.healthCheck = flags.healthCheck;
  if (flags.concurrency !== undefined) f.concurrency = flags.concurrency;
  if (flags.pull !== undefined) f.pull = flags.pull;
  if (flags.delta !== undefined) f.delta = flags.delta;
  return f;
}

export interface TargetFlags extends CommonOptions {
  host?: string[];
}

/** `--host` (repeatable) and the fan-out options shared by multi-host commands. */
export function withTargetOptions(cmd: Command): Command {
  return cmd
    .option('--host <host>', 'only this host of the environment (repeatable)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--concurrency <n>', `hosts worked on at once (default SSH_CONCURRENCY, else ${DEFAULT_CONCURRENCY})`);
}

export async function openDeployEnv(ctx: Context, env: string, flags: TargetFlags): Promise<DeployEnv> {
  const config = await loadConfig({ cwd: ctx.cwd, deployEnvironment: env, ...(flags.config !== undefined ? { configFile: flags.config } : {}) });
  const app = config.app;
  if (!app) throw new ConfigError(config.file, undefined, 'APP is not set', { hint: 'set APP="my_app" in the config' });
  const dryRun = Boolean(flags.dryRun);
  const transport = transportFor(ctx, config, flags);
  const base = { app, env, config, out: ctx.out, signal: ctx.signal, projectDir: config.projectDir, dryRun };
  if (env === LOCAL_ENVIRONMENT) {
    // edeliver's `local`: this machine, in TEST_LOCALLY_AT, through the local shell; no hosts to configure.
    if (flags.host?.length) throw new UsageError('the local environment is this machine: drop --host');
    return { ...base, targets: [LOCAL_TARGET], deliverTo: config.localDeployDir, transport: new LocalTransport(transport) };
  }
  const resolved = config.environment(flags.host ? { hosts: flags.host } : {});
  return { ...base, targets: resolved.targets, deliverTo: resolved.deliverTo, transport };
}

export function openReleaseStore(de: DeployEnv, cwd: string): ReleaseStore {
  return openConfiguredStore(de.config, { cwd, transport: de.transport });
}

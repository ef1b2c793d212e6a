// The configuration a command receives: the settings of one project (and environment) as typed objects with
// their defaults. Built once, right after loading (loadConfig); each group is parsed on first use and kept, so
// a bad value stops the commands that use it, naming its file:line (ConfigError, exit 2), and `deliver check`
// reports every one. Only src/config reads the raw settings.
import { resolve } from 'node:path';
import type { HostKeyPolicy, HostTarget } from '../ssh/types.js';
import type { Where } from './hosts.js';
import { loadSettings, type LoadOptions } from './load.js';
import { ectoRepositoryOf, migrationCommandOf } from './migrations.js';
import type { ReleaseKind } from './release-kind.js';
import { configuredReleaseKind, deltaDeploys, hostKeyPolicy, resolveBuildHost, resolveEnvironment, type ResolvedEnvironment } from './resolve.js';
import { s3Settings, type S3Settings } from './s3.js';
import { buildSettings, deploySettings, sshSettings, type BuildSettings, type DeploySettings, type SshSettings } from './typed.js';
import type { HookDef, Settings } from './types.js';
import { localDeployDir, mixEnvOf, remoteDirOf, requireVars, settingError, whereOf } from './validate.js';
import { parseBoolean } from './values.js';
import { CLUSTER_NODE_NAME } from './cluster.js';

/** deliver's default store: files directly in `.deliver/releases` of the project. */
export const DEFAULT_RELEASE_STORE = '.deliver/releases';

export interface DeployConfig extends DeploySettings {
  /** VERSION: the release a deploy takes when --version does not say. */
  version?: string;
  /** HEALTH_CHECK: shell run in the release root after start (--health-check overrides it). */
  healthCheck?: string;
  /** RELEASE_PULL (default false): each host downloads the release from the S3 store itself. */
  pull: boolean;
  /** DELTA_DEPLOY (default true): hosts with a release installed get only what differs. */
  delta: boolean;
}

export interface BuildConfig extends BuildSettings {
  /** TARGET_MIX_ENV, default prod (--mix-env overrides it). */
  mixEnv: string;
  /** BUILD_AT, checked as a remote directory; undefined when unset. */
  buildAt?: string;
  /** BUILD_USER as set (hooks see it). */
  buildUser?: string;
  /** Settings that override the detection of the build and release tool (edeliver's names). */
  detect: { BUILD_CMD?: string | undefined; RELEASE_CMD?: string | undefined; USING_DISTILLERY?: string | undefined };
  /** RELEASE_VERSION: the version the release tool builds, when the project files do not say. */
  releaseVersion?: string;
  /** AUTO_VERSION as written, with where it was set (build/version.ts parses the items). */
  autoVersion?: { value: string; label: string };
  /** MIX_CMD / REBAR3_CMD / RELX_CMD, REBAR_CONFIG, RELEASE_CMD_OPTIONS: trusted shell from the user's own config. */
  commands: { mixCmd?: string | undefined; rebar3Cmd?: string | undefined; relxCmd?: string | undefined; rebarConfig?: string | undefined; releaseCmdOptions?: string | undefined };
  /** PROFILE: sourced before each remote build step. */
  profile?: string;
  /** RELEASE_DIR: where the release tool writes the release (default: the tool's own place). */
  releaseDir?: string;
}

export interface SshConfig extends SshSettings {
  /** HOST_KEY_CHECKING; undefined: ~/.ssh/config and the SSH layer's default decide. */
  hostKeyChecking?: HostKeyPolicy;
}

export interface StoreConfig {
  /** RELEASE_STORE (an empty value is the default). */
  spec: string;
  /** LOCAL_RELEASE_STORE, absolute: this machine's release directory for upload/download. */
  localDir: string;
  /** S3_* / AWS_* settings, parsed when an S3 store is opened. */
  readonly s3: S3Settings;
}

export interface ClusterConfig {
  /** CLUSTER_NODE_NAME and where it was set. */
  nodeName?: { template: string; where: Where };
  /** Every host of the environment, when it lists any (a cluster's nodes, whatever --host or HOST select). */
  hosts?: HostTarget[];
}

export interface MigrationSettings {
  /** MIGRATE_COMMAND, MIGRATE_DOWN_COMMAND, MIGRATIONS_COMMAND: one line of shell each. */
  up?: string;
  down?: string;
  status?: string;
  /** ECTO_REPOSITORY. */
  repo?: string;
}

export interface Config {
  /** Absolute path of the config file, and the project directory (parent of `.deliver/`). */
  readonly file: string;
  readonly projectDir: string;
  /** The environment the config was loaded for (undefined for build and store commands). */
  readonly env?: string;
  /** APP, trimmed ('' when unset: each command says what it needs). */
  readonly app: string;
  readonly hooks: ReadonlyMap<string, HookDef>;
  /** Every variable the config, .env or flags set: the environment build hooks run with (edeliver's). */
  readonly hookEnv: Readonly<Record<string, string>>;
  readonly deploy: DeployConfig;
  readonly build: BuildConfig;
  readonly ssh: SshConfig;
  readonly store: StoreConfig;
  readonly cluster: ClusterConfig;
  readonly migrations: MigrationSettings;
  /** RELEASE_KIND (or USING_DISTILLERY=true); undefined: detected from each host's release. */
  readonly releaseKind: ReleaseKind | undefined;
  /** TEST_LOCALLY_AT: the `local` environment's directory on this machine. */
  readonly localDeployDir: string;
  /** The environment's targets (narrowed by --host / HOST) and deploy directory. */
  environment(opts?: { hosts?: string[] }): ResolvedEnvironment;
  /** BUILD_HOST with BUILD_USER, and BUILD_AT. */
  buildHost(): { target: HostTarget; buildAt: string };
  /** `--host-key-checking` (checked) > HOST_KEY_CHECKING. */
  hostKeyPolicy(flag?: string): HostKeyPolicy | undefined;
  /** Fails (exit 2, naming the config file) unless what `command` needs is set. */
  require(command: string): void;
  /** `.deliver/config:12`, `environment`, `--flag`: where a variable's value came from, for messages. */
  where(name: string): string;
}

/** Loads the settings and wraps them: what every command but `deliver check` starts with. */
export async function loadConfig(opts: LoadOptions): Promise<Config> {
  return configOf(await loadSettings(opts), opts.deployEnvironment);
}

/** A value computed on first use, then kept. */
function once<T>(f: () => T): () => T {
  let v: { value: T } | undefined;
  return () => (v ??= { value: f() }).value;
}

/** `base` with one read-only property per group, each computed on first read and then kept. */
function withGroups<T extends object, G extends Record<string, () => unknown>>(base: T, groups: G): T & { readonly [K in keyof G]: ReturnType<G[K]> } {
  for (const [name, f] of Object.entries(groups)) Object.defineProperty(base, name, { enumerable: true, get: once(f) });
  return base as T & { readonly [K in keyof G]: ReturnType<G[K]> };
}

/** The typed configuration of `settings` (loaded for environment `env`, when given). */
export function configOf(settings: Settings, env?: string): Config {
  const ssh = once(() => sshConfig(settings));
  const config = withGroups(
    {
      file: settings.file,
      projectDir: settings.projectDir,
      ...(env !== undefined ? { env } : {}),
      app: settings.get('APP')?.trim() ?? '',
      hooks: settings.hooks,
      environment: (opts: { hosts?: string[] } = {}) => resolveEnvironment(settings, env ?? 'staging', opts),
      buildHost: once(() => resolveBuildHost(settings)),
      hostKeyPolicy: (flag?: string) => (flag === undefined ? ssh().hostKeyChecking : hostKeyPolicy(settings, flag)),
      require: (command: string) => requireVars(settings, command, env),
      where: (name: string) => settings.where(name),
    },
    {
      hookEnv: () => Object.fromEntries(settings.all().map((c) => [c.name, c.value])),
      deploy: () => deployConfig(settings),
      build: () => buildConfig(settings),
      ssh,
      store: () => storeConfig(settings),
      cluster: () => clusterConfig(settings, env),
      migrations: () => migrationSettings(settings),
      releaseKind: () => configuredReleaseKind(settings),
      localDeployDir: () => localDeployDir(settings),
    },
  );
  return config;
}

function sshConfig(settings: Settings): SshConfig {
  const policy = hostKeyPolicy(settings);
  return { ...sshSettings(settings), ...(policy ? { hostKeyChecking: policy } : {}) };
}

function storeConfig(settings: Settings): StoreConfig {
  const get = (name: string) => settings.get(name)?.trim();
  return withGroups(
    {
      spec: get('RELEASE_STORE') || DEFAULT_RELEASE_STORE,
      localDir: resolve(settings.projectDir, get('LOCAL_RELEASE_STORE') || DEFAULT_RELEASE_STORE),
    },
    { s3: () => s3Settings(settings) },
  );
}

/** RELEASE_PULL: true/false (yes/no, 1/0, on/off); anything else is an error at its file:line. */
function releasePull(settings: Settings): boolean {
  const v = settings.get('RELEASE_PULL')?.trim() ?? '';
  if (v === '') return false;
  const b = parseBoolean(v);
  if (b === undefined) throw settingError('RELEASE_PULL', `expected true or false, got ${JSON.stringify(v)}`, settings);
  return b;
}

function deployConfig(settings: Settings): DeployConfig {
  const version = settings.get('VERSION');
  const healthCheck = settings.get('HEALTH_CHECK');
  return {
    ...deploySettings(settings),
    ...(version !== undefined ? { version } : {}),
    ...(healthCheck ? { healthCheck } : {}),
    pull: releasePull(settings),
    delta: deltaDeploys(settings),
  };
}

function buildConfig(settings: Settings): BuildConfig {
  const get = (name: string) => settings.get(name);
  const set = (name: string) => get(name)?.trim() || undefined;
  const buildAt = remoteDirOf(settings, ['BUILD_AT']);
  const buildUser = get('BUILD_USER');
  const releaseVersion = set('RELEASE_VERSION');
  const auto = set('AUTO_VERSION');
  const profile = get('PROFILE');
  const releaseDir = set('RELEASE_DIR');
  return {
    ...buildSettings(settings),
    mixEnv: mixEnvOf(settings, settings.lookup('TARGET_MIX_ENV')?.source === 'flag' ? get('TARGET_MIX_ENV') : undefined),
    ...(buildAt !== undefined ? { buildAt } : {}),
    ...(buildUser !== undefined ? { buildUser } : {}),
    detect: { BUILD_CMD: get('BUILD_CMD'), RELEASE_CMD: get('RELEASE_CMD'), USING_DISTILLERY: get('USING_DISTILLERY') },
    ...(releaseVersion !== undefined ? { releaseVersion } : {}),
    ...(auto !== undefined ? { autoVersion: { value: get('AUTO_VERSION')!, label: `AUTO_VERSION (${settings.where('AUTO_VERSION')})` } } : {}),
    commands: { mixCmd: get('MIX_CMD'), rebar3Cmd: get('REBAR3_CMD'), relxCmd: get('RELX_CMD'), rebarConfig: get('REBAR_CONFIG'), releaseCmdOptions: get('RELEASE_CMD_OPTIONS') },
    ...(profile !== undefined ? { profile } : {}),
    ...(releaseDir !== undefined ? { releaseDir } : {}),
  };
}

function clusterConfig(settings: Settings, env: string | undefined): ClusterConfig {
  const template = settings.get(CLUSTER_NODE_NAME);
  if (!template) return {};
  const nodeName = { template, where: whereOf(settings, CLUSTER_NODE_NAME) };
  if (env === undefined) return { nodeName };
  const E = env.toUpperCase();
  const listed = settings.get(`${E}_NODES`)?.trim() || settings.get(`${E}_HOSTS`)?.trim();
  return listed ? { nodeName, hosts: resolveEnvironment(settings, env, { all: true }).targets } : { nodeName };
}

function migrationSettings(settings: Settings): MigrationSettings {
  const m: MigrationSettings = {};
  for (const action of ['up', 'down', 'status'] as const) {
    const command = migrationCommandOf(settings, action);
    if (command !== undefined) m[action] = command;
  }
  const repo = ectoRepositoryOf(settings);
  if (repo !== undefined) m.repo = repo;
  return m;
}


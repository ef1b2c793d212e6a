// Settings parsed once into typed objects with their defaults: commands read these, not strings. A bad value is the
// same error `deliver check` reports (values.ts), naming the file:line it came from.
import type { Where } from './hosts.js';
import type { Settings } from './types.js';
import { whereOf } from './validate.js';
import { parseBoolean, parseSecondsMs, parseWholeNumber } from './values.js';

export const DEFAULT_KEEP_RELEASES = 5;
export const DEFAULT_START_TIMEOUT_MS = 30_000;
export const DEFAULT_HEALTH_CHECK_TIMEOUT_MS = 30_000;
/** A lock unrefreshed this long belongs to a crashed run (see docs/DEPLOY.md, "Locks"). */
export const DEFAULT_LOCK_TTL_MS = 15 * 60_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * Hosts worked on at once by default. edeliver, Kamal and SSHKit's parallel runner take every host at once; a bound
 * keeps sockets and memory (a few MiB per uploading host) in check on large fleets.
 */
export const DEFAULT_CONCURRENCY = 32;

/** The value of `name` parsed, or undefined when it is unset or empty. */
function read<T>(settings: Settings, name: string, parse: (value: string, name: string, where: Where) => T): T | undefined {
  const v = settings.get(name);
  return v === undefined || v.trim() === '' ? undefined : parse(v, name, whereOf(settings, name));
}

const flag = (settings: Settings, name: string) => parseBoolean(settings.get(name)) ?? false;

/** Deploy settings of the environment the settings were loaded for. */
export interface DeploySettings {
  keepReleases: number;
  startDeploy: boolean;
  cleanDeploy: boolean;
  startTimeoutMs: number;
  healthCheckTimeoutMs: number;
  lockTtlMs: number;
  /** LINK_VM_ARGS / LINK_SYS_CONFIG: files on the hosts linked into each release. */
  links: { vmArgs?: string; sysConfig?: string };
}

export function deploySettings(settings: Settings): DeploySettings {
  const vmArgs = settings.get('LINK_VM_ARGS');
  const sysConfig = settings.get('LINK_SYS_CONFIG');
  return {
    keepReleases: read(settings, 'KEEP_RELEASES', parseWholeNumber) ?? DEFAULT_KEEP_RELEASES,
    startDeploy: flag(settings, 'START_DEPLOY'),
    cleanDeploy: flag(settings, 'CLEAN_DEPLOY'),
    startTimeoutMs: read(settings, 'START_TIMEOUT', parseSecondsMs) ?? DEFAULT_START_TIMEOUT_MS,
    healthCheckTimeoutMs: read(settings, 'HEALTH_CHECK_TIMEOUT', parseSecondsMs) ?? DEFAULT_HEALTH_CHECK_TIMEOUT_MS,
    lockTtlMs: read(settings, 'LOCK_TTL', parseSecondsMs) ?? DEFAULT_LOCK_TTL_MS,
    links: { ...(vmArgs ? { vmArgs } : {}), ...(sysConfig ? { sysConfig } : {}) },
  };
}

/** Build settings the flags do not set (the flags' own values are merged in build/options.ts). */
export interface BuildSettings {
  skipGitClean: boolean;
  skipMixClean: boolean;
  force: boolean;
  rebarProfile: string;
  gitCleanPaths: string[];
}

export function buildSettings(settings: Settings): BuildSettings {
  return {
    skipGitClean: flag(settings, 'SKIP_GIT_CLEAN'),
    skipMixClean: flag(settings, 'SKIP_MIX_CLEAN'),
    force: flag(settings, 'FORCE'),
    rebarProfile: settings.get('REBAR_PROFILE')?.trim() || 'prod',
    gitCleanPaths: (settings.get('GIT_CLEAN_PATHS') ?? '.').split(/\s+/).filter((p) => p !== ''),
  };
}

export interface SshSettings {
  connectTimeoutMs: number;
  /** Hosts a multi-host command works on at once unless --concurrency says otherwise. */
  concurrency: number;
}

export function sshSettings(settings: Settings): SshSettings {
  return {
    connectTimeoutMs: read(settings, 'SSH_TIMEOUT', parseSecondsMs) ?? DEFAULT_CONNECT_TIMEOUT_MS,
    concurrency: read(settings, 'SSH_CONCURRENCY', parseWholeNumber) ?? DEFAULT_CONCURRENCY,
  };
}

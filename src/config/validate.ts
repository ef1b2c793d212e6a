// Validation in one place: what each command needs, whether values are well-formed (host lists, nodes, numbers,
// policies), and typos in variable names. Every problem names the file and line the value came from.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, UsageError, type DeliverError } from '../output/errors.js';
import { checkRemoteDir, checkUser, failAt as fail, parseBuildHost, parseHostList, parseNodeList, someHosts, splitList, type Where } from './hosts.js';
import { configFileName, formatLocation } from './settings.js';
import type { ConfigVar, ConfigWarning, Settings } from './types.js';
import { BUILTIN_ENVIRONMENTS, ENV_PATTERN, isKnownVariable, suggestVariable } from './variables.js';
import { parseReleaseKind } from './release-kind.js';
import { CLUSTER_NODE_NAME, expandNodeName } from './cluster.js';
import { ectoRepository, MIGRATION_COMMAND_VARS, migrationCommandSetting } from './migrations.js';
import { parseBoolean, parseSecondsMs, parseWholeNumber } from './values.js';

export interface Requirement {
  /** A variable name, or alternatives (`TEST_AT or DELIVER_TO`). */
  name: string;
  ok: boolean;
}

export interface CommandRequirements {
  /** `build`, `deploy to production`, ... */
  label: string;
  satisfied: boolean;
  items: Requirement[];
}

const BUILD_COMMANDS = new Set(['build']);
const TARGET_COMMANDS = new Set(['deploy', 'start', 'stop', 'restart', 'ping', 'version', 'migrate', 'migrations', 'rollback', 'unlock', 'status', 'releases', 'run', 'remote']);
const BOTH_COMMANDS = new Set(['update', 'upgrade']);
const BOOLEAN_VARS = ['SKIP_GIT_CLEAN', 'SKIP_MIX_CLEAN', 'CLEAN_DEPLOY', 'START_DEPLOY', 'FORCE', 'SKIP_RELUP_MODIFICATIONS', 'S3_FORCE_PATH_STYLE', 'USING_DISTILLERY'];

const isSet = (settings: Settings, name: string) => (settings.get(name)?.trim() ?? '') !== '';

/** Where a value came from, as an error location (the config file without a line for environment values). */
export function whereOf(settings: Settings, name: string): Where {
  const v = settings.lookup(name);
  if (v?.location) return { file: formatLocation({ file: v.location.file, line: 0 }, settings.projectDir), line: v.location.line };
  if (v?.source === 'env') return `${name} (environment)`;
  if (v?.source === 'flag') return `${name} (${settings.where(name)})`;
  return { file: settings.file, line: 0 };
}

/** A bad value of setting `name`: a config error at its file:line, or a usage error when no file set it. */
export function settingError(name: string, reason: string, settings?: Settings): DeliverError {
  const loc = settings?.lookup(name)?.location;
  return loc ? new ConfigError(loc.file, loc.line, `${name}: ${reason}`) : new UsageError(`${name}: ${reason}`);
}

/** The deploy directory variable(s) of an environment: staging and custom ones use TEST_AT, defaulting to DELIVER_TO. */
export function deployDirVars(env: string): string[] {
  return env === 'production' ? ['DELIVER_TO'] : ['TEST_AT', 'DELIVER_TO'];
}

/** The user variable of an environment: `<ENV>_USER`, custom environments fall back to STAGING_USER (edeliver). */
export function userVars(env: string): string[] {
  const own = `${env.toUpperCase()}_USER`;
  return env === 'staging' || env === 'production' ? [own] : [own, 'STAGING_USER'];
}

function targetRequirements(settings: Settings, env: string): Requirement[] {
  const E = env.toUpperCase();
  if (isSet(settings, `${E}_NODES`)) return [{ name: `${E}_NODES`, ok: true }];
  const items: Requirement[] = [{ name: `${E}_HOSTS (or ${E}_NODES)`, ok: isSet(settings, `${E}_HOSTS`) }];
  // A user is needed unless every host names its own (`user@host`).
  const hosts = splitList(settings.get(`${E}_HOSTS`) ?? '');
  const allHaveUsers = hosts.length > 0 && hosts.every((h) => h.includes('@'));
  const users = userVars(env);
  if (!allHaveUsers) items.push({ name: users.join(' or '), ok: users.some((u) => isSet(settings, u)) });
  const dirs = deployDirVars(env);
  items.push({ name: dirs.join(' or '), ok: dirs.some((d) => isSet(settings, d)) });
  return items;
}

/**
 * False for a deploy-only config (none of BUILD_HOST, BUILD_USER, BUILD_AT set: a CI elsewhere builds and uploads
 * to the store); `check` then reports building as not configured instead of as missing.
 */
export function buildConfigured(settings: Settings): boolean {
  return ['BUILD_HOST', 'BUILD_USER', 'BUILD_AT'].some((name) => isSet(settings, name));
}

function buildRequirements(settings: Settings): Requirement[] {
  const host = settings.get('BUILD_HOST') ?? '';
  const items: Requirement[] = [{ name: 'BUILD_HOST', ok: isSet(settings, 'BUILD_HOST') }];
  if (!host.includes('@')) items.push({ name: 'BUILD_USER', ok: isSet(settings, 'BUILD_USER') });
  items.push({ name: 'BUILD_AT', ok: isSet(settings, 'BUILD_AT') });
  return items;
}

/** What `command` (first word: build, deploy, start, update, ...) needs, and whether each is set. */
export function requirementsFor(settings: Settings, command: string, env = 'staging'): CommandRequirements {
  const word = command.trim().split(/\s+/)[0] ?? '';
  const items: Requirement[] = [{ name: 'APP', ok: isSet(settings, 'APP') }];
  let label = word;
  if (BUILD_COMMANDS.has(word) || BOTH_COMMANDS.has(word)) items.push(...buildRequirements(settings));
  if (TARGET_COMMANDS.has(word) || BOTH_COMMANDS.has(word)) {
    items.push(...targetRequirements(settings, env));
    label = `${word} ${word === 'deploy' || BOTH_COMMANDS.has(word) ? 'to' : 'on'} ${env}`;
  }
  return { label, satisfied: items.every((i) => i.ok), items };
}

/** Throws one ConfigError listing every variable `command` needs that is not set. */
export function requireVars(settings: Settings, command: string, env?: string): void {
  const req = requirementsFor(settings, command, env);
  if (req.satisfied) return;
  const missing = req.items.filter((i) => !i.ok).map((i) => i.name);
  throw new ConfigError(configFileName(settings), undefined, `${req.label} needs ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not set`, {
    hint: `set ${missing.length === 1 ? 'it' : 'them'} in ${configFileName(settings)}, .deliver/.env or the environment (see \`deliver check\`)`,
  });
}

/** Environments the settings define through `<ENV>_HOSTS` or `<ENV>_NODES` (lower case, sorted). */
export function knownEnvironments(settings: Settings): string[] {
  const envs = new Set<string>();
  for (const v of settings.all()) {
    const m = ENV_PATTERN.exec(v.name);
    if (m && (m[2] === 'HOSTS' || m[2] === 'NODES') && v.value.trim() !== '') envs.add(m[1]!.toLowerCase());
  }
  return [...envs].sort();
}

export interface ValidationResult {
  errors: ConfigError[];
  warnings: ConfigWarning[];
}

function asConfigError(err: unknown, settings: Settings, name: string): ConfigError {
  if (err instanceof ConfigError) return err;
  const e = err as Error;
  // Values from the environment or flags have no line: name the variable and its source instead.
  const v = settings.lookup(name);
  return new ConfigError(configFileName(settings), undefined, `${name} (${v ? settings.where(name) : 'unset'}): ${e.message.replace(/^[^:]*: /, '')}`);
}

/** Checks every value deliver reads; collects all problems instead of stopping at the first. */
export function validateSettings(settings: Settings): ValidationResult {
  const errors: ConfigError[] = [];
  const warnings: ConfigWarning[] = [...(settings.warnings ?? [])];
  const check = (name: string, fn: (value: string, where: Where) => void) => {
    const v = settings.lookup(name);
    if (!v || v.value.trim() === '') return;
    try {
      fn(v.value, whereOf(settings, name));
    } catch (err) {
      errors.push(asConfigError(err, settings, name));
    }
  };

  for (const v of settings.all()) {
    const m = ENV_PATTERN.exec(v.name);
    if (!m) continue;
    const defaultUser = userVars(m[1]!.toLowerCase())
      .map((u) => settings.get(u))
      .find((u) => u !== undefined && u !== '');
    if (m[2] === 'HOSTS') check(v.name, (value, where) => void someHosts(parseHostList(value, where, defaultUser), v.name, value, where));
    else if (m[2] === 'NODES') check(v.name, (value, where) => void someHosts(parseNodeList(value, where, defaultUser), v.name, value, where));
    else check(v.name, (value, where) => validUser(value, v.name, where));
  }
  check('BUILD_HOST', (value, where) => void parseBuildHost(value, where));
  check('BUILD_USER', (value, where) => validUser(value, 'BUILD_USER', where));
  check('APP', (value, where) => {
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(value)) fail(where, `APP=${JSON.stringify(value)} is not a valid release name (letters, digits, _ and -)`);
  });
  check('TARGET_MIX_ENV', (value, where) => checkMixEnv(value, where));
  check('TEST_LOCALLY_AT', (value, where) => void localDir(value, settings.projectDir, where));
  for (const name of ['DELIVER_TO', 'TEST_AT', 'BUILD_AT']) check(name, (value, where) => checkRemoteDir(value, where, `${name}=${JSON.stringify(value)}`));
  for (const name of ['KEEP_RELEASES', 'SSH_CONCURRENCY']) check(name, (value, where) => void parseWholeNumber(value, name, where));
  for (const name of ['SSH_TIMEOUT', 'START_TIMEOUT', 'HEALTH_CHECK_TIMEOUT', 'LOCK_TTL']) check(name, (value, where) => void parseSecondsMs(value, name, where));
  check('HOST_KEY_CHECKING', (value, where) => {
    if (value !== 'strict' && value !== 'accept-new') fail(where, `HOST_KEY_CHECKING=${JSON.stringify(value)}: expected strict or accept-new`);
  });
  check('RELEASE_KIND', (value, where) => void parseReleaseKind(value, where));
  // The template with example values; each environment's own names (distinct per host) are checked where they are used.
  check(CLUSTER_NODE_NAME, (value, where) => void expandNodeName(value, { APP: settings.get('APP') || 'app', HOST: 'host.example.com', INDEX: 1, ENV: 'production' }, where));
  check('ECTO_REPOSITORY', (value, where) => void ectoRepository(value, where));
  for (const name of Object.values(MIGRATION_COMMAND_VARS)) check(name, (value, where) => void migrationCommandSetting(value, name, where));
  for (const name of BOOLEAN_VARS) {
    const v = settings.lookup(name);
    if (v && v.value.trim() !== '' && parseBoolean(v.value) === undefined) {
      warnings.push({ message: `${name}=${JSON.stringify(v.value)} is neither true nor false; deliver treats it as false`, ...(v.location ? { location: v.location } : {}) });
    }
  }
  // concat, not push(...): a spread passes every element as an argument, which overflows the stack for a 200k-name config.
  return { errors, warnings: warnings.concat(unknownVariableWarnings(settings)) };
}

export function checkMixEnv(value: string, where: Where): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) fail(where, `TARGET_MIX_ENV=${JSON.stringify(value)}: expected a Mix environment name such as prod`);
  return value;
}

/** `--mix-env`, else TARGET_MIX_ENV, else prod: checked where a command uses it. */
export function mixEnvOf(settings: Settings, flag?: string): string {
  if (flag !== undefined) return checkMixEnv(flag, '--mix-env');
  const value = settings.get('TARGET_MIX_ENV')?.trim() || 'prod';
  return checkMixEnv(value, whereOf(settings, 'TARGET_MIX_ENV'));
}

/** The first of `names` that is set (DELIVER_TO, TEST_AT, BUILD_AT), checked as a remote directory where it is used. */
export function remoteDirOf(settings: Settings, names: string[]): string | undefined {
  const name = names.find((n) => isSet(settings, n));
  if (name === undefined) return undefined;
  const value = settings.get(name)!;
  return checkRemoteDir(value, whereOf(settings, name), `${name}=${JSON.stringify(value)}`);
}

/**
 * `deliver … local`'s directory on this machine (edeliver's TEST_LOCALLY_AT, default `$PWD/.local-release`): a
 * relative one is taken from the project directory, `~/` from this user's home.
 */
export function localDeployDir(settings: Settings): string {
  const value = settings.get('TEST_LOCALLY_AT')?.trim();
  if (!value) return join(settings.projectDir, '.local-release');
  return localDir(value, settings.projectDir, whereOf(settings, 'TEST_LOCALLY_AT'));
}

function localDir(value: string, projectDir: string, where: Where): string {
  const v = value.trim();
  const abs = v.startsWith('~/') ? join(homedir(), v.slice(2)) : resolve(projectDir, v);
  return checkRemoteDir(abs, where, `TEST_LOCALLY_AT=${JSON.stringify(value)}`);
}

function validUser(value: string, name: string, where: Where): void {
  checkUser(value.trim(), where, `${name}=${JSON.stringify(value)}`);
}

/** Custom environments that are not themselves typos of staging/production. */
export function customEnvironments(settings: Settings): string[] {
  return knownEnvironments(settings).filter((e) => !BUILTIN_ENVIRONMENTS.includes(e as never) && suggestVariable(`${e.toUpperCase()}_HOSTS`) === undefined);
}

/** `PRODUCTON_HOSTS: did you mean PRODUCTION_HOSTS?` for variables the config file sets. */
export function unknownVariableWarnings(settings: Settings): ConfigWarning[] {
  const custom = customEnvironments(settings);
  const out: ConfigWarning[] = [];
  const fromFile = settings.all().filter((v: ConfigVar) => v.source === 'config' || v.source === 'dotenv' || v.shadows !== undefined);
  for (const v of fromFile) {
    if (v.source === 'dotenv') continue; // .env holds secrets for hooks and stores: any name is fine there
    const suggestion = suggestVariable(v.name, custom);
    const location = v.shadows ?? v.location;
    const loc = location ? { location } : {};
    if (suggestion !== undefined) out.push({ message: `${v.name}: did you mean ${suggestion}?`, ...loc });
    else if (!isKnownVariable(v.name) && /^[A-Z][A-Z0-9_]*$/.test(v.name)) {
      out.push({ message: `${v.name} is not a deliver variable (fine if your hooks use it)`, ...loc });
    }
  }
  return out;
}

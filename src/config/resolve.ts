// Turns settings into what the SSH layer needs: the build host, an environment's targets (narrowed by --host), and
// the host key policy. Errors name the variable's file:line, or the --host value.
import { ConfigError, UsageError } from '../output/errors.js';
import type { HostKeyPolicy, HostTarget } from '../ssh/types.js';
import { checkUser, failAt, parseBuildHost, parseHostList, parseHostSpec, parseNodeList, someHosts, splitList } from './hosts.js';
import { configFileName } from './settings.js';
import type { Settings } from './types.js';
import { customEnvironments, deployDirVars, knownEnvironments, remoteDirOf, requireVars, userVars, whereOf } from './validate.js';
import { BUILTIN_ENVIRONMENTS, likelyTypo } from './variables.js';
import { parseReleaseKind, type ReleaseKind } from './release-kind.js';
import { parseBoolean } from './values.js';

export interface ResolvedEnvironment {
  name: string;
  targets: HostTarget[];
  /** The deploy directory: TEST_AT (staging and custom environments, default DELIVER_TO) or DELIVER_TO. */
  deliverTo: string;
  /** The environment's user (`<ENV>_USER`), when set. */
  user?: string;
}

/** The environment's user (`<ENV>_USER`, falling back as userVars says), checked: it reaches ssh and ProxyCommand. */
function userOf(settings: Settings, env: string): string | undefined {
  for (const n of userVars(env)) {
    const v = settings.get(n)?.trim();
    if (v) return checkUser(v, whereOf(settings, n), `${n}=${JSON.stringify(v)}`);
  }
  return undefined;
}

function sameHost(spec: HostTarget, t: HostTarget): boolean {
  if (spec.name === t.name) return true;
  return spec.host === t.host && (spec.user === undefined || spec.user === t.user) && (spec.port === undefined || spec.port === t.port);
}

/**
 * The targets of an environment: `<ENV>_NODES` entries, else `<ENV>_HOSTS` with `<ENV>_USER` (custom environments fall
 * back to STAGING_USER, as edeliver does). `hosts` (--host, repeatable) narrows to a subset, or is used as given when
 * the environment has no hosts. HOST in the config/environment acts like one --host (edeliver). `all`: every host of
 * the environment, whatever HOST says (a cluster's node list).
 */
export function resolveEnvironment(settings: Settings, env: string, opts: { hosts?: string[]; all?: boolean } = {}): ResolvedEnvironment {
  const name = env.toLowerCase();
  const E = name.toUpperCase();
  const user = userOf(settings, name);
  const deliverTo = remoteDirOf(settings, deployDirVars(name));
  let hostArgs = opts.hosts;
  let hostLabel = '--host';
  if (!opts.all && (hostArgs === undefined || hostArgs.length === 0) && settings.get('HOST')?.trim()) {
    hostArgs = splitList(settings.get('HOST')!);
    hostLabel = `HOST (${settings.where('HOST')})`;
  }
  const hostWords = (hostArgs ?? []).flatMap((h) => splitList(h));
  // Parsed without a default user so `--host web1` matches `deploy@web1` in the list.
  const wanted = hostWords.map((h) => parseHostSpec(h, hostLabel));

  let targets: HostTarget[];
  const nodes = settings.get(`${E}_NODES`)?.trim();
  const hosts = settings.get(`${E}_HOSTS`)?.trim();
  const at = (v: string) => whereOf(settings, v);
  if (nodes) targets = someHosts(parseNodeList(nodes, at(`${E}_NODES`), user), `${E}_NODES`, settings.get(`${E}_NODES`)!, at(`${E}_NODES`));
  else if (hosts) targets = someHosts(parseHostList(hosts, at(`${E}_HOSTS`), user), `${E}_HOSTS`, settings.get(`${E}_HOSTS`)!, at(`${E}_HOSTS`));
  else if (wanted.length > 0) targets = [];
  else {
    throw new ConfigError(configFileName(settings), undefined, `unknown environment ${JSON.stringify(name)}: neither ${E}_HOSTS nor ${E}_NODES is set`, {
      hint: unknownEnvironmentHint(settings, name),
    });
  }

  if (wanted.length > 0) {
    if (targets.length === 0) {
      targets = hostWords.map((h) => parseHostSpec(h, hostLabel, user));
    } else {
      const picked: HostTarget[] = [];
      for (const w of wanted) {
        const match = targets.find((t) => sameHost(w, t));
        if (!match) {
          throw new UsageError(`${hostLabel} ${w.name}: not a host of the ${name} environment`, { hint: `${name} hosts: ${targets.map((t) => t.name).join(', ')}` });
        }
        if (!picked.includes(match)) picked.push(match);
      }
      targets = picked;
    }
  }

  const usesNodePaths = targets.length > 0 && targets.every((t) => t.path !== undefined);
  if (!usesNodePaths) {
    const missingUser = targets.filter((t) => t.user === undefined);
    if (missingUser.length > 0) {
      throw new ConfigError(configFileName(settings), undefined, `no ssh user for ${missingUser.map((t) => t.name).join(', ')} in the ${name} environment`, {
        hint: `set ${userVars(name)[0]} or write the hosts as user@host`,
      });
    }
    if (deliverTo === undefined) requireVars(settings, 'deploy', name);
  }
  const dir = deliverTo ?? targets.find((t) => t.path !== undefined)?.path ?? '';
  return { name, targets, deliverTo: dir, ...(user !== undefined ? { user } : {}) };
}

/** BUILD_HOST (exactly one `[user@]host[:port]`) with BUILD_USER, and BUILD_AT. */
export function resolveBuildHost(settings: Settings): { target: HostTarget; buildAt: string } {
  requireVars(settings, 'build');
  const buildUser = settings.get('BUILD_USER')?.trim() || undefined;
  if (buildUser !== undefined) checkUser(buildUser, whereOf(settings, 'BUILD_USER'), `BUILD_USER=${JSON.stringify(buildUser)}`);
  const target = parseBuildHost(settings.get('BUILD_HOST')!, whereOf(settings, 'BUILD_HOST'), buildUser);
  return { target, buildAt: remoteDirOf(settings, ['BUILD_AT'])! };
}

/**
 * `--host-key-checking` > HOST_KEY_CHECKING (config/env). `undefined` when neither is set, so the SSH layer applies
 * `StrictHostKeyChecking` from ~/.ssh/config and otherwise its own default, strict.
 */
export function hostKeyPolicy(settings: Settings, flag?: string): HostKeyPolicy | undefined {
  if (flag !== undefined) {
    if (flag === 'strict' || flag === 'accept-new') return flag;
    throw new UsageError(`--host-key-checking ${JSON.stringify(flag)}: expected strict or accept-new`);
  }
  const set = settings.lookup('HOST_KEY_CHECKING');
  if (set === undefined || set.source === 'default') return undefined;
  const v = set.value.trim() || 'strict';
  if (v === 'strict' || v === 'accept-new') return v;
  return failAt(whereOf(settings, 'HOST_KEY_CHECKING'), `HOST_KEY_CHECKING=${JSON.stringify(v)}: expected strict or accept-new`);
}

/**
 * The hint for an unknown environment. A near miss is named: the user's typo (`deploy prodution`: did you mean
 * production?) or, for staging/production, the config's (`PRODUCTON_HOSTS` is set: a typo for PRODUCTION_HOSTS?).
 */
function unknownEnvironmentHint(settings: Settings, name: string): string {
  const known = knownEnvironments(settings);
  const near = known.filter((k) => likelyTypo(k, name));
  const builtin = (BUILTIN_ENVIRONMENTS as readonly string[]).includes(name);
  if (builtin && near.length > 0) {
    const k = near[0]!.toUpperCase();
    const set = settings.get(`${k}_HOSTS`) !== undefined ? `${k}_HOSTS` : `${k}_NODES`;
    const at = settings.lookup(set)?.location;
    return `${set} is set${at ? ` (${configFileName(settings)}:${at.line})` : ''}: a typo for ${set.replace(k, name.toUpperCase())}?`;
  }
  // Environments that are themselves typos of staging/production are not offered as choices.
  const custom = customEnvironments(settings);
  const choices = known.filter((k) => (BUILTIN_ENVIRONMENTS as readonly string[]).includes(k) || custom.includes(k));
  if (near.length > 0) return `did you mean ${near[0]}? known environments: ${choices.join(', ')}`;
  return choices.length > 0 ? `known environments: ${choices.join(', ')}` : 'set STAGING_HOSTS / PRODUCTION_HOSTS (or <ENV>_HOSTS for your own environment names)';
}

/**
 * `--delta` / `--no-delta` > DELTA_DEPLOY (default true): hosts that have a release installed get only what
 * differs. A value other than true/false (yes/no, 1/0, on/off) is an error at its file:line.
 */
export function deltaDeploys(settings: Settings, flag?: boolean): boolean {
  if (flag !== undefined) return flag;
  const v = settings.get('DELTA_DEPLOY')?.trim() ?? '';
  if (v === '') return true;
  return parseBoolean(v) ?? failAt(whereOf(settings, 'DELTA_DEPLOY'), `DELTA_DEPLOY=${JSON.stringify(v)}: expected true or false`);
}

/** The release kind the user set: RELEASE_KIND, else distillery for USING_DISTILLERY=true; undefined means "detect". */
export function configuredReleaseKind(settings: Settings): ReleaseKind | undefined {
  const kind = settings.get('RELEASE_KIND');
  if (kind !== undefined && kind.trim() !== '') return parseReleaseKind(kind, whereOf(settings, 'RELEASE_KIND'));
  return parseBoolean(settings.get('USING_DISTILLERY')) ? 'distillery' : undefined;
}

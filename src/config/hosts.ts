// Host specs as users write them: `[user@]host[:port]` (IPv6 in brackets: `[::1]:2222`), host lists separated by
// spaces or commas, and edeliver's node entries `[user@]host[:port]:/path[|configfile]`.
import { ConfigError, UsageError } from '../output/errors.js';
import type { HostTarget } from '../ssh/types.js';
import type { Location } from './types.js';

/** Where a value came from, for error messages: a config location, or a label such as `--host`. */
export type Where = Location | string;

/** A node entry: a host with its deploy path and optional `|configfile` (edeliver passes it as --config=<file>). */
export type NodeTarget = HostTarget & { readonly path: string; readonly configFile?: string };

/** Throws the error for a bad value: a ConfigError at file:line, or a UsageError naming the flag/label. */
export function failAt(where: Where, reason: string, hint?: string): never {
  const opts = hint === undefined ? {} : { hint };
  if (typeof where === 'string') throw new UsageError(`${where}: ${reason}`, opts);
  throw new ConfigError(where.file, where.line > 0 ? where.line : undefined, reason, opts);
}

const HOST_RE = /^(?:([^@\s]+)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(\d+))?$/;
/** A login name: no shell syntax (it reaches ProxyCommand's %r unquoted), never an option (no leading `-`). */
const USER_RE = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/;

/** Refuses a user name that is not a plain login name; `label` says what held it (`PRODUCTION_USER=…`, `user … in …`). */
export function checkUser(user: string, where: Where, label = `user ${JSON.stringify(user)}`): string {
  if (!USER_RE.test(user)) failAt(where, `${label} is not a valid user name (letters, digits, . _ -, not starting with -)`);
  return user;
}

/**
 * DELIVER_TO, TEST_AT, BUILD_AT and node paths: absolute, or `~/…` (the login user's home on the host). Never an
 * option, never `/` or the home directory itself (deliver creates, cleans and replaces things inside it).
 * `what` names the value in messages: `DELIVER_TO="~"`, `path "/" of node "web1:/"`.
 */
export function checkRemoteDir(dir: string, where: Where, what: string): string {
  const d = dir.trim();
  const bare = d.replace(/\/+$/, '');
  if (bare === '' || bare === '~') failAt(where, `${what}: refusing ${bare === '~' ? 'the home directory itself' : 'the root directory'}; name a directory for deliver`);
  if (!/^(\/|~\/)/.test(d) || /[\0-\x1f\x7f]/.test(d)) failAt(where, `${what}: expected an absolute path or ~/path`, 'e.g. /opt/apps or "~/apps"');
  return d;
}

/** Parses `[user@]host[:port]`. `defaultUser` applies when the spec names no user. */
export function parseHostSpec(text: string, where: Where, defaultUser?: string): HostTarget {
  const spec = text.trim();
  const m = HOST_RE.exec(spec);
  if (!m) failAt(where, `invalid host ${JSON.stringify(spec)}: expected [user@]host[:port]`, 'e.g. deploy@web1.example.com:2222');
  const host = m[2]!.replace(/^\[|\]$/g, '');
  if (host.startsWith('-') || host.startsWith('.')) failAt(where, `invalid host name ${JSON.stringify(host)}`);
  let port: number | undefined;
  if (m[3] !== undefined) {
    port = Number(m[3]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) failAt(where, `invalid port ${m[3]} in ${JSON.stringify(spec)}: expected 1-65535`);
  }
  const user = m[1] ?? (defaultUser?.trim() || undefined);
  if (user !== undefined) checkUser(user, where, `user ${JSON.stringify(user)} of host ${JSON.stringify(spec)}`);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const name = `${user !== undefined ? `${user}@` : ''}${hostPart}${port !== undefined ? `:${port}` : ''}`;
  return { name, host, ...(user !== undefined ? { user } : {}), ...(port !== undefined ? { port } : {}) };
}

/** BUILD_HOST: exactly one `[user@]host[:port]` (edeliver's `docker` build host is refused). */
export function parseBuildHost(text: string, where: Where, defaultUser?: string): HostTarget {
  const words = splitList(text);
  if (words.length > 1) failAt(where, `BUILD_HOST names ${words.length} hosts (${words.join(' ')}); builds run on exactly one host`);
  if (text.trim() === 'docker') failAt(where, 'BUILD_HOST=docker (edeliver docker builds) is not supported by deliver: name an SSH build host');
  return parseHostSpec(text, where, defaultUser);
}

/** Splits a host list on spaces and commas (edeliver accepts both). */
export function splitList(text: string): string[] {
  return text.split(/[\s,]+/).filter((w) => w !== '');
}

export function parseHostList(text: string, where: Where, defaultUser?: string): HostTarget[] {
  const targets = splitList(text).map((w) => parseHostSpec(w, where, defaultUser));
  const seen = new Set<string>();
  for (const t of targets) {
    const key = `${t.user ?? ''}@${t.host}:${t.port ?? 22}`;
    if (seen.has(key)) failAt(where, `host ${t.name} is listed twice`);
    seen.add(key);
  }
  return targets;
}

/** A host or node list that names no host at all (`PRODUCTION_HOSTS=" , "`) is a mistake, not an empty environment. */
export function someHosts<T>(targets: T[], name: string, value: string, where: Where): T[] {
  if (targets.length > 0) return targets;
  // A string `where` already names the variable (`PRODUCTION_HOSTS (environment)`).
  const what = typeof where === 'string' ? JSON.stringify(value) : `${name}=${JSON.stringify(value)}`;
  failAt(where, `${what} names no host`, 'list hosts separated by spaces or commas, e.g. "web1 web2"');
}

/** `[user@]host[:port]:/path[|configfile]` (the path may start with `~`). Spaces separate entries. */
export function parseNodeSpec(text: string, where: Where, defaultUser?: string): NodeTarget {
  const spec = text.trim();
  const [hostAndPath = '', configFile, ...extra] = spec.split('|');
  if (extra.length > 0) failAt(where, `invalid node ${JSON.stringify(spec)}: more than one | (expected user@host:/path[|configfile])`);
  const m = /^(.*?):([/~].*)$/.exec(hostAndPath);
  if (!m) failAt(where, `invalid node ${JSON.stringify(spec)}: expected user@host:/path[|configfile]`, 'e.g. PRODUCTION_NODES="deploy@web1:/opt/myapp deploy@web2:/opt/myapp"');
  const host = parseHostSpec(m[1]!, where, defaultUser);
  if (configFile !== undefined && configFile.trim() === '') failAt(where, `invalid node ${JSON.stringify(spec)}: empty config file after |`);
  const path = checkRemoteDir(m[2]!, where, `path ${JSON.stringify(m[2])} of node ${JSON.stringify(spec)}`);
  return { ...host, path, ...(configFile !== undefined ? { configFile } : {}) };
}

export function parseNodeList(text: string, where: Where, defaultUser?: string): NodeTarget[] {
  // Node entries are space-separated only: a comma may be part of a path.
  return text
    .split(/\s+/)
    .filter((w) => w !== '')
    .map((w) => parseNodeSpec(w, where, defaultUser));
}

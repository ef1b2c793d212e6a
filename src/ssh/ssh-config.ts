// A small ~/.ssh/config reader with OpenSSH's semantics for the options deliver uses: `Host`/`Match` blocks,
// first obtained value wins (IdentityFile accumulates), `Include`, `%` tokens and `~` in paths.
// Users already describe their fleet here (edeliver issues #19/#197), so honouring it is the port/identity story.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { ConfigError } from '../output/errors.js';
import { matchPatternList, matchWildcard, splitPatternList } from './patterns.js';

interface OptionEntry {
  kind: 'option';
  keyword: string;
  args: string[];
  /** The value as written (ProxyCommand is passed to the shell verbatim, not word-split). */
  raw: string;
  file: string;
  line: number;
}
interface HostEntry {
  kind: 'host';
  patterns: string[];
}
interface MatchEntry {
  kind: 'match';
  criteria: string[];
  file: string;
  line: number;
}
interface IncludeEntry {
  kind: 'include';
  entries: Entry[];
}
type Entry = OptionEntry | HostEntry | MatchEntry | IncludeEntry;

/** One option value with where it was written (for located errors). */
export interface ConfigValue {
  args: string[];
  raw?: string;
  file: string;
  line: number;
}

/** Options that may be given several times and add up instead of first-wins. */
const MULTI = new Set(['identityfile', 'certificatefile', 'localforward', 'remoteforward', 'dynamicforward', 'sendenv']);
const MAX_INCLUDE_DEPTH = 16;

/** OpenSSH's argv_split: whitespace-separated words, '…' and "…" quoting, backslash escapes, `#` comments. */
export function splitArgs(text: string, file: string, line: number): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length || text[i] === '#') break;
    let word = '';
    let quote: string | undefined;
    for (; i < text.length; i++) {
      const ch = text[i]!;
      if (quote) {
        if (ch === quote) quote = undefined;
        else if (ch === '\\' && (text[i + 1] === quote || text[i + 1] === '\\')) word += text[++i];
        else word += ch;
      } else if (/\s/.test(ch)) {
        break;
      } else if (ch === '"' || ch === "'") {
        quote = ch;
      } else if (ch === '\\' && i + 1 < text.length && /[\s"'\\]/.test(text[i + 1]!)) {
        word += text[++i];
      } else {
        word += ch;
      }
    }
    if (quote) throw new ConfigError(file, line, `unterminated ${quote} quote`);
    args.push(word);
  }
  return args;
}

export interface ParseOptions {
  /** Home directory for `~` and relative Include paths (default: os.homedir(), which honours $HOME). */
  home?: string;
  readFile?: (path: string) => string;
}

function expandTilde(path: string, home: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return path;
}

/** Expands `*`/`?` in the last path component (what Include lines use in practice). */
function globFiles(pattern: string): string[] {
  if (!/[*?]/.test(pattern)) return [pattern];
  const dir = dirname(pattern);
  const base = pattern.slice(dir.length + 1);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith('.') && matchWildcard(n, base, false))
    .sort()
    .map((n) => join(dir, n))
    .filter((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    });
}

function parseText(text: string, file: string, opts: Required<ParseOptions>, depth: number): Entry[] {
  const entries: Entry[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, idx) => {
    const lineNo = idx + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = /^([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+|$)(.*)$/.exec(trimmed);
    if (!m) throw new ConfigError(file, lineNo, `cannot parse ${JSON.stringify(trimmed)}`);
    const keyword = m[1]!.toLowerCase();
    const args = splitArgs(m[2] ?? '', file, lineNo);
    if (keyword === 'host') {
      if (args.length === 0) throw new ConfigError(file, lineNo, 'Host needs at least one pattern');
      entries.push({ kind: 'host', patterns: args });
    } else if (keyword === 'match') {
      if (args.length === 0) throw new ConfigError(file, lineNo, 'Match needs criteria');
      entries.push({ kind: 'match', criteria: args, file, line: lineNo });
    } else if (keyword === 'include') {
      if (depth >= MAX_INCLUDE_DEPTH) throw new ConfigError(file, lineNo, 'Include nested too deeply');
      const included: Entry[] = [];
      for (const arg of args) {
        let path = expandTilde(arg, opts.home);
        if (!isAbsolute(path)) path = join(opts.home, '.ssh', path);
        for (const f of globFiles(path)) {
          let content: string;
          try {
            content = opts.readFile(f);
          } catch {
            continue; // OpenSSH ignores Include targets that do not exist
          }
          included.push(...parseText(content, f, opts, depth + 1));
        }
      }
      entries.push({ kind: 'include', entries: included });
    } else {
      if (args.length === 0) throw new ConfigError(file, lineNo, `${m[1]} needs a value`);
      entries.push({ kind: 'option', keyword, args, raw: (m[2] ?? '').trim(), file, line: lineNo });
    }
  });
  return entries;
}

export interface LookupContext {
  /** Remote user given explicitly (user@host), for `Match user`. */
  user?: string;
  localUser?: string;
}

/** A parsed ssh_config file (with its Includes). */
export class SshConfig {
  private constructor(
    private readonly entries: Entry[],
    /** The main file, for messages. */
    readonly file: string | undefined,
  ) {}

  static empty(): SshConfig {
    return new SshConfig([], undefined);
  }

  static parse(text: string, file: string, opts: ParseOptions = {}): SshConfig {
    const full: Required<ParseOptions> = { home: opts.home ?? homedir(), readFile: opts.readFile ?? ((p) => readFileSync(p, 'utf8')) };
    return new SshConfig(parseText(text, file, full, 0), file);
  }

  /** Reads a config file; a missing file is an empty config (most machines have no ~/.ssh/config). */
  static load(file: string, opts: ParseOptions = {}): SshConfig {
    let text: string;
    try {
      text = (opts.readFile ?? ((p) => readFileSync(p, 'utf8')))(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new SshConfig([], file);
      throw new ConfigError(file, undefined, `cannot read ssh config: ${(err as Error).message}`);
    }
    return SshConfig.parse(text, file, opts);
  }

  /** Options applying to `host` (the name as given, e.g. an alias), keyed by lower-case keyword. */
  lookup(host: string, ctx: LookupContext = {}): Map<string, ConfigValue[]> {
    const found = new Map<string, ConfigValue[]>();
    const localUser = ctx.localUser ?? safeLocalUser();
    const current = (k: string) => found.get(k)?.[0]?.args[0];
    const evalMatch = (e: MatchEntry): boolean => {
      const c = e.criteria;
      for (let i = 0; i < c.length; i++) {
        let word = c[i]!.toLowerCase();
        const negate = word.startsWith('!');
        if (negate) word = word.slice(1);
        let ok: boolean;
        if (word === 'all') ok = true;
        else if (word === 'final') ok = true; // no canonicalisation pass: this lookup is the final one
        else if (word === 'canonical') ok = false;
        else {
          const arg = c[++i];
          if (arg === undefined) throw new ConfigError(e.file, e.line, `Match ${word} needs an argument`);
          const list = splitPatternList(arg);
          if (word === 'host') ok = matchPatternList(current('hostname')?.replace(/%h/g, host) ?? host, list);
          else if (word === 'originalhost') ok = matchPatternList(host, list);
          else if (word === 'user') ok = matchPatternList(ctx.user ?? current('user') ?? localUser, list, false);
          else if (word === 'localuser') ok = matchPatternList(localUser, list, false);
          else ok = false; // exec, localnetwork, tagged: not evaluated, so the block never applies
        }
        if (negate) ok = !ok;
        if (!ok) return false;
      }
      return true;
    };
    const walk = (entries: Entry[], startActive: boolean) => {
      let active = startActive;
      for (const e of entries) {
        if (e.kind === 'host') {
          active = matchPatternList(host, e.patterns);
        } else if (e.kind === 'match') {
          active = evalMatch(e);
        } else if (e.kind === 'include') {
          if (active) walk(e.entries, true);
        } else if (active) {
          const list = found.get(e.keyword);
          const value = { args: e.args, raw: e.raw, file: e.file, line: e.line };
          if (!list) found.set(e.keyword, [value]);
          else if (MULTI.has(e.keyword)) list.push(value);
        }
      }
    };
    walk(this.entries, true);
    return found;
  }
}

function safeLocalUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}

export type StrictHostKeyChecking = 'yes' | 'accept-new' | 'no' | 'ask';

/** Everything deliver needs to reach one host, after ~/.ssh/config and explicit values are applied. */
export interface ResolvedHost {
  /** The name as given (alias or host name). */
  alias: string;
  /** The address to connect to (HostName, else the alias). */
  hostName: string;
  port: number;
  user: string;
  /** Identity files from ssh config (already `~`/`%` expanded), in order. */
  identityFiles: string[];
  identitiesOnly: boolean;
  /** IdentityAgent: a socket path, `null` for `none`, undefined for the default ($SSH_AUTH_SOCK). */
  identityAgent?: string | null;
  /** UserKnownHostsFile list (default ~/.ssh/known_hosts, ~/.ssh/known_hosts2); the first is where new keys go. */
  userKnownHostsFiles: string[];
  /** True when UserKnownHostsFile was set in the config (not the default). */
  userKnownHostsFilesSet: boolean;
  globalKnownHostsFiles: string[];
  strictHostKeyChecking?: StrictHostKeyChecking;
  hostKeyAlias?: string;
  /** Jump hosts in order (ProxyJump `a,b`), undefined for a direct connection. */
  proxyJump?: string[];
  proxyCommand?: string;
  connectTimeoutMs?: number;
  serverAliveIntervalMs?: number;
  serverAliveCountMax?: number;
}

export interface ResolveOptions {
  user?: string;
  port?: number;
  home?: string;
  localUser?: string;
}

function yesNo(v: ConfigValue, key: string): boolean {
  const s = v.args[0]!.toLowerCase();
  if (s === 'yes' || s === 'true') return true;
  if (s === 'no' || s === 'false') return false;
  throw new ConfigError(v.file, v.line, `${key} must be yes or no, got ${JSON.stringify(v.args[0])}`);
}

function seconds(v: ConfigValue, key: string): number {
  const s = v.args[0]!;
  if (!/^\d+$/.test(s)) throw new ConfigError(v.file, v.line, `${key} must be a number of seconds, got ${JSON.stringify(s)}`);
  return Number(s);
}

export function parsePort(value: string, file: string, line: number | undefined): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new ConfigError(file, line, `Port must be 1-65535, got ${JSON.stringify(value)}`);
  return n;
}

/** Applies the config to `host` as OpenSSH would (explicit user/port win over the config, like `ssh -p`). */
export function resolveHost(config: SshConfig, host: string, opts: ResolveOptions = {}): ResolvedHost {
  const home = opts.home ?? homedir();
  const localUser = opts.localUser ?? safeLocalUser();
  const found = config.lookup(host, { ...(opts.user ? { user: opts.user } : {}), localUser });
  const one = (k: string) => found.get(k)?.[0];

  const hostNameV = one('hostname');
  const hostName = hostNameV ? expandTokens(hostNameV, { h: host, n: host }, ['h', 'n']) : host;
  const portV = one('port');
  const port = opts.port ?? (portV ? parsePort(portV.args[0]!, portV.file, portV.line) : 22);
  const user = opts.user ?? one('user')?.args[0] ?? localUser;
  const tokens: Record<string, string> = {
    h: hostName,
    n: host,
    p: String(port),
    r: user,
    u: localUser,
    d: home,
    i: String(process.getuid?.() ?? 0),
    l: hostname().split('.')[0] ?? '',
    L: hostname(),
  };
  const pathOf = (v: ConfigValue, arg: string) => expandTilde(expandTokens({ ...v, args: [arg] }, tokens), home);

  const identityFiles = (found.get('identityfile') ?? []).map((v) => pathOf(v, v.args[0]!));
  const ukh = one('userknownhostsfile');
  const userKnownHostsFiles = ukh
    ? ukh.args[0]!.toLowerCase() === 'none'
      ? []
      : ukh.args.map((a) => pathOf(ukh, a))
    : [join(home, '.ssh', 'known_hosts'), join(home, '.ssh', 'known_hosts2')];
  const gkh = one('globalknownhostsfile');
  const globalKnownHostsFiles = gkh
    ? gkh.args[0]!.toLowerCase() === 'none'
      ? []
      : gkh.args.map((a) => pathOf(gkh, a))
    : ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];

  const resolved: ResolvedHost = {
    alias: host,
    hostName,
    port,
    user,
    identityFiles,
    identitiesOnly: one('identitiesonly') ? yesNo(one('identitiesonly')!, 'IdentitiesOnly') : false,
    userKnownHostsFiles,
    userKnownHostsFilesSet: ukh !== undefined,
    globalKnownHostsFiles,
  };

  const agentV = one('identityagent');
  if (agentV) {
    const a = agentV.args[0]!;
    if (a.toLowerCase() === 'none') resolved.identityAgent = null;
    else if (a === 'SSH_AUTH_SOCK') resolved.identityAgent = undefined;
    else if (a.startsWith('$')) resolved.identityAgent = process.env[a.slice(1)] ?? null;
    else resolved.identityAgent = pathOf(agentV, a);
  }
  const shkc = one('stricthostkeychecking');
  if (shkc) {
    const s = shkc.args[0]!.toLowerCase();
    if (s === 'yes' || s === 'true') resolved.strictHostKeyChecking = 'yes';
    else if (s === 'accept-new') resolved.strictHostKeyChecking = 'accept-new';
    else if (s === 'no' || s === 'off' || s === 'false') resolved.strictHostKeyChecking = 'no';
    else if (s === 'ask') resolved.strictHostKeyChecking = 'ask';
    else throw new ConfigError(shkc.file, shkc.line, `StrictHostKeyChecking must be yes, accept-new, no or ask, got ${JSON.stringify(shkc.args[0])}`);
  }
  const alias = one('hostkeyalias');
  if (alias) resolved.hostKeyAlias = alias.args[0]!;
  const jump = one('proxyjump');
  if (jump && jump.args[0]!.toLowerCase() !== 'none') {
    resolved.proxyJump = jump.args.join(',').split(',').map((s) => s.trim()).filter((s) => s !== '');
  }
  const pc = one('proxycommand');
  if (pc && pc.args[0]!.toLowerCase() !== 'none' && !resolved.proxyJump) resolved.proxyCommand = pc.raw ?? pc.args.join(' ');
  const ct = one('connecttimeout');
  if (ct) resolved.connectTimeoutMs = seconds(ct, 'ConnectTimeout') * 1000;
  const sai = one('serveraliveinterval');
  if (sai) resolved.serverAliveIntervalMs = seconds(sai, 'ServerAliveInterval') * 1000;
  const sacm = one('serveralivecountmax');
  if (sacm) resolved.serverAliveCountMax = seconds(sacm, 'ServerAliveCountMax');
  return resolved;
}

/** Expands `%x` tokens in the first argument of `v`; an unknown token is a located config error. */
function expandTokens(v: ConfigValue, tokens: Record<string, string>, allowed?: string[]): string {
  return v.args[0]!.replace(/%(.)/g, (_m, t: string) => {
    if (t === '%') return '%';
    if ((allowed && !allowed.includes(t)) || tokens[t] === undefined) {
      throw new ConfigError(v.file, v.line, `unsupported token %${t} in ${JSON.stringify(v.args[0])}`);
    }
    return tokens[t]!;
  });
}

/**
 * Parses a ProxyJump hop `[user@]host[:port]` (or `ssh://[user@]host[:port]`). The host may be an alias that
 * is itself resolved through the config, as OpenSSH does.
 */
export function parseJumpSpec(spec: string): { host: string; user?: string; port?: number } {
  let s = spec.startsWith('ssh://') ? spec.slice(6) : spec;
  let user: string | undefined;
  const at = s.lastIndexOf('@');
  if (at >= 0) {
    user = s.slice(0, at);
    s = s.slice(at + 1);
  }
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    s = bracket[1]!;
    if (bracket[2]) port = parsePort(bracket[2], 'ProxyJump', undefined);
  } else {
    const colon = /^([^:]+):(\d+)$/.exec(s);
    if (colon) {
      s = colon[1]!;
      port = parsePort(colon[2]!, 'ProxyJump', undefined);
    }
  }
  if (s === '') throw new ConfigError('ProxyJump', undefined, `invalid jump host ${JSON.stringify(spec)}`);
  return { host: s, ...(user ? { user } : {}), ...(port ? { port } : {}) };
}

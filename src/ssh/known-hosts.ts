// known_hosts files as OpenSSH reads them: plain and hashed (`|1|salt|hmac`) host fields, `[host]:port` for
// non-22 ports, comma lists with `!` negation and wildcards, and the @revoked / @cert-authority markers.
// deliver never trusts a key blindly: this module decides known / unknown / changed / revoked.
import { createHash, createHmac } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { matchWildcard } from './patterns.js';

export interface KnownHostEntry {
  marker?: 'revoked' | 'cert-authority';
  /** The host field as written (comma list, maybe hashed). */
  hosts: string;
  keyType: string;
  key: Buffer;
  file: string;
  line: number;
}

/**
 * The name a host is recorded under: `host` on port 22, else `[host]:port`, lowercased as OpenSSH does before it
 * looks a host up or records it (so `HOST1` matches a hashed entry of `host1`).
 */
export function knownHostName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** OpenSSH's fingerprint format: `SHA256:` + unpadded base64 of the key blob's sha256. */
export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** The algorithm name at the start of an SSH wire-format public key blob (`ssh-ed25519`, `ssh-rsa`, …). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  if (len > 64 || 4 + len > blob.length) return 'unknown';
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, idx) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else return; // unknown marker: OpenSSH skips the line
    }
    const [hosts, keyType, b64] = fields;
    if (!hosts || !keyType || !b64) return; // malformed lines are skipped, as OpenSSH does
    const key = Buffer.from(b64, 'base64');
    if (key.length === 0 || keyTypeOf(key) !== keyType) return;
    entries.push({ ...(marker ? { marker } : {}), hosts, keyType, key, file, line: idx + 1 });
  });
  return entries;
}

/** Reads and parses each file; missing or unreadable files contribute nothing. */
export async function loadKnownHosts(files: readonly string[]): Promise<KnownHostEntry[]> {
  const all: KnownHostEntry[] = [];
  for (const f of files) {
    try {
      all.push(...parseKnownHosts(await readFile(f, 'utf8'), f));
    } catch {
      // ENOENT is normal (known_hosts2, the global file); an unreadable file simply knows no hosts
    }
  }
  return all;
}

function matchHashed(field: string, name: string): boolean {
  const parts = field.split('|'); // ['', '1', salt, hash]
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2]!, 'base64');
  const want = Buffer.from(parts[3]!, 'base64');
  const got = createHmac('sha1', salt).update(name).digest();
  return want.length === got.length && want.equals(got);
}

/**
 * Does the entry's host field name `name` (`host` or `[host]:port`), in any case? A matching `!pattern` vetoes.
 * `host` and `[host]:22` are two spellings of the same thing (OpenSSH writes the first, people write both).
 */
export function entryMatches(hostsField: string, name: string): boolean {
  const lower = name.toLowerCase();
  const names = lower.startsWith('[') ? [lower] : [lower, `[${lower}]:22`];
  if (hostsField.startsWith('|')) return names.some((n) => matchHashed(hostsField, n));
  let matched = false;
  for (const p of hostsField.split(',')) {
    if (p === '') continue;
    if (p.startsWith('!')) {
      if (names.some((n) => matchWildcard(n, p.slice(1)))) return false;
    } else if (names.some((n) => matchWildcard(n, p))) {
      matched = true;
    }
  }
  return matched;
}

/**
 * Keys recorded for `host` on any port: entries naming it plain or hashed, with or without `[host]:port`, for
 * `port`, 22, and every port a plain `[pattern]:port` field names (a hashed entry of another port cannot be told).
 */
export function keysForHostOnAnyPort(entries: readonly KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  return entries.filter((e) => {
    if (e.marker !== undefined) return false;
    const ports = new Set([port, 22, ...[...e.hosts.matchAll(/\]:(\d+)(?:,|$)/g)].map((m) => Number(m[1]))]);
    return [...ports].some((p) => entryMatches(e.hosts, knownHostName(host, p)));
  });
}

export type HostKeyCheck =
  | { status: 'known'; entry: KnownHostEntry }
  | { status: 'unknown' }
  | { status: 'changed'; expected: KnownHostEntry[] }
  | { status: 'revoked'; entry: KnownHostEntry };

/**
 * Checks a presented host key for `name`. Revoked keys always lose; a known key of the same type that differs,
 * or known keys only of other types, mean "changed" (OpenSSH refuses both in strict mode).
 * @cert-authority lines are not used: deliver does not do host certificates, so they make no host known.
 */
export function checkHostKey(entries: readonly KnownHostEntry[], name: string, key: Buffer): HostKeyCheck {
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', entry: revoked };
  const forHost = entries.filter((e) => e.marker === undefined && entryMatches(e.hosts, name));
  const exact = forHost.find((e) => e.key.equals(key));
  if (exact) return { status: 'known', entry: exact };
  if (forHost.length > 0) return { status: 'changed', expected: forHost };
  return { status: 'unknown' };
}

/** Key types recorded for `name`, so the handshake can prefer them (as OpenSSH does) and not see a false "changed". */
export function knownKeyTypes(entries: readonly KnownHostEntry[], name: string): string[] {
  const types: string[] = [];
  for (const e of entries) {
    if (e.marker === undefined && entryMatches(e.hosts, name) && !types.includes(e.keyType)) types.push(e.keyType);
  }
  return types;
}

export function formatKnownHostsLine(name: string, key: Buffer): string {
  return `${name} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

/** Appends one line (creating ~/.ssh with mode 700 if needed), like `ssh -o StrictHostKeyChecking=accept-new`. */
export async function appendKnownHost(file: string, name: string, key: Buffer): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const existing = await readFile(file, 'utf8');
    if (existing.length > 0 && !existing.endsWith('\n')) prefix = '\n';
  } catch {
    // new file
  }
  await appendFile(file, `${prefix}${formatKnownHostsLine(name, key)}\n`, { mode: 0o600 });
}

/** Host-key algorithms (ssh2 names) that produce keys of a known_hosts key type. */
export function algorithmsForKeyType(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [keyType];
}

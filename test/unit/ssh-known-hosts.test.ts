import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  appendKnownHost,
  checkHostKey,
  entryMatches,
  fingerprint,
  keyTypeOf,
  knownHostName,
  knownKeyTypes,
  parseKnownHosts,
} from '../../src/ssh/known-hosts.js';
import { prepareHostKeyVerifier } from '../../src/ssh/host-key.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

// Real keys and real `ssh-keygen` output (hashing, fingerprints), so the parser is checked against OpenSSH itself.
let dir: string;
let ed: { line: string; blob: Buffer; fp: string };
let rsa: { line: string; blob: Buffer; fp: string };
let other: { line: string; blob: Buffer; fp: string };

function makeKey(name: string, type: string) {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', file]);
  const pub = readFileSync(`${file}.pub`, 'utf8').trim().split(' ');
  const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { line: `${pub[0]} ${pub[1]}`, blob: Buffer.from(pub[1]!, 'base64'), fp };
}

beforeAll(() => {
  dir = tmp('kh-');
  ed = makeKey('ed', 'ed25519');
  rsa = makeKey('rsa', 'rsa');
  other = makeKey('other', 'ed25519');
});

describe('fingerprints and names', () => {
  it('matches ssh-keygen -l', () => {
    expect(fingerprint(ed.blob)).toBe(ed.fp);
    expect(fingerprint(rsa.blob)).toBe(rsa.fp);
    expect(ed.fp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
  it('reads the key type from the blob', () => {
    expect(keyTypeOf(ed.blob)).toBe('ssh-ed25519');
    expect(keyTypeOf(rsa.blob)).toBe('ssh-rsa');
  });
  it('uses [host]:port for ports other than 22', () => {
    expect(knownHostName('10.0.0.1', 22)).toBe('10.0.0.1');
    expect(knownHostName('web', 2222)).toBe('[web]:2222');
  });
});

describe('host field matching', () => {
  it('comma lists, wildcards, negation, ports', () => {
    expect(entryMatches('web1,10.0.0.1', 'web1')).toBe(true);
    expect(entryMatches('web1,10.0.0.1', '10.0.0.1')).toBe(true);
    expect(entryMatches('web1,10.0.0.1', 'web2')).toBe(false);
    expect(entryMatches('*.example.com,!bad.example.com', 'good.example.com')).toBe(true);
    expect(entryMatches('*.example.com,!bad.example.com', 'bad.example.com')).toBe(false);
    expect(entryMatches('[web]:2222', '[web]:2222')).toBe(true);
    expect(entryMatches('[web]:2222', 'web')).toBe(false);
    expect(entryMatches('WEB1', 'web1')).toBe(true);
  });

  it('hashed entries written by ssh-keygen -H', () => {
    const file = join(dir, 'hashed');
    writeFileSync(file, `web1 ${ed.line}\n[web2]:2222 ${rsa.line}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const entries = parseKnownHosts(readFileSync(file, 'utf8'), file);
    expect(entries).toHaveLength(2);
    expect(entries.every((e) => e.hosts.startsWith('|1|'))).toBe(true);
    expect(checkHostKey(entries, 'web1', ed.blob).status).toBe('known');
    expect(checkHostKey(entries, '[web2]:2222', rsa.blob).status).toBe('known');
    expect(checkHostKey(entries, 'web2', rsa.blob).status).toBe('unknown');
    expect(checkHostKey(entries, 'web1', other.blob).status).toBe('changed');
  });
});

describe('checkHostKey', () => {
  const text = () =>
    [
      '# comment',
      `web1,10.0.0.1 ${ed.line}`,
      `@revoked * ${other.line}`,
      `@cert-authority *.example.com ${rsa.line}`,
      'garbage line',
      `[web3]:2222 ${rsa.line}`,
    ].join('\n');

  it('known, unknown, changed, revoked', () => {
    const entries = parseKnownHosts(text(), '/kh');
    expect(checkHostKey(entries, 'web1', ed.blob)).toMatchObject({ status: 'known', entry: { line: 2 } });
    expect(checkHostKey(entries, 'web9', ed.blob).status).toBe('unknown');
    expect(checkHostKey(entries, 'web1', rsa.blob)).toMatchObject({ status: 'changed', expected: [{ line: 2 }] });
    expect(checkHostKey(entries, 'web1', other.blob)).toMatchObject({ status: 'revoked', entry: { line: 3 } });
    // a CA line does not make a host known
    expect(checkHostKey(entries, 'a.example.com', rsa.blob).status).toBe('unknown');
    expect(checkHostKey(entries, '[web3]:2222', rsa.blob).status).toBe('known');
  });

  it('knownKeyTypes lists the types recorded for a host', () => {
    const entries = parseKnownHosts(`h ${ed.line}\nh ${rsa.line}\nx ${rsa.line}\n`, '/kh');
    expect(knownKeyTypes(entries, 'h')).toEqual(['ssh-ed25519', 'ssh-rsa']);
    expect(knownKeyTypes(entries, 'x')).toEqual(['ssh-rsa']);
  });

  it('appendKnownHost writes a line OpenSSH accepts', async () => {
    const file = join(dir, 'sub', 'known_hosts');
    await appendKnownHost(file, '[web4]:2200', ed.blob);
    await appendKnownHost(file, 'web5', rsa.blob);
    const out = execFileSync('ssh-keygen', ['-F', '[web4]:2200', '-f', file], { encoding: 'utf8' });
    expect(out).toContain(ed.line);
    expect(checkHostKey(parseKnownHosts(readFileSync(file, 'utf8'), file), 'web5', rsa.blob).status).toBe('known');
  });
});

describe('prepareHostKeyVerifier', () => {
  const verify = (v: Awaited<ReturnType<typeof prepareHostKeyVerifier>>, key: Buffer) =>
    new Promise<boolean>((resolve) => v.verify(key, resolve));

  it('strict: unknown key refused with host, port, fingerprint and a hint', async () => {
    const v = await prepareHostKeyVerifier({ label: 'web', host: 'web.example', port: 2222, policy: 'strict', readFiles: [], writeFile: join(dir, 'nope') });
    expect(await verify(v, ed.blob)).toBe(false);
    expect(v.failure()!.message).toBe(`web: unknown host key for web.example port 2222: ssh-ed25519 ${ed.fp}`);
    expect(v.failure()!.hint).toContain('--host-key-checking accept-new');
  });

  it('accept-new: records an unknown key, refuses a changed one loudly', async () => {
    const file = join(dir, 'accept', 'known_hosts');
    const ctx = { label: 'web', host: '10.1.1.1', port: 22, policy: 'accept-new' as const, readFiles: [file], writeFile: file };
    const v1 = await prepareHostKeyVerifier(ctx);
    expect(await verify(v1, ed.blob)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(`10.1.1.1 ${ed.line}\n`);
    const v2 = await prepareHostKeyVerifier(ctx);
    expect(await verify(v2, ed.blob)).toBe(true);
    const v3 = await prepareHostKeyVerifier(ctx);
    expect(await verify(v3, other.blob)).toBe(false);
    expect(v3.failure()!.message).toContain('HOST KEY CHANGED for 10.1.1.1 port 22');
    expect(v3.failure()!.message).toContain(other.fp);
    expect(v3.failure()!.message).toContain(ed.fp);
    expect(readFileSync(file, 'utf8')).toBe(`10.1.1.1 ${ed.line}\n`);
  });

  it('prefers algorithms of recorded key types', async () => {
    const file = join(dir, 'prefer');
    writeFileSync(file, `[h]:2022 ${rsa.line}\n`);
    const v = await prepareHostKeyVerifier({ label: 'h', host: 'h', port: 2022, policy: 'strict', readFiles: [file], writeFile: file });
    expect(v.serverHostKey.slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(v.serverHostKey).toContain('ssh-ed25519');
  });
});

// OpenSSH lowercases host names before it looks them up in known_hosts or records them; a hashed entry is the HMAC
// of the lowercased name. deliver must agree, or accept-new records a second key for a host it already knows.
describe('host names in any case, any spelling', () => {
  /** A known_hosts file hashed by `ssh-keygen -H`, as OpenSSH writes with HashKnownHosts yes. */
  function hashedFile(name: string, lines: string): string {
    const file = join(dir, name);
    writeFileSync(file, lines);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
    expect(readFileSync(file, 'utf8')).toMatch(/^\|1\|/);
    return file;
  }
  const verify = (v: Awaited<ReturnType<typeof prepareHostKeyVerifier>>, key: Buffer) => new Promise<boolean>((resolve) => v.verify(key, resolve));

  it('knownHostName lowercases, as OpenSSH records and looks hosts up', () => {
    expect(knownHostName('HOST1', 22)).toBe('host1');
    expect(knownHostName('Web.Example', 2222)).toBe('[web.example]:2222');
  });

  it('a hashed entry of host1 knows HOST1, and a different key for HOST1 is a changed key', () => {
    const file = hashedFile('hashed-case', `host1 ${ed.line}\n[host2]:2222 ${rsa.line}\n`);
    const entries = parseKnownHosts(readFileSync(file, 'utf8'), file);
    expect(checkHostKey(entries, knownHostName('HOST1', 22), ed.blob).status).toBe('known');
    expect(checkHostKey(entries, knownHostName('Host1', 22), other.blob).status).toBe('changed');
    expect(checkHostKey(entries, knownHostName('HOST2', 2222), rsa.blob).status).toBe('known');
    expect(knownKeyTypes(entries, knownHostName('HOST1', 22))).toEqual(['ssh-ed25519']);
  });

  it('plain entries in upper case and [host]:22 name the same host', () => {
    expect(entryMatches('[HOST1]:2222', knownHostName('host1', 2222))).toBe(true);
    expect(entryMatches('[host1]:22', 'host1')).toBe(true);
    expect(entryMatches('[host1]:22', '[host1]:2222')).toBe(false);
    const file = hashedFile('hashed-22', `[host3]:22 ${ed.line}\n`);
    const entries = parseKnownHosts(readFileSync(file, 'utf8'), file);
    expect(checkHostKey(entries, knownHostName('HOST3', 22), other.blob).status).toBe('changed');
  });

  it('accept-new never records a second key for HOST1 when a hashed entry holds host1', async () => {
    const file = hashedFile('accept-hashed', `host1 ${ed.line}\n`);
    const before = readFileSync(file, 'utf8');
    const ctx = { label: 'root@HOST1', host: 'HOST1', port: 22, policy: 'accept-new' as const, readFiles: [file], writeFile: file };
    const spoofed = await prepareHostKeyVerifier(ctx);
    expect(await verify(spoofed, other.blob)).toBe(false);
    expect(spoofed.failure()!.message).toContain('HOST KEY CHANGED for HOST1 port 22');
    const same = await prepareHostKeyVerifier(ctx);
    expect(await verify(same, ed.blob)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('accept-new records a new host under its lowercased name', async () => {
    const file = join(dir, 'accept-lower', 'known_hosts');
    const v = await prepareHostKeyVerifier({ label: 'NewHost', host: 'NewHost', port: 2222, policy: 'accept-new', readFiles: [file], writeFile: file });
    expect(await verify(v, ed.blob)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(`[newhost]:2222 ${ed.line}\n`);
  });

  it('accept-new refuses a key that differs from one recorded for the same host on another port', async () => {
    const file = hashedFile('accept-port', `host4 ${ed.line}\n`);
    appendFileSync(file, `[HOST5]:2200 ${ed.line}\n`);
    const before = readFileSync(file, 'utf8');
    const ctx = (host: string, port: number) => ({ label: host, host, port, policy: 'accept-new' as const, readFiles: [file], writeFile: file });
    // host4 is known (hashed, port 22): a different key on port 2222 is refused, the known key is recorded there.
    const other2222 = await prepareHostKeyVerifier(ctx('Host4', 2222));
    expect(await verify(other2222, other.blob)).toBe(false);
    expect(other2222.failure()!.message).toContain('accept-new does not record a different key for a known host');
    expect(other2222.failure()!.message).toContain(ed.fp);
    // host5 is known on port 2200 (plain, upper case): port 22 may not bring a new key either.
    const other22 = await prepareHostKeyVerifier(ctx('host5', 22));
    expect(await verify(other22, other.blob)).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(before);
    const same2222 = await prepareHostKeyVerifier(ctx('HOST4', 2222));
    expect(await verify(same2222, ed.blob)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(`${before}[host4]:2222 ${ed.line}\n`);
  });
});

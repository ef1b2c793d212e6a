// The ssh2 transport against real OpenSSH hosts of the test bed: exec, streaming, timeouts, reuse of one
// connection, hostile values, host key policies, ~/.ssh/config aliases, authentication errors and ssh-agent.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InterruptedError, RemoteError } from '../../src/output/errors.js';
import { Output } from '../../src/output/output.js';
import { sh } from '../../src/ssh/quote.js';
import { SshTransport } from '../../src/ssh/transport.js';
import type { SshBackend } from '../../src/ssh/backend.js';
import { loadTestbed, requireCommand, type Testbed } from '../helpers/testbed.js';

let tb: Testbed;
let work: string;
const transports: SshTransport[] = [];

function transport(opts: ConstructorParameters<typeof SshTransport>[0] = {}): SshTransport {
  const t = new SshTransport({ sshConfigFile: tb.sshConfig, connectAttempts: 2, connectTimeoutMs: 5000, ...opts });
  transports.push(t);
  return t;
}

function host(name: string) {
  const h = [...tb.hosts, tb.build].find((x) => x.name === name);
  if (!h) throw new Error(`test bed has no ${name}`);
  return h;
}

function hostKeyLine(name: string): string {
  return readFileSync(join(tb.dir, 'etc', name, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
}

function hostFingerprint(name: string): string {
  return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(tb.dir, 'etc', name, 'ssh_host_ed25519_key.pub')], { encoding: 'utf8' }).split(' ')[1]!;
}

/** Established TCP connections this process holds to addr:port (from the kernel, via ss). */
function ourConnections(addr: string, port = 22): number {
  const out = execFileSync('ss', ['-tnpH', 'state', 'established', 'dst', `${addr}:${port}`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(`pid=${process.pid},`)).length;
}

/** An ssh config file of our own (the test's ~/.ssh/config). */
function sshConfig(text: string): string {
  const file = join(mkdtempSync(join(work, 'cfg-')), 'config');
  writeFileSync(file, text);
  return file;
}

beforeAll(() => {
  tb = loadTestbed();
  for (const cmd of ['ss', 'ssh-keygen', 'ssh-agent', 'ssh-add', 'ssh']) requireCommand(cmd);
  work = mkdtempSync(join(tmpdir(), 'ssh-it-'));
});

afterAll(async () => {
  for (const t of transports) await t.closeAll();
});

describe('exec and run', () => {
  it('streams stdout/stderr lines while the command runs and returns the exit code', async () => {
    const b = await transport().connect({ name: 'host1', host: 'host1' });
    const events: { line: string; at: number }[] = [];
    const errs: string[] = [];
    const started = Date.now();
    const res = await b.exec('echo one; echo warn >&2; sleep 2; echo two; exit 7', {
      onStdout: (line) => events.push({ line, at: Date.now() - started }),
      onStderr: (line) => errs.push(line),
    });
    expect(res.code).toBe(7);
    expect(res.stdout).toBe('one\ntwo\n');
    expect(res.stderr).toBe('warn\n');
    expect(errs).toEqual(['warn']);
    expect(events.map((e) => e.line)).toEqual(['one', 'two']);
    // the first line arrived before the command finished: streamed, not buffered
    expect(events[1]!.at - events[0]!.at).toBeGreaterThan(1000);
  });

  it("runs deliver's scripts with /bin/sh after the login shell, and the build host's with the login shell itself", async () => {
    const b = await transport().connect({ name: 'host1', host: 'host1' });
    expect((await b.exec('echo "$0"')).stdout).toBe('/bin/sh\n');
    // a killable command (its PID marker first) too
    expect((await b.exec('echo "$0"', { timeoutMs: 20_000 })).stdout).toBe('/bin/sh\n');
    expect((await b.exec('echo "$0"', { loginShell: true })).stdout).toBe('bash\n');
  });

  it('feeds stdin from a string and from a stream', async () => {
    const b = await transport().connect({ name: 'host1', host: 'host1' });
    expect((await b.exec('cat', { stdin: 'from a string\n' })).stdout).toBe('from a string\n');
    expect((await b.exec('wc -c', { stdin: Readable.from([Buffer.alloc(100_000, 1), Buffer.alloc(5, 2)]) })).stdout.trim()).toBe('100005');
    // without stdin the command gets EOF at once instead of hanging
    expect((await b.exec('cat; echo done')).stdout).toBe('done\n');
    // a command that stops reading early still completes; the rest of the stream is not needed
    let n = 0;
    const endless = new Readable({
      read() {
        this.push(n++ < 4000 ? Buffer.alloc(64 * 1024) : null);
      },
    });
    expect((await b.exec('head -c 10 >/dev/null; echo early', { stdin: endless })).stdout).toBe('early\n');
  });

  it('run() rejects a non-zero exit with step, command and the last 40 lines of output', async () => {
    const b = await transport().connect({ name: 'host1', host: 'host1' });
    const cmd = 'for i in $(seq 1 100); do echo "line $i"; done; echo "fatal: broken" >&2; exit 3';
    const err = (await b.run(cmd, { step: 'compile' }).catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe('host1: compile failed with exit code 3');
    expect(err.step).toBe('compile');
    expect(err.command).toBe(cmd);
    const lines = err.detail!.split('\n');
    expect(lines).toHaveLength(40);
    expect(lines[0]).toBe('line 62');
    expect(lines[39]).toBe('fatal: broken');
    expect((await b.run('echo fine', { step: 'ok' })).stdout).toBe('fine\n');
  });

  it('keeps only the last 64 KiB of a large output', async () => {
    const b = await transport().connect({ name: 'host1', host: 'host1' });
    let lines = 0;
    const res = await b.exec('seq 1 200000', { onStdout: () => lines++ });
    expect(lines).toBe(200000);
    expect(res.stdout.length).toBeLessThanOrEqual(64 * 1024);
    expect(res.stdout.endsWith('199999\n200000\n')).toBe(true);
  });

  it('times out `sleep 30`, says so, and kills the remote command', async () => {
    const b = await transport().connect({ name: 'host2', host: 'host2' });
    const started = Date.now();
    const err = (await b.exec('sleep 30', { timeoutMs: 1500 }).catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe('host2: command timed out after 1.5s');
    expect(Date.now() - started).toBeLessThan(5000);

    const tag = `deliver-timeout-${process.pid}-${Date.now()}`;
    const err2 = (await b.run(`sleep 30 && echo ${tag}`, { timeoutMs: 1000, step: 'wait' }).catch((e: unknown) => e)) as RemoteError;
    expect(err2.message).toBe('host2: wait timed out after 1s');
    expect(err2.step).toBe('wait');
    await new Promise((r) => setTimeout(r, 500));
    // `[d]` keeps pgrep's own command line from matching
    const left = await b.exec(`pgrep -f '[d]${tag.slice(1)}' || echo none`);
    expect(left.stdout.trim()).toBe('none');
    // the connection is still usable after a timeout
    expect((await b.exec('echo still here')).stdout).toBe('still here\n');
  });

  it('aborts through an AbortSignal and stops the remote command', async () => {
    const b = await transport().connect({ name: 'host2', host: 'host2' });
    const tag = `deliver-abort-${process.pid}-${Date.now()}`;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 500);
    const err = await b.exec(`sleep 30 && echo ${tag}`, { signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    await new Promise((r) => setTimeout(r, 500));
    expect((await b.exec(`pgrep -f '[d]${tag.slice(1)}' || echo none`)).stdout.trim()).toBe('none');
  });

  it('forwards stdout exactly when stderr is empty and keeps stderr free of the PID marker', async () => {
    const b = await transport().connect({ name: 'host1', host: 'host1' });
    const res = await b.exec('printf "no newline"; printf "err no newline" >&2', { timeoutMs: 10_000 });
    expect(res.stdout).toBe('no newline');
    expect(res.stderr).toBe('err no newline');
  });
});

describe('one connection per host', () => {
  it('reuses one TCP connection and one handshake for every exec and transfer', async () => {
    const t = transport();
    const target = { name: 'host3', host: 'host3' };
    const b = (await t.connect(target)) as SshBackend;
    for (let i = 0; i < 10; i++) expect((await b.exec(`echo ${i}`)).stdout).toBe(`${i}\n`);
    await Promise.all([b.exec('true'), b.exec('true'), b.exec('true')]);
    await b.upload(Readable.from([Buffer.from('payload')]), '/srv/reuse.txt');
    const chunks: Buffer[] = [];
    for await (const c of await b.download('/srv/reuse.txt')) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('payload');
    const again = (await t.connect({ name: 'root@host3', host: 'host3', user: 'root' })) as SshBackend;
    await again.exec('true');
    expect(again.connection).toBe(b.connection);
    expect(t.handshakes).toBe(1);
    expect(ourConnections(host('host3').address)).toBe(1);
    expect(b.connection.channels).toBeGreaterThanOrEqual(15);
    await t.closeAll();
    await new Promise((r) => setTimeout(r, 200));
    expect(ourConnections(host('host3').address)).toBe(0);
  });
});

describe('many commands at once on one connection', () => {
  it('queues beyond sshd\'s MaxSessions (10) instead of failing', async () => {
    const t = transport();
    const b = await t.connect({ name: 'host3', host: 'host3' });
    await b.upload(Readable.from([Buffer.from('x')]), '/srv/sessions.txt'); // the SFTP session holds one too
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => b.run(`sleep 0.3; echo ${i}`)));
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 25 }, (_, i) => `${i}\n`));
    expect(t.handshakes).toBe(1);
  });
});

describe('hostile values on a real host', () => {
  const canary = `/tmp/deliver-pwned-${process.pid}`;
  const hostile = [
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `; touch ${canary}`,
    `'; touch ${canary}; '`,
    `"; touch ${canary}; "`,
    `a\nb; touch ${canary}`,
    '*',
    '/etc/*',
    '-rf',
    '$HOME',
    "it's",
    '',
    'ümlaut ☃',
    `> ${canary}`,
  ];

  it('every value arrives byte-exact and nothing executes', async () => {
    const b = await transport().connect({ name: 'host4', host: 'host4' });
    for (const value of hostile) {
      const res = await b.run(sh`cd /srv && printf '%s' ${value}`.text);
      expect(res.stdout).toBe(value);
    }
    const res = await b.run(sh`for w in ${hostile}; do printf '<%s>' "$w"; done`.text);
    expect(res.stdout).toBe(hostile.map((v) => `<${v}>`).join(''));
    expect((await b.exec(sh`test -e ${canary} && echo exists || echo absent`.text)).stdout).toBe('absent\n');
  });
});

describe('host keys', () => {
  function configWithKnownHosts(name: string, knownHosts: string, extra = ''): string {
    const h = host(name);
    return sshConfig(
      `Host ${name}\n  HostName ${h.address}\n  User ${tb.user}\n  IdentityFile ${tb.identity}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${knownHosts}\n${extra}`,
    );
  }

  it('refuses a changed host key, naming host, port and both fingerprints', async () => {
    const kh = join(work, 'kh-changed');
    writeFileSync(kh, `${host('host5').address} ${hostKeyLine('host6')}\n`); // host6's key recorded for host5
    const t = transport({ sshConfigFile: configWithKnownHosts('host5', kh) });
    const err = (await t.connect({ name: 'host5', host: 'host5' }).catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toContain(`host5: HOST KEY CHANGED for ${host('host5').address} port 22: it presented ssh-ed25519 ${hostFingerprint('host5')}`);
    expect(err.message).toContain(hostFingerprint('host6'));
    expect(err.hint).toContain('ssh-keygen -R');
    expect(t.handshakes).toBe(0);
  });

  it('strict mode refuses an unknown host with its fingerprint and a hint', async () => {
    const kh = join(work, 'kh-empty-strict');
    writeFileSync(kh, '');
    const t = transport({ sshConfigFile: configWithKnownHosts('host5', kh), hostKeyPolicy: 'strict' });
    const err = (await t.connect({ name: 'host5', host: 'host5' }).catch((e: unknown) => e)) as RemoteError;
    expect(err.message).toBe(`host5: unknown host key for ${host('host5').address} port 22: ssh-ed25519 ${hostFingerprint('host5')}`);
    expect(err.hint).toMatch(/ssh-keyscan -p 22 .*--host-key-checking accept-new/);
    expect(readFileSync(kh, 'utf8')).toBe('');
  });

  it('accept-new records an unknown key, then strict mode trusts it', async () => {
    const kh = join(work, 'kh-accept');
    writeFileSync(kh, '');
    const cfg = configWithKnownHosts('host5', kh);
    const warnings: string[] = [];
    const out = new Output({ stderr: { write: (s: string) => (warnings.push(s), true) } as never, color: false });
    const t = transport({ sshConfigFile: cfg, hostKeyPolicy: 'accept-new', out });
    const b = await t.connect({ name: 'host5', host: 'host5' });
    expect((await b.exec('echo $TESTBED_HOST')).stdout).toBe('host5\n');
    expect(readFileSync(kh, 'utf8')).toBe(`${host('host5').address} ${hostKeyLine('host5')}\n`);
    expect(warnings.join('')).toContain(`added host key of ${host('host5').address} port 22 (ssh-ed25519 ${hostFingerprint('host5')})`);
    const strict = transport({ sshConfigFile: cfg, hostKeyPolicy: 'strict' });
    await (await strict.connect({ name: 'host5', host: 'host5' })).exec('true');
    // OpenSSH agrees with what was recorded
    execFileSync('ssh', ['-F', cfg, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', 'host5', 'true']);
  });

  it('HOST5 matches a hashed host5 entry as OpenSSH does; accept-new never records a second key for it', async () => {
    /** A known_hosts file hashed by `ssh-keygen -H` (HashKnownHosts yes). */
    const hashed = (file: string, line: string) => {
      writeFileSync(file, `${line}\n`);
      execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
      return readFileSync(file, 'utf8');
    };
    const right = join(work, 'kh-hashed-case');
    hashed(right, `host5 ${hostKeyLine('host5')}`);
    const cfg = configWithKnownHosts('host5', right, '  HostKeyAlias HOST5\n');
    // OpenSSH lowercases the name before hashing: it knows HOST5 from the hashed host5 line, and so does deliver.
    execFileSync('ssh', ['-F', cfg, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', 'host5', 'true']);
    const strict = transport({ sshConfigFile: cfg, hostKeyPolicy: 'strict' });
    expect((await (await strict.connect({ name: 'host5', host: 'host5' })).exec('echo $TESTBED_HOST')).stdout).toBe('host5\n');

    // host6's key recorded (hashed) for host5: HOST5 presenting its own key is a changed key, not a new host.
    const wrong = join(work, 'kh-hashed-case-wrong');
    const before = hashed(wrong, `host5 ${hostKeyLine('host6')}`);
    const lax = transport({ sshConfigFile: configWithKnownHosts('host5', wrong, '  HostKeyAlias HOST5\n'), hostKeyPolicy: 'accept-new' });
    const err = (await lax.connect({ name: 'host5', host: 'host5' }).catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toContain(`HOST KEY CHANGED for HOST5 port 22: it presented ssh-ed25519 ${hostFingerprint('host5')}`);
    expect(readFileSync(wrong, 'utf8')).toBe(before);
  });

  it('accept-new still refuses a changed key; StrictHostKeyChecking no is treated as accept-new with a warning', async () => {
    const kh = join(work, 'kh-no');
    writeFileSync(kh, `${host('host5').address} ${hostKeyLine('host6')}\n`);
    const warnings: string[] = [];
    const out = new Output({ stderr: { write: (s: string) => (warnings.push(s), true) } as never, color: false });
    const t = transport({ sshConfigFile: configWithKnownHosts('host5', kh, '  StrictHostKeyChecking no\n'), out });
    const err = (await t.connect({ name: 'host5', host: 'host5' }).catch((e: unknown) => e)) as RemoteError;
    expect(err.message).toContain('HOST KEY CHANGED');
    expect(warnings.join('')).toContain('StrictHostKeyChecking no; deliver treats it as accept-new');
  });
});

describe('a slow link: Ctrl-C after the command started, before its start was confirmed', () => {
  // A relay that delays everything sshd sends by DELAY: the command runs on the host (and has printed its PID)
  // while this side still waits for the channel's confirmation. Closing that channel would kill nothing.
  const DELAY = 800;
  let relay: Server;
  let relayPort = 0;

  beforeAll(async () => {
    relay = createServer((client) => {
      const upstream = tcpConnect(22, host('host7').address);
      client.pipe(upstream);
      upstream.on('data', (d: Buffer) => setTimeout(() => client.writable && client.write(d), DELAY));
      upstream.on('end', () => setTimeout(() => client.end(), DELAY));
      const drop = () => (client.destroy(), upstream.destroy());
      client.on('error', drop);
      upstream.on('error', drop);
      client.on('close', drop);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    relayPort = (relay.address() as { port: number }).port;
  });
  afterAll(() => relay.close());

  it('the command is killed once its PID arrives', async () => {
    const kh = join(work, 'kh-slow');
    writeFileSync(kh, `[127.0.0.1]:${relayPort} ${hostKeyLine('host7')}\n`);
    const cfg = sshConfig(['Host slow', '  HostName 127.0.0.1', `  Port ${relayPort}`, `  User ${tb.user}`, `  IdentityFile ${tb.identity}`, `  UserKnownHostsFile ${kh}`].join('\n'));
    const slow = await transport({ sshConfigFile: cfg }).connect({ name: 'slow', host: 'slow' });
    const direct = await transport().connect({ name: 'host7', host: 'host7' });
    const tag = `deliver-slow-${process.pid}-${Date.now()}`;
    // `[d]` keeps pgrep from matching itself.
    const running = async () => (await direct.exec(`pgrep -f '[d]${tag.slice(1)}' || echo none`)).stdout.trim() !== 'none';
    const ac = new AbortController();
    const result = slow.exec(`sleep 30 && echo ${tag}`, { signal: ac.signal }).catch((e: unknown) => e);
    for (let i = 0; i < 100 && !(await running()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await running()).toBe(true);
    ac.abort();
    expect(await result).toBeInstanceOf(InterruptedError);
    await new Promise((r) => setTimeout(r, 3 * DELAY + 1000));
    expect(await running()).toBe(false);
  });
});

describe('~/.ssh/config alias with Port, User and IdentityFile', () => {
  let proxy: Server;
  const proxyAddr = '127.0.0.1';
  let proxyPort = 0;

  beforeAll(async () => {
    // The bed's hosts all listen on :22, so a TCP relay on another port proves `Port` is honoured.
    proxy = createServer((client) => {
      const upstream = tcpConnect(22, host('host6').address);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, proxyAddr, r));
    proxyPort = (proxy.address() as { port: number }).port;
  });
  afterAll(() => proxy.close());

  it('connects through the alias and records/matches [host]:port entries', async () => {
    const kh = join(work, 'kh-alias');
    writeFileSync(kh, `[${proxyAddr}]:${proxyPort} ${hostKeyLine('host6')}\n`);
    const cfg = sshConfig(
      [
        'Host other',
        '  User nobody-else',
        'Host app-server',
        `  HostName ${proxyAddr}`,
        `  Port ${proxyPort}`,
        `  User ${tb.user}`,
        '  IdentityFile ~/does-not-exist',
        `  IdentityFile ${tb.identity}`,
        '  IdentitiesOnly yes',
        '  IdentityAgent none',
        `  UserKnownHostsFile ${kh}`,
        'Host *',
        '  User wrong-user',
        '  Port 1',
      ].join('\n'),
    );
    const t = transport({ sshConfigFile: cfg });
    const b = await t.connect({ name: 'app-server', host: 'app-server' });
    expect((await b.exec('echo $TESTBED_HOST $(id -un)')).stdout).toBe(`host6 ${tb.user}\n`);
    expect(ourConnections(proxyAddr, proxyPort)).toBe(1);
    // a wrong port from the config is what a missing alias match would have used
    const noMatch = await transport({ sshConfigFile: cfg, connectAttempts: 1, identityFiles: [tb.identity] })
      .connect({ name: 'plain', host: '127.0.0.1' })
      .catch((e: unknown) => e);
    expect((noMatch as Error).message).toMatch(/plain: cannot connect to 127\.0\.0\.1:1: connection refused/);
  });
});

describe('authentication', () => {
  function authConfig(name: string, lines: string[]): string {
    const h = host(name);
    return sshConfig(
      [`Host ${name}`, `  HostName ${h.address}`, `  User ${tb.user}`, `  UserKnownHostsFile ${tb.knownHosts}`, ...lines.map((l) => `  ${l}`)].join('\n'),
    );
  }

  it('an unauthorized key fails naming user@host:port and the keys tried, without retries', async () => {
    const key = join(work, 'stranger');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const t = transport({ sshConfigFile: authConfig('host7', [`IdentityFile ${key}`, 'IdentitiesOnly yes', 'IdentityAgent none']), connectAttempts: 3 });
    const started = Date.now();
    const err = (await t.connect({ name: 'host7', host: 'host7' }).catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe(`host7: authentication failed for ${tb.user}@${host('host7').address}:22; tried: ${key}`);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('an encrypted key without an agent gets the ssh-add message', async () => {
    const key = join(work, 'encrypted');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'passphrase', '-f', key]);
    const saved = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      const t = transport({ sshConfigFile: authConfig('host7', [`IdentityFile ${key}`]) });
      const err = (await t.connect({ name: 'host7', host: 'host7' }).catch((e: unknown) => e)) as Error;
      expect(err.message).toBe(`host7: ${key} is encrypted and no ssh-agent is running (SSH_AUTH_SOCK unset): run ssh-add`);
    } finally {
      if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved;
    }
  });

  it('logs in with a key held only by a real ssh-agent, and forwards the agent on request', async () => {
    const sock = join(mkdtempSync(join(tmpdir(), 'agent-')), 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50; i++) {
        try {
          execFileSync('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
          break;
        } catch (e) {
          // exit 1 = agent up but empty; 2 = not listening yet
          if ((e as { status?: number }).status === 1) break;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      execFileSync('ssh-add', [tb.identity], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      const emptyHome = mkdtempSync(join(tmpdir(), 'home-'));
      const t = transport({ sshConfigFile: authConfig('host7', [`IdentityAgent ${sock}`, `IdentityFile ${join(emptyHome, 'none')}`]) });
      const b = await t.connect({ name: 'host7', host: 'host7' });
      expect((await b.exec('echo ok')).stdout).toBe('ok\n');
      const noFwd = await b.exec('ssh-add -l >/dev/null 2>&1; echo $?');
      expect(noFwd.stdout).toBe('2\n'); // no agent reachable without the flag
      const fwd = await b.exec('ssh-add -l >/dev/null 2>&1; echo $?', { agentForward: true });
      expect(fwd.stdout).toBe('0\n'); // the remote side reaches our agent and sees its key
    } finally {
      agent.kill();
    }
  });
});

describe('system ssh with the same settings', () => {
  it('sshCommandFor and gitSshCommand reach a bed host with verified host keys', async () => {
    const { sshCommandFor, gitSshCommand } = await import('../../src/ssh/ssh-command.js');
    const argv = sshCommandFor({ name: 'host9', host: 'host9' }, { sshConfigFile: tb.sshConfig, connectTimeoutMs: 5000 });
    expect(execFileSync(argv[0]!, [...argv.slice(1), 'echo $TESTBED_HOST'], { encoding: 'utf8' })).toBe('host9\n');
    const git = gitSshCommand({ name: 'host9', host: 'host9' }, { sshConfigFile: tb.sshConfig });
    expect(execFileSync('/bin/sh', ['-c', `${git} host9 echo via-git-ssh-command`], { encoding: 'utf8' })).toBe('via-git-ssh-command\n');
    // an unknown host key is refused by OpenSSH too (strict maps to StrictHostKeyChecking=yes)
    const kh = join(work, 'kh-system-ssh');
    writeFileSync(kh, '');
    const cfg = sshConfig(`Host h9\n  HostName ${host('host9').address}\n  User ${tb.user}\n  IdentityFile ${tb.identity}\n  UserKnownHostsFile ${kh}\n`);
    const strict = sshCommandFor({ name: 'h9', host: 'h9' }, { sshConfigFile: cfg });
    expect(() => execFileSync(strict[0]!, [...strict.slice(1), 'true'], { stdio: 'pipe' })).toThrow(/Host key verification failed/);
    const lax = sshCommandFor({ name: 'h9', host: 'h9' }, { sshConfigFile: cfg, hostKeyPolicy: 'accept-new' });
    execFileSync(lax[0]!, [...lax.slice(1), 'true'], { stdio: 'pipe' });
    expect(readFileSync(kh, 'utf8')).toContain(hostKeyLine('host9'));
  });
});

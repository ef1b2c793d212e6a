// Many hosts at once against stock sshd settings (MaxStartups 10:30:100), a dead host among live ones, and
// ProxyJump through one bed host to others over a single shared bastion connection.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshBackend } from '../../src/ssh/backend.js';
import { runStrategy } from '../../src/deploy/strategy.js';
import { SshTransport } from '../../src/ssh/transport.js';
import { loadTestbed, requireCommand, testbedCtl, type Testbed } from '../helpers/testbed.js';

let tb: Testbed;
const transports: SshTransport[] = [];
function transport(opts: ConstructorParameters<typeof SshTransport>[0] = {}): SshTransport {
  const t = new SshTransport({ sshConfigFile: tb.sshConfig, connectTimeoutMs: 5000, ...opts });
  transports.push(t);
  return t;
}
const addr = (name: string) => tb.hosts.find((h) => h.name === name)!.address;

/** Established connections to addr:22 as `local-address:port process` lines from the kernel (ss). */
function connectionsTo(address: string): string[] {
  return execFileSync('ss', ['-tnpH', 'state', 'established', 'dst', `${address}:22`], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim() !== '');
}
const ours = (address: string) => connectionsTo(address).filter((l) => l.includes(`pid=${process.pid},`)).length;

beforeAll(() => {
  tb = loadTestbed();
  for (const cmd of ['ss', 'ssh']) requireCommand(cmd);
});
afterAll(async () => {
  for (const t of transports) await t.closeAll();
});

describe('fleet', () => {
  it('runs on 40 hosts in one command with one connection each, under stock MaxStartups', async () => {
    expect(tb.hosts.length, 'the test bed must have 40 hosts (TESTBED_HOSTS=40)').toBeGreaterThanOrEqual(40);
    const hosts = tb.hosts.slice(0, 40).map((h) => ({ name: h.name, host: h.name }));
    const t = transport();
    const results = await runStrategy(
      hosts,
      async (target) => {
        const b = await t.connect(target);
        const first = await b.run('echo $TESTBED_HOST');
        await (await t.connect(target)).run('true'); // a second step reuses the connection
        return first.stdout.trim();
      },
      { strategy: 'parallel', concurrency: 40 },
    );
    const failed = results.filter((r) => r.status !== 'ok').map((r) => r.error);
    expect(failed).toEqual([]);
    expect(results.map((r) => r.value)).toEqual(hosts.map((h) => h.name));
    expect(t.handshakes).toBe(40);
    for (const h of tb.hosts.slice(0, 40)) expect(ours(h.address), h.name).toBe(1);
    await t.closeAll();
  });

  it('reports a dead host by name while the others succeed, and retries only connection failures', async () => {
    await testbedCtl('kill-host', 'host7');
    try {
      const hosts = tb.hosts.slice(0, 10).map((h) => ({ name: h.name, host: h.name }));
      const t = transport({ connectAttempts: 3 });
      const started = Date.now();
      const results = await runStrategy(hosts, async (target) => (await (await t.connect(target)).run('echo ok')).stdout, { strategy: 'parallel', concurrency: 10 });
      expect(results.map((r) => r.status === 'ok')).toEqual([true, true, true, true, true, true, false, true, true, true]);
      const dead = results[6]!;
      expect(dead.host).toBe('host7');
      expect(dead.error?.split('\n')[0]).toBe(
        `host7: cannot connect to ${addr('host7')}:22: connection refused (is sshd running and the port right?) (after 3 attempts)`,
      );
      expect(Date.now() - started).toBeLessThan(10_000);
      await t.closeAll();
    } finally {
      await testbedCtl('start-host', 'host7');
    }
    const t2 = transport();
    expect((await (await t2.connect({ name: 'host7', host: 'host7' })).run('echo back')).stdout).toBe('back\n');
  });
});

describe('ProxyJump', () => {
  it('reaches hosts through one shared bastion connection (forwardOut), not directly', async () => {
    const cfgDir = mkdtempSync(join(tmpdir(), 'jump-'));
    const common = [`  User ${tb.user}`, `  IdentityFile ${tb.identity}`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${tb.knownHosts}`];
    const cfg = join(cfgDir, 'config');
    writeFileSync(
      cfg,
      [
        'Host bastion',
        `  HostName ${addr('host11')}`,
        ...common,
        'Host inner-a',
        `  HostName ${addr('host12')}`,
        '  ProxyJump bastion',
        ...common,
        'Host inner-b',
        `  HostName ${addr('host13')}`,
        '  ProxyJump bastion',
        ...common,
      ].join('\n') + '\n',
    );
    const t = transport({ sshConfigFile: cfg });
    const [a, b] = (await Promise.all([t.connect({ name: 'inner-a', host: 'inner-a' }), t.connect({ name: 'inner-b', host: 'inner-b' })])) as SshBackend[];
    expect((await a!.run('echo $TESTBED_HOST')).stdout).toBe('host12\n');
    expect((await b!.run('echo $TESTBED_HOST')).stdout).toBe('host13\n');
    expect(t.handshakes).toBe(3); // bastion once, then each target

    // We hold exactly one TCP connection (to the bastion) and none to the targets.
    expect(ours(addr('host11'))).toBe(1);
    expect(ours(addr('host12'))).toBe(0);
    expect(ours(addr('host13'))).toBe(0);
    // The target's sshd sees a connection whose local end belongs to the bastion's sshd process.
    const [clientIp, clientPort] = (await a!.run('echo $SSH_CLIENT')).stdout.trim().split(' ');
    const line = connectionsTo(addr('host12')).find((l) => l.includes(`${clientIp}:${clientPort} `));
    expect(line, `no connection from ${clientIp}:${clientPort} to host12 in ss output`).toBeDefined();
    expect(line).toMatch(/users:\(\("sshd"/);
    expect(line).not.toContain(`pid=${process.pid},`);
  });
});

describe('ProxyCommand', () => {
  it('tunnels through the command\'s stdio (here OpenSSH `ssh -W` via another bed host)', async () => {
    const cfgDir = mkdtempSync(join(tmpdir(), 'proxycmd-'));
    const cfg = join(cfgDir, 'config');
    writeFileSync(
      cfg,
      [
        'Host via-proxy',
        `  HostName ${addr('host15')}`,
        `  ProxyCommand ssh -F "${tb.sshConfig}" -W %h:%p host14`,
        `  User ${tb.user}`,
        `  IdentityFile ${tb.identity}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${tb.knownHosts}`,
        'Host broken-proxy',
        `  HostName ${addr('host15')}`,
        '  ProxyCommand sh -c "echo proxy says no >&2; exit 3"',
        `  IdentityFile ${tb.identity}`,
        `  UserKnownHostsFile ${tb.knownHosts}`,
      ].join('\n') + '\n',
    );
    const t = transport({ sshConfigFile: cfg, connectAttempts: 1 });
    const b = await t.connect({ name: 'via-proxy', host: 'via-proxy' });
    expect((await b.run('echo $TESTBED_HOST')).stdout).toBe('host15\n');
    expect(ours(addr('host15'))).toBe(0);
    const [clientIp, clientPort] = (await b.run('echo $SSH_CLIENT')).stdout.trim().split(' ');
    const line = connectionsTo(addr('host15')).find((l) => l.includes(`${clientIp}:${clientPort} `));
    expect(line).toMatch(/users:\(\("sshd"/); // host14's sshd opened it for `ssh -W`
    const err = (await t.connect({ name: 'broken-proxy', host: 'broken-proxy' }).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(`broken-proxy: cannot connect to ${addr('host15')}:22 via ProxyCommand: ProxyCommand exited with code 3: proxy says no`);
  });
});

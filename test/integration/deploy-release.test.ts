// `deliver deploy release`, node control, rollback, locks and strategies against the real bed: OpenSSH hosts on
// loopback, real `mix release` builds, the real CLI as a child process. Each block uses its own hosts and its own
// DELIVER_TO, so blocks never see each other's nodes or files.
import { appendFileSync, rmSync, existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync, copyFileSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  APP, activeVersion, bedScript, killSshd, buildReleases, cli, ensureBed, hostPath, hostProcesses, installed, json, leftovers, makeProject,
  startCli, until, waitCli, type Bed, type BedHost, type HostJson, type Project, type Releases,
} from './deploy-support.js';
import { deployHost } from '../../src/deploy/deploy-release.js';
import { onHost } from '../helpers/fixtures.js';
import { prepareSource } from '../../src/deploy/source.js';
import type { SshBackend } from '../../src/ssh/backend.js';
import { SshTransport } from '../../src/ssh/transport.js';
import { openStore } from '../../src/store/index.js';

let bed: Bed;
let rel: Releases;
const started: Project[] = [];

beforeAll(() => {
  bed = ensureBed();
  rel = buildReleases();
}, 300_000);

afterAll(async () => {
  // Nodes started by these tests must not outlive them (they hold the hosts' epmd names).
  await Promise.all(started.map((p) => cli(bed, p, 'stop', 'production')));
  // The fixture holds ~150 MB (the 40 MB release three times over).
  if (rel) rmSync(rel.dir, { recursive: true, force: true });
}, 300_000);

const hosts = (from: number, to: number): BedHost[] => bed.hosts.slice(from - 1, to);

describe('deploy and node control on 3 hosts', () => {
  let p: Project;
  beforeAll(() => {
    p = makeProject(bed, hosts(1, 3), rel.store, 'KEEP_RELEASES=2\n');
    // The environment's runtime variables: uploaded 0600 and loaded by the node commands.
    writeFileSync(join(p.dir, '.deliver', 'production.env'), 'DTEST_GREETING="hello world"\n');
    // A vm.args kept on the hosts (LINK_VM_ARGS), linked into every release deployed there.
    for (const h of p.hosts) {
      mkdirSync(hostPath(p, h), { recursive: true });
      writeFileSync(hostPath(p, h, 'vm.args'), '+P 262144\n');
    }
    appendFileSync(join(p.dir, '.deliver', 'config'), `LINK_VM_ARGS="${p.deliverTo}/vm.args"\n`);
    started.push(p);
  });

  it('refuses to guess among several versions when not on a terminal, listing them', async () => {
    const r = await cli(bed, p, 'deploy', 'release', 'production');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('several releases of dtest');
    expect(r.stderr).toContain('0.4.0, 0.3.0, 0.2.0, 0.1.0');
    expect(r.stderr).toContain('--version');
  });

  it('deploys, starts, answers ping/version/pid/rpc, and migrate runs', async () => {
    const d = await cli(bed, p, 'deploy', 'release', 'to', 'production', '--version=0.1.0');
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    for (const h of p.hosts) {
      expect(activeVersion(p, h)).toBe('0.1.0');
      expect(leftovers(p, h)).toEqual([]);
      expect(existsSync(hostPath(p, h, APP, 'bin', APP))).toBe(true);
    }
    const s = await cli(bed, p, 'start', 'production');
    expect(s.code, s.stderr).toBe(0);
    const again = await cli(bed, p, 'start', 'production', '--host', 'host1');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('dtest is already running');

    const ping = await cli(bed, p, 'ping', 'production');
    expect(ping.code).toBe(0);
    expect(ping.stdout.match(/pong/g)).toHaveLength(3);
    const v = await cli(bed, p, 'version', 'on', 'production', '--json');
    expect(json<{ hosts: HostJson[] }>(v).hosts.map((h) => h.value?.output)).toEqual(['0.1.0', '0.1.0', '0.1.0']);
    const pid = await cli(bed, p, 'pid', 'production', '--host', 'host2');
    expect(pid.stdout.trim()).toMatch(/^\d+$/);
    expect(hostProcesses(bed, p.hosts[1]!, /beam/).some((x) => x.pid === Number(pid.stdout.trim()))).toBe(true);

    const rpc = await cli(bed, p, 'rpc', 'production', '--host', 'host1', 'IO.puts(6 * 7)');
    expect(rpc).toMatchObject({ code: 0, stdout: '42\n' });
    const env = await cli(bed, p, 'rpc', 'production', '--host', 'host1', 'IO.puts(System.get_env("DTEST_GREETING"))');
    expect(env).toMatchObject({ code: 0, stdout: 'hello world\n' });
    expect(statSync(hostPath(p, p.hosts[0]!, '.deliver', APP, 'production.env')).mode & 0o777).toBe(0o600);
    expect(readlinkSync(hostPath(p, p.hosts[0]!, APP, 'releases', '0.1.0', 'vm.args'))).toBe(`${p.deliverTo}/vm.args`);
    const limit = await cli(bed, p, 'rpc', 'production', '--host', 'host1', 'IO.puts(:erlang.system_info(:process_limit))');
    expect(limit).toMatchObject({ code: 0, stdout: '262144\n' });
    const bad = await cli(bed, p, 'rpc', 'production', 'raise "boom"');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('root@host1 [rpc]: rpc failed (exit 1)');
    expect(bad.stderr).toContain('boom');
    const evalBad = await cli(bed, p, 'eval', 'production', '--host', 'host3', 'System.halt(3)');
    expect(evalBad.code).toBe(1);
    expect(evalBad.stderr).toContain('eval failed (exit 3)');
    const m = await cli(bed, p, 'migrate', 'production', '--host', 'host2');
    expect(m).toMatchObject({ code: 0, stdout: '  root@host2 | migrated\n✔ root@host2: migrate up done\n' });
    expect(readFileSync(hostPath(p, p.hosts[1]!, APP, 'migrated'), 'utf8')).toBe('yes');
    const run = await cli(bed, p, 'run', 'production', '--host', 'host1', 'version');
    expect(run).toMatchObject({ code: 0, stdout: 'dtest 0.1.0\n' });
  });

  it('deploy --start-deploy restarts on the new release; restart keeps it; rollback returns running nodes to 0.1.0', async () => {
    const d = await cli(bed, p, 'deploy', 'release', 'production', '--version', '0.2.0', '--start-deploy', '--json');
    expect(d.code, d.stderr).toBe(0);
    const res = json<{ version: string; hosts: HostJson[] }>(d);
    expect(res.version).toBe('0.2.0');
    expect(res.hosts.map((h) => [h.host, h.status, h.value?.previous])).toEqual(p.hosts.map((h) => [`root@${h.name}`, 'ok', '0.1.0']));
    const v = await cli(bed, p, 'version', 'production', '--json');
    expect(json<{ hosts: HostJson[] }>(v).hosts.map((h) => h.value?.output)).toEqual(['0.2.0', '0.2.0', '0.2.0']);

    const pid1 = (await cli(bed, p, 'pid', 'production', '--host', 'host1')).stdout.trim();
    const r = await cli(bed, p, 'restart', 'production', '--host', 'host1');
    expect(r.code, r.stderr).toBe(0);
    const pid2 = (await cli(bed, p, 'pid', 'production', '--host', 'host1')).stdout.trim();
    expect(pid2).toMatch(/^\d+$/);
    expect(pid2).not.toBe(pid1);

    const rb = await cli(bed, p, 'rollback', 'production');
    expect(rb.code, rb.stderr).toBe(0);
    for (const h of p.hosts) expect(activeVersion(p, h)).toBe('0.1.0');
    const v2 = await cli(bed, p, 'version', 'production', '--json');
    expect(json<{ hosts: HostJson[] }>(v2).hosts.map((h) => h.value?.output)).toEqual(['0.1.0', '0.1.0', '0.1.0']);

    const refused = await cli(bed, p, 'rollback', 'production', '--version=0.3.0');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('rollback refused: release 0.3.0 is not installed on 3 of 3 host(s)');
    for (const h of p.hosts) expect(activeVersion(p, h)).toBe('0.1.0');
  });

  it('keeps KEEP_RELEASES releases (never the active one) and shows the audit log', async () => {
    const d = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.3.0', '--host=host3');
    expect(d.code, d.stderr).toBe(0);
    // host3 ran 0.1.0 (started from it) and now has 0.3.0 active: KEEP_RELEASES=2 drops 0.2.0.
    expect(installed(p, p.hosts[2]!)).toEqual(['0.1.0', '0.3.0']);
    expect(installed(p, p.hosts[0]!)).toEqual(['0.1.0', '0.2.0']);
    const show = await cli(bed, p, 'show', 'deploys', 'production', '--json');
    const entries = json<{ deploys: { host: string; action: string; version: string; result: string }[] }>(show).deploys;
    expect(entries.filter((e) => e.host === 'root@host3').map((e) => `${e.action} ${e.version} ${e.result}`)).toEqual([
      'deploy 0.1.0 ok',
      'deploy 0.2.0 ok',
      'rollback 0.1.0 ok',
      'deploy 0.3.0 ok',
    ]);
    const human = await cli(bed, p, 'show', 'deploys', 'production');
    expect(human.stdout).toMatch(/WHEN\s+HOST\s+ACTION\s+VERSION/);
    const stop = await cli(bed, p, 'stop', 'production');
    expect(stop.code, stop.stderr).toBe(0);
    const ping = await cli(bed, p, 'ping', 'production', '--host', 'host2');
    expect(ping.code).toBe(1);
    expect(ping.stderr).toContain('dtest is not running');
  });
});

describe('strategies and failures', () => {
  it('rolling: a failing health check stops after the first batch, which goes back to its previous release', async () => {
    const p = makeProject(bed, hosts(4, 11), rel.store, 'HEALTH_CHECK_TIMEOUT=1\nSTART_TIMEOUT=20\n');
    started.push(p);
    expect((await cli(bed, p, 'deploy', 'release', 'production', '--version=0.1.0')).code).toBe(0);
    // The first batch (host4, host5) runs 0.1.0; the others only have it installed.
    expect((await cli(bed, p, 'start', 'production', '--host=host4', '--host=host5')).code).toBe(0);
    const r = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.2.0', '--start-deploy', '--strategy=rolling', '--batch-size=2', '--health-check=test -f healthy', '--json');
    expect(r.code).toBe(1);
    const res = json<{ hosts: HostJson[] }>(r).hosts;
    expect(res.map((h) => h.status)).toEqual(['failed', 'failed', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped']);
    expect(res[0]!.step).toBe('health');
    expect(res[0]!.error).toContain('health check failed');
    expect(res[0]!.error).toContain('rolled back to 0.1.0, which is running');
    expect(r.stderr).toContain('deploy failed on 8 of 8 host(s)');
    for (const h of p.hosts) {
      expect(activeVersion(p, h)).toBe('0.1.0');
      expect(leftovers(p, h)).toEqual([]);
    }
    const v = await cli(bed, p, 'version', 'production', '--host=host4', '--host=host5', '--json');
    expect(json<{ hosts: HostJson[] }>(v).hosts.map((h) => h.value?.output)).toEqual(['0.1.0', '0.1.0']);
    // Canary: the first host fails its health check, so no other host is touched. The human summary names it.
    const canary = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.2.0', '--start-deploy', '--strategy=canary', '--health-check=false');
    expect(canary.code).toBe(1);
    expect(canary.stderr).toMatch(/error: root@host4 \[health\]: health check failed/);
    expect(canary.stderr).toContain('7 host(s) not started: root@host5, root@host6');
    for (const h of p.hosts) expect(activeVersion(p, h)).toBe('0.1.0');
  }, 300_000);

  it('a second deploy is refused naming the lock owner; a third waits with --lock-wait and succeeds', async () => {
    // A config hook keeps the first deploy inside its lock for a few seconds.
    const p = makeProject(bed, hosts(12, 13), rel.store, 'pre_extract_release_archive() {\n  sleep 4\n}\n');
    const first = startCli(bed, p, ['deploy', 'release', 'production', '--version=0.3.0']);
    const firstDone = waitCli(first);
    await until(() => existsSync(hostPath(p, p.hosts[0]!, '.deliver', APP, 'lock', 'owner.json')), 30_000, 'the first deploy to take the lock');
    const [second, third] = await Promise.all([
      cli(bed, p, 'deploy', 'release', 'production', '--version=0.1.0'),
      cli(bed, p, 'deploy', 'release', 'production', '--version=0.1.0', '--lock-wait=120'),
    ]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`deploy lock held by \\S+@\\S+ \\(pid ${first.pid}, deploy release 0\\.3\\.0`));
    expect((await firstDone).code).toBe(0);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toContain('waiting for the deploy lock held by');
    for (const h of p.hosts) {
      expect(activeVersion(p, h)).toBe('0.1.0');
      expect(leftovers(p, h)).toEqual([]);
    }
  });

  it('a host whose sshd dies mid-upload keeps its old release running; --retry-failed finishes it', async () => {
    const p = makeProject(bed, hosts(14, 21), rel.store);
    started.push(p);
    const victim = p.hosts[4]!;
    expect((await cli(bed, p, 'deploy', 'release', 'production', '--version=0.1.0')).code).toBe(0);
    expect((await cli(bed, p, 'start', 'production', `--host=${victim.name}`)).code).toBe(0);
    const child = startCli(bed, p, ['deploy', 'release', 'production', '--version=0.4.0', '--json']);
    const done = waitCli(child);
    const incoming = hostPath(p, victim, '.deliver', APP, 'incoming');
    const inFlight = () =>
      readdirSync(incoming).some((f) => {
        try {
          return statSync(join(incoming, f)).size > 1024 * 1024;
        } catch {
          return false; // renamed or removed between readdir and stat
        }
      });
    const finishedFirst = done.then((r) => {
      throw new Error(`the deploy finished before the victim's upload was seen in flight (exit ${r.code}):\n${r.stderr}`);
    });
    await Promise.race([until(inFlight, 60_000, 'an upload in flight'), finishedFirst]);
    finishedFirst.catch(() => undefined);
    // Kill only the host's sshd processes: the machine and its running node stay up.
    expect(killSshd(bed, victim)).toBeGreaterThanOrEqual(2);
    const r = await done;
    expect(r.code).toBe(1);
    const res = json<{ hosts: HostJson[] }>(r).hosts;
    expect(res.filter((h) => h.status !== 'ok').map((h) => h.host)).toEqual([`root@${victim.name}`]);
    expect(res.find((h) => h.host === `root@${victim.name}`)!.step).toMatch(/^(upload|unpack)$/);
    expect(r.stderr).toContain(`deploy failed on 1 of 8 host(s): root@${victim.name}`);
    for (const h of p.hosts) expect(activeVersion(p, h)).toBe(h === victim ? '0.1.0' : '0.4.0');
    // Its node still runs the old release.
    expect(hostProcesses(bed, victim, /beam.*releases\/0\.1\.0/).length).toBeGreaterThan(0);
    bedScript('start-host', victim.name);
    const retry = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.4.0', '--retry-failed', '--json');
    expect(retry.code, retry.stderr).toBe(0);
    expect(json<{ hosts: HostJson[] }>(retry).hosts.map((h) => h.host)).toEqual([`root@${victim.name}`]);
    expect(retry.stderr).toMatch(/broke a stale deploy lock \(its process \d+ on .* is gone\)/);
    expect(activeVersion(p, victim)).toBe('0.4.0');
    expect(leftovers(p, victim)).toEqual([]);
  }, 300_000);

  it('refuses a corrupted tarball before unpacking', async () => {
    const store = mkdtempSync(join(tmpdir(), 'deliver-corrupt-store-'));
    const file = `${APP}_0.3.0.release.tar.gz`;
    copyFileSync(join(rel.store, file), join(store, file));
    copyFileSync(join(rel.store, `${file}.sha256`), join(store, `${file}.sha256`));
    const bytes = readFileSync(join(store, file));
    const mid = Math.floor(bytes.length / 2);
    bytes[mid] = bytes[mid]! ^ 0xff;
    writeFileSync(join(store, file), bytes);
    const p = makeProject(bed, hosts(22, 22), store);
    const r = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.3.0');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`root@host22 [verify]`);
    expect(r.stderr).toContain(`checksum mismatch: expected ${rel.sha['0.3.0']}`);
    expect(activeVersion(p, p.hosts[0]!)).toBeUndefined();
    expect(installed(p, p.hosts[0]!)).toEqual([]);
    expect(leftovers(p, p.hosts[0]!)).toEqual([]);
  });

  it('Ctrl-C mid-deploy: exit 130, locks released, temp files gone, no host half-activated', async () => {
    // The hook marks that a host is mid-deploy (uploaded, verified, not unpacked) and keeps it there.
    const p = makeProject(bed, hosts(23, 30), rel.store, 'pre_extract_release_archive() {\n  if [ "$VERSION" = 0.2.0 ]; then touch "$DELIVER_TO/in-hook"; sleep 30; fi\n}\n');
    expect((await cli(bed, p, 'deploy', 'release', 'production', '--version=0.1.0')).code).toBe(0);
    const child = startCli(bed, p, ['deploy', 'release', 'production', '--version=0.2.0', '--concurrency=4']);
    const done = waitCli(child);
    await until(() => p.hosts.some((h) => existsSync(hostPath(p, h, 'in-hook'))), 60_000, 'a host inside the deploy');
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('SIGINT received');
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(r.ms).toBeLessThan(25_000);
    for (const h of p.hosts) {
      // The in-flight remote step (the hook's sleep) was stopped, not left running.
      expect(hostProcesses(bed, h, /sleep 30/)).toEqual([]);
      expect(leftovers(p, h)).toEqual([]);
      expect(activeVersion(p, h)).toBe('0.1.0');
      expect(readFileSync(hostPath(p, h, APP, '.deliver-sha256'), 'utf8').trim()).toBe(rel.sha['0.1.0']);
    }
  });

  it('Ctrl-C mid-upload (the tarball streaming into the lock command): exit 130, the remote receiver killed, nothing left', async () => {
    const p = makeProject(bed, hosts(31, 36), rel.store);
    expect((await cli(bed, p, 'deploy', 'release', 'production', '--version=0.1.0')).code).toBe(0);
    const child = startCli(bed, p, ['deploy', 'release', 'production', '--version=0.4.0']);
    const done = waitCli(child);
    const receiving = () =>
      p.hosts.some((h) =>
        safeSizes(hostPath(p, h, '.deliver', APP, 'incoming')).some((n) => n > 1024 * 1024),
      );
    await until(receiving, 60_000, 'an upload in flight');
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    for (const h of p.hosts) {
      expect(hostProcesses(bed, h, /^cat\s*$/)).toEqual([]);
      expect(leftovers(p, h)).toEqual([]);
      expect(activeVersion(p, h)).toBe('0.1.0');
    }
  });

  it('a plain deploy costs each host one SSH session: lock, state, upload, unpack, activate and unlock in one shell', async () => {
    const p = makeProject(bed, hosts(37, 37), rel.store);
    const h = p.hosts[0]!;
    const transport = new SshTransport({ sshConfigFile: join(bed.home, '.ssh', 'config') });
    try {
      const backend = (await transport.connect({ name: `root@${h.name}`, host: h.name, user: 'root' })) as SshBackend;
      const store = openStore(rel.store, { cwd: p.dir });
      const release = (await store.list(APP)).find((r) => r.version === '0.2.0')!;
      const source = await prepareSource(store, release);
      const warnings: string[] = [];
      const r = await deployHost(backend, {
        app: APP,
        env: 'production',
        version: '0.2.0',
        source,
        deliverTo: p.deliverTo,
        keepReleases: 5,
        startDeploy: false,
        cleanDeploy: false,
        links: {},
        hooks: new Map(),
        healthTimeoutMs: 30_000,
        startTimeoutMs: 30_000,
        lock: { waitMs: 0, ttlMs: 60_000 },
        command: 'deploy release',
        events: { warn: (m) => warnings.push(m) },
      });
      expect(r).toMatchObject({ version: '0.2.0', uploaded: true, started: false });
      expect(warnings).toEqual([]);
      expect(backend.connection.channels).toBe(1);
      expect(activeVersion(p, h)).toBe('0.2.0');
      expect(leftovers(p, h)).toEqual([]);
      expect(readFileSync(hostPath(p, h, APP, '.deliver-sha256'), 'utf8').trim()).toBe(rel.sha['0.2.0']);
    } finally {
      await transport.closeAll();
    }
  });

  it('a failed health check quoting a registered secret: the audit line on the host and every output mask it', async () => {
    // A token holding `"` and `\` (JSON escapes it), expanded into HEALTH_CHECK's command text from .deliver/.env.
    const token = 'hc-s3cr3t"to\\ken';
    const p = makeProject(bed, hosts(38, 38), rel.store, `HEALTH_CHECK_TIMEOUT=1\nSTART_TIMEOUT=20\nHEALTH_CHECK="test 'X-Token: $HEALTH_TOKEN' = healthy"\n`);
    writeFileSync(join(p.dir, '.deliver', '.env'), `HEALTH_TOKEN='${token}'\n`);
    started.push(p);
    const h = p.hosts[0]!;
    const r = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.1.0', '--start-deploy', '--json');
    expect(r.code).toBe(1);
    const audit = readFileSync(hostPath(p, h, '.deliver', APP, 'deploys.jsonl'), 'utf8');
    const last = audit.trim().split('\n').pop()!;
    expect(JSON.parse(last)).toMatchObject({ action: 'deploy', version: '0.1.0', result: 'failed', step: 'health' });
    expect(JSON.parse(last).error).toContain(`test 'X-Token: ***' = healthy`);
    const res = json<{ hosts: HostJson[] }>(r).hosts;
    expect(res[0]).toMatchObject({ status: 'failed', step: 'health' });
    expect(res[0]!.error).toContain(`test 'X-Token: ***' = healthy`);
    const shown = await cli(bed, p, 'show', 'deploys', 'production', '--json');
    for (const text of [audit, r.stdout, r.stderr, shown.stdout, shown.stderr]) expect(text).not.toContain('s3cr3t');
  });

  it('deploys to 40 hosts in one command over one connection each', async () => {
    const p = makeProject(bed, hosts(1, 40), rel.store);
    const logins = () => p.hosts.map((h) => (readFileSync(join(bed.dir, 'log', `${h.name}.log`), 'utf8').match(/Accepted publickey/g) ?? []).length);
    const before = logins();
    const r = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.2.0', '--concurrency=10', '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = json<{ hosts: HostJson[] }>(r).hosts;
    expect(res).toHaveLength(40);
    expect(res.every((h) => h.status === 'ok')).toBe(true);
    for (const h of p.hosts) expect(activeVersion(p, h)).toBe('0.2.0');
    // Every step of a host's deploy (lock, upload, unpack, activate, unlock) shares one SSH connection.
    const after = logins();
    expect(after.map((n, i) => n - before[i]!)).toEqual(Array(40).fill(1));
  }, 300_000);
});

describe('DELIVER_TO under the login home', () => {
  it('~/dir deploys into $HOME/dir on the host, never into a directory named ~', async () => {
    const p = makeProject(bed, hosts(7, 7), rel.store);
    const name = p.deliverTo.split('/').pop()!;
    writeFileSync(join(p.dir, '.deliver', 'config'), readFileSync(join(p.dir, '.deliver', 'config'), 'utf8').replace(/^DELIVER_TO=.*$/m, `DELIVER_TO="~/${name}"`));
    // The bed's hosts log in with HOME=/srv/home.
    const inHome: Project = { ...p, deliverTo: `/srv/home/${name}` };
    const r = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.1.0');
    expect(r.code, r.stderr).toBe(0);
    expect(activeVersion(inHome, p.hosts[0]!)).toBe('0.1.0');
    // Quoted, a literal `~/dir` lands in the login directory of the session: nothing may be there.
    expect(onHost(p.hosts[0]!.name, `ls -d ./'~' "$HOME"/'~' 2>/dev/null; true`)).toBe('');
    expect(leftovers(inHome, p.hosts[0]!)).toEqual([]);
  }, 180_000);
});

/** Sizes of the files in `dir` (none when it is missing; a file removed meanwhile is skipped). */
function safeSizes(dir: string): number[] {
  const out: number[] = [];
  try {
    for (const f of readdirSync(dir)) {
      try {
        out.push(statSync(join(dir, f)).size);
      } catch {
        // renamed or removed between readdir and stat
      }
    }
  } catch {
    // not created yet
  }
  return out;
}

// The test bed itself, checked with the system OpenSSH client: every host answers on its own address with its own
// host key, sees its own directory at /srv and its own epmd port; kill-host/start-host behave like a machine dying
// and coming back.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { beforeAll, describe, expect, it } from 'vitest';
import { alive, loadTestbed, requireCommand, sshExec, testbedCtl, type TestHost, type Testbed } from '../helpers/testbed.js';

let tb: Testbed;
let all: TestHost[];

beforeAll(() => {
  requireCommand('ssh');
  requireCommand('ssh-keyscan');
  tb = loadTestbed();
  all = [...tb.hosts, tb.build];
  if (tb.hosts.length < 2) throw new Error(`these tests need at least 2 target hosts; the bed has ${tb.hosts.length} (TESTBED_HOSTS)`);
});


async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('testbed.json', () => {
  it('names every host with its own address, directory and epmd port', () => {
    expect(tb.hosts.map((h) => h.name)).toEqual(tb.hosts.map((_, i) => `host${i + 1}`));
    expect(tb.hosts.map((h) => h.address)).toEqual(tb.hosts.map((_, i) => `${tb.net}.${i + 1}`));
    expect(tb.build).toMatchObject({ name: 'build', address: `${tb.net}.250`, port: 22 });
    expect(new Set(all.map((h) => h.epmdPort)).size).toBe(all.length);
    expect(new Set(all.map((h) => h.root)).size).toBe(all.length);
    for (const h of all) expect(existsSync(h.root), h.root).toBe(true);
    for (const f of [tb.identity, tb.knownHosts, tb.sshConfig]) expect(existsSync(f), f).toBe(true);
    expect(tb.identity).toBe(join(tb.home, '.ssh', 'id_ed25519'));
  });
});

describe('hosts', () => {
  it('answers on every host with ssh -F, each seeing its own /srv and epmd port', async () => {
    const token = `probe-${process.pid}-${Date.now()}`;
    for (const h of all) writeFileSync(join(h.root, `.${token}`), `${h.name}\n`);
    try {
      const limit = pLimit(8);
      const results = await Promise.all(
        all.map((h) =>
          limit(async () => ({
            h,
            res: await sshExec(tb, h.name, `echo "$TESTBED_HOST $ERL_EPMD_PORT"; cat /srv/.${token}; ls -a /srv | grep -c probe-`),
          })),
        ),
      );
      for (const { h, res } of results) {
        expect(res.code, `${h.name}: ${res.stderr}`).toBe(0);
        // Exactly one probe file: the host's own, not the machine's /srv or another host's directory.
        expect(res.stdout, h.name).toBe(`${h.name} ${h.epmdPort}\n${h.name}\n1\n`);
      }
    } finally {
      for (const h of all) rmSync(join(h.root, `.${token}`), { force: true });
    }
  });

  it("gives every session its own HOME inside the host's /srv and never runs this machine's shell start-up files", async () => {
    // Real servers do not share a home with the machine deliver runs on: a session that ran this machine's
    // ~/.bashrc (here a `pyenv init`, whose lock a killed host left held) would hang every other host's commands.
    const token = `home-${process.pid}-${Date.now()}`;
    const machineHome = userInfo().homedir; // the passwd entry's, whatever HOME this run has
    const hosts = [tb.hosts[0]!, tb.build];
    for (const h of hosts) {
      mkdirSync(join(h.root, 'home'), { recursive: true });
      writeFileSync(join(h.root, 'home', '.bashrc'), `export BED_RC=${h.name}\n`);
    }
    try {
      for (const h of hosts) {
        const res = await sshExec(tb, h.name, `echo "$HOME"; echo "\${BED_RC-none}"; echo "\${PYENV_ROOT-none}"; touch ~/.${token}`);
        expect(res.code, `${h.name}: ${res.stderr}`).toBe(0);
        // The bash start-up file that ran is the host's own (bash reads only one ~/.bashrc), not the machine's.
        expect(res.stdout, h.name).toBe(`/srv/home\n${h.name}\nnone\n`);
        expect(existsSync(join(h.root, 'home', `.${token}`)), `${h.name}: ~ is the host's own`).toBe(true);
        expect(existsSync(join(machineHome, `.${token}`)), `${h.name} wrote into this machine's ${machineHome}`).toBe(false);
      }
    } finally {
      for (const h of hosts) {
        rmSync(join(h.root, 'home', '.bashrc'), { force: true });
        rmSync(join(h.root, 'home', `.${token}`), { force: true });
      }
      rmSync(join(machineHome, `.${token}`), { force: true });
    }
  });

  it('gives every host its own host key, and known_hosts has it under both alias and address', async () => {
    const known = new Map<string, string>();
    for (const line of readFileSync(tb.knownHosts, 'utf8').split('\n').filter(Boolean)) {
      const [names, type, key] = line.split(' ');
      for (const n of names!.split(',')) known.set(n, `${type} ${key}`);
    }
    const keys = all.map((h) => known.get(h.name));
    expect(keys.every(Boolean)).toBe(true);
    expect(new Set(keys).size).toBe(all.length);
    for (const h of all) expect(known.get(h.address)).toBe(known.get(h.name));
    // What the servers actually present matches what known_hosts promises.
    for (const h of [tb.hosts[0]!, tb.hosts[1]!, tb.build]) {
      const scanned = execFileSync('ssh-keyscan', ['-t', 'ed25519', '-p', String(h.port), h.address], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      expect(scanned.trim().split(' ').slice(1).join(' '), h.name).toBe(known.get(h.name));
    }
  });
});

describe('BEAM nodes named alike on two hosts', () => {
  it('run the same mix release at once, each registered with its own epmd; kill-host kills the node', async () => {
    const [a, b] = [tb.hosts[0]!, tb.hosts[1]!];
    const src = `/srv/tb-demo-${process.pid}`;
    const built = await sshExec(
      tb,
      'build',
      `set -e; rm -rf ${src}; mkdir -p ${src}; cd ${src}; mix new demo --sup >/dev/null; cd demo; MIX_ENV=prod mix release --quiet >/dev/null`,
      180_000,
    );
    expect(built.code, built.stderr).toBe(0);
    const rel = join(tb.build.root, src.slice('/srv/'.length), 'demo/_build/prod/rel/demo');
    for (const h of [a, b]) cpSync(rel, join(h.root, 'tb-demo'), { recursive: true });
    const pids: number[] = [];
    try {
      for (const h of [a, b]) {
        const started = await sshExec(tb, h.name, '/srv/tb-demo/bin/demo daemon');
        expect(started.code, `${h.name}: ${started.stderr}`).toBe(0);
      }
      for (const h of [a, b]) {
        let out = '';
        await waitFor(`demo on ${h.name}`, async () => {
          const r = await sshExec(tb, h.name, `/srv/tb-demo/bin/demo rpc 'IO.puts(System.get_env("ERL_EPMD_PORT")); IO.puts(System.pid())'`);
          out = r.stdout;
          return r.code === 0;
        }, 30_000);
        const [port, pid] = out.trim().split('\n');
        expect(Number(port)).toBe(h.epmdPort);
        pids.push(Number(pid));
      }
      expect(pids[0]).not.toBe(pids[1]);
      expect(pids.every(alive)).toBe(true);

      await testbedCtl('kill-host', b.name);
      expect(alive(pids[1]!), 'the BEAM node of a killed host').toBe(false);
      expect(alive(pids[0]!), 'the BEAM node of another host').toBe(true);
      await testbedCtl('start-host', b.name);
      // The host is back, its node is not: nothing restarted it behind our back.
      const back = await sshExec(tb, b.name, '/srv/tb-demo/bin/demo pid');
      expect(back.code, back.stdout + back.stderr).not.toBe(0);
      expect(back.stdout + back.stderr).toMatch(/nodedown/);
    } finally {
      await sshExec(tb, a.name, '/srv/tb-demo/bin/demo stop');
      await testbedCtl('start-host', b.name);
      for (const h of [a, b]) rmSync(join(h.root, 'tb-demo'), { recursive: true, force: true });
      rmSync(join(tb.build.root, src.slice('/srv/'.length)), { recursive: true, force: true });
    }
    await waitFor('demo on host A to stop', () => !alive(pids[0]!));
  });
});

describe('kill-host / start-host', () => {
  it('cuts live sessions and detached processes, refuses new ones, then comes back with the same key', async () => {
    const h = tb.hosts[1]!;
    const detached = await sshExec(tb, h.name, 'nohup sleep 600 </dev/null >/dev/null 2>&1 & echo $!');
    const orphan = Number(detached.stdout.trim());
    expect(alive(orphan)).toBe(true);
    const session = sshExec(tb, h.name, 'echo started; sleep 600; echo finished', 60_000);
    await new Promise((r) => setTimeout(r, 800));

    await testbedCtl('kill-host', h.name);
    const cut = await session;
    expect(cut.code).toBe(255);
    expect(cut.stdout).not.toContain('finished');
    expect(alive(orphan)).toBe(false);
    const refused = await sshExec(tb, h.name, 'true');
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/refused/i);
    await expect(testbedCtl('status')).rejects.toThrow(new RegExp(`${h.name} +\\S+ down`));

    await testbedCtl('start-host', h.name);
    // StrictHostKeyChecking=yes in the bed's ssh config: this only succeeds with the same host key as before.
    const back = await sshExec(tb, h.name, 'echo "$TESTBED_HOST"');
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toBe(`${h.name}\n`);
    await testbedCtl('status');
  });
});

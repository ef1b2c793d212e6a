// `npm run demo` end to end: scripts/demo.sh starts its own bed (.demo/testbed on 127.0.9.x), builds the example
// app with real mix on the bed's build host, deploys and starts it on three hosts, and queries the nodes.
// The test ends with `scripts/demo.sh stop`, so it also stops a demo a developer left running (rerun it after).
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, repoRoot, type RunResult } from '../helpers/testbed.js';

const script = join(repoRoot, 'scripts', 'demo.sh');
const bedDir = join(repoRoot, '.demo', 'testbed');
const bedEnv = { TESTBED_DIR: bedDir, TESTBED_NET: '127.0.9', TESTBED_HOSTS: '3' };
const sshConfig = join(bedDir, 'home', '.ssh', 'config');
const hosts = ['host1', 'host2', 'host3'];

function demoEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const key of ['SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'FORCE_COLOR', 'CLICOLOR_FORCE', 'DEMO_DIR', 'DEMO_NET']) delete env[key];
  return { ...env, ...extra };
}

function runDemo(args: string[], timeoutMs: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout interrupts deliver and the testbed script too, like Ctrl-C would.
    const child = spawn('bash', [script, ...args], { cwd: repoRoot, env: demoEnv(extraEnv), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // already gone
      }
    };
    let killer: NodeJS.Timeout | undefined;
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[killed: scripts/demo.sh ${args.join(' ')} ran longer than ${timeoutMs} ms]\n`;
      signal('SIGINT');
      killer = setTimeout(() => signal('SIGKILL'), 10_000);
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${script}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

function bedStatus(): number | null {
  return spawnSync('bash', [join(repoRoot, 'scripts', 'testbed.sh'), 'status'], { env: { ...process.env, ...bedEnv }, stdio: 'ignore' }).status;
}

function onHost(host: string, command: string): string {
  const r = spawnSync('ssh', ['-F', sshConfig, host, command], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`ssh ${host} '${command}' exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}


const show = (r: RunResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

describe('npm run demo', () => {
  /** OS pids of the three nodes the demo started (the bed shares the machine's pid namespace). */
  const nodePids: number[] = [];

  afterAll(async () => {
    await runDemo(['stop'], 60_000); // also when a test failed half-way
  }, 90_000);

  it('stops with the failing step and its exit status when a deliver command fails', async () => {
    // The environment beats .deliver/config, so this points the build at a host no ssh config knows.
    const r = await runDemo([], 60_000, { BUILD_HOST: 'no-such-build-host.invalid' });
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toContain('$ deliver build release');
    expect(r.stderr).toContain('demo: step failed (exit 1): deliver build release');
    expect(r.stderr).toContain('no-such-build-host.invalid');
    // Nothing after the failing step ran.
    expect(r.stdout).not.toContain('$ deliver deploy');
    expect(r.stdout).not.toContain('Done.');
  }, 90_000);

  it('builds the example app, deploys it to three hosts, starts and queries it', async () => {
    const r = await runDemo([], 130_000);
    expect(r.code, show(r)).toBe(0);
    const out = r.stdout;

    const built = /^built hello (0\.1\.0\+([0-9a-f]{7})) → /m.exec(out);
    expect(built, show(r)).not.toBeNull();
    const version = built![1]!;
    const revision = built![2]!;
    const v = version.replace('+', '\\+'); // as a regular expression

    // Every step is echoed before it runs, in this order.
    const steps = [
      '$ deliver check production',
      '$ deliver build release',
      '$ deliver show releases',
      `$ deliver deploy release to production --version=${version} --start-deploy`,
      '$ deliver ping production',
      '$ deliver version production',
      "$ deliver rpc production 'IO.puts(Hello.status())'",
      '$ deliver show deploys production',
    ];
    let at = -1;
    for (const step of steps) {
      const i = out.indexOf(`\n${step}\n`);
      expect(i, `${step} missing or out of order\n${show(r)}`).toBeGreaterThan(at);
      at = i;
    }

    expect(out).toContain('configuration is valid');
    expect(out).toMatch(new RegExp(`^hello +${v} +${revision} +release `, 'm'));
    expect(out).toContain(`deploy ${version}: 3 of 3 host(s) ok`);
    for (const h of hosts) {
      expect(out).toMatch(new RegExp(`^root@${h}: pong$`, 'm'));
      expect(out).toMatch(new RegExp(`^root@${h}: ${v}$`, 'm'));
      expect(out).toMatch(new RegExp(`^root@${h}: hello@\\S+ runs ${v}, counter at \\d+$`, 'm'));
      expect(out).toMatch(new RegExp(`root@${h} +deploy +${v} .* ok `, 'm'));
      // Seen from the host itself: the app symlink points at the new release and its node runs.
      expect(onHost(h, 'readlink /srv/app/hello')).toBe(`.deliver/hello/releases/${version}`);
      const pid = onHost(h, '/srv/app/hello/bin/hello pid');
      expect(pid).toMatch(/^\d+$/);
      nodePids.push(Number(pid));
    }
    expect(out).toContain('scripts/demo.sh stop');
    expect(r.stderr).not.toMatch(/demo: |internal error|\n\s+at /);
  }, 150_000);

  it('`scripts/demo.sh stop` stops the hosts and their nodes', async () => {
    expect(nodePids, 'the demo run above did not leave three nodes to stop').toHaveLength(3);
    const r = await runDemo(['stop'], 60_000);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('testbed: stopped 4 hosts');
    expect(bedStatus()).toBe(3);
    // A node killed a moment ago may still be a zombie until its parent reaps it: that one is gone too.
    for (const pid of nodePids) expect(alive(pid), `node pid ${pid} survived the stop`).toBe(false);
  }, 90_000);
});

// Clear errors of `deliver build release` (no successful builds here, so this file is fast), and --dry-run.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bed, createMixFixture, createPlainFixture, deliver, writeDeliverConfig, type Fixture } from '../helpers/fixtures.js';

let mix: Fixture;

beforeAll(() => {
  bed();
  mix = createMixFixture('demo');
  writeDeliverConfig(mix, { app: 'demo', buildHost: 'build', buildUser: 'root', buildAt: '/srv/builds/build-errors-test' });
});

function noStackTrace(stderr: string): void {
  expect(stderr).not.toMatch(/\n\s+at .*:\d+:\d+/);
  expect(stderr).not.toContain('internal error');
}

describe('build release errors', () => {
  it('an unknown branch is a usage error naming it and listing the branches', async () => {
    const r = await deliver(mix.dir, ['build', 'release', '--branch', 'no-such-branch']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown branch "no-such-branch"');
    expect(r.stderr).toContain('local branches: main');
    noStackTrace(r.stderr);
  });

  it('an unknown tag or revision is a usage error', async () => {
    const t = await deliver(mix.dir, ['build', 'release', '--tag', 'v9.9.9']);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('unknown tag "v9.9.9"');
    const v = await deliver(mix.dir, ['build', 'release', '--revision', 'deadbeef']);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain('unknown revision "deadbeef"');
  });

  it('bad version options are usage errors', async () => {
    const a = await deliver(mix.dir, ['build', 'release', '--auto-version=revision+nonsense']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--auto-version: unknown auto-version item "nonsense"');
    const i = await deliver(mix.dir, ['build', 'release', '--increment-version=micro']);
    expect(i.code).toBe(2);
    const s = await deliver(mix.dir, ['build', 'release', '--set-version=1.0;reboot']);
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('--set-version: invalid version');
  });

  it('an unreachable build host fails with exit 1 naming the host', async () => {
    const b = bed();
    const other: Fixture = { ...mix };
    writeDeliverConfig(other, { app: 'demo', buildHost: `${b.net}.249`, buildUser: 'root', buildAt: '/srv/builds/x' });
    try {
      const r = await deliver(mix.dir, ['build', 'release']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`root@${b.net}.249`);
      expect(r.stderr).toMatch(/cannot connect|refused|unreachable|timed out/i);
      noStackTrace(r.stderr);
    } finally {
      writeDeliverConfig(mix, { app: 'demo', buildHost: 'build', buildUser: 'root', buildAt: '/srv/builds/build-errors-test' });
    }
  });

  it('a project with no release tool gets a clear error before connecting', async () => {
    const plain = createPlainFixture();
    writeDeliverConfig(plain, { app: 'plain', buildHost: 'build', buildUser: 'root', buildAt: '/srv/builds/plain' });
    const r = await deliver(plain.dir, ['build', 'release']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no release tool found in the project');
    expect(r.stdout).not.toContain('prepare');
    noStackTrace(r.stderr);
  });

  it('a directory that is not a git repository is a usage error', async () => {
    const plain = createPlainFixture();
    const sub = join(plain.dir, '..');
    writeDeliverConfig({ ...plain, dir: sub }, { app: 'plain', buildHost: 'build', buildUser: 'root', buildAt: '/srv/builds/plain' });
    const r = await deliver(sub, ['build', 'release']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is not inside a git repository');
  });

  it('--dry-run prints the plan (--verbose: every step command for the build host) and runs nothing', async () => {
    const buildAt = `/srv/builds/dry-run-${process.pid}-${Date.now()}`;
    writeDeliverConfig(mix, { app: 'demo', buildHost: 'build', buildUser: 'root', buildAt });
    const r = await deliver(mix.dir, ['build', 'release', '--dry-run', '--verbose', '--set-version=2.0.0']);
    writeDeliverConfig(mix, { app: 'demo', buildHost: 'build', buildUser: 'root', buildAt: '/srv/builds/build-errors-test' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Dry run: build release demo 2.0.0');
    expect(r.stdout).toMatch(/^ {3}1\. prepare .* on root@build: /m);
    expect(r.stdout).toContain("command -v git");
    expect(r.stdout).toContain(`git push --force --tags --quiet -- ssh://root@build${buildAt}`);
    expect(r.stdout).toMatch(/^ {2}11\. remove demo_2\.0\.0\.release\.tar\.gz from root@build: /m);
    expect(r.stdout).toContain('Dry run: nothing was changed on any host.');
    expect(r.stdout).toContain('cat > mix.exs');
    expect(r.stdout).toContain('MIX_ENV=prod mix deps.get --only prod');
    expect(r.stdout).toContain('MIX_ENV=prod mix compile');
    expect(r.stdout).toContain('MIX_ENV=prod mix release --overwrite');
    expect(r.stdout).toContain(`tar -czf ${buildAt}/_build/deliver/demo_2.0.0.release.tar.gz.partial -C _build/prod/rel/demo .`);
    // --verbose: one statement per line, loops and fallbacks indented.
    expect(r.stdout).toMatch(/^ {6}  command -v git >\/dev\/null 2>&1 \|\|$/m);
    expect(r.stdout).toMatch(/^ +for v in _build\/prod\/rel\/demo\/releases\/\*\/; do$/m);
    expect(existsSync(join(bed().build.root, buildAt.replace('/srv/', '')))).toBe(false);
    expect(existsSync(join(mix.dir, '.deliver/releases/demo_2.0.0.release.tar.gz'))).toBe(false);
    expect(readFileSync(join(mix.dir, 'mix.exs'), 'utf8')).toContain('version: "0.1.0"');
  });

  it('forwards the local ssh-agent to the build host (private git deps), and a hook can stop the build early', async () => {
    const b = bed();
    const sock = join(mkdtempSync(join(tmpdir(), 'deliver-agent-')), 'agent.sock');
    const agent = execFileSync('ssh-agent', ['-a', sock, '-s'], { encoding: 'utf8' });
    const pid = /SSH_AGENT_PID=(\d+)/.exec(agent)?.[1];
    expect(pid, 'ssh-agent did not start').toBeDefined();
    const check = `/srv/agent-check-${process.pid}.txt`;
    try {
      execFileSync('ssh-add', [join(b.home, '.ssh', 'id_ed25519')], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      writeDeliverConfig(mix, {
        app: 'demo', buildHost: 'build', buildUser: 'root', buildAt: '/srv/builds/build-errors-test',
        extra: `post_git_push() {\n  __sync_remote "ssh-add -l > ${check} 2>&1"\n  error "agent checked, stopping"\n}\n`,
      });
      const r = await deliver(mix.dir, ['build', 'release', '--set-version=3.0.0'], { SSH_AUTH_SOCK: sock });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('hook post_git_push (');
      expect(r.stderr).toContain('agent checked, stopping');
      expect(readFileSync(join(b.build.root, check.replace('/srv/', '')), 'utf8')).toContain('deliver-testbed-client');
    } finally {
      process.kill(Number(pid), 'SIGTERM');
      rmSync(join(b.build.root, check.replace('/srv/', '')), { force: true });
      writeDeliverConfig(mix, { app: 'demo', buildHost: 'build', buildUser: 'root', buildAt: '/srv/builds/build-errors-test' });
    }
  });
});

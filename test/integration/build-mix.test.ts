// `deliver build release` / `show releases` on the bed's real build host with a stock `mix new demo --sup` app.
// One fixture for the whole file: every build reuses the same build directory (as real projects do).
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareVersions } from '../../src/store/versions.js';
import { cliEnv, loadTestbed, repoRoot } from '../helpers/testbed.js';
import { bed, commitFile, createMixFixture, deliver, git, onHost, spareEpmdPort, writeDeliverConfig, type Fixture } from '../helpers/fixtures.js';

// edeliver's README hook, unchanged (only the function is what the README shows).
const README_HOOK = `pre_erlang_get_and_update_deps() {
  local _prod_secret_path="/home/builder/prod.secret.exs"
  if [ "$TARGET_MIX_ENV" = "prod" ]; then
    __sync_remote "
      ln -sfn '$_prod_secret_path' '$BUILD_AT/config/prod.secret.exs'
    "
  fi
}`;

const BUILD_AT = '/srv/builds/build-mix-test';
let fx: Fixture;
let configSha: string;

function storeFile(file: string): string {
  return join(fx.dir, '.deliver/releases', file);
}

function tarEntries(file: string): string[] {
  return execFileSync('tar', ['-tzf', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).split('\n').filter((e) => e !== '');
}

/** Unpacks a release tarball here and asks its own script for the version (no node started). */
function versionInside(file: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'deliver-unpack-'));
  execFileSync('tar', ['-xzf', file, '-C', dir]);
  return execFileSync(join(dir, 'bin', 'demo'), ['version'], { encoding: 'utf8' }).trim();
}

function buildDirOnHost(...parts: string[]): string {
  return join(bed().build.root, BUILD_AT.replace(/^\/srv\//, ''), ...parts);
}

function config(extra = README_HOOK): void {
  writeDeliverConfig(fx, { app: 'demo', buildHost: 'build', buildUser: 'root', buildAt: BUILD_AT, extra });
}

beforeAll(() => {
  bed(); // fails clearly when the bed is not running
  fx = createMixFixture('demo');
  // mix new has no config/ (Phoenix apps do); the README hook links a file into it.
  configSha = commitFile(fx, 'config/config.exs', 'import Config\n', 'add config');
  config();
});

afterAll(() => {
  try {
    const port = spareEpmdPort(1);
    onHost('host1', `cd /srv/build-mix-test 2>/dev/null && ERL_EPMD_PORT=${port} bin/demo stop >/dev/null 2>&1; rm -rf /srv/build-mix-test; epmd -port ${port} -kill >/dev/null 2>&1; true`);
  } catch {
    // the node was never started
  }
});

describe('build release (mix)', () => {
  it('builds the current branch into the store; the README hook ran on the build host; the tarball is a runnable release root', async () => {
    const r = await deliver(fx.dir, ['build', 'release', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { app: string; version: string; file: string; sha256: string; size: number; revision: string; branch: string };
    expect(res).toMatchObject({ app: 'demo', version: '0.1.0', file: 'demo_0.1.0.release.tar.gz', revision: configSha, branch: 'main' });
    const file = storeFile(res.file);
    const bytes = readFileSync(file);
    expect(res.size).toBe(bytes.length);
    expect(res.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(readFileSync(`${file}.sha256`, 'utf8')).toContain(res.sha256);

    // The hook's symlink exists on the build host, pointing where the README says.
    const link = buildDirOnHost('config', 'prod.secret.exs');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe('/home/builder/prod.secret.exs');

    // Release root, no leading demo/ directory.
    const entries = tarEntries(file);
    expect(entries).toContain('./bin/demo');
    expect(entries).toContain('./releases/0.1.0/');
    expect(entries.some((e) => /^\.\/erts-[\d.]+\/$/.test(e))).toBe(true);
    expect(entries.some((e) => e.startsWith('demo/') || e.startsWith('./demo/'))).toBe(false);

    // Unpack on a bed host: starts as a daemon, answers, stops.
    const env = `ERL_EPMD_PORT=${spareEpmdPort(1)}`;
    onHost('host1', 'rm -rf /srv/build-mix-test && mkdir -p /srv/build-mix-test && tar -xzf - -C /srv/build-mix-test', bytes);
    onHost('host1', `cd /srv/build-mix-test && ${env} bin/demo daemon`);
    let pid = '';
    for (let i = 0; i < 40 && !/^\d+$/.test(pid); i++) {
      try {
        pid = onHost('host1', `cd /srv/build-mix-test && ${env} bin/demo pid`).trim();
      } catch {
        await new Promise((res) => setTimeout(res, 250));
      }
    }
    expect(pid).toMatch(/^\d+$/);
    expect(onHost('host1', `cd /srv/build-mix-test && ${env} bin/demo rpc 'IO.puts(Application.started_applications() |> Enum.any?(fn {a, _, _} -> a == :demo end))'`).trim()).toBe('true');
    expect(onHost('host1', `cd /srv/build-mix-test && ${env} bin/demo version`).trim()).toBe('demo 0.1.0');
    onHost('host1', `cd /srv/build-mix-test && ${env} bin/demo stop`);
    let after = '';
    for (let i = 0; i < 40 && !after.includes('nodedown'); i++) {
      after = onHost('host1', `cd /srv/build-mix-test && ${env} bin/demo rpc 'IO.puts(:up)' 2>&1; true`);
      if (!after.includes('nodedown')) await new Promise((res) => setTimeout(res, 250));
    }
    expect(after).toContain('nodedown');
  });

  it('builds an unpushed branch with --increment-version and --auto-version; uncommitted changes are left out with a warning', async () => {
    git(fx.dir, 'checkout', '-q', '-b', 'feature/x');
    const sha = commitFile(fx, 'lib/extra.ex', 'defmodule Extra do\n  def hello, do: :committed\nend\n', 'unpushed commit');
    writeFileSync(join(fx.dir, 'lib/extra.ex'), 'defmodule Extra do\n  def hello, do: :uncommitted\nend\n');
    try {
      const r = await deliver(fx.dir, ['build', 'release', '--branch', 'feature/x', '--increment-version=minor', '--auto-version=revision+branch']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/uncommitted change\(s\) .* are NOT part of this build/);
      const version = `0.2.0+${sha.slice(0, 7)}-feature-x`;
      const file = storeFile(`demo_${version}.release.tar.gz`);
      expect(existsSync(file)).toBe(true);
      expect(versionInside(file)).toBe(`demo ${version}`);
      expect(tarEntries(file)).toContain(`./releases/${version}/`);
      // The build host built exactly that commit, as committed.
      expect(execFileSync('git', ['-C', buildDirOnHost(), 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()).toBe(sha);
      expect(readFileSync(buildDirOnHost('lib', 'extra.ex'), 'utf8')).toContain(':committed');
      expect(r.stdout).toMatch(/built demo 0\.2\.0\+/);
    } finally {
      git(fx.dir, 'checkout', '-q', '--', 'lib/extra.ex');
      git(fx.dir, 'checkout', '-q', 'main');
    }
  });

  it('--tag builds the tagged commit, not the branch head; --set-version names it; the build directory is reused', async () => {
    // main moves on; the tag stays on the older commit (the README hook needs config/, present in both).
    commitFile(fx, 'README.md', '# demo\n\nnew docs\n', 'docs');
    git(fx.dir, 'tag', 'v1.9.0', configSha);
    const marker = buildDirOnHost('.git', 'deliver-test-marker');
    writeFileSync(marker, 'kept between builds\n');
    const t = await deliver(fx.dir, ['build', 'release', '--tag', 'v1.9.0', '--set-version=1.9.0']);
    expect(t.code, t.stderr).toBe(0);
    expect(execFileSync('git', ['-C', buildDirOnHost(), 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()).toBe(configSha);
    expect(tarEntries(storeFile('demo_1.9.0.release.tar.gz'))).toContain('./releases/1.9.0/');
    expect(existsSync(marker)).toBe(true); // same repository, not re-created
  });

  it('--revision builds that commit; --skip-git-clean reuses the previous build directory as it is', async () => {
    const headSha = git(fx.dir, 'rev-parse', 'main');
    const marker = buildDirOnHost('.git', 'deliver-test-marker');
    // --skip-git-clean: an incremental build on top of the previous one's _build.
    const v = await deliver(fx.dir, ['build', 'release', '--revision', headSha.slice(0, 10), '--set-version', '1.10.0', '--skip-git-clean']);
    expect(v.code, v.stderr).toBe(0);
    expect(execFileSync('git', ['-C', buildDirOnHost(), 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()).toBe(headSha);
    expect(versionInside(storeFile('demo_1.10.0.release.tar.gz'))).toBe('demo 1.10.0');
    expect(existsSync(marker)).toBe(true);
    expect(v.stdout).toMatch(/check out [0-9a-f]{7} \(/); // not "(clean)"
    expect(v.stdout).not.toContain('(clean)');
  });

  it('show releases lists every build in version order (1.10.0 after 1.9.0), with the revision from the version', async () => {
    const j = await deliver(fx.dir, ['show', 'releases', '--json']);
    expect(j.code, j.stderr).toBe(0);
    const rows = (JSON.parse(j.stdout) as { releases: { version: string; revision?: string; type: string; size: number }[] }).releases;
    const versions = rows.map((r) => r.version);
    expect(versions).toHaveLength(4);
    expect(versions[0]).toBe('0.1.0');
    expect(versions[1]).toMatch(/^0\.2\.0\+[0-9a-f]{7}-feature-x$/);
    expect(versions.slice(2)).toEqual(['1.9.0', '1.10.0']);
    expect(rows[1]?.revision).toBe(versions[1]?.slice(6, 13));
    expect(rows.every((r) => r.type === 'release' && r.size > 1_000_000)).toBe(true);

    const h = await deliver(fx.dir, ['show', 'releases']);
    expect(h.code).toBe(0);
    const lines = h.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Application\s+Version\s+Revision\s+Type\s+Size\s+Built$/);
    expect(lines.findIndex((l) => /\b1\.9\.0\b/.test(l))).toBeLessThan(lines.findIndex((l) => /\b1\.10\.0\b/.test(l)));
  });

  it('refuses to replace a stored version without --force, before any remote work', async () => {
    const before = readFileSync(storeFile('demo_1.9.0.release.tar.gz'));
    const r = await deliver(fx.dir, ['build', 'release', '--tag', 'v1.9.0', '--set-version=1.9.0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('already has demo_1.9.0.release.tar.gz');
    expect(r.stderr).toContain('--force');
    expect(r.stdout).not.toContain('push');
    expect(readFileSync(storeFile('demo_1.9.0.release.tar.gz')).equals(before)).toBe(true);
  });

  it('a compile error names the step, the command and the output tail, exits 1, and stores nothing', async () => {
    git(fx.dir, 'checkout', '-q', '-b', 'broken');
    commitFile(fx, 'lib/broken.ex', 'defmodule Broken do\n  def x( do\nend\n', 'broken code');
    git(fx.dir, 'checkout', '-q', 'main');
    const r = await deliver(fx.dir, ['build', 'release', '--branch=broken', '--set-version=0.9.0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('root@build: build step "clean and compile" failed (exit status 1)');
    expect(r.stderr).toContain('MIX_ENV=prod mix compile');
    expect(r.stderr).toMatch(/last \d+ lines of output/);
    expect(r.stderr).toContain('lib/broken.ex');
    expect(r.stderr).not.toMatch(/\n\s+at .*\.js:\d+/); // no stack trace
    expect(existsSync(storeFile('demo_0.9.0.release.tar.gz'))).toBe(false);
  });

  it('a failing hook stops the build and is named with its file:line', async () => {
    config(`${README_HOOK}

pre_erlang_clean_compile() {
  __sync_remote "
    echo 'checking assets' && test -f does-not-exist
  "
}`);
    try {
      const r = await deliver(fx.dir, ['build', 'release', '--set-version=0.9.1']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/hook pre_erlang_clean_compile \(.*config:\d+\) failed with exit status 1; the build stopped/);
      expect(r.stderr).toContain('checking assets');
      expect(r.stdout).not.toContain('clean and compile');
      expect(existsSync(storeFile('demo_0.9.1.release.tar.gz'))).toBe(false);
    } finally {
      config();
    }
  });

  it('Ctrl-C stops the build with exit 130 and leaves nothing in the store', async () => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'deliver'), 'build', 'release', '--set-version=0.9.2'], {
      cwd: fx.dir,
      env: cliEnv(loadTestbed()),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let sent = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!sent && out.includes('fetch dependencies')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    expect(sent, out + err).toBe(true);
    expect(code).toBe(130);
    expect(err).not.toMatch(/\n\s+at .*:\d+:\d+/);
    expect(existsSync(storeFile('demo_0.9.2.release.tar.gz'))).toBe(false);
  });

  it('two builds of one base version (AUTO_VERSION=git-revision): --version=latest deploys the one built last', async () => {
    // The README's everyday path: edit, commit, build, deploy --version=latest. Both builds are 0.1.0+<revision>.
    const deliverTo = '/srv/build-mix-latest';
    const store = mkdtempSync(join(tmpdir(), 'deliver-latest-store-')); // only these two builds
    config(`${README_HOOK}\nAUTO_VERSION=git-revision\nRELEASE_STORE="${store}"\nPRODUCTION_HOSTS="host2"\nPRODUCTION_USER="root"\nDELIVER_TO="${deliverTo}"\n`);
    const host2Dir = join(bed().hosts.find((h) => h.name === 'host2')!.root, deliverTo.slice('/srv/'.length));
    try {
      const built: string[] = [];
      for (let i = 0; i < 2; i++) {
        if (i === 1) {
          // A revision whose hash sorts before the first one's, as it does about half the time by chance.
          for (let n = 0; ; n++) {
            const sha = commitFile(fx, 'lib/edit.ex', `defmodule Edit do\n  def n, do: ${n}\nend\n`, `edit ${n}`);
            if (compareVersions(`0.1.0+${sha.slice(0, 7)}`, built[0]!) < 0) break;
          }
        }
        const r = await deliver(fx.dir, ['build', 'release', '--json']);
        expect(r.code, r.stderr).toBe(0);
        built.push((JSON.parse(r.stdout) as { version: string }).version);
      }
      expect(built[1]).toMatch(/^0\.1\.0\+[0-9a-f]{7}$/);
      expect(compareVersions(built[1]!, built[0]!)).toBeLessThan(0);

      const d = await deliver(fx.dir, ['deploy', 'release', 'to', 'production', '--version=latest']);
      expect(d.code, d.stderr).toBe(0);
      expect(readlinkSync(join(host2Dir, 'demo')).split('/').pop()).toBe(built[1]);

      const j = await deliver(fx.dir, ['show', 'releases', '--json']);
      const versions = (JSON.parse(j.stdout) as { releases: { version: string }[] }).releases.map((r) => r.version);
      expect(versions).toEqual(built);
    } finally {
      config();
      rmSync(host2Dir, { recursive: true, force: true });
      rmSync(store, { recursive: true, force: true });
    }
  });

  it('when the release is not where expected, the error lists the releases found on the build host', async () => {
    config(`${README_HOOK}\nRELEASE_DIR="_build/prod/rel/elsewhere"\n`);
    try {
      const r = await deliver(fx.dir, ['build', 'release', '--set-version=0.9.3']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`root@build: no release found at ${BUILD_AT}/_build/prod/rel/elsewhere`);
      expect(r.stderr).toContain(`releases found on the build host:\n  ${BUILD_AT}/_build/prod/rel/demo`);
      expect(r.stderr).toMatch(/hint: .*RELEASE_DIR/);
      expect(existsSync(storeFile('demo_0.9.3.release.tar.gz'))).toBe(false);
    } finally {
      config();
    }
  });
});

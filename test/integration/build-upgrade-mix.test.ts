// `deliver build upgrade` / `build appups` for a `mix release` app with a gen_server counter, built on the bed's real
// build host; the upgrade tarball is then installed by release_handler in a running node of the old release
// (unpacked here on the test machine, same OTP), which must keep its OS pid and its counter.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bed, commitFile, createMixFixture, deliver, git, spareEpmdPort, writeDeliverConfig, type Fixture } from '../helpers/fixtures.js';
import { elixirCounter } from '../helpers/counter-apps.js';

const BUILD_AT = '/srv/builds/build-upgrade-mix';
let fx: Fixture;
let node: { dir: string; env: NodeJS.ProcessEnv } | undefined;

const counter = (step: number) => elixirCounter('Demo.Counter', step);

/** mix release starts sasl by default; `sasl = false` sets `sasl: :none`, which takes it out of the release's started applications. */
function setVersion(version: string, sasl = true): void {
  const mixExs = readFileSync(join(fx.dir, 'mix.exs'), 'utf8')
    .replace(/version: "[^"]*",(\n\s*releases: .*)?/, `version: "${version}",${sasl ? '' : '\n      releases: [demo: [applications: [sasl: :none]]],'}`);
  commitFile(fx, 'mix.exs', mixExs, `version ${version}`);
}

function store(file: string): string {
  return join(fx.dir, '.deliver/releases', file);
}

function tarEntries(file: string): string[] {
  return execFileSync('tar', ['-tzf', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).split('\n').filter((e) => e !== '');
}

/** `bin/demo rpc EXPR` in the local node started from the old release. */
function rpc(expr: string): string {
  if (!node) throw new Error('no node');
  return execFileSync(join(node.dir, 'bin/demo'), ['rpc', expr], { env: node.env, encoding: 'utf8', timeout: 60_000 }).trim();
}

beforeAll(() => {
  bed();
  fx = createMixFixture('demo');
  commitFile(fx, 'lib/demo/counter.ex', counter(1), 'counter');
  const appEx = readFileSync(join(fx.dir, 'lib/demo/application.ex'), 'utf8').replace('children = [', 'children = [Demo.Counter');
  commitFile(fx, 'lib/demo/application.ex', appEx, 'start the counter');
  writeDeliverConfig(fx, { app: 'demo', buildHost: 'build', buildUser: 'root', buildAt: BUILD_AT });
});

afterAll(async () => {
  if (node) {
    try {
      execFileSync(join(node.dir, 'bin/demo'), ['stop'], { env: node.env, stdio: 'ignore', timeout: 30_000 });
    } catch {
      // already stopped
    }
    // mix's stop returns at once; epmd refuses -kill while the node is still registered.
    for (let i = 0; i < 50 && safeRpc('IO.puts(:ok)') === 'ok'; i++) await new Promise((res) => setTimeout(res, 200));
    // The node's epmd (it started one on its port); gone already when the node took it down.
    spawnSync('epmd', ['-port', String(node.env.ERL_EPMD_PORT), '-kill'], { stdio: 'ignore' });
  }
});

describe('build upgrade (mix release)', () => {
  it('neither --from nor --with: exit 2 with a hint, before anything is built', async () => {
    const r = await deliver(fx.dir, ['build', 'upgrade']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('build upgrade needs the release to upgrade from');
    expect(r.stderr).toContain('hint: --from=REF builds it from that git ref');
  });

  it('a release without sasl is refused with the mix.exs line to add', async () => {
    setVersion('0.0.1', false);
    git(fx.dir, 'tag', 'v0.0.1');
    setVersion('0.0.2', false);
    const r = await deliver(fx.dir, ['build', 'upgrade', '--from=v0.0.1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('has no sasl, so no release_handler to install upgrades with');
    expect(r.stderr).toContain('releases: [demo: [applications: [sasl: :permanent]]]');
  });

  it('--from=TAG: builds 0.1.0 from the tag and 0.2.0 from HEAD, generates the appup, stores the upgrade; it hot-upgrades a running 0.1.0 node', async () => {
    setVersion('0.1.0');
    git(fx.dir, 'tag', 'v0.1.0');
    setVersion('0.2.0');
    commitFile(fx, 'lib/demo/counter.ex', counter(10), 'counter counts in tens');
    commitFile(fx, 'lib/demo/greeting.ex', 'defmodule Demo.Greeting do\n  def hello, do: :hello_from_0_2_0\nend\n', 'a new module');

    const r = await deliver(fx.dir, ['build', 'upgrade', '--from=v0.1.0', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { from: string; to: string; file: string; sha256: string; appups: { app: string; source: string }[] };
    expect(res).toMatchObject({ from: '0.1.0', to: '0.2.0', file: 'demo_0.2.0.upgrade.tar.gz' });
    expect(res.appups).toEqual([{ app: 'demo', from: '0.1.0', to: '0.2.0', source: 'generated' }]);
    for (const f of ['demo_0.1.0.release.tar.gz', 'demo_0.2.0.release.tar.gz', 'demo_0.2.0.upgrade.tar.gz']) expect(existsSync(store(f))).toBe(true);
    expect(readFileSync(store('demo_0.2.0.upgrade.tar.gz.sha256'), 'utf8')).toContain(res.sha256);
    const entries = tarEntries(store('demo_0.2.0.upgrade.tar.gz'));
    expect(entries).toEqual(expect.arrayContaining(['releases/0.2.0/relup', 'releases/demo-0.2.0.rel', 'releases/0.2.0/demo.rel', 'lib/demo-0.2.0/ebin/demo.appup']));
    expect(entries.some((e) => e.startsWith('bin/') || e.startsWith('erts-'))).toBe(false);

    const shown = await deliver(fx.dir, ['show', 'releases']);
    expect(shown.stdout).toMatch(/demo +0\.2\.0 .*upgrade .*from 0\.1\.0/);
    const relup = await deliver(fx.dir, ['show', 'relup', '0.2.0']);
    expect(relup.code).toBe(0);
    expect(relup.stdout).toContain('0.1.0 → 0.2.0 (upgrade');
    expect(relup.stdout).toContain('load Elixir.Demo.Greeting');
    expect(relup.stdout).toContain('code_change up: Elixir.Demo.Counter');

    // A real node of 0.1.0, then release_handler's calls as the deploy step will make them.
    const dir = mkdtempSync(join(tmpdir(), 'deliver-upgrade-node-'));
    execFileSync('tar', ['-xzf', store('demo_0.1.0.release.tar.gz'), '-C', dir]);
    const port = spareEpmdPort(7);
    node = { dir, env: { ...process.env, ERL_EPMD_PORT: String(port), RELEASE_DISTRIBUTION: 'name', RELEASE_NODE: `upgrade_mix@127.0.0.1`, RELEASE_COOKIE: 'upgradetest' } };
    execFileSync(join(dir, 'bin/demo'), ['daemon'], { env: node.env, stdio: 'ignore' });
    for (let i = 0; i < 50 && !/^\d+$/.test(safeRpc('IO.puts(:os.getpid())')); i++) await new Promise((res) => setTimeout(res, 200));
    const pid = rpc('IO.puts(:os.getpid())');
    expect(rpc('IO.puts(Demo.Counter.bump())')).toBe('1');
    writeFileSync(join(dir, 'releases/demo-0.2.0.tar.gz'), readFileSync(store('demo_0.2.0.upgrade.tar.gz')));
    const out = rpc(`
      root = List.to_string(:code.root_dir())
      rel = Path.join(root, "releases")
      :ok = :release_handler.create_RELEASES(root, rel, Path.join([rel, "0.1.0", "demo.rel"]), [])
      {:ok, ~c"0.2.0"} = :release_handler.unpack_release(~c"demo-0.2.0")
      {:ok, ~c"0.1.0", _} = :release_handler.install_release(~c"0.2.0")
      :ok = :release_handler.make_permanent(~c"0.2.0")
      IO.puts("installed")`);
    expect(out).toBe('installed');
    expect(rpc('IO.puts(:os.getpid())')).toBe(pid);
    expect(rpc('IO.puts(Demo.Counter.bump())')).toBe('11');
    expect(rpc('IO.puts(Demo.Greeting.hello())')).toBe('hello_from_0_2_0');
    expect(readFileSync(join(dir, 'releases/start_erl.data'), 'utf8')).toMatch(/ 0\.2\.0$/);

    // A restart afterwards boots 0.2.0 (release_handler made it permanent in start_erl.data, which bin/demo reads).
    execFileSync(join(dir, 'bin/demo'), ['stop'], { env: node.env, stdio: 'ignore' });
    for (let i = 0; i < 50 && safeRpc('IO.puts(:ok)') === 'ok'; i++) await new Promise((res) => setTimeout(res, 200));
    execFileSync(join(dir, 'bin/demo'), ['daemon'], { env: node.env, stdio: 'ignore' });
    for (let i = 0; i < 50 && !/^\d+$/.test(safeRpc('IO.puts(:os.getpid())')); i++) await new Promise((res) => setTimeout(res, 200));
    expect(rpc('IO.puts(Application.spec(:demo, :vsn))')).toBe('0.2.0');
    expect(rpc('IO.puts(Demo.Counter.bump())')).toBe('10');
  });

  it('build appups --with stores the appups; an edited copy is what the next build upgrade of that pair uses', async () => {
    setVersion('0.3.0');
    commitFile(fx, 'lib/demo/counter.ex', counter(100), 'counter counts in hundreds');
    const a = await deliver(fx.dir, ['build', 'appups', '--with=0.2.0']);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    const file = store('demo_0.2.0~0.3.0.appups');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain("{update,'Elixir.Demo.Counter',{advanced,[]}}");
    expect(existsSync(store('demo_0.3.0.release.tar.gz'))).toBe(false);

    // The user edits it (here: a soft purge and an explicit load), then builds the upgrade from the store's 0.2.0.
    writeFileSync(file, text.replaceAll("{update,'Elixir.Demo.Counter',{advanced,[]}}", "{update,'Elixir.Demo.Counter',{advanced,edited},soft_purge,soft_purge,[]}"));
    const r = await deliver(fx.dir, ['build', 'upgrade', '--with=0.2.0', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { appups: { source: string }[] }).appups).toEqual([{ app: 'demo', from: '0.2.0', to: '0.3.0', source: 'store' }]);
    const relup = await deliver(fx.dir, ['show', 'relup', '0.3.0']);
    expect(relup.stdout).toContain('code_change up: Elixir.Demo.Counter (edited)');
  });

  it('the same version on both sides is refused before anything is stored', async () => {
    const r = await deliver(fx.dir, ['build', 'upgrade', '--with=0.3.0', '--force']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the new release has the same version as the old one (0.3.0)');
  });
});

function safeRpc(expr: string): string {
  try {
    return rpc(expr);
  } catch {
    return '';
  }
}

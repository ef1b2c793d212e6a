// buildRelease's phases (resolve ref and version → remote steps and hooks → store), run by a real local shell as the
// build host against a temporary BUILD_AT, with a stand-in `mix` (MIX_CMD) and `ssh` (the push): a build stores
// the release and sends exactly the dry run's plan; a failure at every step names the step, stores nothing and
// leaves no packed tarball behind.
import { execFileSync } from 'node:child_process';
import { chmodSync, createReadStream, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildRelease, planBuild, type BuildReleaseDeps, type BuildReleaseOptions } from '../../src/build/build-release.js';
import { configOf } from '../../src/config/config.js';
import type { HookDef } from '../../src/config/types.js';
import { DeliverError, RemoteError } from '../../src/output/errors.js';
import { Output } from '../../src/output/output.js';
import { printPlan } from '../../src/output/plan.js';
import { LocalStore } from '../../src/store/local.js';
import { planUpgrade } from '../../src/upgrade/build-upgrade.js';
import type { ReleaseStore } from '../../src/store/types.js';
import { git } from '../helpers/fixtures.js';
import { localShellBackend } from '../helpers/local-shell.js';
import { stubSettings } from '../helpers/settings.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();
const root = () => tmp('deliver-build-phases-');

// `mix`: `release` makes a release directory of 0.1.0 (unless NOREL); FAIL=<task> fails that task.
const MIX = `if [ "$FAIL" = "$1" ]; then echo "mix $1: something broke" >&2; exit 3; fi
if [ "$1" = release ] && [ -z "$NOREL" ]; then d=_build/$MIX_ENV/rel/demo/releases; mkdir -p $d/0.1.0 && echo '13.0 0.1.0' > $d/start_erl.data; fi
true
`;
// `ssh HOST COMMAND`: runs the command here (git push's receive-pack).
const SSH = `#!/bin/sh
for a; do last=$a; done
exec sh -c "$last"
`;

function project(): string {
  const dir = join(root(), 'demo');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'mix.exs'), 'defmodule Demo.MixProject do\n  use Mix.Project\n  def project, do: [app: :demo, version: "0.1.0"]\nend\n');
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'initial');
  return dir;
}

function hook(name: string, body: string): Map<string, HookDef> {
  return new Map([[name, { name, body, source: `${name}() {\n${body}\n}`, location: { file: '.deliver/config', line: 7 } }]]);
}

const quiet = () => new Output({ stdout: new Writable({ write: (_c, _e, cb) => cb() }), stderr: new Writable({ write: (_c, _e, cb) => cb() }), color: false });
const opts: BuildReleaseOptions = { mixEnv: 'prod', version: { metadata: [] }, skipGitClean: false, skipMixClean: false, force: false };

interface Bed {
  dir: string;
  buildAt: string;
  storeDir: string;
  backend: ReturnType<typeof localShellBackend>;
  deps: BuildReleaseDeps;
}

function bed(o: { mix?: string; hooks?: Map<string, HookDef>; buildAt?: string; ssh?: string; store?: (s: ReleaseStore) => ReleaseStore } = {}): Bed {
  const base = root();
  const dir = project();
  const tools = join(base, 'tools');
  mkdirSync(tools);
  writeFileSync(join(tools, 'mix'), MIX);
  writeFileSync(join(tools, 'ssh'), SSH);
  chmodSync(join(tools, 'ssh'), 0o755);
  writeFileSync(join(tools, 'profile'), '');
  const buildAt = o.buildAt ?? join(base, 'build');
  const storeDir = join(base, 'store');
  const backend = { ...localShellBackend('builder'), download: async (p: string) => createReadStream(p) };
  const s = stubSettings({ APP: 'demo', BUILD_AT: buildAt, PROFILE: join(tools, 'profile'), MIX_CMD: `${o.mix ?? ''} sh ${join(tools, 'mix')}` }, { hooks: o.hooks ?? new Map() });
  const store = new LocalStore(storeDir);
  const deps: BuildReleaseDeps = {
    config: configOf(s),
    out: quiet(),
    signal: new AbortController().signal,
    cwd: dir,
    buildHost: { name: 'builder', host: 'localhost' },
    backend: async () => backend,
    store: async () => (o.store ? o.store(store) : store),
    gitSshCommand: async () => o.ssh ?? join(tools, 'ssh'),
  };
  return { dir, buildAt, storeDir, backend: backend as Bed['backend'], deps };
}

const stored = (b: Bed) => (existsSync(b.storeDir) ? readdirSync(b.storeDir).filter((f) => !f.startsWith('.')) : []);
const packed = (b: Bed) => (existsSync(join(b.buildAt, '_build/deliver')) ? readdirSync(join(b.buildAt, '_build/deliver')) : []);

async function failure(p: Promise<unknown>): Promise<DeliverError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(DeliverError);
  return err as DeliverError;
}

describe('build release in phases', () => {
  it('builds, stores, and sends the host exactly the remote steps of the dry run, which changes nothing', async () => {
    const dry = bed();
    const plan = await planBuild(opts, dry.deps);
    expect(existsSync(dry.buildAt)).toBe(false);
    expect(stored(dry)).toEqual([]);
    const lines: string[] = [];
    printPlan(new Output({ stdout: new Writable({ write: (c, _e, cb) => { lines.push(String(c)); cb(); } }), color: false }), plan);
    expect(lines.join('')).toContain('   9. store demo_0.1.0.release.tar.gz: streams ');

    const b = bed();
    const r = await buildRelease(opts, b.deps);
    expect([r.version, r.file, r.size > 0]).toEqual(['0.1.0', 'demo_0.1.0.release.tar.gz', true]);
    expect(stored(b)).toContain('demo_0.1.0.release.tar.gz');
    expect(packed(b)).toEqual([]);
    const remote = (await planBuild({ ...opts, force: true }, b.deps)).hosts[0]!.steps.filter((s) => !s.local).map((s) => s.script.text);
    const sent = b.backend.commands.slice(0, remote.length);
    expect(sent).toEqual(remote);
    expect(execFileSync('tar', ['-tzf', join(b.storeDir, 'demo_0.1.0.release.tar.gz')], { encoding: 'utf8' })).toContain('./releases/start_erl.data');
  });

  it('build upgrade --dry-run: the new release plan, then the upgrade steps from the stored old release; nothing changes', async () => {
    const b = bed();
    const store = new LocalStore(b.storeDir);
    await store.put('demo_0.0.9.release.tar.gz', Readable.from([Buffer.from('old release')]));
    const plan = await planUpgrade({ with: '0.0.9', appupsOnly: false, release: opts }, b.deps);
    const names = plan.hosts[0]!.steps.map((s) => s.name);
    expect(plan.title).toBe('build upgrade demo 0.0.9 → 0.1.0');
    expect(names[0]).toBe(`prepare ${b.buildAt} on builder`);
    expect(names[1]).toMatch(/^push branch main \([0-9a-f]{7}\)$/);
    expect(names.slice(names.indexOf('remove demo_0.1.0.release.tar.gz from builder') + 1)).toEqual([
      'prepare the upgrade', 'upload demo_0.0.9.release.tar.gz', 'unpack demo_0.0.9.release.tar.gz', 'appups', 'relup (systools:make_relup)', 'pack the upgrade',
      'check demo_0.1.0.upgrade.tar.gz (relup from 0.0.9, unpacks)', 'store demo_0.1.0.upgrade.tar.gz', 'store demo_0.1.0.upgrade.tar.gz.relup',
    ]);
    expect(new Set(plan.hosts[0]!.steps.map((s) => s.session)).size).toBe(names.length);
    expect(existsSync(b.buildAt)).toBe(false);
    expect(stored(b)).toEqual(['demo_0.0.9.release.tar.gz', 'demo_0.0.9.release.tar.gz.sha256']);
  });

  it.each([
    ['deps.get', 'fetch dependencies'],
    ['compile', 'clean and compile'],
    ['release', 'generate release (mix-release)'],
  ])('a failing `mix %s` fails the step "%s", naming its command and output, and stores nothing', async (task, step) => {
    const b = bed({ mix: `FAIL=${task}` });
    const err = await failure(buildRelease(opts, b.deps));
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe(`builder: build step "${step}" failed (exit status 3)`);
    expect(err.detail).toContain(`mix ${task}: something broke`);
    expect((err as RemoteError).step).toBe(step);
    expect(stored(b)).toEqual([]);
  });

  it('fails at the prepare step when BUILD_AT cannot be made, before pushing', async () => {
    const file = join(root(), 'a-file');
    writeFileSync(file, '');
    const b = bed({ buildAt: join(file, 'build') });
    const err = await failure(buildRelease(opts, b.deps));
    expect((err as RemoteError).step).toBe(`prepare ${join(file, 'build')} on builder`);
  });

  it('a failed push names git push; no release without a release directory; a failing hook is named with its file:line', async () => {
    const push = bed({ ssh: 'false' });
    expect((await failure(buildRelease(opts, push.deps))).message).toMatch(/^builder: git push to the build host failed/);
    const norel = bed({ mix: 'NOREL=1' });
    expect((await failure(buildRelease(opts, norel.deps))).message).toMatch(/^builder: no release found at .*\/_build\/prod\/rel\/demo after `mix-release`$/);
    const h = bed({ hooks: hook('pre_erlang_clean_compile', '  error "assets missing"') });
    const err = await failure(buildRelease(opts, h.deps));
    expect(err.message).toBe('hook pre_erlang_clean_compile (.deliver/config:7) failed with exit status 1; the build stopped');
    expect(h.backend.commands.some((c) => c.includes('mix compile'))).toBe(false);
    for (const x of [push, norel, h]) expect(stored(x)).toEqual([]);
  });

  it('a store that fails to take the tarball fails the build and the packed tarball is removed anyway', async () => {
    const b = bed({ store: (s) => Object.assign(Object.create(s) as ReleaseStore, { put: () => Promise.reject(new DeliverError('store is full')) }) });
    expect((await failure(buildRelease(opts, b.deps))).message).toBe('store is full');
    expect(packed(b)).toEqual([]);
    expect(b.backend.commands.at(-1)).toContain('rm -f ');
  });
});

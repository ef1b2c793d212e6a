// Real fixture projects for the build tests: a stock `mix new NAME --sup` app and a stock `rebar3 new release NAME`
// app, each in its own git repository under a temp dir, with a .deliver/config pointing at the bed's build host.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliEnv, loadTestbed, runCli, type Testbed } from './testbed.js';

export interface Fixture {
  /** The project directory (git repository root). */
  dir: string;
  app: string;
  tool: 'mix' | 'rebar3';
}

function need(bin: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`fixture prerequisite missing: \`${bin}\` is not installed (apt-get install -y elixir erlang-dev erlang-src rebar3 git)`);
  }
}

/** Runs git in the fixture with a fixed identity (tests never depend on the machine's git config). */
export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=deliver tests', '-c', 'user.email=tests@deliver.invalid', '-c', 'commit.gpgsign=false', '-c', 'tag.gpgsign=false', ...args], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

function initRepo(dir: string): void {
  git(dir, 'init', '-q', '-b', 'main');
  // .deliver/ (config and local release store) stays out of the commits, so tests can rewrite the config
  // without making the tree dirty.
  appendFileSync(join(dir, '.git/info/exclude'), '/.deliver/\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'initial commit');
}

/** `mix new NAME --sup` in a temp dir, committed on branch main. */
export function createMixFixture(app = 'demo'): Fixture {
  need('mix');
  need('git');
  const parent = mkdtempSync(join(tmpdir(), 'deliver-mix-'));
  execFileSync('mix', ['new', app, '--sup'], { cwd: parent, stdio: 'ignore', env: { ...process.env, MIX_ENV: 'dev' } });
  const dir = join(parent, app);
  initRepo(dir);
  return { dir, app, tool: 'mix' };
}

/** `rebar3 new release NAME` in a temp dir, committed on branch main. */
export function createRebarFixture(app = 'demorel'): Fixture {
  need('rebar3');
  need('git');
  const parent = mkdtempSync(join(tmpdir(), 'deliver-rebar3-'));
  execFileSync('rebar3', ['new', 'release', app], { cwd: parent, stdio: 'ignore' });
  const dir = join(parent, app);
  initRepo(dir);
  return { dir, app, tool: 'rebar3' };
}

/** A git repository with no mix.exs / rebar.config / relx.config. */
export function createPlainFixture(): Fixture {
  need('git');
  const dir = mkdtempSync(join(tmpdir(), 'deliver-plain-'));
  writeFileSync(join(dir, 'README.md'), '# not an Erlang project\n');
  initRepo(dir);
  return { dir, app: 'plain', tool: 'mix' };
}

export interface DeliverConfigOptions {
  app: string;
  buildHost: string;
  buildUser: string;
  buildAt: string;
  /** Extra lines (variables, hook functions) appended verbatim. */
  extra?: string;
}

/** Writes `.deliver/config` (edeliver syntax) into the fixture. */
export function writeDeliverConfig(f: Fixture, o: DeliverConfigOptions): string {
  mkdirSync(join(f.dir, '.deliver'), { recursive: true });
  const file = join(f.dir, '.deliver/config');
  writeFileSync(
    file,
    [
      `APP="${o.app}"`,
      '',
      `BUILD_HOST="${o.buildHost}"`,
      `BUILD_USER="${o.buildUser}"`,
      `BUILD_AT="${o.buildAt}"`,
      '',
      o.extra ?? '',
      '',
    ].join('\n'),
  );
  return file;
}

/** Commits `content` to `path` and returns the new commit's sha. */
export function commitFile(f: Fixture, path: string, content: string, message: string): string {
  const full = join(f.dir, path);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(full, content);
  git(f.dir, 'add', path);
  git(f.dir, 'commit', '-q', '-m', message);
  return git(f.dir, 'rev-parse', 'HEAD');
}

// ---------- the test bed, the CLI and the bed's hosts (thin wrappers over ./testbed.ts) ----------

/** The running bed; a clear failure when it is not started. */
export function bed(): Testbed {
  return loadTestbed();
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (bin/deliver) in `cwd` with the bed's HOME (its ~/.ssh); `env` is added last. */
export async function deliver(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const r = await runCli(args, { cwd, env: cliEnv(loadTestbed(), env), timeoutMs: 300_000 });
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a shell command on a bed host with the system ssh and the bed's config (stdin optional); throws on failure. */
export function onHost(host: string, command: string, input?: Buffer): string {
  return execFileSync('ssh', ['-F', loadTestbed().sshConfig, host, command], {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(input !== undefined ? { input } : {}),
    timeout: 60_000,
  });
}

/**
 * An epmd port of the bed's range that no bed host uses (hosts use base+1..base+N and base+250), so a node started
 * by a build test never meets another test's node of the same name.
 */
export function spareEpmdPort(offset: number): number {
  const b = loadTestbed();
  return b.build.epmdPort - 250 + 200 + offset;
}

// Shared by the deploy integration tests: the real test bed (sshd hosts on loopback), real `mix release` builds of
// a fixture app in a local store, a project with .deliver/config, and the real CLI run as a child process.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliResult as BaseCliResult } from '../helpers/fixtures.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(REPO, 'bin', 'deliver');
const BUILT = join(REPO, 'dist', 'cli', 'main.js');
export const APP = 'dtest';

export interface BedHost {
  name: string;
  address: string;
  root: string;
}
export interface Bed {
  dir: string;
  home: string;
  hosts: BedHost[];
}

function bedEnv(): NodeJS.ProcessEnv {
  return { ...process.env, TESTBED_DIR: process.env.TESTBED_DIR ?? join(REPO, '.testbed'), TESTBED_NET: process.env.TESTBED_NET ?? '127.0.1' };
}

/** Starts the bed if needed (idempotent) and reads testbed.json. */
export function ensureBed(): Bed {
  try {
    execFileSync('bash', [join(REPO, 'scripts', 'testbed.sh'), 'start'], { env: bedEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`the test bed could not be started (scripts/testbed.sh start): ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}`);
  }
  const j = JSON.parse(readFileSync(join(bedEnv().TESTBED_DIR!, 'testbed.json'), 'utf8')) as Bed & { hosts: (BedHost & { name: string })[] };
  const hosts = j.hosts.filter((h) => /^host\d+$/.test(h.name));
  if (hosts.length < 40) throw new Error(`the deploy tests need 40 bed hosts, testbed.json lists ${hosts.length} (TESTBED_HOSTS)`);
  return { dir: j.dir, home: j.home, hosts };
}

export function bedScript(...args: string[]): string {
  return execFileSync('bash', [join(REPO, 'scripts', 'testbed.sh'), ...args], { env: bedEnv(), encoding: 'utf8' });
}

export interface Releases {
  /** Temp directory holding the fixture project and the store (removed by the tests' afterAll). */
  dir: string;
  store: string;
  /** sha256 of each version's tarball. */
  sha: Record<string, string>;
}

/**
 * Real releases of a `mix new dtest --sup` app (with a Dtest.Release.migrate/0 that writes a marker file):
 * 0.1.0, 0.2.0, 0.3.0, and 0.4.0 carrying 40 MB of incompressible data (slow enough uploads to interrupt).
 */
export function buildReleases(): Releases {
  for (const bin of ['mix', 'tar', 'sha256sum']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`prerequisite missing: ${bin} (apt-get install -y elixir erlang-dev erlang-src)`);
    }
  }
  const parent = mkdtempSync(join(tmpdir(), 'deliver-deploy-fixture-'));
  execFileSync('mix', ['new', APP, '--sup'], { cwd: parent, stdio: 'ignore', env: { ...process.env, MIX_ENV: 'dev' } });
  const dir = join(parent, APP);
  writeFileSync(
    join(dir, 'lib', APP, 'release.ex'),
    'defmodule Dtest.Release do\n  def migrate do\n    File.write!(Path.join(System.fetch_env!("RELEASE_ROOT"), "migrated"), "yes")\n    IO.puts("migrated")\n  end\nend\n',
  );
  const store = join(parent, 'store');
  mkdirSync(store);
  const sha: Record<string, string> = {};
  const mixExs = join(dir, 'mix.exs');
  for (const v of ['0.1.0', '0.2.0', '0.3.0', '0.4.0']) {
    writeFileSync(mixExs, readFileSync(mixExs, 'utf8').replace(/version: "[^"]*"/, `version: "${v}"`));
    if (v === '0.4.0') {
      mkdirSync(join(dir, 'priv'), { recursive: true });
      writeFileSync(join(dir, 'priv', 'blob.bin'), randomBytes(40 * 1024 * 1024));
    }
    execFileSync('mix', ['release', '--overwrite', '--quiet'], { cwd: dir, stdio: 'ignore', env: { ...process.env, MIX_ENV: 'prod' } });
    sha[v] = storeRelease(join(dir, '_build', 'prod', 'rel', APP), store, APP, v);
  }
  return { dir: parent, store, sha };
}

/** Packs the release root `rel` into `store` as deliver's build does: `APP_VSN.release.tar.gz` and its sha256; the sha256. */
export function storeRelease(rel: string, store: string, app: string, version: string): string {
  const file = `${app}_${version}.release.tar.gz`;
  execFileSync('tar', ['-czf', join(store, file), '-C', rel, '.']);
  const sha = createHash('sha256').update(readFileSync(join(store, file))).digest('hex');
  writeFileSync(join(store, `${file}.sha256`), `${sha}  ${file}\n`);
  return sha;
}

export interface Project {
  dir: string;
  /** DELIVER_TO as the hosts see it (/srv/...). */
  deliverTo: string;
  hosts: BedHost[];
}

/** A project whose `production` environment is `hosts`, deploying into a directory of its own on each host. */
export function makeProject(bed: Bed, hosts: BedHost[], store: string, extra = ''): Project {
  const dir = mkdtempSync(join(tmpdir(), 'deliver-deploy-project-'));
  const deliverTo = `/srv/${dir.split('/').pop()}`;
  mkdirSync(join(dir, '.deliver'));
  writeFileSync(
    join(dir, '.deliver', 'config'),
    [`APP="${APP}"`, `PRODUCTION_HOSTS="${hosts.map((h) => h.name).join(' ')}"`, 'PRODUCTION_USER="root"', `DELIVER_TO="${deliverTo}"`, `RELEASE_STORE="${store}"`, extra].join('\n') + '\n',
  );
  void bed;
  return { dir, deliverTo, hosts };
}

/** The shared CLI result (test/helpers/fixtures.ts) plus the command's wall time. */
export interface CliResult extends BaseCliResult {
  ms: number;
}

function cliEnv(bed: Bed): NodeJS.ProcessEnv {
  // HOME holds the bed's ssh config, client key and known_hosts (host keys are verified, never accepted blindly).
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: bed.home, NO_COLOR: '1' };
  for (const key of ['APP_CONFIG', 'SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'FORCE_COLOR', 'CLICOLOR_FORCE']) delete env[key];
  return env;
}

export function startCli(bed: Bed, project: Project, args: string[]): ChildProcess {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run \`npm run build\` first`);
  return spawn(process.execPath, [CLI, ...args], { cwd: project.dir, env: cliEnv(bed), stdio: ['ignore', 'pipe', 'pipe'] });
}

export function waitCli(child: ChildProcess): Promise<CliResult> {
  const t0 = Date.now();
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, sig) => resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr, ms: Date.now() - t0 })));
}

export function cli(bed: Bed, project: Project, ...args: string[]): Promise<CliResult> {
  return waitCli(startCli(bed, project, args));
}

/** The host's directory behind the project's DELIVER_TO. */
export function hostPath(project: Project, host: BedHost, ...rest: string[]): string {
  return join(host.root, project.deliverTo.replace(/^\/srv\/?/, ''), ...rest);
}

/** The version `$DELIVER_TO/$APP` points at on `host`, or undefined. */
export function activeVersion(project: Project, host: BedHost, app = APP): string | undefined {
  try {
    return readlinkSync(hostPath(project, host, app)).split('/').pop();
  } catch {
    return undefined;
  }
}

export function installed(project: Project, host: BedHost): string[] {
  try {
    return readdirSync(hostPath(project, host, '.deliver', APP, 'releases')).sort();
  } catch {
    return [];
  }
}

/** Leftovers a clean deploy must never leave: locks, partial uploads, staging dirs, temp links. */
export function leftovers(project: Project, host: BedHost, app = APP): string[] {
  const out: string[] = [];
  const home = hostPath(project, host, '.deliver', app);
  if (existsSync(join(home, 'lock'))) out.push('lock');
  for (const f of safeList(join(home, 'incoming'))) out.push(`incoming/${f}`);
  for (const f of safeList(join(home, 'releases'))) if (f.includes('.tmp-')) out.push(`releases/${f}`);
  for (const f of safeList(hostPath(project, host))) if (f.includes('.tmp-')) out.push(f);
  return out;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Pids of processes running inside `host`'s mount namespace whose command line matches `pattern`. */
export function hostProcesses(bed: Bed, host: BedHost, pattern: RegExp): { pid: number; cmd: string }[] {
  const ns = readFileSync(join(bed.dir, 'run', `${host.name}.ns`), 'utf8').trim();
  const out: { pid: number; cmd: string }[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readlinkSync(`/proc/${p}/ns/mnt`) !== ns) continue;
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (pattern.test(cmd)) out.push({ pid: Number(p), cmd });
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** SIGKILLs `host`'s sshd listener and every session under it (cheap: no /proc scan), leaving other processes. */
export function killSshd(bed: Bed, host: BedHost): number {
  const root = Number(readFileSync(join(bed.dir, 'run', `${host.name}.pid`), 'utf8').trim());
  const pids: number[] = [];
  const walk = (pid: number) => {
    pids.push(pid);
    let kids = '';
    try {
      kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
    } catch {
      return;
    }
    for (const k of kids.split(/\s+/).filter(Boolean)) walk(Number(k));
  };
  walk(root);
  let n = 0;
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'sshd') continue;
      process.kill(pid, 'SIGKILL');
      n++;
    } catch {
      // already gone
    }
  }
  return n;
}

/** Polls `check` every 20 ms until it returns true (or fails after `ms`). */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function json<T>(r: BaseCliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${r.code}):\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  }
}

export interface HostJson {
  host: string;
  status: string;
  step?: string;
  error?: string;
  value?: { version?: string; previous?: string; output?: string; to?: string };
}

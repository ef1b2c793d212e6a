// What integration tests need to reach the real test bed (scripts/testbed.sh) and to run the real CLI.
// Plain TypeScript, no vitest imports, so global setup, tests and ad-hoc scripts can all use it.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot: string = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** One sshd host of the bed; its sessions see `root` at /srv and register BEAM nodes with epmd on `epmdPort`. */
export interface TestHost {
  name: string;
  address: string;
  port: number;
  root: string;
  epmdPort: number;
}

/** The contents of <TESTBED_DIR>/testbed.json, written by `scripts/testbed.sh start`. */
export interface Testbed {
  dir: string;
  net: string;
  /** Use as HOME: it holds .ssh/id_ed25519, .ssh/known_hosts and .ssh/config for every host. */
  home: string;
  user: string;
  identity: string;
  knownHosts: string;
  /** For system ssh: `ssh -F <sshConfig> host1 ...` (OpenSSH ignores $HOME when looking for ~/.ssh). */
  sshConfig: string;
  hosts: TestHost[];
  build: TestHost;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The bed directory the scripts use for the current environment. */
export function testbedDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.TESTBED_DIR || join(repoRoot, '.testbed'));
}

/** Reads testbed.json; throws a message saying how to start the bed when it is missing. */
export function loadTestbed(): Testbed {
  const file = join(testbedDir(), 'testbed.json');
  if (!existsSync(file)) {
    throw new Error(
      `test bed not started: ${file} is missing; run \`scripts/testbed.sh start\` as root ` +
        `(with the same TESTBED_DIR/TESTBED_NET), or run the integration tests through vitest, whose global setup starts it`,
    );
  }
  const tb = JSON.parse(readFileSync(file, 'utf8')) as Testbed;
  if (!Array.isArray(tb.hosts) || tb.hosts.length === 0 || !tb.build) {
    throw new Error(`test bed description ${file} has no hosts; restart it with \`scripts/testbed.sh start\``);
  }
  return tb;
}

/** Environment for the CLI under test: the bed's HOME (so ~/.ssh is the bed's), no colour, CI passed through. */
export function cliEnv(tb: Testbed, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // A developer's agent or colour settings must not change what the tests see.
  for (const key of ['SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'FORCE_COLOR', 'CLICOLOR_FORCE']) delete env[key];
  env.HOME = tb.home;
  env.NO_COLOR = '1'; // CI and everything else pass through unchanged
  return { ...env, ...extra };
}

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {}); // the child may exit without reading its input
    child.stdin.end(opts.input ?? '');
    let timedOut = false;
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    }, opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      if (timedOut) stderr += `\n[killed: ${cmd} ${args.join(' ')} ran longer than ${opts.timeoutMs ?? 120_000} ms]\n`;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Runs <repo>/bin/deliver with `args`; `code` is null when it was killed (timeout, default 120 s). */
export function runCli(
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number },
): Promise<RunResult> {
  return run(process.execPath, [join(repoRoot, 'bin', 'deliver'), ...args], opts);
}

/**
 * Runs scripts/testbed.sh with the current TESTBED_* environment, e.g. `testbedCtl('kill-host', 'host3')`.
 * Rejects with the script's message when it exits non-zero (`status` exits 3 when any host is down).
 */
export async function testbedCtl(...args: string[]): Promise<RunResult> {
  const res = await run('bash', [join(repoRoot, 'scripts', 'testbed.sh'), ...args], { cwd: repoRoot, timeoutMs: 600_000 });
  if (res.code !== 0) {
    throw new Error(`scripts/testbed.sh ${args.join(' ')} exited ${res.code}: ${(res.stderr || res.stdout).trim()}`);
  }
  return res;
}

/** Returns the absolute path of `name` on PATH, or throws naming the missing prerequisite. */
export function requireCommand(name: string): string {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const dir of [...dirs, '/usr/sbin', '/sbin']) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    `prerequisite missing: \`${name}\` is not on PATH; install the test dependencies ` +
      `(as root: scripts/testbed.sh start installs them, or run .ci/run)`,
  );
}

/** Runs `ssh -F <bed config> <host> <command>` with the system OpenSSH client (host keys verified), for checks. */
export function sshExec(tb: Testbed, host: string, command: string, timeoutMs = 60_000): Promise<RunResult> {
  return run('ssh', ['-F', tb.sshConfig, host, command], { cwd: repoRoot, timeoutMs });
}

/**
 * True while `pid` runs. A killed process whose parent has not reaped it yet (state Z) counts as dead: this
 * machine's PID 1 does not reap orphans, so /proc/<pid> of a killed daemon can stay.
 */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

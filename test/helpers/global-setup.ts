// Global setup of the `integration` project: starts the shared test bed (scripts/testbed.sh start, which installs
// missing Debian packages when run as root) and stops it afterwards if a vitest run started it and no other
// vitest run is still using it. A bed started by hand keeps running between runs. The S3 server (started on demand
// by test files) follows the same rule, with its own list of users: two runs with different beds may share one
// S3_PORT, and the first to finish must not stop the server under the other.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, testbedCtl, testbedDir } from './testbed.js';

const script = join(repoRoot, 'scripts', 'testbed.sh');
const s3Script = join(repoRoot, 'scripts', 's3-server.sh');

/** Whether the test S3 server (started on demand by test/helpers/s3.ts) is up, with the same env the tests use. */
function s3Running(): boolean {
  return spawnSync('bash', [s3Script, 'status'], { cwd: repoRoot, stdio: 'ignore' }).status === 0;
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The state directory scripts/s3-server.sh uses for the same env (its default, unless S3_DIR is set). */
function s3Dir(): string {
  return process.env.S3_DIR ?? `/tmp/deliver-s3-${process.env.S3_PORT ?? '7480'}`;
}

/** Registers this vitest run as a user of a shared resource; the returned function unregisters it and says
 * whether another live run still uses it (entries of runs that died without their teardown are dropped). */
function register(users: string): () => boolean {
  mkdirSync(users, { recursive: true });
  writeFileSync(join(users, String(process.pid)), '');
  return () => {
    rmSync(join(users, String(process.pid)), { force: true });
    const others = readdirSync(users).filter((p) => {
      if (running(Number(p))) return true;
      rmSync(join(users, p), { force: true });
      return false;
    });
    return others.length > 0;
  };
}

export default async function setup(): Promise<() => Promise<void>> {
  const dir = testbedDir();
  const status = spawnSync('bash', [script, 'status'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (status.error) throw new Error(`cannot run ${script}: ${status.error.message}`);
  // Any host up means the bed was already started (perhaps a test left one host down).
  const alreadyRunning = /^\S+ +\S+ up /m.test(status.stdout);
  const s3WasRunning = s3Running();
  // A failure here fails the whole integration run with the script's own message (missing root, packages, ports).
  const started = await testbedCtl('start');
  process.stderr.write(started.stdout);

  // Several vitest runs (say, two developers' files) may share one bed: each registers, and the last one out
  // stops a bed that a vitest run started.
  const bedShared = register(join(dir, 'run', 'vitest-users'));
  // Beside the S3 state dir, not in it: `s3-server.sh stop` deletes that dir.
  const s3Shared = register(`${s3Dir()}.vitest-users`);
  const marker = join(dir, 'run', 'started-by-vitest');
  if (!alreadyRunning) writeFileSync(marker, String(process.pid));

  return async () => {
    // An S3 server that test files started during this run is stopped with it, unless another run still uses it
    // (one started by hand keeps running).
    if (!s3Shared() && !s3WasRunning && s3Running()) spawnSync('bash', [s3Script, 'stop'], { cwd: repoRoot, stdio: 'inherit' });
    if (bedShared()) return;
    try {
      rmSync(marker);
    } catch {
      return; // started by hand: leave it running
    }
    const stopped = await testbedCtl('stop');
    process.stderr.write(stopped.stdout.replace(/\n?$/, ` (state kept in ${dir})\n`));
  };
}

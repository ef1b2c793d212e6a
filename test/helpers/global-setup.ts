// Global setup of the `integration` project: starts the shared test bed (scripts/testbed.sh start, which installs
// missing Debian packages when run as root) and stops it afterwards, but only when this run started it, so a bed
// a developer started by hand keeps running between runs.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, testbedCtl, testbedDir } from './testbed.js';

const script = join(repoRoot, 'scripts', 'testbed.sh');

export default async function setup(): Promise<() => Promise<void>> {
  const status = spawnSync('bash', [script, 'status'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (status.error) throw new Error(`cannot run ${script}: ${status.error.message}`);
  // Any host up means someone else started the bed (perhaps a test left one host down): not ours to stop.
  const alreadyRunning = /^\S+ +\S+ up /m.test(status.stdout);
  // A failure here fails the whole integration run with the script's own message (missing root, packages, ports).
  const started = await testbedCtl('start');
  process.stderr.write(started.stdout);
  return async () => {
    if (alreadyRunning) return;
    const stopped = await testbedCtl('stop');
    process.stderr.write(stopped.stdout.replace(/\n?$/, ` (state kept in ${testbedDir()})\n`));
  };
}

// `--retry-failed`: the hosts that failed in the last deploy to an environment, remembered locally in
// `.deliver/state/<env>.json` (written after every deploy, so a success clears it).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../output/errors.js';

export interface LastDeploy {
  env: string;
  version: string;
  at: string;
  failed: string[];
}

export function stateFile(projectDir: string, env: string): string {
  return join(projectDir, '.deliver', 'state', `${env}.json`);
}

export async function saveLastDeploy(projectDir: string, last: LastDeploy): Promise<void> {
  const file = stateFile(projectDir, last.env);
  await mkdir(join(projectDir, '.deliver', 'state'), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(last, null, 2) + '\n');
  await rename(tmp, file);
}

export async function loadLastDeploy(projectDir: string, env: string): Promise<LastDeploy | undefined> {
  try {
    return JSON.parse(await readFile(stateFile(projectDir, env), 'utf8')) as LastDeploy;
  } catch {
    return undefined;
  }
}

/** The hosts to redeploy for --retry-failed, or a usage error saying why there are none. */
export function retryHosts<T extends { name: string }>(last: LastDeploy | undefined, targets: T[], env: string): T[] {
  if (!last) throw new UsageError(`--retry-failed: no earlier deploy to ${env} recorded here (.deliver/state/${env}.json)`);
  if (last.failed.length === 0) throw new UsageError(`--retry-failed: the last deploy to ${env} (${last.version}, ${last.at}) had no failed hosts`);
  const wanted = new Set(last.failed);
  const hit = targets.filter((t) => wanted.has(t.name));
  if (hit.length === 0) throw new UsageError(`--retry-failed: none of the failed hosts (${last.failed.join(', ')}) is in ${env} any more`);
  return hit;
}

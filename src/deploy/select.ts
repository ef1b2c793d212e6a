// Which stored release to deploy: `--version=V`, `--version=latest`, the only one there is, or (on a terminal
// only) the user's pick. Anything non-interactive with several candidates gets an error listing them.
import { createInterface } from 'node:readline/promises';
import { UsageError, DeliverError } from '../output/errors.js';
import { sortReleases } from '../store/versions.js';
import type { StoredRelease } from '../store/types.js';

/**
 * Deployable releases of `app`, newest first in the order `show releases` lists them (among builds of equal
 * version precedence, the one stored last is the newest); a release tarball wins over an upgrade of the same version.
 */
export function candidates(list: StoredRelease[], app: string): StoredRelease[] {
  const byVersion = new Map<string, StoredRelease>();
  for (const r of sortReleases(list.filter((x) => x.app === app)).reverse()) {
    const seen = byVersion.get(r.version);
    if (!seen || (seen.type === 'upgrade' && r.type === 'release')) byVersion.set(r.version, r);
  }
  return [...byVersion.values()];
}

export type Chooser = (choices: StoredRelease[]) => Promise<StoredRelease>;

export async function selectRelease(
  list: StoredRelease[],
  app: string,
  requested: string | undefined,
  storeDescription: string,
  choose?: Chooser,
): Promise<StoredRelease> {
  const all = candidates(list, app);
  if (all.length === 0) {
    throw new DeliverError(`no release of ${app} in ${storeDescription}`, { hint: 'build one first: deliver build release' });
  }
  const listing = all.map((r) => r.version).join(', ');
  if (requested === 'latest') return all[0]!;
  if (requested !== undefined) {
    const hit = all.find((r) => r.version === requested);
    if (!hit) throw new UsageError(`version ${requested} of ${app} is not in ${storeDescription}`, { detail: `available: ${listing}` });
    return hit;
  }
  if (all.length === 1) return all[0]!;
  if (choose) return choose(all);
  throw new UsageError(`several releases of ${app} in ${storeDescription}: ${listing}`, {
    hint: 'pick one with --version=V or --version=latest',
  });
}

/** A numbered prompt on the terminal (stderr), used only when stdin and stderr are TTYs. */
export function terminalChooser(): Chooser | undefined {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  return async (choices) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      choices.forEach((r, i) => process.stderr.write(`  ${i + 1}) ${r.version}${r.type === 'upgrade' ? ' (upgrade tarball)' : ''}\n`));
      for (;;) {
        const answer = (await rl.question(`Release to deploy [1-${choices.length}, default 1]: `)).trim();
        const n = answer === '' ? 1 : Number(answer);
        const byName = choices.find((c) => c.version === answer);
        if (byName) return byName;
        if (Number.isInteger(n) && n >= 1 && n <= choices.length) return choices[n - 1]!;
      }
    } finally {
      rl.close();
    }
  };
}

// RELEASE_KIND (and edeliver's USING_DISTILLERY=true): which release script the deploy hosts run, for the releases
// whose files do not tell (deploy/node-commands.ts detects it from them otherwise).
import { failAt, type Where } from './hosts.js';

export const RELEASE_KINDS = ['mix', 'distillery', 'relx'] as const;
export type ReleaseKind = (typeof RELEASE_KINDS)[number];

export function parseReleaseKind(value: string, where: Where): ReleaseKind {
  const v = value.trim().toLowerCase();
  if ((RELEASE_KINDS as readonly string[]).includes(v)) return v as ReleaseKind;
  return failAt(where, `RELEASE_KIND=${JSON.stringify(value)}: expected mix, distillery or relx`);
}

// Store names of what `build upgrade` and `build appups` produce (plain file names: every store takes them).
import { releaseFileName } from '../store/types.js';

/** edeliver's interop name, `APP_VSN.upgrade.tar.gz`; its `.sha256` is written by the store like a release's. */
export function upgradeFileName(app: string, to: string): string {
  return releaseFileName(app, to, 'upgrade');
}

/**
 * The appups of one upgrade pair, `APP_OLD~NEW.appups`: `{App, Appup}.` terms, one per application, to review and
 * edit; a later `build upgrade` of that pair uses them. `~` never occurs in a version, so the name splits uniquely.
 */
export function appupsFileName(app: string, from: string, to: string): string {
  return `${app}_${from}~${to}.appups`;
}

export interface AppupLine {
  app: string;
  from: string;
  to: string;
  /** generated, store, or `ebin PATH` / `src PATH` for the user's own. */
  source: string;
}

/** Parses the escript's `appup APP OLD NEW SOURCE` lines. */
export function parseAppupLines(stdout: string): AppupLine[] {
  const out: AppupLine[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^appup (\S+) (\S+) (\S+) (.+)$/.exec(line.trim());
    if (m) out.push({ app: m[1] as string, from: m[2] as string, to: m[3] as string, source: m[4] as string });
  }
  return out;
}

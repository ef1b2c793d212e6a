// What a host has (parsed from stateCommand) and the decisions made from it: previous release, what to prune.
import { versionFromLink } from './layout.js';

export interface HostState {
  /** Active version (`$DELIVER_TO/$APP` target), undefined when nothing deployed yet. */
  active?: string;
  /** `$DELIVER_TO/$APP` is a real directory (edeliver layout, not yet migrated). */
  legacyDir: boolean;
  /** Version the node was last started from by deliver. */
  started?: string;
  /** Installed releases (complete ones only; staging leftovers are ignored). */
  releases: string[];
  /** Activation history, oldest first. */
  history: string[];
}

export function parseHostState(stdout: string): HostState {
  const state: HostState = { legacyDir: false, releases: [], history: [] };
  let section: 'head' | 'releases' | 'history' | 'other' = 'head';
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (line === '[releases]') section = 'releases';
    else if (line === '[history]') section = 'history';
    else if (/^\[[a-z-]+\]$/.test(line)) section = 'other';
    else if (line === '' || section === 'other') continue;
    else if (section === 'head') {
      if (line.startsWith('link=')) {
        const v = line.slice(5);
        if (v === '<directory>') state.legacyDir = true;
        else if (v) {
          const version = versionFromLink(v);
          if (version) state.active = version;
        }
      } else if (line.startsWith('started=') && line.length > 8) state.started = line.slice(8);
    } else if (section === 'releases') {
      if (!line.includes('.tmp-') && !line.endsWith('.inner')) state.releases.push(line);
    } else state.history.push(line);
  }
  return state;
}

/** The release active before the current one (latest other history entry still installed). */
export function previousVersion(state: HostState): string | undefined {
  for (let i = state.history.length - 1; i >= 0; i--) {
    const v = state.history[i]!;
    if (v !== state.active && state.releases.includes(v)) return v;
  }
  // Releases never activated by deliver (edeliver-legacy) come last.
  return state.releases.find((v) => v !== state.active && !state.history.includes(v));
}

/**
 * Releases to delete so that `keep` remain (the active one counts; the one the node runs is kept too).
 * Most recently activated first; releases never activated (installed by a failed deploy, legacy) are oldest.
 */
export function pruneList(state: HostState, keep: number, extraKeep: string[] = []): string[] {
  const lastUse = new Map<string, number>();
  state.history.forEach((v, i) => lastUse.set(v, i));
  const ordered = [...state.releases].sort((a, b) => (lastUse.get(b) ?? -1) - (lastUse.get(a) ?? -1));
  const protectedSet = new Set([state.active, state.started, ...extraKeep].filter((v): v is string => !!v && state.releases.includes(v)));
  const kept = new Set<string>(protectedSet);
  for (const v of ordered) {
    if (kept.size >= Math.max(1, keep)) break;
    kept.add(v);
  }
  return ordered.filter((v) => !kept.has(v));
}

/** The lines of a `[name]` section a combined command printed (e.g. `[installed-sha]`). */
export function sectionOf(stdout: string, name: string): string[] {
  const lines = stdout.split('\n').map((l) => l.trim());
  const i = lines.indexOf(`[${name}]`);
  if (i === -1) return [];
  const out: string[] = [];
  for (const l of lines.slice(i + 1)) {
    if (/^\[[a-z-]+\]$/.test(l)) break;
    if (l) out.push(l);
  }
  return out;
}

/** The state after activating `version` (for pruning in the same command as the activation). */
export function afterActivation(state: HostState, version: string): HostState {
  return {
    ...state,
    active: version,
    legacyDir: false,
    releases: [...new Set([...state.releases, version, ...(state.legacyDir ? ['edeliver-legacy'] : [])])],
    history: [...state.history, version],
  };
}

// Whether a host gets a delta and what it holds, as a pure function of the new release's manifest and the one of
// the release installed on the host (docs/DEPLOY.md, "Delta deploys"). Unchanged files are hard-linked from the
// installed release; a file that anything writes in place after install is never shared between two roots, so
// it always travels in the delta (unshared).
import type { Entry, Manifest } from './manifest.js';

/** The release a host has installed, as the lock step (or the dry run's look) printed it. */
export interface Base {
  version: string;
  /** Undefined: no manifest on the host (a dry run does not recompute it). */
  manifest?: Manifest;
}

export interface DeltaPlan {
  base: string;
  /** Files hard-linked from the base release root (same path, sha256, size and mode). */
  link: string[];
  /** What the delta tarball carries: every directory and symlink, and the files not linked. */
  send: Entry[];
  /** Bytes of the files sent (uncompressed). */
  sendBytes: number;
}

export type DeltaDecision = { delta: DeltaPlan; full?: undefined } | { full: string; delta?: undefined };

/**
 * Files some program writes in place (open + truncate, not a new file renamed over) after a release is
 * installed, or that belong to one release only; hard-linked, a write would change both roots:
 * - `releases/`: release_handler rewrites `releases/RELEASES` and `releases/start_erl.data` during hot upgrades
 *   and installs; relx's start script (RELX_REPLACE_OS_VARS) writes `releases/VSN/vm.args` and `sys.config`;
 *   LINK_VM_ARGS/LINK_SYS_CONFIG replace `releases/VSN/vm.args`/`sys.config` with links.
 * - `bin/`: the start scripts; Distillery's and relx's upgrade commands copy a version's script over `bin/APP`.
 * - `erts-*` `bin/erl` and `bin/start`: scripts that carry the root directory (erts's own Install writes them).
 * Runtime directories (mix `tmp/`, relx `log/`, Distillery `var/`) are not in any tarball, so never linked.
 */
export function unshared(path: string): boolean {
  return path.startsWith('bin/') || path.startsWith('releases/') || /^erts-[^/]+\/bin\/(erl|start|start_erl|erl\.src|start\.src)$/.test(path);
}

/** Why a host gets the full tarball even though it has a release installed (undefined: it may get a delta). */
export interface DeltaInputs {
  /** The new release's manifest; undefined when this run does not read the release (--pull, a dry run from a remote store). */
  next?: Manifest;
  base?: Base;
  /** The version being deployed. */
  version: string;
  /** --no-delta, DELTA_DEPLOY=false, --pull or extract hooks: the reason. */
  off?: string;
}

export const NOTHING_INSTALLED = 'no release installed to build on';

export function decideDelta(i: DeltaInputs): DeltaDecision {
  if (i.off) return { full: i.off };
  if (!i.base) return { full: NOTHING_INSTALLED };
  if (i.base.version === i.version) return { full: `${i.version} itself is the installed release` };
  if (!i.next) return { full: 'the release was not read (its file list is unknown)' };
  if (i.next.unsupported) return { full: `the new release has ${i.next.unsupported}` };
  if (!i.base.manifest) return { full: `no manifest of ${i.base.version} on the host` };
  if (i.base.manifest.unsupported) return { full: `the manifest of ${i.base.version} has ${i.base.manifest.unsupported}` };
  const had = new Map(i.base.manifest.entries.map((e) => [e.path, e]));
  const link: string[] = [];
  const send: Entry[] = [];
  let sendBytes = 0;
  for (const e of i.next.entries) {
    const old = had.get(e.path);
    if (e.type === 'f' && !unshared(e.path) && old?.type === 'f' && old.sha256 === e.sha256 && old.size === e.size && old.mode === e.mode) link.push(e.path);
    else {
      send.push(e);
      sendBytes += e.size;
    }
  }
  if (link.length === 0) return { full: `nothing in common with ${i.base.version}` };
  return { delta: { base: i.base.version, link, send, sendBytes } };
}

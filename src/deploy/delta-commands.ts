// The host side of delta deploys (docs/DEPLOY.md, "Delta deploys"), as pure functions returning shell text: print
// the installed release's manifest (recomputed when missing), build a staged root from hard links and a small
// tarball, check it against the manifest. GNU find/cp/sha256sum; anything failing ends in EXIT_DELTA, on which
// deliver sends the full tarball instead.
import { and, chain, group, ifThen, raw, sh, type Shell } from '../ssh/quote.js';
import { linkTarget, releaseDir, stagingDir, type Layout } from './layout.js';
import { safePath } from './manifest.js';

/** The delta could not be built or did not check out: the staging dir is gone, the full tarball follows. */
export const EXIT_DELTA = 9;

export const MANIFEST_FILE = '.deliver-manifest';
export const BASE_MARK = '[base]';
export const BASE_END = '[base-end]';

/** Every entry below `.` but deliver's own top-level files, as `find -printf` formats them. */
function findEntries(format: Shell): Shell {
  return sh`find . -mindepth 1 -path './.deliver-*' -prune -o ${format}`;
}

/**
 * Writes `<dir>/.deliver-manifest` from the files there (`[entries]` and `[sha256]` sections, manifest.ts): for a
 * release installed before deliver kept manifests. A temp name renamed into place, so a half-written one never counts.
 */
export function recomputeManifestCommand(dir: Shell | string): Shell {
  const entries = findEntries(raw(`\\( -type f -printf 'f %m %s %P\\n' -o -type d -printf 'd %m %P\\n' -o -type l -printf 'l %m %P -> %l\\n' -o -printf '? %m %P\\n' \\)`));
  const sums = findEntries(raw(`-type f -printf '%P\\0'`));
  const d = typeof dir === 'string' ? sh`${dir}` : dir;
  const tmp = raw(`${MANIFEST_FILE}.tmp`);
  return sh`( cd ${d} && { echo '[entries]'; ${entries} | LC_ALL=C sort; echo '[sha256]'; ${sums} | xargs -0 -r sha256sum; } > ${tmp} && mv -f ${tmp} ${raw(MANIFEST_FILE)} ) || rm -f ${d}/${tmp}`;
}

/**
 * Prints `[base] VSN`, the active release's manifest and `[base-end]`; nothing between the marks when there is no active release or no manifest. With `recompute` (the
 * real run, under the lock) a missing manifest is computed first; the dry run's look only reads.
 */
export function baseManifestCommand(l: Layout, recompute: boolean): Shell {
  const prefix = linkTarget(l, 'x').slice(0, -1);
  const file = raw(`"$d"/${MANIFEST_FILE}`);
  return chain(
    sh`b=$(readlink ${l.root} 2>/dev/null) || b=`,
    raw(`case "$b" in ${prefix}*/*|${prefix}*.tmp-*) b= ;; ${prefix}?*) ;; *) b= ;; esac`),
    ifThen(
      sh`[ -n "$b" ] && [ -d ${l.deliverTo}/"$b" ]`,
      chain(
        sh`d=${l.deliverTo}/"$b"`,
        ...(recompute ? [sh`[ -f ${file} ] || ${recomputeManifestCommand(raw('"$d"'))}`] : []),
        sh`printf '%s %s\\n' ${BASE_MARK} "\${b##*/}"`,
        sh`[ ! -f ${file} ] || cat ${file}`,
      ),
    ),
    sh`echo ${BASE_END}`,
  );
}

/** The `[base]` part of the lock step's output: the version and its manifest's text ('' when it has none). */
export function baseOfOutput(stdout: string): { version: string; text: string } | undefined {
  const lines = stdout.split('\n');
  const at = lines.findIndex((x) => x.startsWith(`${BASE_MARK} `));
  if (at < 0) return undefined;
  const end = lines.indexOf(BASE_END, at);
  return { version: lines[at]!.slice(BASE_MARK.length + 1).trim(), text: lines.slice(at + 1, end < 0 ? undefined : end).join('\n') };
}

/** Removes the staging dir, says why on stderr (`say`), exits 9: the full tarball follows. */
function abandon(stage: string, say: Shell): Shell {
  return group(chain(sh`rm -rf ${stage}`, say, sh`exit ${EXIT_DELTA}`));
}

function fail(stage: string, why: string): Shell {
  return abandon(stage, sh`echo ${`delta: ${why}`} >&2`);
}

/**
 * `[entries]` lines as `find` prints the staged root (type, path, symlink target; no mode or size): awk reads the
 * manifest first, then find's lines, and fails on an entry not in the manifest or a count that differs.
 */
const ENTRIES_AWK = [
  'NR == FNR { if ($0 == "[entries]") { s = 1; next } if ($0 ~ /^\\[/) { s = 0; next } if (!s) next;',
  'k = $1 == "f" ? "f " $4 : $1 == "d" ? "d " $3 : $1 == "l" ? "l " $3 " -> " $5 : $0; e[k] = 1; n++; next }',
  '{ if (!($0 in e)) bad = 1; m++ }',
  'END { exit bad || m != n }',
].join(' ');

/**
 * Checks a staged root against its `.deliver-manifest`: every file's sha256 (`sha256sum -c` reads the `[sha256]`
 * lines and passes over the others) and the exact list of entries with their types and symlink targets (`find`
 * and one awk). A handful of processes, not a pipeline per section: on a host every process costs about as much
 * as hashing a megabyte. On a difference: the first differing files on stderr, the staging dir removed, exit 9.
 */
export function treeCheckCommand(stage: string): Shell {
  const found = findEntries(raw(`\\( -type l -printf 'l %P -> %l\\n' -o -printf '%y %P\\n' \\)`));
  const differs = abandon(
    stage,
    raw(`printf 'delta: a file differs from the manifest (changed in place on this host?): %s\\n' "$(printf '%s\\n' "$bad" | head -n 3 | tr '\\n' ' ')" >&2`),
  );
  return and(
    sh`cd ${stage}`,
    sh`bad=$(sha256sum -c --quiet ${raw(MANIFEST_FILE)} 2>/dev/null) || ${differs}`,
    sh`${found} | awk ${ENTRIES_AWK} ${raw(MANIFEST_FILE)} - || ${fail(stage, 'the staged entries differ from the manifest')}`,
    raw('cd /'),
  );
}

/** Hard links for `link` (paths relative to the base root): as cp's arguments, or through xargs when they are many. */
function linkCommand(stage: string, link: readonly string[]): Shell {
  const bytes = link.reduce((n, p) => n + p.length + 1, 0);
  return bytes <= LINK_ARGS_MAX ? sh`cp -al --parents -t ${stage} -- ${[...link]}` : sh`printf '%s\\n' ${[...link]} | xargs cp -al --parents -t ${stage} --`;
}

/** Up to this many bytes of paths go on cp's command line (Linux takes 2 MiB of arguments; xargs costs a process). */
export const LINK_ARGS_MAX = 64 * 1024;

/**
 * Builds the staged root from the delta tarball and hard links to the unchanged files of release `base`, writes
 * the new manifest and checks the result against it (treeCheckCommand). Hard links impossible (another file
 * system, no GNU cp) or any mismatch: exit 9, the staging dir removed.
 */
export function deltaUnpackCommand(l: Layout, tarPath: string, version: string, id: string, base: string, link: readonly string[], manifest: string): Shell {
  const stage = stagingDir(l, version, id);
  for (const p of link) if (!safePath(p)) throw new Error(`unsafe path in a delta: ${JSON.stringify(p)}`);
  return and(
    sh`[ ! -e ${stage} ] || rm -rf ${stage}`,
    sh`mkdir -p ${stage}`,
    sh`tar -xzf ${tarPath} -C ${stage} || ${fail(stage, 'the delta tarball did not unpack')}`,
    sh`{ cd ${releaseDir(l, base)} && ${linkCommand(stage, link)}; } || ${fail(stage, `cannot hard-link the unchanged files of ${base}`)}`,
    writeManifestCommand(stage, manifest),
    treeCheckCommand(stage),
  );
}

/** The release's manifest into its (staged) root, kept for the next deploy's delta. */
export function writeManifestCommand(root: string, manifest: string): Shell {
  return sh`printf '%s' ${manifest} > ${root}/${raw(MANIFEST_FILE)}`;
}

// Every command line deliver runs on a deploy host, as pure functions of the layout (Kamal style): unit-testable and
// printed verbatim by --dry-run. Values always pass through `sh` (quote.ts); only our own literals are raw.
import { and, chain, forIn, group, ifThen, or, raw, sh, type Shell } from '../ssh/quote.js';
import { checkVersion, linkTarget, releaseDir, stagingDir, type Layout } from './layout.js';

/** Exit codes our scripts use so the pipeline can tell "refused" from "broken". */
export const EXIT_CHECKSUM = 3;
export const EXIT_BAD_RELEASE = 4;
export const EXIT_ACTIVE_DIFFERS = 5;
/** Activation failed inside the combined unpack round trip (deploy-release.ts). */
export const EXIT_ACTIVATE = 7;
/** The tarball did not arrive whole (receiveCommand, verifyCommand with a size). */
export const EXIT_UPLOAD = 8;

/**
 * Writes the rest of stdin, the tarball, to `tarPath` (it streams on the same remote command that unpacks it: no
 * separate SFTP session). `cat` copies in large blocks (`head -c` reads 8 KiB at a time); the tarball is the last
 * thing on stdin, and verifyCommand(…, size) catches a file of the wrong size.
 */
export function receiveCommand(tarPath: string): Shell {
  return sh`cat > ${tarPath} || exit ${EXIT_UPLOAD}`;
}

export { homeCommand } from '../plan/home.js';

/** `mkdir -p` of `dirs`, run only when one of them is missing: no process on a host that already has them all. */
export function ensureDirsCommand(dirs: string[]): Shell {
  return or(and(...dirs.map((d) => sh`[ -d ${d} ]`)), sh`mkdir -p ${dirs}`);
}

/**
 * One read-only look at a host: where the symlink points, what is stored, the activation history and which release
 * the node was started from. Parsed by parseHostState (state.ts).
 */
export function stateCommand(l: Layout): Shell {
  // Shell builtins where a file may be missing (read, globs, tests): on a busy host every process counts.
  return chain(
    ifThen(sh`[ -L ${l.root} ]`, sh`printf 'link=%s\\n' "$(readlink ${l.root})"`, ifElse(sh`[ -e ${l.root} ]`, sh`echo 'link=<directory>'`, sh`echo 'link='`)),
    sh`s=`,
    sh`[ -f ${l.started} ] && IFS= read -r s < ${l.started}`,
    sh`printf 'started=%s\\n' "$s"`,
    sh`echo '[releases]'`,
    forIn('d', sh`${l.releases}/*`, sh`[ -e "$d" ] && printf '%s\\n' "\${d##*/}"`),
    sh`echo '[history]'`,
    ifThen(sh`[ -f ${l.history} ]`, sh`tail -n 200 ${l.history}`),
    sh`true`,
  );
}

/** `if a; then b; elif c; …` is written as an `else` holding the next `if` (the same to sh). */
function ifElse(cond: Shell, then: Shell, otherwise: Shell): Shell {
  return ifThen(cond, then, otherwise);
}

/** Prints the sha256 recorded with an installed release of this version (an empty line when there is none). */
export function installedShaCommand(l: Layout, version: string): Shell {
  const sha = `${releaseDir(l, version)}/.deliver-sha256`;
  return group(chain(sh`x=`, sh`[ -f ${sha} ] && IFS= read -r x < ${sha}`, sh`printf '%s\\n' "$x"`));
}

/** The host's state and, after `[installed-sha]`, installedShaCommand: all a deploy's plan needs (read-only). */
export function inspectCommand(l: Layout, version: string): Shell {
  return chain(stateCommand(l), sh`echo '[installed-sha]'`, installedShaCommand(l, version));
}

/** Removes leftovers of interrupted deploys (safe: we hold the lock). */
export function leftoversCommand(l: Layout): Shell {
  return forIn('f', sh`${l.incoming}/*.part-* ${l.releases}/*.tmp-*`, ifThen(sh`[ -e "$f" ] || [ -L "$f" ]`, sh`rm -rf "$f" || exit 1`));
}

/**
 * Creates deliver's directories, removes leftovers of interrupted deploys and prints the sha256 of an already
 * installed release of this version (empty when none), so an identical one is not re-sent.
 */
export function prepareCommand(l: Layout, version: string): Shell {
  return and(ensureDirsCommand([l.incoming, l.releases]), leftoversCommand(l), installedShaCommand(l, version));
}

/** What a deploy runs right after taking the lock: the host's state, then prepareCommand after `[installed-sha]`. */
export function stateAndPrepareCommand(l: Layout, version: string): Shell {
  return chain(stateCommand(l), sh`echo '[installed-sha]'`, prepareCommand(l, version));
}

/**
 * Refuses (exit 3) and deletes the upload when its sha256 is not the store's: nothing corrupt gets unpacked. OpenSSL
 * hashes with the CPU's SHA instructions (several times faster than coreutils on large releases); sha256sum is the
 * fallback (each `exec`s in its command substitution: one process, not a subshell and a child). With `size`, a short
 * file is reported as an incomplete upload (EXIT_UPLOAD) instead.
 */
export function verifyCommand(tarPath: string, sha256: string, size?: number): Shell {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`invalid sha256 ${JSON.stringify(sha256)}`);
  const short = ifThen(
    sh`[ "$got" -ne ${size ?? 0} ]`,
    chain(sh`rm -f ${tarPath}`, sh`echo "upload incomplete: received $got of ${raw(String(size ?? 0))} bytes" >&2`, sh`exit ${EXIT_UPLOAD}`),
  );
  const refuse = chain(
    ...(size === undefined ? [] : [sh`got=$(wc -c < ${tarPath})`, short]),
    sh`rm -f ${tarPath}`,
    sh`echo "checksum mismatch: expected ${raw(sha256)}, got $actual" >&2`,
    sh`exit ${EXIT_CHECKSUM}`,
  );
  return chain(
    sh`actual=`,
    ifThen(sh`command -v openssl >/dev/null 2>&1`, sh`actual=$(exec openssl dgst -sha256 -r ${tarPath} 2>/dev/null) || actual=`),
    sh`[ -n "$actual" ] || actual=$(exec sha256sum ${tarPath})`,
    sh`actual=\${actual%% *}`,
    ifThen(sh`[ "$actual" != ${sha256} ]`, refuse),
  );
}

/**
 * Unpacks into a staging dir next to the final one. A tarball with an `APP/` prefix (edeliver's mix archives) is
 * flattened. The release must have `bin/APP` and `releases/VSN/`, or nothing is installed (exit 4). `keepTarball`:
 * a later command of the same script removes the upload (one `rm` less on the host).
 * The release's own package `releases/VSN/APP.tar.gz` (Distillery puts one in every release: half its size) is
 * removed: only release_handler reads such a file, for a release it has not installed yet, and it deletes the file
 * itself after unpacking; a release deployed whole is installed (docs/DEPLOY.md, "Distillery").
 */
export function unpackCommand(l: Layout, tarPath: string, version: string, id: string, sha256: string, opts: { keepTarball?: boolean; extracted?: boolean } = {}): Shell {
  const stage = stagingDir(l, version, id);
  const bin = `bin/${l.app}`;
  const refuse = (msg: string) => chain(sh`echo ${msg} >&2`, sh`exit ${EXIT_BAD_RELEASE}`);
  // `extracted`: a delta already built the staged root (delta-commands.ts); only the checks below remain.
  const extract = opts.extracted
    ? []
    : [
        sh`[ ! -e ${stage} ] || rm -rf ${stage}`,
        sh`mkdir -p ${stage}`,
        sh`tar -xzf ${tarPath} -C ${stage}`,
      ];
  return and(
    ...extract,
    opts.keepTarball ? sh`true` : sh`rm -f ${tarPath}`,
    // edeliver's mix archives carry an `APP/` prefix: flattened.
    ...(opts.extracted ? [] : [ifThen(sh`[ ! -e ${stage}/${bin} ] && [ -e ${stage}/${l.app}/${bin} ]`, and(sh`mv ${stage}/${l.app} ${stage}.inner`, sh`rm -rf ${stage}`, sh`mv ${stage}.inner ${stage}`))]),
    // Distillery's copy of the tarball; tested first, since `rm` is a process and the file is seldom there.
    or(sh`[ ! -e ${`${stage}/releases/${version}/${l.app}.tar.gz`} ]`, sh`rm -f ${`${stage}/releases/${version}/${l.app}.tar.gz`}`),
    or(sh`[ -x ${stage}/${bin} ]`, refuse(`not a release root for ${l.app}: bin/${l.app} missing in the tarball`)),
    or(sh`[ -d ${stage}/releases/${version} ]`, refuse(`releases/${version}/ missing in the tarball (is it a release of version ${version}?)`)),
    sh`printf '%s\\n' ${sha256} > ${stage}/.deliver-sha256`,
  );
}

/** LINK_VM_ARGS / LINK_SYS_CONFIG: files already on the host, linked into the staged release's releases/VSN/. */
export function linkConfigCommand(l: Layout, version: string, id: string, links: { vmArgs?: string; sysConfig?: string }): Shell | undefined {
  const dir = `${stagingDir(l, version, id)}/releases/${version}`;
  const parts: Shell[] = [];
  for (const [file, target] of [['vm.args', links.vmArgs], ['sys.config', links.sysConfig]] as const) {
    if (!target) continue;
    const missing = chain(sh`echo ${`${target} does not exist on this host (LINK_${file === 'vm.args' ? 'VM_ARGS' : 'SYS_CONFIG'})`} >&2`, sh`exit ${EXIT_BAD_RELEASE}`);
    parts.push(and(or(sh`[ -e ${target} ]`, missing), sh`ln -sfn ${target} ${dir}/${file}`));
  }
  return parts.length ? and(...parts) : undefined;
}

/**
 * Moves the staged release to its final name. An inactive release of the same version is replaced; the active
 * one is never touched (exit 5: deploy a new version instead of changing the running one's files).
 */
export function installCommand(l: Layout, version: string, id: string): Shell {
  const dir = releaseDir(l, version);
  const refuse = chain(sh`rm -rf ${stagingDir(l, version, id)}`, sh`echo ${`release ${version} is active here with different content; deploy it under a new version`} >&2`, sh`exit ${EXIT_ACTIVE_DIFFERS}`);
  return and(
    ifThen(sh`[ -e ${dir} ]`, chain(ifThen(sh`[ "$(readlink ${l.root} 2>/dev/null)" = ${linkTarget(l, version)} ]`, refuse), sh`rm -rf ${dir}`)),
    sh`mv -T ${stagingDir(l, version, id)} ${dir}`,
  );
}

/**
 * Points `$DELIVER_TO/$APP` at the release in one rename (a temp symlink moved over the old one), so a reader sees
 * either the old or the new release, never a mix. An edeliver-style real directory there is moved into the store
 * as release `edeliver-legacy` first (rollback can return to it). Appends the version to the history.
 */
export function activateCommand(l: Layout, version: string, id: string): Shell {
  const tmp = `${l.root}.tmp-${id}`;
  return and(
    or(sh`[ -d ${releaseDir(l, version)} ]`, chain(sh`echo ${`release ${version} is not installed on this host`} >&2`, sh`exit ${EXIT_BAD_RELEASE}`)),
    ifThen(sh`[ -d ${l.root} ] && [ ! -L ${l.root} ]`, and(sh`mkdir -p ${l.releases}`, sh`mv -T ${l.root} ${l.releases}/edeliver-legacy`)),
    sh`ln -sfn ${linkTarget(l, version)} ${tmp}`,
    sh`mv -T ${tmp} ${l.root}`,
    sh`printf '%s\\n' ${version} >> ${l.history}`,
  );
}

/** Removes the listed stored releases (the caller computed them with pruneList: never the active or started one). */
export function pruneCommand(l: Layout, versions: string[]): Shell | undefined {
  if (versions.length === 0) return undefined;
  return sh`cd ${l.releases} && rm -rf -- ${versions.map(checkVersion)}`;
}

/** Removes this deploy's temp files after a failure or Ctrl-C (upload part, staging dir, temp link). */
export function cleanupCommand(l: Layout, version: string, id: string, tarPath: string): Shell {
  return sh`rm -rf ${tarPath} ${stagingDir(l, version, id)} ${stagingDir(l, version, id)}.inner ${l.root}.tmp-${id}`;
}

/** Appends one JSON line to the on-host audit log. */
export function auditCommand(l: Layout, entry: object): Shell {
  return and(ensureDirsCommand([l.home]), sh`printf '%s\\n' ${JSON.stringify(entry)} >> ${l.auditLog}`);
}

export function auditTailCommand(l: Layout, lines: number): Shell {
  return sh`tail -n ${Math.max(1, Math.floor(lines))} ${l.auditLog} 2>/dev/null; true`;
}

/** Writes stdin (the env file) to `remote` with mode 0600: a temp name first, renamed into place. */
export function envFileCommand(remote: string, id: string): Shell {
  const tmp = `${remote}.tmp-${id}`;
  return and(sh`(umask 077 && cat > ${tmp})`, sh`chmod 600 ${tmp}`, sh`mv -f ${tmp} ${remote}`);
}

/** HEALTH_CHECK (the user's own shell text) run in the release root. */
export function healthCheckCommand(l: Layout, command: string): Shell {
  return and(sh`cd ${l.root}`, raw(command));
}

/** The audit line and pruning after an activation: they never fail a deploy that is already active. */
export function recordCommand(l: Layout, entry: object, prune: Shell | undefined): Shell {
  return or(chain(auditCommand(l, entry), prune ?? sh`true`), sh`true`);
}

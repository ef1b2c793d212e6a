// The command lines of a hot upgrade on a deploy host, as pure functions (printed verbatim by --dry-run, run by a
// real `sh` in the tests). Everything happens in the root of the release the node RUNS (inRunning: the release it
// was started from), because that is the root release_handler unpacks into and reads its own files from:
//   place   → the verified upload moves to where the release tool looks for it; the first upgrade in a root saves
//             the files that make that root boot its own version (bootSaveDir; the next start of that root puts
//             them back: node-commands.ts restoreBootCommand)
//   ensure  → releases/RELEASES exists (mix releases have none; release_handler needs it), made from the running .rel
//   install → release_handler unpacks, installs and makes the new version permanent in the running node
//   keep    → the running root is left as release_handler wrote it (its RELEASES and start_erl.data name what the
//             node runs: a restart by release_handler itself boots that); a copy becomes releases/NEW, so
//             `$DELIVER_TO/$APP` can point at NEW and `deliver restart` boots NEW (docs/UPGRADES.md)
import { and, chain, forIn, ifThen, sh, type Shell } from '../ssh/quote.js';
import { checkVersion, releaseDir, stagingDir, type Layout } from '../deploy/layout.js';
import { BOOT_SAVE_DIR, bootFiles, inRunning, rpcCommand, type ReleaseKind } from '../deploy/node-commands.js';

/** The mix install expression prints one of these last: the installed version, or the failed step and its reason. */
export const UPGRADE_OK = 'deliver-upgrade-ok';
export const UPGRADE_ERROR = 'deliver-upgrade-error';

/** Where each release tool looks for the upgrade tarball, relative to the release root. */
export function upgradeTarballPath(kind: ReleaseKind, app: string, version: string): string {
  checkVersion(version);
  // Distillery's `upgrade` takes releases/VSN/APP.tar.gz; relx looks for releases/APP-VSN.tar.gz first, and
  // release_handler:unpack_release("APP-VSN") reads exactly that file.
  return kind === 'distillery' ? `releases/${version}/${app}.tar.gz` : `releases/${app}-${version}.tar.gz`;
}

/**
 * Moves the verified upload (`upload`, an absolute path) into the running root. The first upgrade of that root
 * saves its boot files (complete or not at all: a temp dir renamed), later ones keep the first save.
 */
export function placeUpgradeCommand(l: Layout, kind: ReleaseKind, upload: string, version: string, envFile?: string): Shell {
  const target = upgradeTarballPath(kind, l.app, version);
  const tmp = `${BOOT_SAVE_DIR}.tmp`;
  const save = and(
    sh`rm -rf ${tmp}`,
    sh`mkdir -p ${tmp}/releases ${tmp}/bin`,
    forIn('f', sh`${bootFiles(l.app)}`, ifThen(sh`[ -f "$f" ]`, sh`cp -p "$f" ${tmp}/"$f" || exit 1`)),
    sh`mv -T ${tmp} ${BOOT_SAVE_DIR}`,
  );
  return and(inRunning(l, envFile), ifThen(sh`[ ! -d ${BOOT_SAVE_DIR} ]`, save), sh`mkdir -p ${target.replace(/\/[^/]+$/, '')}`, sh`mv -f ${upload} ${target}`);
}

/** Removes the tarball from the running root (release_handler's own files stay as it left them). */
export function dropTarballCommand(l: Layout, kind: ReleaseKind, version: string, envFile?: string): Shell {
  return and(inRunning(l, envFile), sh`rm -f ${upgradeTarballPath(kind, l.app, version)}`);
}

/** Creates releases/RELEASES from the running release's .rel when the root has none (a mix release's first upgrade). */
export function ensureReleasesCommand(l: Layout, kind: ReleaseKind, running: string, envFile?: string): Shell {
  const rel = `${checkVersion(running)}/${l.app}.rel`;
  // Erlang for relx (`eval`), Elixir for mix (`rpc`): the same three steps.
  const expr =
    kind === 'relx'
      ? [
        'R = code:root_dir()',
        'D = filename:join(R, "releases")',
        `case filelib:is_file(filename:join(D, "RELEASES")) of true -> ok; false -> release_handler:create_RELEASES(R, D, filename:join(D, "${rel}"), []) end.`,
      ].join(', ')
      : [
        'r = List.to_string(:code.root_dir())',
        'd = Path.join(r, "releases")',
        `if File.exists?(Path.join(d, "RELEASES")), do: :ok, else: :ok = :release_handler.create_RELEASES(r, d, Path.join(d, "${rel}"), [])`,
      ].join('; ');
  return rpcCommand(l, kind, expr, envFile);
}

/**
 * Unpack, install, make permanent. relx and Distillery: their script's `upgrade VSN`. mix: the same release_handler
 * calls through `rpc`; an already unpacked VSN (an earlier failed try) is not unpacked again. release_handler's
 * own rollback applies: a crash after the point of no return restarts the node in place (init:restart) into the
 * release it made permanent last, which is the one it ran.
 */
export function installUpgradeCommand(l: Layout, kind: ReleaseKind, version: string, envFile?: string): Shell {
  checkVersion(version);
  if (kind !== 'mix') return and(inRunning(l, envFile), sh`bin/${l.app} upgrade ${version}`);
  const expr = [
    `v = ~c"${version}"`,
    `unpacked = if List.keyfind(:release_handler.which_releases(), v, 1), do: {:ok, v}, else: :release_handler.unpack_release(~c"${l.app}-${version}")`,
    [
      'with {:unpack, {:ok, _}} <- {:unpack, unpacked}',
      '{:install, {:ok, _, _}} <- {:install, :release_handler.install_release(v)}',
      `{:make_permanent, :ok} <- {:make_permanent, :release_handler.make_permanent(v)} do IO.puts("${UPGRADE_OK} ${version}")`,
    ].join(', ') + ` else {step, r} -> IO.puts("${UPGRADE_ERROR} #{step}: #{inspect(r, limit: 50, printable_limit: 400)}") end`,
  ].join('; ');
  return rpcCommand(l, kind, expr, envFile);
}

/**
 * After a successful install, in the running root: its start_erl.data names VSN (release_handler writes it;
 * Distillery 2.1 does not: written here), and the tarball goes. Then the root is copied to releases/VSN (unless a
 * release of that version is installed there already) without deliver's saved boot files and its sha256 of the old
 * tarball: that copy boots VSN and has release_handler's RELEASES (relative paths) naming VSN permanent.
 */
export function keepUpgradedCommand(l: Layout, kind: ReleaseKind, version: string, id: string, envFile?: string): Shell {
  const dest = releaseDir(l, version);
  const stage = stagingDir(l, version, id);
  const startErl = chain(
    sh`erts=`,
    sh`read -r erts _ < releases/start_erl.data`,
    and(sh`printf '%s %s\\n' "$erts" ${version} > releases/start_erl.data.tmp`, sh`mv -f releases/start_erl.data.tmp releases/start_erl.data`),
  );
  const copy = and(sh`rm -rf ${stage}`, sh`cp -a . ${stage}`, sh`rm -rf ${stage}/${BOOT_SAVE_DIR} ${stage}/.deliver-sha256`, sh`mv -T ${stage} ${dest}`);
  return and(
    inRunning(l, envFile),
    sh`rm -f ${upgradeTarballPath(kind, l.app, version)}`,
    ifThen(sh`[ "$(cut -d' ' -f2 releases/start_erl.data)" != ${version} ]`, startErl),
    ifThen(sh`[ ! -d ${dest} ]`, copy),
  );
}

/** release_handler's reasons carry stack traces: the start names the failure, which is what a summary line needs. */
function cut(reason: string, max = 300): string {
  return reason.length > max ? `${reason.slice(0, max)}…` : reason;
}

/** The installer's verdict from its output: ok, or the reason it printed (release_handler's term, or its last lines). */
export function parseInstallOutput(kind: ReleaseKind, code: number, output: string): { ok: true } | { ok: false; reason: string } {
  const lines = output.split('\n').map((x) => x.trim()).filter(Boolean);
  if (kind === 'mix') {
    if (code === 0 && lines.some((x) => x.startsWith(`${UPGRADE_OK} `))) return { ok: true };
    const err = lines.find((x) => x.startsWith(`${UPGRADE_ERROR} `));
    if (err) return { ok: false, reason: cut(err.slice(UPGRADE_ERROR.length + 1)) };
    return { ok: false, reason: lines.slice(-5).join('\n') || `exit ${code}` };
  }
  if (code === 0) return { ok: true };
  // The scripts print release_handler's reason with ~p: one term over several lines, joined here.
  const at = lines.findIndex((x) => /^ERROR: /.test(x));
  const reason = at === -1 ? lines.slice(-5).join('\n') : cut(lines.slice(at).join(' ').slice(7).replace(/\s+/g, ' '));
  return { ok: false, reason: reason || `exit ${code}` };
}

// `deliver build upgrade --from=REF | --with=VERSION [--to=REF]` and `deliver build appups`: the old release (built
// from REF, or taken from the store), then the new one with `build release`'s pipeline, then on the same build host
// connection: the old release next to the new one, appups, relup, the upgrade tarball, its check, the store.
import { Readable } from 'node:stream';
import { buildRelease, type BuildReleaseDeps, type BuildReleaseOptions, type BuildReleaseResult, type BuiltRelease } from '../build/build-release.js';
import type { ToolSettings } from '../build/commands.js';
import { validateVersion } from '../build/version.js';
import { DeliverError, RemoteError, UsageError } from '../output/errors.js';
import { formatBytes } from '../output/output.js';
import { releaseFileName } from '../store/types.js';
import { sortReleases } from '../store/versions.js';
import * as cmd from './commands.js';
import { UPGRADE_ESCRIPT } from './escript.js';
import { relupFileName } from './stored-relup.js';
import { appupsFileName, parseAppupLines, upgradeFileName, type AppupLine } from './names.js';

export interface BuildUpgradeOptions {
  /** Git ref the old release is built from. */
  from?: string | undefined;
  /** Version of the old release in the store. */
  with?: string | undefined;
  /** Git ref of the new release (default: the current branch's HEAD, or --branch/--revision/--tag). */
  to?: string | undefined;
  /** `build appups`: stop after the appups and store them. */
  appupsOnly: boolean;
  /** How the new release is built (version options apply to it only). */
  release: BuildReleaseOptions;
}

export interface BuildUpgradeResult {
  app: string;
  from: string;
  to: string;
  /** The upgrade tarball, or for `build appups` the appups file. */
  file: string;
  sha256: string;
  size: number;
  store: string;
  appups: AppupLine[];
  /** The old and the new release (the new one is stored too, unless `build appups`). */
  old: BuildReleaseResult | { version: string; file: string; fromStore: true };
  release: BuildReleaseResult;
  durationMs: number;
  dryRun?: boolean;
}

/** Exactly one of --from / --with (exit 2 with a hint otherwise). */
export function checkUpgradeSource(o: { from?: string | undefined; with?: string | undefined }, command: string): void {
  if (o.from !== undefined && o.with !== undefined) throw new UsageError(`${command}: use either --from or --with, not both`);
  if (o.from === undefined && o.with === undefined) {
    throw new UsageError(`${command} needs the release to upgrade from`, {
      hint: `--from=REF builds it from that git ref (e.g. --from=v0.1.0); --with=VERSION takes it from the release store (see \`deliver show releases\`)`,
    });
  }
  if (o.from !== undefined && (o.from === '' || o.from.startsWith('-'))) throw new UsageError(`--from: invalid git ref ${JSON.stringify(o.from)}`);
  if (o.with !== undefined) validateVersion(o.with, '--with');
}

export async function buildUpgrade(o: BuildUpgradeOptions, d: BuildReleaseDeps): Promise<BuildUpgradeResult> {
  const started = Date.now();
  const command = o.appupsOnly ? 'build appups' : 'build upgrade';
  checkUpgradeSource(o, command);
  const app = d.settings.get('APP')?.trim() ?? '';
  const store = await d.store();

  // 1. The old release: from the store, or built from its ref with its own version (no version options).
  let old: BuildUpgradeResult['old'];
  if (o.with !== undefined) {
    const file = releaseFileName(app, o.with);
    if (!d.dryRun && !(await store.stat(file))) {
      const have = sortReleases((await store.list(app)).filter((r) => r.type === 'release')).map((r) => r.version);
      throw new UsageError(`--with=${o.with}: ${store.description} has no ${file}`, {
        hint: have.length > 0 ? `releases in the store: ${have.join(', ')}; or build it with --from=<git tag of ${o.with}>` : `build it with --from=<git tag of ${o.with}>`,
      });
    }
    old = { version: o.with, file, fromStore: true };
  } else {
    d.out.info(`building the release to upgrade from (${o.from})`);
    const base = { ...o.release, version: { metadata: [] }, useStored: true, force: false, skipStore: false };
    delete base.branch;
    delete base.tag;
    const { onBuilt: _none, ...plain } = d;
    old = await buildRelease({ ...base, revision: o.from as string }, plain);
    if (old.fromStore) d.out.info(`using ${old.file} from ${store.description} (already there)`);
  }

  // 2. The new release, then the upgrade steps on the same connection.
  // A new release `build release` already stored is kept (--force replaces it); the upgrade is built either way.
  const newOpts: BuildReleaseOptions = { ...o.release, skipStore: o.appupsOnly, keepStored: !o.release.force };
  if (o.to !== undefined) {
    delete newOpts.branch;
    delete newOpts.tag;
    newOpts.revision = o.to;
  }
  let produced: Omit<BuildUpgradeResult, 'app' | 'old' | 'release' | 'durationMs' | 'from' | 'to' | 'store'> | undefined;
  const release = await buildRelease(newOpts, {
    ...d,
    onBuilt: async (b) => {
      produced = await upgradeSteps(o, d, b, app, old.version, old.file);
    },
  });
  if (produced === undefined) throw new DeliverError(`${command}: the new release was not built`);
  const result: BuildUpgradeResult = {
    app,
    from: old.version,
    to: release.version,
    store: store.description,
    ...produced,
    old,
    release,
    durationMs: Date.now() - started,
  };
  if (d.dryRun) result.dryRun = true;
  return result;
}

async function upgradeSteps(o: BuildUpgradeOptions, d: BuildReleaseDeps, b: BuiltRelease, app: string, from: string, oldFile: string) {
  const { out } = d;
  const t = b.tools;
  if (b.version === from) {
    throw new UsageError(`the new release has the same version as the old one (${from}): release_handler cannot upgrade between them`, {
      hint: 'bump the version in the project (mix.exs / rebar.config and the .app.src), or build with --set-version / --increment-version',
    });
  }
  if (t.kind.releaseTool === 'relx') {
    throw new UsageError('hot upgrades of relx.config projects are not supported: build them with rebar3 (rebar.config, or RELEASE_CMD=rebar3)');
  }
  if (t.kind.releaseTool === 'distillery' && o.appupsOnly) {
    throw new UsageError('Distillery generates its own appups (rel/appups/APP/OLD_to_NEW.appup for your own): `build appups` is for mix release and rebar3');
  }
  const file = o.appupsOnly ? appupsFileName(app, from, b.version) : upgradeFileName(app, b.version);
  if (!o.release.force && !d.dryRun && (await b.store.stat(file))) {
    throw new UsageError(`${b.store.description} already has ${file}`, { hint: 'use --force to replace it' });
  }
  const p: cmd.UpgradePaths = { buildDir: b.buildDir, releaseDir: b.releaseDir, name: t.releaseName ?? t.app, from, to: b.version };

  // --dry-run names the program instead of printing its 200 lines.
  const program = d.dryRun ? `<deliver_upgrade.erl: ${UPGRADE_ESCRIPT.split('\n').length} lines, src/upgrade/escript.ts>` : UPGRADE_ESCRIPT;
  await b.step('prepare the upgrade', b.inDir(cmd.prepareWorkDir(p)), { stdin: program });
  await upload(d, b, oldFile, cmd.oldTarball(p));
  await b.step(`unpack ${oldFile}`, b.inDir(cmd.unpackOld(p)));
  const storedAppups = appupsFileName(app, from, b.version);
  const given = !o.appupsOnly && !d.dryRun && (await b.store.stat(storedAppups)) !== undefined;
  if (given) await uploadAppups(d, b, storedAppups, cmd.givenAppups(p));

  let appups: AppupLine[] = [];
  const generate = async (buildLib?: string) => {
    const r = await saslChecked(t, () => b.step('appups', b.inDir(cmd.generateAppups(p, { ...(buildLib ? { buildLib } : {}), given, write: o.appupsOnly }))));
    appups = parseAppupLines(r.stdout);
    for (const a of appups) out.debug(`appup ${a.app} ${a.from} → ${a.to}: ${a.source}`);
  };
  let tarball: string;
  switch (t.kind.releaseTool) {
    case 'mix-release':
      await generate();
      if (o.appupsOnly) return storeFile(d, b, cmd.writtenAppups(p), file, appups);
      await b.step('relup (systools:make_relup)', b.inDir(cmd.makeRelup(p)));
      await b.step('pack the upgrade', b.inDir(cmd.packMixUpgrade(p)));
      tarball = cmd.upgradeTarball(t, p);
      break;
    case 'rebar3':
      await b.step(`add ${from} to the release directory`, b.inDir(cmd.addOldRelease(p)));
      await generate(`${b.buildDir}/_build/${t.rebarProfile}/lib`);
      if (o.appupsOnly) return storeFile(d, b, cmd.writtenAppups(p), file, appups);
      await b.step('relup and tarball (rebar3)', b.inDir(...cmd.rebar3Upgrade(t, p)));
      tarball = cmd.upgradeTarball(t, p);
      break;
    default:
      await b.step(`add ${from} to the release directory`, b.inDir(cmd.addOldRelease(p)));
      await b.step('upgrade release (Distillery)', b.inDir(...cmd.distilleryUpgrade(t, p)));
      tarball = cmd.upgradeTarball(t, p);
  }
  const dest = `${b.buildDir}/_build/deliver/${file}`;
  await b.step(`check ${file} (relup from ${from}, unpacks)`, b.inDir(cmd.checkUpgrade(p, tarball, dest)), { quiet: true });
  const stored = await storeFile(d, b, dest, file, appups);
  // A copy of the relup beside it, so `show releases` / `show relup` need not download the tarball.
  await storeFile(d, b, `${p.releaseDir}/releases/${p.to}/relup`, relupFileName(app, p.to), appups);
  return stored;
}

/** The one refusal users fix with one line: no sasl (so no release_handler) started in a release. */
async function saslChecked<T>(t: ToolSettings, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    const m = e instanceof RemoteError ? /the release (\S+) has no sasl/.exec(e.detail ?? '') : null;
    if (!m) throw e;
    const name = t.releaseName ?? t.app;
    throw new UsageError(`the release ${m[1]} has no sasl, so no release_handler to install upgrades with`, {
      hint: t.kind.buildTool === 'mix'
        ? `start sasl in the release: in mix.exs, project/0: \`releases: [${name}: [applications: [sasl: :permanent]]]\` (then build, deploy and start a release with it before upgrading from it)`
        : `add sasl to the release's applications in rebar.config: \`{release, {${name}, "VSN"}, [${name}, sasl]}\` (then build, deploy and start a release with it before upgrading from it)`,
    });
  }
}

async function upload(d: BuildReleaseDeps, b: BuiltRelease, file: string, remote: string): Promise<void> {
  if (d.dryRun) {
    d.out.info(`# upload ${file} from ${b.store.description} to ${remote}`);
    return;
  }
  const t0 = Date.now();
  const got = await b.store.get(file, { signal: d.signal });
  await b.backend.upload(got.stream, remote, { signal: d.signal });
  d.out.step(`upload ${file} (${formatBytes(got.size)}) to the build host`, Date.now() - t0);
}

/**
 * The store's appups, as the user may have edited them after `build appups` stored them: a checksum mismatch means
 * an edit here (the file is for editing), so the edited text is used, and said so.
 */
async function uploadAppups(d: BuildReleaseDeps, b: BuiltRelease, file: string, remote: string): Promise<void> {
  const got = await b.store.get(file, { signal: d.signal });
  const chunks: Buffer[] = [];
  try {
    for await (const c of got.stream) chunks.push(Buffer.from(c as Buffer));
  } catch (e) {
    if (!(e instanceof DeliverError && /checksum mismatch/.test(e.message))) throw e;
    d.out.info(`${file} was edited after \`build appups\` stored it: using the edited appups`);
  }
  await b.backend.upload(Readable.from([Buffer.concat(chunks)]), remote, { signal: d.signal });
  d.out.step(`upload ${file} (appups from ${b.store.description})`);
}

async function storeFile(d: BuildReleaseDeps, b: BuiltRelease, remote: string, file: string, appups: AppupLine[]) {
  if (d.dryRun) {
    d.out.info(`# download ${remote} into ${b.store.description} as ${file}`);
    return { file, sha256: '', size: 0, appups };
  }
  const t0 = Date.now();
  const stream = await b.backend.download(remote, { signal: d.signal });
  const stored = await b.store.put(file, stream, { force: true, signal: d.signal });
  d.out.step(`store ${file} (${formatBytes(stored.size)}) in ${b.store.description}`, Date.now() - t0);
  return { file, sha256: stored.sha256 ?? '', size: stored.size, appups };
}

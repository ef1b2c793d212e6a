// `deliver build upgrade --from=REF | --with=VERSION [--to=REF]` and `deliver build appups`: the old release (built
// from REF, or taken from the store), then the new one with `build release`'s pipeline, then on the same build host
// connection: the old release next to the new one, appups, relup, the upgrade tarball, its check, the store.
import { BuildSteps, type BuildFacts, type BuildStep } from '../build/build-plan.js';
import { buildRelease, planBuildFacts, type BuildReleaseDeps, type BuildReleaseOptions, type BuildReleaseResult, type BuiltRelease } from '../build/build-release.js';
import { runBuildStep } from '../build/build-run.js';
import type { ToolSettings } from '../build/commands.js';
import { validateVersion } from '../build/version.js';
import { DeliverError, RemoteError, UsageError } from '../output/errors.js';
import { appendSteps, type RunPlan } from '../plan/plan.js';
import { raw } from '../ssh/quote.js';
import type { ReleaseStore } from '../store/types.js';
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

/** --with: the stored old release (a read-only look at the store, also in a dry run). */
async function storedOld(app: string, version: string, store: ReleaseStore): Promise<{ version: string; file: string; fromStore: true }> {
  const file = releaseFileName(app, version);
  if (!(await store.stat(file))) {
    const have = sortReleases((await store.list(app)).filter((r) => r.type === 'release')).map((r) => r.version);
    throw new UsageError(`--with=${version}: ${store.description} has no ${file}`, {
      hint: have.length > 0 ? `releases in the store: ${have.join(', ')}; or build it with --from=<git tag of ${version}>` : `build it with --from=<git tag of ${version}>`,
    });
  }
  return { version, file, fromStore: true };
}

/** --from: the old release is built from its ref with its own version (no version options), or taken from the store. */
function oldOptions(o: BuildUpgradeOptions): BuildReleaseOptions {
  const base = { ...o.release, version: { metadata: [] }, useStored: true, force: false, skipStore: false };
  delete base.branch;
  delete base.tag;
  return { ...base, revision: o.from as string };
}

/** The new release: a stored one is kept (--force replaces it); `build appups` leaves the store alone. */
function newOptions(o: BuildUpgradeOptions): BuildReleaseOptions {
  const newOpts: BuildReleaseOptions = { ...o.release, skipStore: o.appupsOnly, keepStored: !o.release.force };
  if (o.to !== undefined) {
    delete newOpts.branch;
    delete newOpts.tag;
    newOpts.revision = o.to;
  }
  return newOpts;
}

export async function buildUpgrade(o: BuildUpgradeOptions, d: BuildReleaseDeps): Promise<BuildUpgradeResult> {
  const started = Date.now();
  const command = o.appupsOnly ? 'build appups' : 'build upgrade';
  checkUpgradeSource(o, command);
  const app = d.config.app;
  const store = await d.store();

  // 1. The old release.
  let old: BuildUpgradeResult['old'];
  if (o.with !== undefined) old = await storedOld(app, o.with, store);
  else {
    d.out.info(`building the release to upgrade from (${o.from})`);
    const { onBuilt: _none, ...plain } = d;
    old = await buildRelease(oldOptions(o), plain);
    if (old.fromStore) d.out.info(`using ${old.file} from ${store.description} (already there)`);
  }

  // 2. The new release, then the upgrade steps on the same connection.
  let produced: Omit<BuildUpgradeResult, 'app' | 'old' | 'release' | 'durationMs' | 'from' | 'to' | 'store'> | undefined;
  const release = await buildRelease(newOptions(o), {
    ...d,
    onBuilt: async (b) => {
      produced = await upgradeSteps(o, b, old.version, old.file);
    },
  });
  if (produced === undefined) throw new DeliverError(`${command}: the new release was not built`);
  return { app, from: old.version, to: release.version, store: store.description, ...produced, old, release, durationMs: Date.now() - started };
}

/** `--dry-run`: the old release's plan (or the stored one), the new release's, then the upgrade's steps. */
export async function planUpgrade(o: BuildUpgradeOptions, d: BuildReleaseDeps): Promise<RunPlan> {
  checkUpgradeSource(o, o.appupsOnly ? 'build appups' : 'build upgrade');
  const app = d.config.app;
  const store = await d.store();
  const old = o.with !== undefined ? { plan: undefined, version: (await storedOld(app, o.with, store)).version } : await oldPlan(o, d);
  const neu = await planBuildFacts(newOptions(o), d);
  const f = neu.f!;
  const to = f.version ?? 'VERSION';
  checkUpgradable(o, f.tools, old.version, to);
  const releaseDir = f.relDir.startsWith('/') ? f.relDir : `${f.buildDir}/${f.relDir}`;
  const given = !o.appupsOnly && (await store.stat(appupsFileName(app, old.version, to))) !== undefined;
  const steps = upgradePlan(f, upgradePaths(f, releaseDir, old.version, to), releaseFileName(app, old.version), { appupsOnly: o.appupsOnly, given });
  const host = neu.plan.hosts[0]!;
  const before = old.plan?.hosts[0]?.steps ?? [];
  return {
    title: `${o.appupsOnly ? 'build appups' : 'build upgrade'} ${app} ${old.version} → ${to}`,
    facts: [...(old.plan ? old.plan.facts.map((l) => `old release: ${l}`) : [`old release: ${releaseFileName(app, old.version)} from ${store.description}`]), ...neu.plan.facts.map((l) => `new release: ${l}`)],
    hosts: [{ ...host, steps: appendSteps(appendSteps(before, host.steps), steps) }],
  };
}

async function oldPlan(o: BuildUpgradeOptions, d: BuildReleaseDeps): Promise<{ plan: RunPlan; version: string }> {
  const { plan, version } = await planBuildFacts(oldOptions(o), d);
  return { plan, version: version ?? 'OLD' };
}

/** The upgrade can be built from these two releases with this tool (checked before any upgrade step). */
function checkUpgradable(o: BuildUpgradeOptions, t: ToolSettings, from: string, to: string): void {
  if (to === from) {
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
}

/**
 * The upgrade's steps on the build host, after the new release is built: the old release beside it, appups (the
 * stored ones, possibly edited, when `given`), relup, the tarball, its check, into the store with the relup beside
 * it. `build appups` stops after the appups and stores them.
 */
export function upgradePlan(f: BuildFacts, p: cmd.UpgradePaths, oldFile: string, o: { appupsOnly: boolean; given: boolean }): BuildStep[] {
  const t = f.tools;
  const s = new BuildSteps(f);
  const store = (remote: string, file: string) => s.local(`store ${file}`, `streams ${remote} from ${f.host} into ${f.store}`, raw(''), { kind: 'store', remote, file, force: true });
  const appups = (buildLib?: string) =>
    s.remote('appups', `the appups of every application that changed from ${p.from} to ${p.to}${o.given ? ' (the stored appups win)' : ''}`, [cmd.generateAppups(p, { ...(buildLib ? { buildLib } : {}), given: o.given, write: o.appupsOnly })]);
  const addOld = () => s.remote(`add ${p.from} to the release directory`, `the old release beside ${p.to} in ${p.releaseDir}`, [cmd.addOldRelease(p)]);
  s.remote('prepare the upgrade', `a work directory under ${f.buildDir} with deliver's upgrade program`, [cmd.prepareWorkDir(p)], { text: { what: 'the upgrade program deliver_upgrade.erl (src/upgrade/escript.ts)', text: UPGRADE_ESCRIPT } });
  s.local(`upload ${oldFile}`, `from ${f.store} to ${cmd.oldTarball(p)} on ${f.host}`, raw(''), { kind: 'upload', file: oldFile, remote: cmd.oldTarball(p) });
  s.remote(`unpack ${oldFile}`, 'the old release in the work directory', [cmd.unpackOld(p)]);
  const stored = appupsFileName(f.app, p.from, p.to);
  if (o.given) s.local(`upload ${stored}`, `the appups stored by \`build appups\` (edited or not) to ${cmd.givenAppups(p)}`, raw(''), { kind: 'upload', file: stored, remote: cmd.givenAppups(p), edited: true });
  if (t.kind.releaseTool === 'mix-release') {
    appups();
    if (o.appupsOnly) return store(cmd.writtenAppups(p), stored).steps;
    s.remote('relup (systools:make_relup)', `relup from ${p.from} to ${p.to}`, [cmd.makeRelup(p)]);
    s.remote('pack the upgrade', `the upgrade tarball of ${p.to}`, [cmd.packMixUpgrade(p)]);
  } else if (t.kind.releaseTool === 'rebar3') {
    addOld();
    appups(`${f.buildDir}/_build/${t.rebarProfile}/lib`);
    if (o.appupsOnly) return store(cmd.writtenAppups(p), stored).steps;
    s.remote('relup and tarball (rebar3)', `rebar3 relup and tar from ${p.from}`, cmd.rebar3Upgrade(t, p));
  } else {
    addOld();
    s.remote('upgrade release (Distillery)', `distillery.release --upgrade from ${p.from}`, cmd.distilleryUpgrade(t, p));
  }
  const file = upgradeFileName(f.app, p.to);
  const dest = `${f.buildDir}/_build/deliver/${file}`;
  s.remote(`check ${file} (relup from ${p.from}, unpacks)`, `the tarball has a relup from ${p.from} and unpacks`, [cmd.checkUpgrade(p, cmd.upgradeTarball(t, p), dest)]);
  store(dest, file);
  // A copy of the relup beside it, so `show releases` / `show relup` need not download the tarball.
  return store(`${p.releaseDir}/releases/${p.to}/relup`, relupFileName(f.app, p.to)).steps;
}

/** The upgrade paths of a build: the new release's directory, the old and new versions. */
function upgradePaths(f: BuildFacts, releaseDir: string, from: string, to: string): cmd.UpgradePaths {
  return { buildDir: f.buildDir, releaseDir, name: f.tools.releaseName ?? f.app, from, to };
}

async function upgradeSteps(o: BuildUpgradeOptions, b: BuiltRelease, from: string, oldFile: string) {
  const x = b.run;
  const { f } = x;
  checkUpgradable(o, f.tools, from, b.version);
  const file = o.appupsOnly ? appupsFileName(f.app, from, b.version) : upgradeFileName(f.app, b.version);
  if (!o.release.force && (await x.store.stat(file))) {
    throw new UsageError(`${x.store.description} already has ${file}`, { hint: 'use --force to replace it' });
  }
  const given = !o.appupsOnly && (await x.store.stat(appupsFileName(f.app, from, b.version))) !== undefined;
  let appups: AppupLine[] = [];
  let stored: { sha256?: string; size: number } | undefined;
  for (const s of upgradePlan(f, upgradePaths(f, b.releaseDir, from, b.version), oldFile, { appupsOnly: o.appupsOnly, given })) {
    const r = s.name === 'appups' ? await saslChecked(f.tools, () => runBuildStep(x, s)) : await runBuildStep(x, s);
    if (s.name === 'appups') {
      appups = parseAppupLines(r.result?.stdout ?? '');
      for (const a of appups) x.out.debug(`appup ${a.app} ${a.from} → ${a.to}: ${a.source}`);
    }
    stored ??= r.stored;
  }
  return { file, sha256: stored?.sha256 ?? '', size: stored?.size ?? 0, appups };
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

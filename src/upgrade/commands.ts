// Command lines for the upgrade steps on the build host. All paths are absolute build-host paths deliver made
// itself (the build directory, the release directory in it); versions and names are validated before they get here.
import { mix, rebar3, type ToolSettings } from '../build/commands.js';
import { and, raw, sh, type Shell } from '../ssh/quote.js';
import { UPGRADE_ESCRIPT_NAME } from './escript.js';

/** What the upgrade steps work on: the new release's directory and the versions it upgrades between. */
export interface UpgradePaths {
  /** Absolute build directory on the build host. */
  buildDir: string;
  /** Absolute directory of the new release (the release tool's output). */
  releaseDir: string;
  /** Release name (`--release` or APP). */
  name: string;
  from: string;
  to: string;
}

/** deliver's scratch directory for upgrades, inside the build directory (removed by the next build's git clean). */
export function workDir(buildDir: string): string {
  return `${buildDir}/_build/deliver/upgrade`;
}

function escript(p: UpgradePaths): string {
  return `${workDir(p.buildDir)}/${UPGRADE_ESCRIPT_NAME}`;
}

/** The old release unpacked here; the store's appups uploaded here; generated appups written here. */
export const oldRoot = (p: UpgradePaths): string => `${workDir(p.buildDir)}/old`;
export const givenAppups = (p: UpgradePaths): string => `${workDir(p.buildDir)}/given.appups`;
export const writtenAppups = (p: UpgradePaths): string => `${workDir(p.buildDir)}/written.appups`;
export const oldTarball = (p: UpgradePaths): string => `${workDir(p.buildDir)}/old.tar.gz`;

/** A fresh scratch directory; the escript arrives on stdin (never on a command line). */
export function prepareWorkDir(p: UpgradePaths): Shell {
  const w = workDir(p.buildDir);
  return and(sh`rm -rf ${w}`, sh`mkdir -p ${w}/old`, sh`cat > ${escript(p)}`);
}

/** Unpacks the uploaded old release tarball and checks it is the version it claims to be. */
export function unpackOld(p: UpgradePaths): Shell {
  return and(sh`tar -xzf ${oldTarball(p)} -C ${oldRoot(p)}`, sh`rm -f ${oldTarball(p)}`, sh`test -d ${oldRoot(p)}/releases/${p.from}`);
}

/**
 * Writes an appup into the new release for every application whose version changed (the user's, the store's, else
 * generated from the beams). rebar3 reassembles the release in `rebar3 relup`, so its copies also go to rebar3's
 * `_build/PROFILE/lib/APP/ebin`.
 */
export function generateAppups(p: UpgradePaths, o: { buildLib?: string; given: boolean; write: boolean }): Shell {
  const files = [o.buildLib ?? '-', o.given ? givenAppups(p) : '-', o.write ? writtenAppups(p) : '-'];
  return sh`escript ${escript(p)} appups ${[oldRoot(p), p.releaseDir, p.name, p.from, p.to, p.buildDir, ...files]}`;
}

/** mix release: the relup from both releases' .rel files (systools:make_relup), into releases/NEW/relup. */
export function makeRelup(p: UpgradePaths): Shell {
  return sh`escript ${escript(p)} relup ${oldRoot(p)} ${p.releaseDir} ${p.name} ${p.from} ${p.to}`;
}

/** rebar3 needs the old release inside the new release directory (lib/APP-OLD and releases/OLD) for its relup. */
export function addOldRelease(p: UpgradePaths): Shell {
  const old = oldRoot(p);
  return and(
    sh`rm -rf ${p.releaseDir}/releases/${p.from}`,
    sh`cp -R ${old}/releases/${p.from} ${p.releaseDir}/releases/`,
    sh`cp -Rn ${old}/lib/. ${p.releaseDir}/lib/`,
  );
}

/** rebar3/relx: rebar3's relup (it reassembles the release, then systools), then its tarball with the relup. */
export function rebar3Upgrade(t: ToolSettings, p: UpgradePaths): Shell[] {
  return [
    sh`${rebar3(t)} relup --relname ${p.name} --relvsn ${p.to} --upfrom ${p.from}`,
    sh`${rebar3(t)} tar --relname ${p.name} --relvsn ${p.to}`,
  ];
}

/** Distillery builds the upgrade itself (its own appups) with the old release in its output directory. */
export function distilleryUpgrade(t: ToolSettings, p: UpgradePaths): Shell[] {
  return [sh`${mix(t)} distillery.release --env=${t.mixEnv} --name=${p.name} --upgrade --upfrom=${p.from}${t.verbose ? raw(' --verbose') : raw('')}`];
}

/** Where each release tool leaves the upgrade tarball (mix release: deliver packs it, see packMixUpgrade). */
export function toolTarball(t: ToolSettings, p: UpgradePaths): string {
  if (t.kind.releaseTool === 'distillery') return `${p.releaseDir}/releases/${p.to}/${p.name}.tar.gz`;
  return `${p.releaseDir}/${p.name}-${p.to}.tar.gz`;
}

/**
 * mix release: a tarball in release_handler's format — the new release's lib/ and releases/NEW/ (with the relup),
 * plus releases/NAME-NEW.rel, so `release_handler:unpack_release("NAME-NEW")` takes it from releases/NAME-NEW.tar.gz
 * (the same name relx's `bin/NAME upgrade` looks for first). No bin/, erts or start_erl.data: release_handler
 * writes start_erl.data itself when the release is made permanent.
 */
export function packMixUpgrade(p: UpgradePaths): Shell {
  const rel = `releases/${p.name}-${p.to}.rel`;
  return and(
    sh`cp ${p.releaseDir}/releases/${p.to}/${p.name}.rel ${p.releaseDir}/${rel}`,
    sh`tar -czf ${toolTarballMix(p)} -C ${p.releaseDir} lib releases/${p.to} ${rel}`,
    sh`rm -f ${p.releaseDir}/${rel}`,
  );
}

function toolTarballMix(p: UpgradePaths): string {
  return `${workDir(p.buildDir)}/${p.name}-${p.to}.tar.gz`;
}

/** The tarball the release tool (or deliver, for mix release) made. */
export function upgradeTarball(t: ToolSettings, p: UpgradePaths): string {
  return t.kind.releaseTool === 'mix-release' ? toolTarballMix(p) : toolTarball(t, p);
}

/**
 * The check before storing: the tarball unpacks, holds releases/NEW/relup, and that relup upgrades from the old
 * version (and back); then it moves to `dest` and prints its size.
 */
export function checkUpgrade(p: UpgradePaths, tarball: string, dest: string): Shell {
  const check = `${workDir(p.buildDir)}/check`;
  return and(
    sh`rm -rf ${check}`,
    sh`mkdir -p ${check}`,
    sh`tar -xzf ${tarball} -C ${check}`,
    sh`escript ${escript(p)} check ${check}/releases/${p.to}/relup ${p.from} ${p.to}`,
    sh`rm -rf ${check}`,
    sh`mv -f ${tarball} ${dest}`,
    sh`wc -c < ${dest}`,
  );
}

/** Leaves the scratch directory's generated appups (for `build appups`) and prints their size. */
export function appupsSize(p: UpgradePaths): Shell {
  return sh`wc -c < ${writtenAppups(p)}`;
}

// A deploy's steps on one host as a pure function of (config, release, host state): what the real run executes
// and the dry run prints. Stage one follows the lock (transfer, install, activate); with START_DEPLOY stage two
// follows what the release kind and the node's pid say once the release is active.
import type { HookDef } from '../config/types.js';
import { StepList, type Step } from '../plan/plan.js';
import { runScriptFromStdin } from '../ssh/continuation.js';
import { and, chain, group, or, sh, subshell, type Shell } from '../ssh/quote.js';
import { auditEntry } from './audit.js';
import { baseManifestCommand, baseOfOutput, deltaUnpackCommand, writeManifestCommand } from './delta-commands.js';
import type { Base, DeltaPlan } from './delta.js';
import type { DeltaTar } from './delta-source.js';
import { parseManifest } from './manifest.js';
import {
  activateCommand, auditCommand, envFileCommand, EXIT_ACTIVATE, healthCheckCommand, installCommand, linkConfigCommand, pruneCommand, receiveCommand, recordCommand,
  inspectCommand, stateAndPrepareCommand, unpackCommand, verifyCommand,
} from './commands.js';
import { hookCommand, type DeployHookName } from './hooks.js';
import { envFile, stagingDir, uploadPath, type Layout } from './layout.js';
import { acquireThenCommand, unlockCommand, type LockOwner } from './lock.js';
import { startSteps, stopSteps, type NodeTarget } from './node-plan.js';
import type { ReleaseKind } from './node-commands.js';
import { pullCommand } from './pull.js';
import { afterActivation, pruneList, sectionOf, parseHostState, type HostState } from './state.js';

/** What a deploy needs to know about the release (ReleaseSource without the bytes). */
export interface ReleaseRef {
  file: string;
  sha256: string;
  size: number;
  /** The hosts download it themselves (S3 presigned URL). */
  pull: boolean;
}

export interface DeployConfig {
  app: string;
  env: string;
  version: string;
  /** DELIVER_TO; a host's own path (`user@host:/path` nodes) wins. */
  deliverTo: string;
  keepReleases: number;
  startDeploy: boolean;
  cleanDeploy: boolean;
  links: { vmArgs?: string; sysConfig?: string };
  /** Local `.deliver/<env>.env`, uploaded with mode 0600 when it exists. */
  envFileLocal?: string;
  /** CLUSTER_NODE_NAME: each host's lines for its env file (src/config/cluster.ts), by target name. */
  clusterEnv?: ReadonlyMap<string, string>;
  hooks: ReadonlyMap<string, HookDef>;
  /** Shell command run in the release root after start; retried until it succeeds or healthTimeoutMs passes. */
  healthCheck?: string;
  healthTimeoutMs: number;
  startTimeoutMs: number;
  lock: { waitMs: number; ttlMs: number };
  /** What the lock and audit log say is running (`deploy release`, `update`). */
  command: string;
  /** RELEASE_KIND / USING_DISTILLERY=true: the release kind, when the user set it (wins over detection). */
  configuredKind?: ReleaseKind;
  /** Why no host gets a delta (--no-delta, DELTA_DEPLOY=false, --pull); undefined: hosts with a release may. */
  deltaOff?: string;
}

/** Names fixed for one host's deploy: temp files and the lock's owner record. */
export interface HostIds {
  id: string;
  owner: LockOwner;
}

/** What the lock step (or, in a dry run, the same read-only look) found on the host. */
export interface Inspected {
  state: HostState;
  /** sha256 recorded with an installed release of this version ('' when none). */
  installedSha: string;
  /** The active release and its manifest, when the look asked for them (delta deploys). */
  base?: Base;
}

export function parseInspected(stdout: string): Inspected {
  const b = baseOfOutput(stdout);
  const base = b && { version: b.version, ...(b.text.trim() ? { manifest: parseManifest(b.text) } : {}) };
  return { state: parseHostState(stdout), installedSha: sectionOf(stdout, 'installed-sha')[0] ?? '', ...(base ? { base } : {}) };
}

/** Everything one host's steps are computed from. */
export interface DeployHost {
  cfg: DeployConfig;
  release: ReleaseRef;
  layout: Layout;
  ids: HostIds;
  /** The local env file (when there is one) and this host's cluster lines, with the bytes sent. */
  envFile?: { local?: string; bytes: number; cluster?: string };
  /** The release's manifest text, written into the new root for the next deploy's delta (unknown with --pull). */
  manifest?: string;
  /** This host gets a delta: what is linked and sent, and the tarball that carries it. */
  delta?: { plan: DeltaPlan; tar: DeltaTar };
  /** Why this host gets the full tarball (shown by the plan and the summary). */
  full?: string;
}

/** Why no host of this deploy gets a delta, if that follows from the configuration alone. */
export function deltaOffReason(cfg: DeployConfig): string | undefined {
  if (cfg.deltaOff) return cfg.deltaOff;
  if (cfg.hooks.has('pre_extract_release_archive') || cfg.hooks.has('post_extract_release_archive')) return 'extract hooks may change the unpacked files in place';
  return undefined;
}

/** What the lock step runs once the lock is ours: the state, the preparation and (delta on) the base's manifest. */
export function prepareScript(h: DeployHost): Shell {
  const prep = stateAndPrepareCommand(h.layout, h.cfg.version);
  return deltaOffReason(h.cfg) ? prep : chain(prep, baseManifestCommand(h.layout, true));
}

/** The dry run's read-only look: the same facts as prepareScript without changing anything. */
export function inspectScript(h: DeployHost): Shell {
  const look = inspectCommand(h.layout, h.cfg.version);
  return deltaOffReason(h.cfg) ? look : chain(look, baseManifestCommand(h.layout, false));
}

/**
 * Step 1: take the lock; in the same shell read the state, create the directories and clear leftovers of
 * interrupted deploys, then wait for the rest of the session's script (ssh/continuation.ts).
 */
export function lockStep(h: DeployHost): Step {
  const l = h.layout;
  const script = acquireThenCommand(l, h.ids.owner, prepareScript(h), runScriptFromStdin(), [l.incoming, l.releases]);
  return new StepList().add('lock', `take the deploy lock ${l.lock}, read the host's state, remove leftovers of interrupted deploys`, script).steps[0]!;
}

function hookVars(h: DeployHost, seen: Inspected, dir: string): Record<string, string | undefined> {
  return { APP: h.cfg.app, VERSION: h.cfg.version, DEPLOY_ENVIRONMENT: h.cfg.env, DELIVER_TO: h.layout.deliverTo, RELEASE_DIR: dir, PREVIOUS_VERSION: seen.state.active };
}

function hook(h: DeployHost, seen: Inspected, name: DeployHookName, dir: string): Shell | undefined {
  return hookCommand(h.cfg.hooks, name, hookVars(h, seen, dir));
}

/** The release being replaced (none when it is already this version). */
export function previousOf(h: DeployHost, seen: Inspected): string | undefined {
  return seen.state.active !== h.cfg.version ? seen.state.active : undefined;
}

/** The same sha256 of this version is installed: nothing is sent. */
export function reuses(h: DeployHost, seen: Inspected): boolean {
  return seen.installedSha === h.release.sha256 && seen.state.releases.includes(h.cfg.version);
}

/** Nothing has to happen between the unpack and the unlock: one session does it all. */
function allInOne(h: DeployHost): boolean {
  return !h.cfg.startDeploy && !h.envFile && !hasExtractHooks(h);
}

function hasExtractHooks(h: DeployHost): boolean {
  return h.cfg.hooks.has('pre_extract_release_archive') || h.cfg.hooks.has('post_extract_release_archive');
}

/** The audit line and the pruning after activation; what `keep` leaves. */
function record(h: DeployHost, seen: Inspected, started: boolean): { script: Shell; pruned: string[] } {
  const previous = previousOf(h, seen);
  const entry = auditEntry({ action: 'deploy', env: h.cfg.env, version: h.cfg.version, ...(previous ? { previous } : {}), result: 'ok', started });
  const pruned = pruneList(afterActivation(seen.state, h.cfg.version), h.cfg.keepReleases);
  return { script: recordCommand(h.layout, entry, pruneCommand(h.layout, pruned)), pruned };
}

function recordDoes(pruned: string[]): string {
  return `append to the audit log; ${pruned.length ? `prune ${pruned.join(', ')}` : 'nothing to prune'}`;
}

/**
 * Stage one, from the lock to the activation: the lock step, then (same session) --clean-deploy's pruning and the
 * transfer chain; with nothing between the unpack and the unlock, the activation, audit line and unlock too.
 */
export function deploySteps(h: DeployHost, seen: Inspected): Step[] {
  const { cfg, layout: l } = h;
  const s = new StepList([lockStep(h)]);
  if (cfg.cleanDeploy) {
    // edeliver's --clean-deploy: drop every other stored release (never the active or running one).
    const gone = pruneList(seen.state, 1).filter((v) => v !== cfg.version);
    const prune = pruneCommand(l, gone);
    if (prune) s.join('clean', `--clean-deploy: remove the other stored releases ${gone.join(', ')}`, prune);
  }
  if (!reuses(h, seen)) transferSteps(h, seen, s);
  if (reuses(h, seen) || !allInOne(h)) activateSteps(h, seen, s);
  return s.steps;
}

function transferSteps(h: DeployHost, seen: Inspected, s: StepList): void {
  const { cfg, layout: l, ids, release } = h;
  const tar = uploadPath(l, release.file, ids.id);
  const stage = stagingDir(l, cfg.version, ids.id);
  const inline = allInOne(h);
  if (h.delta) {
    const { plan, tar: dt } = h.delta;
    const files = plan.send.filter((e) => e.type === 'f').length;
    s.join('upload', `receive the delta against ${plan.base} (${dt.size} bytes, ${files} files) into ${tar}`, receiveCommand(tar), {
      input: { kind: 'delta', local: dt.local, bytes: dt.size, base: plan.base },
    });
    // No verify step of its own: gzip's CRC refuses a damaged delta (tar fails) and the tree check compares every
    // unpacked file with the manifest; either falls back to the full tarball, which is verified.
  } else if (release.pull) {
    // A subshell, because the download script ends with `exit 0` when it succeeds; the URL comes on stdin.
    s.join('download', `download ${release.file} (${release.size} bytes) from the store into ${tar}`, subshell(pullCommand(tar)), { input: { kind: 'presigned-url', file: release.file } });
  } else s.join('upload', `receive ${release.file} (${release.size} bytes) into ${tar}`, receiveCommand(tar), { input: { kind: 'tarball', file: release.file, bytes: release.size } });
  if (!h.delta) s.join('verify', `check its size and sha256 ${release.sha256}`, verifyCommand(tar, release.sha256, release.size));
  // Inline, the unlock's `rm` also removes the upload (the cleanup does when anything fails before it).
  const unpack = and(
    h.delta ? deltaUnpackCommand(l, tar, cfg.version, ids.id, h.delta.plan.base, h.delta.plan.link, h.manifest ?? '') : '',
    unpackCommand(l, tar, cfg.version, ids.id, release.sha256, { keepTarball: inline, extracted: !!h.delta }),
    h.manifest && !h.delta ? writeManifestCommand(stage, h.manifest) : '',
    linkConfigCommand(l, cfg.version, ids.id, cfg.links) ?? '',
  );
  const install = installCommand(l, cfg.version, ids.id);
  const links = [cfg.links.vmArgs && `vm.args -> ${cfg.links.vmArgs}`, cfg.links.sysConfig && `sys.config -> ${cfg.links.sysConfig}`].filter(Boolean).join(', ');
  const unpackDoes = h.delta
    ? `build ${stage} from ${h.delta.plan.base}: hard-link ${h.delta.plan.link.length} unchanged files, unpack the delta, check every file's sha256 against the manifest (a mismatch: the full tarball instead)${links ? `, link ${links}` : ''}`
    : `unpack into ${stage}${links ? `, link ${links}` : ''}`;
  const installDoes = `install as ${l.releases}/${cfg.version}`;
  const pre = hook(h, seen, 'pre_extract_release_archive', stage);
  const post = hook(h, seen, 'post_extract_release_archive', stage);
  if (pre || post) {
    if (pre) s.add('pre_extract_release_archive', 'run the pre_extract_release_archive hook', pre);
    s.add('unpack', unpackDoes, unpack);
    if (post) s.add('post_extract_release_archive', 'run the post_extract_release_archive hook', post);
    s.add('install', installDoes, install);
    return;
  }
  s.join('unpack', unpackDoes, unpack).join('install', installDoes, install);
  if (!inline) return;
  const r = record(h, seen, false);
  s.join('activate', `point ${l.root} at ${cfg.version}${previousOf(h, seen) ? ` (was ${previousOf(h, seen)})` : ''}`, group(or(activateCommand(l, cfg.version, ids.id), sh`exit ${EXIT_ACTIVATE}`)));
  s.join('record', recordDoes(r.pruned), group(r.script), { bestEffort: true });
  s.join('unlock', 'remove the deploy lock and the upload', group(or(and(unlockCommand(l, ids.owner.id, [tar]), sh`echo deliver-unlocked`), sh`true`)), { bestEffort: true });
}

function activateSteps(h: DeployHost, seen: Inspected, s: StepList): void {
  const { cfg, layout: l, ids } = h;
  if (h.envFile) {
    const remote = envFile(l, cfg.env);
    const what = [h.envFile.local, h.envFile.cluster && 'RELEASE_NODE and CLUSTER_NODES for this host'].filter(Boolean).join(' and ');
    s.add('env file', `write ${what} to ${remote} (mode 0600)`, envFileCommand(remote, ids.id), { input: { kind: 'env-file', ...h.envFile } });
  }
  const activate = activateCommand(l, cfg.version, ids.id);
  const does = `point ${l.root} at ${cfg.version}${previousOf(h, seen) ? ` (was ${previousOf(h, seen)})` : ''}`;
  if (cfg.startDeploy) {
    s.add('activate', does, activate);
    const pre = hook(h, seen, 'pre_start_deployed_release', l.root);
    if (pre) s.add('pre_start_deployed_release', 'run the pre_start_deployed_release hook', pre);
    return;
  }
  const r = record(h, seen, false);
  s.add('activate', `${does}; ${recordDoes(r.pruned)}`, and(activate, r.script));
  unlockStep(h, s);
}

function unlockStep(h: DeployHost, s: StepList): void {
  s.add('unlock', 'remove the deploy lock', unlockCommand(h.layout, h.ids.owner.id), { bestEffort: true, timeoutMs: 15_000 });
}

/** The node as the start steps see it. */
export function nodeOf(h: DeployHost): NodeTarget {
  return { layout: h.layout, envFile: envFile(h.layout, h.cfg.env), timeoutMs: h.cfg.startTimeoutMs, ...(h.cfg.configuredKind ? { configuredKind: h.cfg.configuredKind } : {}) };
}

/**
 * Stage two (START_DEPLOY), after the release kind (detect) and the node's pid (0: runs, no pid printed;
 * undefined: not running) were read: stop, start, hook, health check, audit line and pruning, unlock.
 */
export function startDeploySteps(h: DeployHost, seen: Inspected, kind: ReleaseKind, pid: number | undefined): Step[] {
  const { cfg, layout: l } = h;
  const s = new StepList();
  const post = hook(h, seen, 'post_start_deployed_release', l.root);
  const n = nodeOf(h);
  if (pid !== undefined) stopSteps(n, kind, pid, s);
  startSteps(n, kind, `${cfg.version}`, s);
  if (post) s.add('post_start_deployed_release', 'run the post_start_deployed_release hook', post);
  if (cfg.healthCheck) {
    const secs = Math.round(cfg.healthTimeoutMs / 1000);
    s.add('health', `run HEALTH_CHECK in ${l.root} until it exits 0 (up to ${secs}s): ${cfg.healthCheck}`, healthCheckCommand(l, cfg.healthCheck), {
      poll: { timeoutMs: cfg.healthTimeoutMs, everyMs: 1000, failure: `health check failed (exit {exit}) after ${secs}s: ${cfg.healthCheck}` },
    });
  }
  const r = record(h, seen, true);
  s.add('record', recordDoes(r.pruned), r.script, { bestEffort: true });
  unlockStep(h, s);
  return s.steps;
}

/** The audit line of a failed deploy (best effort, in the cleanup). */
export function failedAuditCommand(h: DeployHost, step: string | undefined, error: string): Shell {
  return auditCommand(h.layout, auditEntry({ action: 'deploy', env: h.cfg.env, version: h.cfg.version, result: 'failed', ...(step ? { step } : {}), error }));
}


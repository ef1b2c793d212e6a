// One host's hot upgrade as a pure function of (config, upgrade tarball, what the host runs): the steps the real run
// executes and `deploy upgrade --dry-run` prints. lock → upload (+ sha256, into the running root) →
// pre_upgrade_release → releases → install → check → activate (copy to releases/V, link, history, audit, prune) →
// post_upgrade_release → unlock. The read-only facts before it (state, kind, pid, version) are factSteps.
import type { HookDef } from '../config/types.js';
import { StepList, type Step } from '../plan/plan.js';
import { and, or, sh, type Shell } from '../ssh/quote.js';
import { auditEntry } from '../deploy/audit.js';
import { activateCommand, auditCommand, EXIT_ACTIVATE, pruneCommand, receiveCommand, recordCommand, verifyCommand } from '../deploy/commands.js';
import type { ReleaseRef } from '../deploy/deploy-plan.js';
import { hookCommand, type DeployHookName } from '../deploy/hooks.js';
import { envFile, releaseDir, uploadPath, type Layout } from '../deploy/layout.js';
import { acquireCommand, unlockCommand, type LockOwner } from '../deploy/lock.js';
import { detectStep, type NodeTarget } from '../deploy/node-plan.js';
import { pidCommand, versionCommand, type ReleaseKind } from '../deploy/node-commands.js';
import { stateStep } from '../deploy/rollback.js';
import { afterActivation, pruneList, type HostState } from '../deploy/state.js';
import { ensureReleasesCommand, installUpgradeCommand, keepUpgradedCommand, placeUpgradeCommand, upgradeTarballPath } from './install-commands.js';

export interface UpgradeConfig {
  app: string;
  env: string;
  /** The version upgraded to. */
  version: string;
  keepReleases: number;
  hooks: ReadonlyMap<string, HookDef>;
  startTimeoutMs: number;
}

/** What was read from the host before anything changed (factSteps' answers). */
export interface RunningNode {
  state: HostState;
  kind: ReleaseKind;
  /** The version the node runs (release_handler's current, else permanent). */
  from: string;
  pid: string;
}

/** Everything one host's upgrade steps are computed from. */
export interface UpgradeHost {
  cfg: UpgradeConfig;
  tarball: Omit<ReleaseRef, 'pull'>;
  layout: Layout;
  node: RunningNode;
  id: string;
  owner: LockOwner;
}

export function nodeTargetOf(l: Layout, env: string, startTimeoutMs: number, configuredKind?: ReleaseKind): NodeTarget {
  return { layout: l, envFile: envFile(l, env), timeoutMs: startTimeoutMs, ...(configuredKind ? { configuredKind } : {}) };
}

/**
 * Read-only, once the kind is known: the node's OS pid, then the version it runs. The pid comes from the release
 * script itself (not node control's cheap epmd check, which says only *whether* it runs): the upgrade's end check
 * compares it, so a node restarted instead of upgraded is caught.
 */
export function nodeFactSteps(n: NodeTarget, kind: ReleaseKind, s: StepList): StepList {
  s.add('node pid', `the node's OS pid (bin/${n.layout.app} pid; no answer: it does not run)`, pidCommand(n.layout, kind, n.envFile), { query: true, timeoutMs: 20_000 });
  return s.add('version', `ask the ${kind} node which version it runs (release_handler)`, versionCommand(n.layout, kind, n.envFile), { query: true, timeoutMs: 60_000 });
}

/** The read-only steps before the plan, in the order they run: state, detect, then nodeFactSteps. */
export function factSteps(n: NodeTarget, kind: ReleaseKind): Step[] {
  return nodeFactSteps(n, kind, detectStep(n.layout, new StepList([stateStep(n.layout)]))).steps;
}

function hook(h: UpgradeHost, name: DeployHookName, s: StepList): void {
  // RELEASE_DIR: the root the node runs from (release_handler's), named by `started`.
  const runRoot = h.node.state.started && h.node.state.releases.includes(h.node.state.started) ? releaseDir(h.layout, h.node.state.started) : h.layout.root;
  const vars = { APP: h.cfg.app, VERSION: h.cfg.version, DEPLOY_ENVIRONMENT: h.cfg.env, DELIVER_TO: h.layout.deliverTo, RELEASE_DIR: runRoot, PREVIOUS_VERSION: h.node.from };
  const cmd = hookCommand(h.cfg.hooks, name, vars);
  if (cmd) s.add(name, `run the ${name} hook`, cmd, { timeoutMs: 600_000 });
}

/** The audit line of this upgrade (`failed` ones are written by the cleanup). */
export function upgradeAudit(h: UpgradeHost, result: 'ok' | 'failed', extra: { step?: string; error?: string } = {}): Shell {
  return auditCommand(h.layout, auditEntry({ action: 'upgrade', env: h.cfg.env, version: h.cfg.version, previous: h.node.from, result, ...extra }));
}

export function upgradeUpload(h: UpgradeHost): string {
  return uploadPath(h.layout, h.tarball.file, h.id);
}

export function upgradeSteps(h: UpgradeHost): Step[] {
  const { cfg, layout: l, node, tarball } = h;
  const env = envFile(l, cfg.env);
  const upload = upgradeUpload(h);
  const inRoot = upgradeTarballPath(node.kind, l.app, cfg.version);
  const s = new StepList();
  s.add('lock', `take the deploy lock ${l.lock}`, acquireCommand(l, h.owner, [l.incoming, l.releases]));
  const place = and(receiveCommand(upload), verifyCommand(upload, tarball.sha256, tarball.size), placeUpgradeCommand(l, node.kind, upload, cfg.version, env));
  s.add('upload', `receive ${tarball.file} (${tarball.size} bytes), check its sha256 ${tarball.sha256}, move it to ${inRoot} in the running root (its boot files saved once)`, place, {
    input: { kind: 'tarball', file: tarball.file, bytes: tarball.size },
    timeoutMs: 600_000,
  });
  hook(h, 'pre_upgrade_release', s);
  s.add('releases', 'create releases/RELEASES from the running release when the root has none (release_handler needs it)', ensureReleasesCommand(l, node.kind, node.from, env), { timeoutMs: 120_000 });
  const how = node.kind === 'mix' ? 'release_handler unpack_release, install_release, make_permanent (rpc)' : `bin/${l.app} upgrade ${cfg.version}`;
  s.add('install', `${how}: ${node.from} → ${cfg.version} in the running node`, installUpgradeCommand(l, node.kind, cfg.version, env), { timeoutMs: 600_000 });
  s.add('check', `the node answers ${cfg.version}`, versionCommand(l, node.kind, env), { timeoutMs: 60_000 });
  s.add('pid', `the node's OS pid is still ${node.pid}`, pidCommand(l, node.kind, env), { timeoutMs: 20_000 });
  const pruned = pruneList(afterActivation(node.state, cfg.version), cfg.keepReleases);
  const record = recordCommand(l, auditEntry({ action: 'upgrade', env: cfg.env, version: cfg.version, previous: node.from, result: 'ok' }), pruneCommand(l, pruned));
  const activate = and(keepUpgradedCommand(l, node.kind, cfg.version, h.id, env), or(activateCommand(l, cfg.version, h.id), sh`exit ${EXIT_ACTIVATE}`), record);
  const prunes = pruned.length ? `prune ${pruned.join(', ')}` : 'nothing to prune';
  s.add('activate', `copy the running root to ${releaseDir(l, cfg.version)} (unless installed), point ${l.root} at it; audit line; ${prunes}`, activate);
  hook(h, 'post_upgrade_release', s);
  s.add('unlock', 'remove the deploy lock', unlockCommand(l, h.owner.id), { bestEffort: true, timeoutMs: 15_000 });
  return s.steps;
}

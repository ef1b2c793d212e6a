// One host's hot upgrade: what it runs (read-only facts, gathered for every host before any changes), then the
// ordered steps lock → upload (+ sha256 verify, into the running root) → pre_upgrade_release → releases → install →
// check → activate (keep NEW as releases/NEW, link and history, audit) → post_upgrade_release → unlock.
import { setTimeout as sleep } from 'node:timers/promises';
import type { HookDef } from '../config/types.js';
import { DeliverError, InterruptedError, RemoteError } from '../output/errors.js';
import { and, sh, type Shell } from '../ssh/quote.js';
import type { Backend } from '../ssh/types.js';
import { auditEntry } from '../deploy/audit.js';
import { activateCommand, auditCommand, EXIT_CHECKSUM, EXIT_UPLOAD, pruneCommand, receiveCommand, verifyCommand } from '../deploy/commands.js';
import { hookCommand, type DeployHookName } from '../deploy/hooks.js';
import { envFile, releaseDir, tempId, uploadPath, type Layout } from '../deploy/layout.js';
import { acquireLock, keepLock, lostLockError, newOwner, releaseLock, type LockKeeper } from '../deploy/lock.js';
import { detectKind, runQuery, type NodeContext } from '../deploy/node.js';
import { pidCommand, type ReleaseKind } from '../deploy/node-commands.js';
import { readState } from '../deploy/rollback.js';
import type { ReleaseSource } from '../deploy/source.js';
import { afterActivation, parseHostState, pruneList, type HostState } from '../deploy/state.js';
import { dropSavedCommand, ensureReleasesCommand, installUpgradeCommand, keepUpgradedCommand, parseInstallOutput, placeUpgradeCommand, restoreBootFilesCommand } from './install-commands.js';

/** What a host runs, read before anything changes anywhere. */
export interface UpgradeFacts {
  host: string;
  layout: Layout;
  state: HostState;
  /** Undefined: no release of the app deployed there. */
  kind?: ReleaseKind;
  running: boolean;
  /** The version the node runs (release_handler's current/permanent). */
  version?: string;
  pid?: string;
}

export interface NodeOptions {
  env: string;
  configuredKind?: ReleaseKind;
  signal?: AbortSignal;
}

function nodeContext(backend: Backend, l: Layout, o: NodeOptions): NodeContext {
  return { backend, layout: l, envFile: envFile(l, o.env), ...(o.configuredKind ? { configuredKind: o.configuredKind } : {}), ...(o.signal ? { signal: o.signal } : {}) };
}

async function runningVersion(ctx: NodeContext, kind: ReleaseKind): Promise<string | undefined> {
  const r = await runQuery(ctx, kind, { action: 'version' }, 60_000);
  const v = r.stdout.trim().split('\n').pop()?.trim();
  return r.code === 0 && v ? v : undefined;
}

async function osPid(ctx: NodeContext, kind: ReleaseKind): Promise<string | undefined> {
  const r = await ctx.backend.exec(pidCommand(ctx.layout, kind, ctx.envFile).text, { timeoutMs: 30_000, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  const last = r.stdout.trim().split('\n').pop()?.trim() ?? '';
  return r.code === 0 && /^\d+$/.test(last) ? last : undefined;
}

export async function readUpgradeFacts(backend: Backend, l: Layout, o: NodeOptions): Promise<UpgradeFacts> {
  const host = backend.target.name;
  const state = parseHostState(await readState(backend, l, o.signal));
  if (!state.active && !state.legacyDir) return { host, layout: l, state, running: false };
  const ctx = nodeContext(backend, l, o);
  const kind = await detectKind(ctx);
  const pid = await osPid(ctx, kind);
  const version = pid ? await runningVersion(ctx, kind) : undefined;
  return { host, layout: l, state, kind, running: Boolean(pid && version), ...(version ? { version } : {}), ...(pid ? { pid } : {}) };
}

/** Why each host cannot take the upgrade to `to` (which goes from `accepts`); empty when all can. */
export function upgradeRefusals(facts: UpgradeFacts[], accepts: string[], to: string): string[] {
  const from = accepts.join(', ') || '(no version)';
  return facts.flatMap((f) => {
    if (!f.kind) return [`${f.host}: no release deployed; the upgrade to ${to} goes from ${from}`];
    if (f.state.legacyDir) return [`${f.host}: ${f.layout.root} is an edeliver-style directory, not deliver's link: deploy a release with deliver and restart once first`];
    if (!f.running) return [`${f.host}: the node is not running (active release ${f.state.active ?? 'unknown'}); the upgrade to ${to} goes from ${from}`];
    if (!f.version || !accepts.includes(f.version)) return [`${f.host}: runs ${f.version ?? 'an unknown version'}; the upgrade to ${to} goes from ${from}`];
    return [];
  });
}

export interface UpgradePlan extends NodeOptions {
  app: string;
  version: string;
  source: ReleaseSource;
  keepReleases: number;
  hooks: ReadonlyMap<string, HookDef>;
  lock: { waitMs: number; ttlMs: number };
  startTimeoutMs: number;
  events: { step?: (host: string, step: string) => void; warn: (message: string) => void };
}

export interface HostUpgradeResult {
  from: string;
  to: string;
  pid: string;
}

interface Step {
  name: string;
  run: () => Promise<void>;
}

export async function upgradeHost(backend: Backend, plan: UpgradePlan, facts: UpgradeFacts): Promise<HostUpgradeResult> {
  const host = backend.target.name;
  const l = facts.layout;
  const kind = facts.kind!;
  const from = facts.version!;
  const id = tempId();
  const owner = newOwner('deploy upgrade', plan.version);
  const ctx = nodeContext(backend, l, plan);
  const env = ctx.envFile;
  const upload = uploadPath(l, plan.source.file, id);
  const sig = plan.signal ? { signal: plan.signal } : {};
  const exec = (cmd: Shell, timeoutMs = 120_000, extra = {}) => backend.exec(cmd.text, { timeoutMs, ...sig, ...extra });
  const must = async (cmd: Shell, step: string, timeoutMs?: number) => {
    const r = await exec(cmd, timeoutMs);
    if (r.code !== 0) throw new RemoteError(host, `${step} failed (exit ${r.code})`, { step, detail: `${r.stdout}${r.stderr}`.trim().split('\n').slice(-10).join('\n') });
    return r;
  };
  // The root the node runs from: hooks see it as RELEASE_DIR.
  const runRoot = facts.state.started && facts.state.releases.includes(facts.state.started) ? releaseDir(l, facts.state.started) : l.root;
  const hook = (name: DeployHookName): Step[] => {
    const vars = { APP: plan.app, VERSION: plan.version, DEPLOY_ENVIRONMENT: plan.env, DELIVER_TO: l.deliverTo, RELEASE_DIR: runRoot, PREVIOUS_VERSION: from };
    const cmd = hookCommand(plan.hooks, name, vars);
    return cmd ? [{ name, run: async () => void (await must(cmd, name, 600_000)) }] : [];
  };
  const record = (result: 'ok' | 'failed', extra: { step?: string; error?: string } = {}) =>
    auditCommand(l, auditEntry({ action: 'upgrade', env: plan.env, version: plan.version, previous: from, result, ...extra }));

  let keeper: LockKeeper | undefined;
  let locked = false;
  let placed = false;
  let current = 'lock';
  const steps: Step[] = [
    {
      name: 'lock',
      run: async () => {
        await acquireLock(backend, l, owner, { ...plan.lock, dirs: [l.incoming, l.releases], warn: plan.events.warn, ...sig });
        locked = true;
        keeper = keepLock(backend, l, owner.id, plan.lock.ttlMs);
      },
    },
    {
      name: 'upload',
      run: async () => {
        const chain = and(receiveCommand(upload), verifyCommand(upload, plan.source.sha256, plan.source.size), placeUpgradeCommand(l, kind, upload, plan.version, env));
        const r = await backend.exec(chain.text, { stdin: plan.source.open(), timeoutMs: 600_000, ...sig });
        const last = `${r.stderr}${r.stdout}`.trim().split('\n').pop() ?? '';
        if (r.code === EXIT_CHECKSUM) throw new RemoteError(host, last, { step: 'verify' });
        if (r.code === EXIT_UPLOAD) throw new RemoteError(host, last || 'upload failed', { step: 'upload' });
        if (r.code !== 0) throw new RemoteError(host, `upload failed (exit ${r.code})`, { step: 'upload', ...(last ? { detail: last } : {}) });
        placed = true;
      },
    },
    ...hook('pre_upgrade_release'),
    { name: 'releases', run: async () => void (await must(ensureReleasesCommand(l, kind, from, env), 'releases')) },
    {
      name: 'install',
      run: async () => {
        // From here release_handler owns the root's RELEASES and start_erl.data, also when it fails.
        placed = false;
        const r = await exec(installUpgradeCommand(l, kind, plan.version, env), 600_000);
        const verdict = parseInstallOutput(kind, r.code, `${r.stdout}\n${r.stderr}`);
        if (!verdict.ok) throw await installFailed(verdict.reason);
      },
    },
    {
      name: 'check',
      run: async () => {
        const [now, pid] = [await runningVersion(ctx, kind), await osPid(ctx, kind)];
        if (now !== plan.version) throw new RemoteError(host, `after the upgrade the node runs ${now ?? 'no answer'}, not ${plan.version}`, { step: 'check' });
        if (pid !== facts.pid) throw new RemoteError(host, `the node's OS pid changed (${facts.pid} → ${pid ?? 'none'}): it was restarted, not upgraded`, { step: 'check' });
      },
    },
    {
      name: 'activate',
      run: async () => {
        const prune = pruneCommand(l, pruneList(afterActivation(facts.state, plan.version), plan.keepReleases));
        await must(and(keepUpgradedCommand(l, kind, plan.version, id, env), activateCommand(l, plan.version, id), sh`{ ${record('ok')}; ${prune ?? sh`true`}; } || true`), 'activate');
      },
    },
    ...hook('post_upgrade_release'),
  ];

  /** release_handler said no: its own rollback leaves (or restarts) the node on the old release; say which it runs. */
  async function installFailed(reason: string): Promise<RemoteError> {
    await exec(dropSavedCommand(l, kind, plan.version, env)).catch(() => undefined);
    // The node may be restarting (init:restart) right now: ask until it answers or START_TIMEOUT passes.
    let now: string | undefined;
    for (const deadline = Date.now() + plan.startTimeoutMs; !now && Date.now() < deadline && !plan.signal?.aborted; ) {
      now = await runningVersion(ctx, kind).catch(() => undefined);
      if (!now) await sleep(1000);
    }
    const where = now ? `the node runs ${now}` : `the node does not answer within ${Math.round(plan.startTimeoutMs / 1000)}s`;
    return new RemoteError(host, `release_handler could not install ${plan.version}: ${reason}; ${where}`, { step: 'install' });
  }

  try {
    for (const s of steps) {
      if (plan.signal?.aborted) throw new InterruptedError();
      if (keeper?.lost) throw lostLockError(host, current);
      current = s.name;
      plan.events.step?.(host, s.name);
      await s.run();
    }
    return { from, to: plan.version, pid: facts.pid ?? '' };
  } catch (err) {
    if (locked) {
      const cleanup = placed ? restoreBootFilesCommand(l, kind, plan.version, env) : sh`true`;
      const e = err instanceof DeliverError ? err.message : String(err);
      await exec(sh`rm -f ${upload}; ${cleanup}; ${record('failed', { step: current, error: plan.signal?.aborted ? 'interrupted' : e })}`, 30_000, {}).catch(() => undefined);
    }
    if (err instanceof RemoteError && !err.step) throw new RemoteError(host, err.message.replace(`${host}: `, ''), { step: current, ...(err.detail ? { detail: err.detail } : {}) });
    if (err instanceof DeliverError) throw err;
    throw new RemoteError(host, `${current} failed: ${(err as Error)?.message ?? String(err)}`, { step: current, cause: err });
  } finally {
    await keeper?.stop();
    if (locked) await releaseLock(backend, l, owner.id).catch(() => undefined);
  }
}

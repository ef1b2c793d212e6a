// The multi-host commands, given a resolved environment: deploy, rollback, node control, unlock, show deploys.
// They connect through the shared Transport (one pooled connection per host), fan out by strategy, report live,
// and end with one summary (or one JSON document). Any failed host makes the command fail (exit 1).
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { DeliverError, InterruptedError, RemoteError, UsageError } from '../output/errors.js';
import type { Output } from '../output/output.js';
import { printPlan } from '../output/plan.js';
import { runStep } from '../plan/execute.js';
import { StepList, type HostPlan } from '../plan/plan.js';
import type { Backend, HostTarget, Transport } from '../ssh/types.js';
import type { ReleaseStore } from '../store/types.js';
import { parseAuditLog, type AuditEntry } from './audit.js';
import { auditTailCommand } from './commands.js';
import type { DeployConfig } from './deploy-plan.js';
import { deployHost, deployTarget, planDeployHost, releaseRef, type HostDeployResult } from './deploy-release.js';
import { hostDir, hostLayout, withDir } from './host-dir.js';
import { envFile, type Layout } from './layout.js';
import { forceUnlockCommand } from './lock.js';
import { queryResult, type NodeQuery } from './node.js';
import type { ReleaseKind } from './node-commands.js';
import type { NodeTarget } from './node-plan.js';
import { planNode, runNode, type NodeRequest } from './node-run.js';
import { failureLine, LiveReporter, printSummary } from './report.js';
import { loadLastDeploy, retryHosts, saveLastDeploy } from './retry-state.js';
import { planRollback, planRollbackHost, readState, rollbackHost, rollbackHostOf, type HostRollbackResult } from './rollback.js';
import { selectRelease, terminalChooser } from './select.js';
import { assertPullable } from './pull.js';
import { NOTHING_INSTALLED } from './delta.js';
import { clusterEnvOf, clusterNames, describeCluster, parseCluster, type ClusterView } from './cluster.js';
import { DeltaSource } from './delta-source.js';
import { prepareSource, releaseRefOf } from './source.js';
import { parseConcurrency, planBatches, runStrategy, type HostOutcome, type StrategyOptions } from './strategy.js';

/** An environment ready to act on (from the config loader and the SSH layer). */
export interface DeployEnv {
  app: string;
  env: string;
  targets: HostTarget[];
  deliverTo: string;
  /** The project's configuration, typed (config/config.ts). */
  config: Config;
  transport: Transport;
  out: Output;
  signal: AbortSignal;
  projectDir: string;
  dryRun: boolean;
}

export interface FanFlags {
  strategy?: StrategyOptions['strategy'];
  concurrency?: string;
  batchSize?: string;
  maxFail?: string;
}

/** Hosts worked on at once: --concurrency > SSH_CONCURRENCY > 32. */
export function concurrencyOf(de: DeployEnv, flag?: string): number {
  return parseConcurrency(flag, de.config.ssh.concurrency);
}

export function strategyOf(de: DeployEnv, flags: FanFlags): StrategyOptions {
  return {
    strategy: flags.strategy ?? 'parallel',
    concurrency: concurrencyOf(de, flags.concurrency),
    ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
    ...(flags.maxFail !== undefined ? { maxFail: flags.maxFail } : {}),
  };
}

/** --lock-wait (seconds, 0 by default: a held lock fails at once) and LOCK_TTL. */
export function lockSettings(de: DeployEnv, lockWait?: string) {
  if (lockWait !== undefined && lockWait !== '' && !/^\d+(\.\d+)?$/.test(lockWait)) throw new UsageError(`--lock-wait: expected seconds, got ${JSON.stringify(lockWait)}`);
  return { waitMs: Math.round(Number(lockWait || 0) * 1000), ttlMs: de.config.deploy.lockTtlMs };
}

/** RELEASE_KIND / USING_DISTILLERY=true as a NodeContext field (validated before any host is touched). */
export function releaseKindOf(de: DeployEnv): { configuredKind?: ReleaseKind } {
  const kind = de.config.releaseKind;
  return kind ? { configuredKind: kind } : {};
}

export async function connect(de: DeployEnv, t: HostTarget): Promise<Backend> {
  try {
    return await de.transport.connect(t);
  } catch (err) {
    if (err instanceof RemoteError) throw new RemoteError(t.name, err.reason, { step: 'connect', ...(err.hint ? { hint: err.hint } : {}) });
    throw new RemoteError(t.name, (err as Error).message, { step: 'connect' });
  }
}

/**
 * `--run-migrations`' hook, once every host succeeded (and nothing was interrupted): its error is returned, not
 * thrown, so the caller still reports every host before failing with it.
 */
export async function afterEveryHost(de: DeployEnv, after: (() => Promise<void>) | undefined, outcomes: readonly HostOutcome<unknown>[]): Promise<unknown> {
  if (!after || de.signal.aborted || !outcomes.every((o) => o.status === 'ok')) return undefined;
  return after().then(() => undefined, (err: unknown) => err);
}

/** Exit status for a finished fan-out: interrupted beats failed. */
export function finish(de: DeployEnv, what: string, outcomes: HostOutcome<unknown>[]): void {
  if (de.signal.aborted || outcomes.some((o) => o.status === 'interrupted')) throw new InterruptedError(`${what} interrupted`);
  const bad = outcomes.filter((o) => o.status !== 'ok');
  if (bad.length) throw new DeliverError(`${what} failed on ${bad.length} of ${outcomes.length} host(s): ${bad.map((b) => b.host).join(', ')}`);
}

export interface DeployFlags extends FanFlags {
  version?: string;
  startDeploy?: boolean;
  cleanDeploy?: boolean;
  lockWait?: string;
  retryFailed?: boolean;
  healthCheck?: string;
  /** `deliver update`: the version just built (no prompt). */
  command?: string;
  /** `--pull`: hosts download from the S3 store themselves (else the RELEASE_PULL setting decides). */
  pull?: boolean;
  /**
   * `--run-migrations`: runs once every host has the new release in place (and, with --start-deploy, running),
   * before the hosts are reported done; its failure fails the command. In a dry run it prints its plan.
   */
  afterDeploy?: () => Promise<void>;
  /** `--no-delta` (false): full tarballs only (else the DELTA_DEPLOY setting decides). */
  delta?: boolean;
}

export interface DeployResult {
  env: string;
  app: string;
  version: string;
  hosts: HostOutcome<HostDeployResult>[];
}

export async function deployRelease(de: DeployEnv, store: ReleaseStore, flags: DeployFlags): Promise<DeployResult> {
  const ds = de.config.deploy;
  let targets = de.targets;
  if (flags.retryFailed) targets = retryHosts(await loadLastDeploy(de.projectDir, de.env), targets, de.env);
  const strategy = strategyOf(de, flags);
  // --pull with a store hosts cannot pull from is a usage error before the store is even listed.
  const pull = flags.pull ?? ds.pull;
  if (pull) assertPullable(store);
  const release = await selectRelease(await store.list(de.app), de.app, flags.version ?? ds.version, store.description, de.out.json ? undefined : terminalChooser());
  const healthCheck = flags.healthCheck ?? ds.healthCheck;
  const deltaOff = !(flags.delta ?? ds.delta)
    ? `delta off (${flags.delta === false ? '--no-delta' : 'DELTA_DEPLOY=false'})`
    : pull
      ? 'with --pull each host downloads the full tarball from the store'
      : undefined;
  const cfg: DeployConfig = {
    app: de.app,
    env: de.env,
    version: release.version,
    deliverTo: de.deliverTo,
    keepReleases: ds.keepReleases,
    startDeploy: flags.startDeploy ?? ds.startDeploy,
    cleanDeploy: flags.cleanDeploy ?? ds.cleanDeploy,
    links: ds.links,
    envFileLocal: join(de.projectDir, '.deliver', `${de.env}.env`),
    ...clusterEnvOf(de.config.cluster, de.app, de.env, targets),
    hooks: de.config.hooks,
    ...(healthCheck ? { healthCheck } : {}),
    healthTimeoutMs: ds.healthCheckTimeoutMs,
    startTimeoutMs: ds.startTimeoutMs,
    lock: lockSettings(de, flags.lockWait),
    command: flags.command ?? 'deploy release',
    ...releaseKindOf(de),
    ...(deltaOff ? { deltaOff } : {}),
  };
  const about = `${de.app} ${release.version} to ${de.env} (${targets.length} host(s), ${strategy.strategy}) from ${store.description}`;
  if (de.dryRun) {
    // The release is read here, as the real run reads it (a remote or S3 store's into a temp copy, removed again):
    // its manifest decides each host's delta and is written into the new root. Not with --pull (nor by the real run).
    const source = pull ? undefined : await prepareSource(store, release, de.signal);
    const ref = source ? releaseRef(source) : await releaseRefOf(store, release, de.signal, { pull });
    const delta = source && new DeltaSource(source.path, de.app, release.version);
    const facts = [`release: ${release.file}, ${ref.size} bytes, sha256 ${ref.sha256}${pull ? ', downloaded by each host (--pull)' : ''}`];
    try {
      await showPlan(de, `deploy ${about}`, facts, targets, (b, t) =>
        hostDir(b, de.deliverTo, de.app, t.path, de.signal).then(async (dir) => withDir(dir, await planDeployHost(b, deployTarget(cfg, ref, dir.layout, t.name), de.signal, delta))),
      );
    } finally {
      await delta?.dispose();
      await source?.dispose();
    }
    await flags.afterDeploy?.();
    return { env: de.env, app: de.app, version: release.version, hosts: [] };
  }
  de.out.info(`Deploying ${about}`);
  // The first hosts' handshakes overlap fetching the release (a remote or S3 store is read into a temp file first);
  // each host's task then takes its own connection attempt's result, so a dead host is not tried twice.
  const first = Math.min(strategy.concurrency, planBatches(targets, strategy)[0]?.length ?? 0);
  const early = new Map(
    targets.slice(0, first).map((t) => {
      const p = connect(de, t);
      p.catch(() => undefined); // reported by the host's task
      return [t, p] as const;
    }),
  );
  const source = await prepareSource(store, release, de.signal, { pull });
  // Read from the release here (not with --pull); started now, it overlaps the hosts' lock steps.
  const delta = source.pull ? undefined : new DeltaSource(source.path, de.app, release.version);
  void delta?.manifest();
  const live = new LiveReporter(de.out, targets.map((t) => t.name));
  let outcomes: HostOutcome<HostDeployResult>[] = [];
  try {
    outcomes = await runStrategy(
      targets,
      async (t) => {
        const backend = await (early.get(t) ?? connect(de, t));
        try {
          const r = await deployHost(backend, {
            ...cfg,
            source,
            ...(delta ? { delta } : {}),
            signal: de.signal,
            events: {
              step: (h, st) => live.step(h, st),
              progress: (h, b, tot) => live.progress(h, b, tot),
              ...(de.out.verbose ? { line: (h: string, st: 'stdout' | 'stderr', line: string) => live.line(h, st, line) } : {}),
              warn: (m) => live.warn(m),
            },
          });
          live.done(t.name, true, `${r.version} active${r.started ? ', running' : ''}${r.uploaded ? `, ${transferCell(r)}` : ' (already there)'}`);
          return r;
        } catch (err) {
          live.done(t.name, false, `failed${err instanceof RemoteError && err.step ? ` at ${err.step}` : ''}`);
          throw err;
        }
      },
      {
        ...strategy,
        signal: de.signal,
        afterBatch: (n, batch) => {
          const ok = batch.every((b) => b.status === 'ok');
          if (!ok && strategy.maxFail === undefined) live.warn(`batch ${n} had failures: stopping the rollout (allow some with --max-fail)`);
          return true;
        },
      },
    );
  } finally {
    live.stop();
    await delta?.dispose();
    await source.dispose();
  }
  const afterError = await afterEveryHost(de, flags.afterDeploy, outcomes);
  await saveLastDeploy(de.projectDir, {
    env: de.env,
    version: release.version,
    at: new Date().toISOString(),
    failed: outcomes.filter((o) => o.status !== 'ok').map((o) => o.host),
  }).catch((err) => de.out.warn(`could not record the deploy in .deliver/state: ${(err as Error).message}`));
  const result: DeployResult = { env: de.env, app: de.app, version: release.version, hosts: outcomes };
  de.out.result(result);
  printSummary(de.out, outcomes, {
    title: `deploy ${release.version}`,
    valueColumns: [
      { header: 'PREVIOUS', cell: (v) => (v as HostDeployResult).previous ?? '-' },
      { header: 'RECEIVED', cell: (v) => transferCell(v as HostDeployResult) },
    ],
  });
  // Why a host that runs a release got the full tarball (a first deploy needs no explanation).
  for (const o of outcomes) {
    const why = o.value?.transfer === 'full' && cfg.deltaOff === undefined ? o.value.fullReason : undefined;
    if (why && why !== NOTHING_INSTALLED) de.out.info(`${o.host}: full tarball: ${why}`);
  }
  if (afterError) throw afterError;
  finish(de, 'deploy', outcomes as HostOutcome<unknown>[]);
  return result;
}

/** `delta 41 KiB`, `full 5.2 MiB`, `none`: how the host got the release and how many bytes it received. */
function transferCell(r: HostDeployResult): string {
  return r.transfer === 'none' ? 'none (already installed)' : `${r.transfer} ${formatBytes(r.receivedBytes)}`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export async function rollback(de: DeployEnv, flags: FanFlags & { version?: string; lockWait?: string }): Promise<HostOutcome<HostRollbackResult>[]> {
  const strategy = strategyOf(de, flags);
  // Phase 1 (read-only): every host's state, so a missing target anywhere refuses before anything changes.
  const states = await runStrategy(
    de.targets,
    async (t) => {
      const b = await connect(de, t);
      const dir = await hostDir(b, de.deliverTo, de.app, t.path, de.signal);
      return { host: t.name, layout: dir.layout, dir, stateText: await readState(b, dir.layout, de.signal) };
    },
    { strategy: 'parallel', concurrency: strategy.concurrency, signal: de.signal },
  );
  const unreachable = states.filter((s) => s.status !== 'ok');
  if (unreachable.length) {
    if (de.signal.aborted) throw new InterruptedError('rollback interrupted');
    throw new DeliverError(`rollback refused: cannot read ${unreachable.length} host(s); nothing was changed`, {
      detail: unreachable.map((u) => `  ${u.host}: ${u.error}`).join('\n'),
    });
  }
  const targets = planRollback(states.map((s) => s.value!), flags.version);
  const byHost = new Map(targets.map((p) => [p.host, rollbackHostOf(p, de.env, startTimeout(de), releaseKindOf(de).configuredKind)]));
  const dirs = new Map(states.map((s) => [s.host, s.value!.dir]));
  if (de.dryRun) {
    await showPlan(de, `rollback ${de.app} on ${de.env} (${de.targets.length} host(s))`, [], de.targets, async (b, t) => withDir(dirs.get(t.name)!, await planRollbackHost(b, byHost.get(t.name)!, de.signal)));
    return [];
  }
  const live = new LiveReporter(de.out, de.targets.map((t) => t.name));
  const lock = lockSettings(de, flags.lockWait);
  let outcomes: HostOutcome<HostRollbackResult>[] = [];
  try {
    outcomes = await runStrategy(
      de.targets,
      async (t) => {
        const b = await connect(de, t);
        const r = await rollbackHost(b, byHost.get(t.name)!, {
          env: de.env,
          lock,
          startTimeoutMs: startTimeout(de),
          signal: de.signal,
          warn: (m) => live.warn(m),
          step: (h, st) => live.step(h, st),
        });
        live.done(t.name, true, `${r.to} active${r.restarted ? ', restarted' : ''}`);
        return r;
      },
      { ...strategy, signal: de.signal },
    );
  } finally {
    live.stop();
  }
  de.out.result({ env: de.env, app: de.app, hosts: outcomes });
  printSummary(de.out, outcomes, { title: 'rollback', valueColumn: { header: 'NOW', cell: (v) => `${(v as HostRollbackResult).to}${(v as HostRollbackResult).from ? ` (was ${(v as HostRollbackResult).from})` : ''}` } });
  finish(de, 'rollback', outcomes as HostOutcome<unknown>[]);
  return outcomes;
}

export type NodeAction = 'start' | 'stop' | 'restart' | NodeQuery['action'];

export interface NodeResult {
  code: number;
  output: string;
  /** `show cluster`: the node's name, the nodes it is connected to and the configured ones it is not. */
  cluster?: ClusterView;
}

/**
 * A node command on every host of the environment. One host: its output as is. Several: a block per host.
 * Exit status: 1 when any host's command failed (non-zero remote exit).
 */
/** One host's node plan (its read-only queries run): the steps, the node as the steps see it, the release kind. */
export async function planNodeOn(de: DeployEnv, backend: Backend, t: HostTarget, q: NodeRequest): Promise<{ plan: HostPlan; n: NodeTarget; kind: ReleaseKind }> {
  const dir = await hostDir(backend, de.deliverTo, de.app, t.path, de.signal);
  const n: NodeTarget = { layout: dir.layout, envFile: envFile(dir.layout, de.env), timeoutMs: startTimeout(de), ...releaseKindOf(de) };
  const { plan, kind } = await planNode(backend, n, q, de.signal);
  return { plan: withDir(dir, plan), n, kind };
}

export async function nodeCommand(de: DeployEnv, q: NodeRequest, flags: FanFlags = {}): Promise<HostOutcome<NodeResult>[]> {
  const strategy = strategyOf(de, flags);
  const planHost = (backend: Backend, t: HostTarget) => planNodeOn(de, backend, t, q);
  const expected = q.action === 'cluster' ? [...(clusterNames(de.config.cluster, de.app, de.env, de.targets)?.values() ?? [])] : [];
  if (de.dryRun) {
    await showPlan(de, `${q.action} on ${de.env} (${de.targets.length} host(s))`, [], de.targets, async (b, t) => (await planHost(b, t)).plan);
    return [];
  }
  const outcomes = await runStrategy(
    de.targets,
    async (t) => {
      const backend = await connect(de, t);
      const { plan, n, kind } = await planHost(backend, t);
      const r = await runNode(backend, n, kind, plan, de.signal);
      if (q.action === 'start' || q.action === 'restart') return { code: 0, output: r.stdout.trimEnd() };
      if (q.action === 'stop') return { code: 0, output: plan.steps.some((s) => s.name === 'stop') ? 'stopped' : 'not running' };
      const res = queryResult({ host: t.name, app: de.app, kind, ...(n.configuredKind ? { configured: true } : {}) }, q as NodeQuery, r);
      // Success prints what the command printed on stdout; its stderr (and login-shell noise) only with --verbose.
      for (const line of res.stderr.split('\n').filter(Boolean)) de.out.debug(`${t.name} ! ${line}`);
      const output = res.code === 0 ? res.stdout.trimEnd() : `${res.stdout}${res.stderr ? (res.stdout ? '\n' : '') + res.stderr : ''}`.trimEnd();
      if (res.code !== 0) {
        const what = q.action === 'ping' || q.action === 'cluster' ? `${de.app} is not running (no answer)` : `${q.action} failed (exit ${res.code})`;
        throw new RemoteError(t.name, what, { step: q.action, ...(output ? { detail: output } : {}) });
      }
      const cluster = q.action === 'cluster' ? parseCluster(res.stdout, expected) : undefined;
      return { code: res.code, output: cluster ? describeCluster(cluster) : output, ...(cluster ? { cluster } : {}) };
    },
    { ...strategy, signal: de.signal },
  );
  if (de.out.json) {
    de.out.result({ env: de.env, action: q.action, hosts: outcomes });
  } else {
    const single = outcomes.length === 1;
    for (const o of outcomes) {
      const head = single ? '' : `${de.out.c.bold(o.host)}: `;
      if (o.status === 'ok') {
        const text = o.value?.output ?? '';
        const okText = q.action === 'ping' ? 'pong' : q.action === 'start' ? 'started' : q.action === 'restart' ? 'restarted' : text;
        if (single) {
          if (q.action === 'start' || q.action === 'restart') de.out.info(`${de.out.c.green('✔')} ${o.host}: ${okText}`);
          else de.out.info(okText);
        } else de.out.info(`${head}${okText.includes('\n') ? '\n' + okText : okText}`);
        // After a start, the tail of the node's log shows it came up (or what it complains about).
        if ((q.action === 'start' || q.action === 'restart') && text) {
          for (const line of text.split('\n').slice(-10)) de.out.info(de.out.c.dim(`  ${single ? '' : `${o.host} `}| ${line}`));
        }
      } else if (o.status === 'failed') {
        de.out.error(failureLine(o));
      }
    }
  }
  finish(de, q.action, outcomes as HostOutcome<unknown>[]);
  return outcomes;
}

export async function unlock(de: DeployEnv): Promise<void> {
  const unlockStep = (l: Layout) => new StepList().add('unlock', 'remove the deploy lock, whoever holds it, and print its owner record', forceUnlockCommand(l)).steps;
  if (de.dryRun) {
    await showPlan(de, `unlock ${de.app} on ${de.env} (${de.targets.length} host(s))`, [], de.targets, async (b, t) => {
      const dir = await hostDir(b, de.deliverTo, de.app, t.path, de.signal);
      return withDir(dir, { host: t.name, steps: unlockStep(dir.layout), facts: [] });
    });
    return;
  }
  const outcomes = await runStrategy(
    de.targets,
    async (t) => {
      const b = await connect(de, t);
      const dir = await hostDir(b, de.deliverTo, de.app, t.path, de.signal);
      const r = await runStep(b, unlockStep(dir.layout)[0]!, { signal: de.signal });
      const lines = r.stdout.trim().split('\n');
      const state = lines.pop();
      return state === 'UNLOCKED' ? `removed lock ${lines.join(' ').trim() || '(no owner record)'}` : 'no lock';
    },
    { strategy: 'parallel', concurrency: concurrencyOf(de), signal: de.signal },
  );
  de.out.result({ env: de.env, hosts: outcomes });
  for (const o of outcomes) {
    if (o.status === 'ok') de.out.info(`${o.host}: ${o.value}`);
    else de.out.error(failureLine(o, false));
  }
  finish(de, 'unlock', outcomes as HostOutcome<unknown>[]);
}

export async function showDeploys(de: DeployEnv, lines = 20): Promise<(AuditEntry & { host: string })[]> {
  const outcomes = await runStrategy(
    de.targets,
    async (t) => {
      const b = await connect(de, t);
      const l = await hostLayout(b, de.deliverTo, de.app, t.path);
      return parseAuditLog((await b.run(auditTailCommand(l, lines).text, { step: 'read', signal: de.signal })).stdout);
    },
    { strategy: 'parallel', concurrency: concurrencyOf(de), signal: de.signal },
  );
  const all = outcomes.flatMap((o) => (o.value ?? []).map((e) => ({ ...e, host: o.host }))).sort((a, b) => a.at.localeCompare(b.at));
  de.out.result({ env: de.env, deploys: all, errors: outcomes.filter((o) => o.status !== 'ok') });
  de.out.table(
    ['WHEN', 'HOST', 'ACTION', 'VERSION', 'PREVIOUS', 'RESULT', 'BY'],
    all.map((e) => [e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), e.host, e.action, e.version, e.previous ?? '', e.result === 'ok' ? 'ok' : `failed${e.step ? ` (${e.step})` : ''}`, `${e.user}@${e.machine}`]),
  );
  for (const o of outcomes.filter((x) => x.status !== 'ok')) de.out.error(failureLine(o, false));
  finish(de, 'show deploys', outcomes as HostOutcome<unknown>[]);
  return all;
}

export function startTimeout(de: DeployEnv): number {
  return de.config.deploy.startTimeoutMs;
}

/**
 * --dry-run: each host's plan (its read-only queries run for real, nothing that writes), printed per host; a host
 * that cannot be read is an error (exit 1) after the others' plans.
 */
export async function showPlan(de: DeployEnv, title: string, facts: string[], targets: HostTarget[], planHost: (b: Backend, t: HostTarget) => Promise<HostPlan>): Promise<void> {
  const outcomes = await runStrategy(targets, async (t) => planHost(await connect(de, t), t), { strategy: 'parallel', concurrency: concurrencyOf(de), signal: de.signal });
  printPlan(de.out, { title, facts, hosts: outcomes.flatMap((o) => (o.value ? [o.value] : [])) });
  for (const o of outcomes.filter((x) => x.status === 'failed')) de.out.error(failureLine(o));
  finish(de, 'dry run', outcomes as HostOutcome<unknown>[]);
}

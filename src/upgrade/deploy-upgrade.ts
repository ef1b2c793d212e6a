// `deliver deploy upgrade [to] <env> --version=V`: every host is checked first (its node runs a version the stored
// upgrade goes from); any refusal changes nothing anywhere. Then each host is hot-upgraded by the strategy
// (upgrade-host.ts), with the deploy's locks, sha256 check, hooks and audit log.
import { DeliverError, InterruptedError, RemoteError, UsageError } from '../output/errors.js';
import { printPlan } from '../output/plan.js';
import type { HostTarget } from '../ssh/types.js';
import type { ReleaseStore, StoredRelease } from '../store/types.js';
import { hostLayout } from '../deploy/host-dir.js';
import { LiveReporter, printSummary } from '../deploy/report.js';
import { afterEveryHost, concurrencyOf, connect, finish, lockSettings, releaseKindOf, startTimeout, strategyOf, type DeployEnv, type FanFlags } from '../deploy/run.js';
import { prepareSource, releaseRefOf } from '../deploy/source.js';
import { runStrategy, type HostOutcome } from '../deploy/strategy.js';
import { upgradeFileName } from './names.js';
import { readStoredRelup } from './stored-relup.js';
import { readUpgradeFacts, upgradeHost, upgradePlan, upgradeRefusals, upgradeTarget, type HostUpgradeResult, type UpgradeFacts } from './upgrade-host.js';
import { nodeTargetOf, type UpgradeConfig } from './upgrade-plan.js';

export interface UpgradeFlags extends FanFlags {
  version?: string;
  lockWait?: string;
  /** `--run-migrations`: runs once every host has the new code, before the summary (like deployRelease's). */
  afterDeploy?: () => Promise<void>;
}

export interface UpgradeResult {
  env: string;
  app: string;
  version: string;
  /** The versions the upgrade goes from (its relup). */
  accepts: string[];
  hosts: HostOutcome<HostUpgradeResult>[];
}

/** Every host's facts, read in parallel; a host that cannot be read refuses the whole command. */
export async function readAllFacts(de: DeployEnv, targets: readonly HostTarget[], what: string): Promise<UpgradeFacts[]> {
  const outcomes = await runStrategy(
    targets,
    async (t) => {
      const b = await connect(de, t);
      const n = nodeTargetOf(await hostLayout(b, de.deliverTo, de.app, t.path, de.signal), de.env, startTimeout(de), releaseKindOf(de).configuredKind);
      return readUpgradeFacts(b, n, de.signal);
    },
    { strategy: 'parallel', concurrency: concurrencyOf(de), signal: de.signal },
  );
  if (de.signal.aborted) throw new InterruptedError(`${what} interrupted`);
  const bad = outcomes.filter((o) => o.status !== 'ok');
  if (bad.length) {
    throw new DeliverError(`${what} refused: cannot read ${bad.length} host(s); nothing was changed`, { detail: bad.map((b) => `  ${b.host}: ${b.error}`).join('\n') });
  }
  return outcomes.map((o) => o.value!);
}

/** The stored upgrade to `version` and the versions it goes from (its relup). */
async function storedUpgrade(de: DeployEnv, store: ReleaseStore, version: string | undefined): Promise<{ version: string; stored: StoredRelease; accepts: string[] }> {
  if (!version) {
    const upgrades = (await store.list(de.app)).filter((r) => r.type === 'upgrade').map((r) => r.version);
    throw new UsageError('deploy upgrade needs --version=VERSION', { hint: upgrades.length ? `upgrades in ${store.description}: ${upgrades.join(', ')}` : 'build one with `deliver build upgrade --from=REF`' });
  }
  const file = upgradeFileName(de.app, version);
  const stored = await store.stat(file);
  if (!stored) throw new DeliverError(`${store.description} has no upgrade ${file}`, { hint: `build it with \`deliver build upgrade --from=REF\` or \`--with=VERSION\`` });
  const accepts = (await readStoredRelup(store, de.app, version, de.signal)).up.map((s) => s.version);
  return { version, stored, accepts };
}

export async function deployUpgrade(de: DeployEnv, store: ReleaseStore, flags: UpgradeFlags, known?: UpgradeFacts[]): Promise<UpgradeResult> {
  const { version, stored, accepts } = await storedUpgrade(de, store, flags.version ?? de.config.deploy.version);
  const facts = known ?? (await readAllFacts(de, de.targets, 'deploy upgrade'));
  const refused = upgradeRefusals(facts, accepts, version);
  if (refused.length) {
    throw new DeliverError(`deploy upgrade refused on ${refused.length} of ${facts.length} host(s); nothing was changed`, {
      detail: refused.map((r) => `  ${r}`).join('\n'),
      hint: 'a stopped node takes the new version as a plain release: `deliver upgrade <env>` does both; `--host` narrows the hosts',
    });
  }
  const cfg: UpgradeConfig = {
    app: de.app,
    env: de.env,
    version,
    keepReleases: de.config.deploy.keepReleases,
    hooks: de.config.hooks,
    startTimeoutMs: startTimeout(de),
  };
  const strategy = strategyOf(de, flags);
  const about = `${de.app} ${accepts.join('/')} → ${version} in ${de.env} (${facts.length} host(s), ${strategy.strategy}) from ${store.description}`;
  if (de.dryRun) {
    const ref = await releaseRefOf(store, stored, de.signal);
    const hosts = facts.map((f) => upgradePlan(upgradeTarget(cfg, ref, f), f));
    printPlan(de.out, { title: `hot upgrade ${about}`, facts: [`upgrade: ${ref.file}, ${ref.size} bytes, sha256 ${ref.sha256}; goes from ${accepts.join(', ')}`], hosts });
    await flags.afterDeploy?.();
    return { env: de.env, app: de.app, version, accepts, hosts: [] };
  }
  const byHost = new Map(facts.map((f) => [f.host, f]));
  const targets = de.targets.filter((t) => byHost.has(t.name));
  de.out.info(`Hot-upgrading ${about}`);
  const source = await prepareSource(store, stored, de.signal);
  const tarball = { file: source.file, sha256: source.sha256, size: source.size };
  const live = new LiveReporter(de.out, targets.map((t) => t.name));
  const lock = lockSettings(de, flags.lockWait);
  let outcomes: HostOutcome<HostUpgradeResult>[] = [];
  try {
    outcomes = await runStrategy(
      targets,
      async (t) => {
        const f = byHost.get(t.name)!;
        try {
          const n = nodeTargetOf(f.layout, de.env, cfg.startTimeoutMs, releaseKindOf(de).configuredKind);
          const r = await upgradeHost(await connect(de, t), upgradeTarget(cfg, tarball, f), {
            n,
            lock,
            signal: de.signal,
            open: () => source.open(),
            events: { step: (h, st) => live.step(h, st), warn: (m) => live.warn(m) },
          });
          live.done(t.name, true, `${r.from} → ${r.to}, pid ${r.pid}`);
          return r;
        } catch (err) {
          live.done(t.name, false, `failed${err instanceof RemoteError && err.step ? ` at ${err.step}` : ''}`);
          throw err;
        }
      },
      { ...strategy, signal: de.signal },
    );
  } finally {
    live.stop();
    await source.dispose();
  }
  const afterError = await afterEveryHost(de, flags.afterDeploy, outcomes);
  const result: UpgradeResult = { env: de.env, app: de.app, version, accepts, hosts: outcomes };
  de.out.result(result);
  printSummary(de.out, outcomes, { title: `upgrade ${version}`, valueColumn: { header: 'FROM', cell: (v) => (v as HostUpgradeResult).from } });
  if (afterError) throw afterError;
  finish(de, 'deploy upgrade', outcomes as HostOutcome<unknown>[]);
  return result;
}

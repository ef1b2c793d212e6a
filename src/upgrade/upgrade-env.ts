// `deliver upgrade [env]`: edeliver's do-everything, with every check first. Read what every host runs; the running
// nodes must agree on one version; build the upgrade `--with` that version when the store has its release, else
// `--from` its git tag; hot-upgrade the running hosts, deploy the new version as a plain release to hosts whose node
// is stopped (started with --start-deploy); then verify every host.
import { execFileSync } from 'node:child_process';
import { DeliverError } from '../output/errors.js';
import { printPlan } from '../output/plan.js';
import type { ReleaseStore } from '../store/types.js';
import { releaseFileName } from '../store/types.js';
import { deployRelease, type DeployEnv, type DeployFlags } from '../deploy/run.js';
import { deployUpgrade, readAllFacts, type UpgradeFlags } from './deploy-upgrade.js';
import type { UpgradeFacts } from './upgrade-host.js';

/** Where the old release comes from: the store, else the git tag of that version (`vX` or `X`). */
export type UpgradeSource = { with: string } | { from: string };

/** The one version the running nodes agree on; throws naming every host when they do not, or when none runs. */
export function agreedVersion(facts: UpgradeFacts[], env: string): string {
  const unsure = facts.filter((f) => f.pid && !f.version);
  if (unsure.length) {
    throw new DeliverError(`upgrade refused: ${unsure.length} node(s) run but do not say which version; nothing was changed`, { detail: unsure.map((f) => `  ${f.host}: OS pid ${f.pid}, no version (still starting?)`).join('\n') });
  }
  const running = facts.filter((f) => f.running && f.version);
  const versions = [...new Set(running.map((f) => f.version!))];
  if (versions.length === 1) return versions[0]!;
  if (versions.length === 0) {
    throw new DeliverError(`upgrade refused: no node runs in ${env}, so there is no version to upgrade from`, { hint: `deploy and start a release first: deliver update ${env} --start-deploy` });
  }
  throw new DeliverError(`upgrade refused: the running nodes of ${env} run different versions (${versions.join(', ')}); nothing was changed`, {
    detail: running.map((f) => `  ${f.host}: runs ${f.version}`).join('\n'),
    hint: 'upgrade them to one version first (deploy upgrade --host=… or deploy release), or narrow the hosts with --host',
  });
}

export async function upgradeSource(store: ReleaseStore, app: string, version: string, projectDir: string): Promise<UpgradeSource> {
  if (await store.stat(releaseFileName(app, version))) return { with: version };
  for (const tag of [`v${version}`, version]) {
    try {
      execFileSync('git', ['rev-parse', '-q', '--verify', `refs/tags/${tag}`], { cwd: projectDir, stdio: 'ignore' });
      return { from: tag };
    } catch {
      // not this name
    }
  }
  throw new DeliverError(`upgrade refused: ${store.description} has no release ${version} and the repository has no tag v${version} or ${version} to build it from`, {
    hint: `upload that release (deliver upload release ${version}) or tag the commit it was built from`,
  });
}

export interface UpgradeEnvFlags extends UpgradeFlags {
  startDeploy?: boolean;
}

export async function upgradeEnvironment(de: DeployEnv, store: ReleaseStore, flags: UpgradeEnvFlags, build: (source: UpgradeSource) => Promise<{ to: string }>): Promise<void> {
  // The migrations run once for the whole command, not inside each of its two deploys.
  const { afterDeploy, ...fan } = flags;
  const facts = await readAllFacts(de, de.targets, 'upgrade');
  const from = agreedVersion(facts, de.env);
  const source = await upgradeSource(store, de.app, from, de.projectDir);
  de.out.info(`${facts.filter((f) => f.running).length} of ${facts.length} host(s) run ${de.app} ${from}; building the upgrade ${'with' in source ? `--with=${source.with}` : `--from=${source.from}`}`);
  const hot = facts.filter((f) => f.running);
  const cold = new Set(facts.filter((f) => !f.running).map((f) => f.host));
  if (de.dryRun) {
    const how = `build the upgrade ${'with' in source ? `--with=${source.with}` : `--from=${source.from}`} to the current branch, then hot-upgrade ${hot.length} host(s) and deploy it as a plain release to ${cold.size}`;
    const plans = facts.map((f) => ({ host: f.host, steps: f.steps, facts: [f.running ? `runs ${f.version}: hot upgrade (its steps follow from the built upgrade: deploy upgrade --dry-run)` : `not running (active ${f.state.active ?? 'none'}): plain deploy`] }));
    printPlan(de.out, { title: `upgrade ${de.app} in ${de.env}`, facts: [how], hosts: plans });
    await afterDeploy?.();
    return;
  }
  const { to } = await build(source);
  await deployUpgrade({ ...de, targets: de.targets.filter((t) => !cold.has(t.name)) }, store, { ...fan, version: to }, hot);
  if (cold.size) {
    const plain: DeployFlags = { ...fan, version: to, command: 'upgrade', ...(flags.startDeploy ? { startDeploy: true } : {}) };
    await deployRelease({ ...de, targets: de.targets.filter((t) => cold.has(t.name)) }, store, plain);
  }
  // --run-migrations: once every host has the new code (hot or plain), before the end check.
  await afterDeploy?.();
  // The end state, read again from every host: running nodes run `to`, stopped hosts have it active.
  const after = await readAllFacts(de, de.targets, 'upgrade check');
  const wrong = after.filter((f) => (f.running ? f.version !== to : f.state.active !== to));
  if (wrong.length) {
    throw new DeliverError(`upgrade to ${to}: ${wrong.length} host(s) do not have it`, {
      detail: wrong.map((f) => `  ${f.host}: ${f.running ? `runs ${f.version}` : `active ${f.state.active ?? 'none'}, not running`}`).join('\n'),
    });
  }
  de.out.info(`${de.out.c.green('✔')} ${de.env}: every host has ${de.app} ${to} (${hot.length} hot-upgraded, ${cold.size} deployed)`);
}

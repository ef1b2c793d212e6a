// `deliver migrate` and `deliver show migrations`: migrations run once per environment, on its first host (or the
// one --host names), because the hosts of an environment share one database; --all-hosts runs them on every host
// (a database per host). runMigrations is the same after a deploy (`update --run-migrations`, `upgrade`).
import { RemoteError } from '../output/errors.js';
import { StepList, type HostPlan } from '../plan/plan.js';
import type { Backend, HostTarget } from '../ssh/types.js';
import { withDir, hostDir } from './host-dir.js';
import { envFile } from './layout.js';
import { describeMigration, parseMigrations, type Migration, type MigrationStatus } from './migrations.js';
import { queryResult, type NodeQuery } from './node.js';
import { queryStep } from './node-plan.js';
import { runNode } from './node-run.js';
import { concurrencyOf, connect, finish, planNodeOn, releaseKindOf, showPlan, startTimeout, type DeployEnv } from './run.js';
import { runStrategy, type HostOutcome } from './strategy.js';

export interface MigrationResult {
  /** What the command printed on stdout. */
  output: string;
  /** `show migrations`: the `up|down VERSION NAME` lines. */
  migrations?: MigrationStatus[];
}

export interface MigrateOptions {
  allHosts?: boolean;
  concurrency?: string;
}

/** The hosts a migration runs on: the first of the (--host filtered) environment, or every host with --all-hosts. */
export function migrationTargets(targets: readonly HostTarget[], allHosts = false): HostTarget[] {
  return allHosts ? [...targets] : targets.slice(0, 1);
}

/** `migrate up`, `migrate down`, `migrations`: what messages call the action. */
export function migrationLabel(m: Migration): string {
  return m.action === 'status' ? 'migrations' : `migrate ${m.action}`;
}

function query(m: Migration): NodeQuery {
  return { action: 'migrate', migration: m };
}

/** Runs `m` on one host; a failure is a RemoteError naming the host, with what the command printed. */
async function migrateHost(de: DeployEnv, t: HostTarget, m: Migration): Promise<MigrationResult> {
  const backend = await connect(de, t);
  const { plan, n, kind } = await planNodeOn(de, backend, t, query(m));
  const r = queryResult({ host: t.name, app: de.app, kind, ...(n.configuredKind ? { configured: true } : {}) }, query(m), await runNode(backend, n, kind, plan, de.signal));
  for (const line of r.stderr.split('\n').filter(Boolean)) de.out.debug(`${t.name} ! ${line}`);
  if (r.code !== 0) {
    const detail = `${r.stdout}${r.stderr ? (r.stdout ? '\n' : '') + r.stderr : ''}`.trim();
    throw new RemoteError(t.name, `${migrationLabel(m)} failed (exit ${r.code})`, { step: 'migrate', ...(detail ? { detail } : {}) });
  }
  return { output: r.stdout.trimEnd(), ...(m.action === 'status' ? { migrations: parseMigrations(r.stdout) } : {}) };
}

/**
 * A dry run's plan for one host. After a deploy's dry run nothing may be active yet to read the release kind from:
 * the step is then shown for RELEASE_KIND or a mix release (the real run reads it once the release is in place).
 */
async function planHost(de: DeployEnv, b: Backend, t: HostTarget, m: Migration, afterDeploy: boolean): Promise<HostPlan> {
  try {
    return (await planNodeOn(de, b, t, query(m))).plan;
  } catch (err) {
    if (!afterDeploy) throw err;
    const dir = await hostDir(b, de.deliverTo, de.app, t.path, de.signal);
    const kind = releaseKindOf(de).configuredKind ?? 'mix';
    const n = { layout: dir.layout, envFile: envFile(dir.layout, de.env), timeoutMs: startTimeout(de) };
    const steps = queryStep(n, kind, query(m), new StepList()).steps;
    return withDir(dir, { host: t.name, steps, facts: [`shown for a ${kind} release: the real run reads the kind once the new release is in place`] });
  }
}

/** `deliver migrate <env> [up|down]` and `deliver show migrations <env>`; exit status follows every host's result. */
export async function migrate(de: DeployEnv, m: Migration, opts: MigrateOptions = {}): Promise<HostOutcome<MigrationResult>[]> {
  const targets = migrationTargets(de.targets, opts.allHosts);
  const label = migrationLabel(m);
  if (de.dryRun) {
    await showPlan(de, `${describeMigration(m)} on ${de.env}: ${opts.allHosts ? `every host (${targets.length})` : `once, on ${targets[0]?.name}`}`, [], targets, (b, t) => planHost(de, b, t, m, false));
    return [];
  }
  const details = new Map<string, string>();
  const outcomes = await runStrategy(
    targets,
    (t) =>
      migrateHost(de, t, m).catch((err: unknown) => {
        if (err instanceof RemoteError && err.detail) details.set(t.name, err.detail);
        throw err;
      }),
    { strategy: 'parallel', concurrency: concurrencyOf(de, opts.concurrency), signal: de.signal },
  );
  de.out.result({ env: de.env, action: label, hosts: outcomes });
  if (!de.out.json) {
    for (const o of outcomes) {
      if (o.status === 'ok') printMigration(de, o.host, m, o.value!);
      else if (o.status === 'failed') {
        de.out.error(`${o.host} [${o.step ?? 'migrate'}]: ${(o.error ?? 'failed').replace(`${o.host}: `, '')}`);
        for (const line of (details.get(o.host) ?? '').split('\n').filter(Boolean)) de.out.info(de.out.c.dim(`  ${o.host} | ${line}`));
      }
    }
  }
  finish(de, label, outcomes as HostOutcome<unknown>[]);
  return outcomes;
}

function printMigration(de: DeployEnv, host: string, m: Migration, r: MigrationResult): void {
  if (m.action === 'status' && r.migrations?.length) {
    de.out.info(`${de.out.c.bold(host)}:`);
    de.out.table(['STATUS', 'VERSION', 'NAME'], r.migrations.map((x) => [x.status, x.version, x.name]));
    return;
  }
  for (const line of r.output.split('\n').filter(Boolean)) de.out.info(`  ${host} | ${line}`);
  de.out.info(`${de.out.c.green('✔')} ${host}: ${m.action === 'status' ? 'no migrations listed' : `${doneLabel(m)} done`}`);
}

function doneLabel(m: Migration): string {
  return m.version ? `${migrationLabel(m)} to ${m.version}` : migrationLabel(m);
}

/**
 * After a deploy or upgrade: `m` once, on the environment's first host; a failure throws a RemoteError naming
 * that host. In a dry run it prints the step instead.
 */
export async function runMigrations(de: DeployEnv, m: Migration): Promise<MigrationResult | undefined> {
  const [t] = migrationTargets(de.targets);
  if (!t) return undefined;
  if (de.dryRun) {
    await showPlan(de, `then, once the release is in place: ${describeMigration(m)} on ${t.name} only`, [], [t], (b, x) => planHost(de, b, x, m, true));
    return undefined;
  }
  de.out.info(`Running migrations on ${t.name} (once for ${de.env})`);
  const r = await migrateHost(de, t, m);
  printMigration(de, t.name, m, r);
  return r;
}

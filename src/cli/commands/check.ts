// `deliver check [environment]`: the resolved configuration with the source of every value, what build and deploy
// to that environment need and what is missing, the hooks found, warnings (typos, unset variables). Exit 2 if invalid.
import type { Command } from 'commander';
import { loadSettings } from '../../config/load.js';
import { resolveBuildHost, resolveEnvironment, type ResolvedEnvironment } from '../../config/resolve.js';
import { configFileName, describeSource, formatLocation } from '../../config/settings.js';
import type { ConfigWarning, Settings } from '../../config/types.js';
import { buildConfigured, requirementsFor, validateSettings, type CommandRequirements } from '../../config/validate.js';
import { ConfigError, DeliverError, EXIT_USAGE } from '../../output/errors.js';
import type { Output } from '../../output/output.js';
import { isSecretName } from '../../output/redact.js';
import type { HostTarget } from '../../ssh/types.js';
import { action, environmentFrom, withCommonOptions, type CommonOptions } from '../common.js';

interface CheckFlags extends CommonOptions {
  mixEnv?: string;
  host?: string[];
}

interface Problem {
  message: string;
  where?: string;
}

function shownValue(name: string, value: string): string {
  return isSecretName(name) && value !== '' ? '***' : value;
}

function targetName(t: HostTarget): string {
  return t.path !== undefined ? `${t.name}:${t.path}` : t.name;
}

function problemOf(err: unknown): Problem {
  if (err instanceof ConfigError) return err.line === undefined ? { message: err.reason, where: err.file } : { message: err.reason, where: `${err.file}:${err.line}` };
  if (err instanceof DeliverError) return { message: err.message };
  throw err;
}

function warningOf(w: ConfigWarning, settings: Settings): Problem {
  return w.location ? { message: w.message, where: formatLocation(w.location, settings.projectDir) } : { message: w.message };
}

function collect<T>(fn: () => T, problems: Problem[]): T | undefined {
  try {
    return fn();
  } catch (err) {
    problems.push(problemOf(err));
    return undefined;
  }
}

export function registerCheck(program: Command): void {
  withCommonOptions(
    program
      .command('check')
      .argument('[environment...]', 'environment to check deploying to: staging (default), production or your own (`to`/`on` allowed)')
      .description('show the resolved configuration, where each value comes from, and what is missing (exit 2 if invalid)')
      .option('--mix-env <env>', 'TARGET_MIX_ENV to evaluate the config with')
      .option('--host <[user@]host[:port]>', 'check narrowing the environment to these hosts (repeatable)', (v: string, prev: string[] = []) => [...prev, v]),
  ).action(
    action(async (ctx, words: string[], flags: CheckFlags) => {
      // edeliver advertised `check release|config`; both are this command.
      const env = environmentFrom(words.filter((w) => w !== 'release' && w !== 'config'));
      const settings = await loadSettings({
        cwd: ctx.cwd,
        deployEnvironment: env,
        ...(flags.config !== undefined ? { configFile: flags.config } : {}),
        ...(flags.mixEnv !== undefined ? { mixEnv: flags.mixEnv } : {}),
        ...(flags.hostKeyChecking !== undefined ? { flags: { HOST_KEY_CHECKING: flags.hostKeyChecking } } : {}),
      });
      const { errors, warnings } = validateSettings(settings);
      const problems: Problem[] = errors.map(problemOf);
      const buildReq = requirementsFor(settings, 'build');
      const deployReq = requirementsFor(settings, 'deploy', env);
      // A deploy-only config (no BUILD_* at all) is complete; a build half-configured is a problem.
      const building = buildConfigured(settings);
      const requirements = building ? [buildReq, deployReq] : [deployReq];
      const build = building && buildReq.satisfied ? collect(() => resolveBuildHost(settings), problems) : undefined;
      const target = deployReq.satisfied || (flags.host?.length ?? 0) > 0 ? collect(() => resolveEnvironment(settings, env, flags.host ? { hosts: flags.host } : {}), problems) : undefined;
      for (const r of requirements) {
        if (!r.satisfied) problems.push({ message: `${r.label} needs ${r.items.filter((i) => !i.ok).map((i) => i.name).join(', ')}`, where: configFileName(settings) });
      }
      // resolveEnvironment may report a value validateSettings already reported.
      const unique = problems.filter((p, i) => problems.findIndex((q) => q.message === p.message && q.where === p.where) === i);
      problems.splice(0, problems.length, ...unique);
      const valid = problems.length === 0;
      const warned = warnings.map((w) => warningOf(w, settings));

      if (ctx.out.json) {
        ctx.out.result({
          valid,
          file: settings.file,
          evaluation: settings.evaluation,
          environment: env,
          variables: settings.all().map((v) => ({
            name: v.name,
            value: shownValue(v.name, v.value),
            source: v.source,
            from: describeSource(v, settings.projectDir),
            ...(v.shadows ? { overrides: formatLocation(v.shadows, settings.projectDir) } : {}),
          })),
          hooks: [...settings.hooks.values()].map((h) => ({ name: h.name, at: formatLocation(h.location, settings.projectDir) })),
          requirements: [
            ...(building ? [] : [{ command: buildReq.label, configured: false, satisfied: false, missing: buildReq.items.filter((i) => !i.ok).map((i) => i.name) }]),
            ...requirements.map((r) => ({ command: r.label, satisfied: r.satisfied, missing: r.items.filter((i) => !i.ok).map((i) => i.name) })),
          ],
          buildHost: build ? { target: build.target.name, buildAt: build.buildAt } : null,
          targets: target ? { environment: target.name, hosts: target.targets.map(targetName), deliverTo: target.deliverTo } : null,
          warnings: warned,
          errors: problems,
        });
      } else {
        printReport(ctx.out, settings, requirements, building, build, target, warned, problems);
      }
      if (!valid) {
        // The report lists every problem; the final line names the first (the only one stderr shows with --json).
        const first = problems[0]!;
        const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''}${ctx.out.json ? ' in the JSON result' : ' above'})` : '';
        throw new DeliverError(`${first.where ? `${first.where}: ` : ''}${first.message}${more}`, { exitCode: EXIT_USAGE });
      }
    }),
  );
}

function printReport(
  out: Output,
  settings: Settings,
  requirements: CommandRequirements[],
  building: boolean,
  build: { target: HostTarget; buildAt: string } | undefined,
  target: ResolvedEnvironment | undefined,
  warnings: Problem[],
  problems: Problem[],
): void {
  const c = out.c;
  const file = configFileName(settings);
  const ev = settings.evaluation;
  const how =
    ev?.mode === 'bash'
      ? `evaluated with bash (${ev.reason ?? 'constructs outside the native subset'}${ev.location ? ` at ${formatLocation(ev.location, settings.projectDir)}` : ''})`
      : ev?.mode === 'native'
        ? 'read natively'
        : 'not found';
  out.info(`${c.bold('config')} ${file}: ${how}`);
  out.info('');
  out.table(
    ['VARIABLE', 'VALUE', 'FROM'],
    settings.all().map((v) => [v.name, shownValue(v.name, v.value), describeSource(v, settings.projectDir) + (v.shadows ? ` (overrides ${formatLocation(v.shadows, settings.projectDir)})` : '')]),
  );
  out.info('');
  const hooks = [...settings.hooks.values()];
  out.info(`${c.bold('hooks')}${hooks.length === 0 ? ': none' : ''}`);
  const width = Math.max(0, ...hooks.map((h) => h.name.length));
  for (const h of hooks) out.info(`  ${h.name.padEnd(width)}  ${c.dim(formatLocation(h.location, settings.projectDir))}`);
  out.info('');
  if (!building) out.info(`${c.dim('–')} ${c.bold('build')}: not configured (no BUILD_HOST): releases reach the store some other way`);
  for (const r of requirements) {
    const missing = r.items.filter((i) => !i.ok).map((i) => i.name);
    const status = r.satisfied ? c.green('✔') : c.red('✘');
    let detail = r.satisfied ? r.items.map((i) => i.name).join(', ') : `missing ${missing.join(', ')}`;
    if (r.label === 'build' && build) detail = `on ${build.target.name} in ${build.buildAt}`;
    if (r.label !== 'build' && target) detail = `${target.targets.length} host${target.targets.length === 1 ? '' : 's'}: ${target.targets.map(targetName).join(', ')} → ${target.deliverTo}`;
    out.info(`${status} ${c.bold(r.label)}: ${detail}`);
  }
  if (warnings.length > 0) {
    out.info('');
    for (const w of warnings) out.warn(`${w.where ? `${w.where}: ` : ''}${w.message}`);
  }
  if (problems.length > 1) {
    out.info('');
    for (const p of problems.slice(1)) out.error(`${p.where ? `${p.where}: ` : ''}${p.message}`);
  } else if (problems.length === 0) {
    out.info('');
    out.info(c.green('configuration is valid'));
  }
}

// `deliver migrate [on] <env> [up|down] [--version=V] [--all-hosts]` and `deliver [show] migrations [on] <env>`
// (edeliver's grammar): the environment's migrations, once on its first host (or --host), or on every host.
import type { Command } from 'commander';
import type { MigrationSettings } from '../../config/config.js';
import { migrationVersion } from '../../config/migrations.js';
import { withTargetOptions, type TargetFlags } from '../deploy-env.js';
import { migrate, runMigrations } from '../../deploy/migrate-run.js';
import { appModule, settingOf, type Migration, type MigrationAction } from '../../deploy/migrations.js';
import type { DeployEnv } from '../../deploy/run.js';
import { UsageError } from '../../output/errors.js';
import { action, environmentFrom, withCommonOptions } from '../common.js';
import { withEnv } from './node.js';

type MigrateFlags = TargetFlags & { version?: string; allHosts?: boolean; concurrency?: string };

/**
 * The migration an action runs, from the migration settings and `--version` (checked: it reaches the remote shell). The
 * Release module convention has no migrate-up-to-a-version and rolls back only to one: those need the setting.
 */
export function migrationOf(configured: MigrationSettings, app: string, act: MigrationAction, version?: string): Migration {
  const command = configured[act];
  const repo = configured.repo;
  const m: Migration = { action: act, app, ...(command ? { command } : {}), ...(repo ? { repo } : {}) };
  if (version === undefined) {
    if (act === 'down' && !command) {
      throw new UsageError(`migrate down needs --version=V: ${appModule(app)}.Release.rollback/2 (mix phx.gen.release) rolls back to a version`, {
        hint: `or set ${settingOf('down')} to a command that takes none`,
      });
    }
    return m;
  }
  if (act === 'status') throw new UsageError('show migrations takes no --version');
  const v = migrationVersion(version, '--version');
  if (act === 'up' && !command) {
    throw new UsageError(`migrate up --version needs ${settingOf('up')}: ${appModule(app)}.Release.migrate/0 (mix phx.gen.release) runs every pending migration`, {
      hint: `e.g. ${settingOf('up')}='bin/${app} eval "${appModule(app)}.Release.migrate_to($MIGRATION_VERSION)"' with a migrate_to/1 of your own`,
    });
  }
  return { ...m, version: v };
}

/** `[on] <env> [up|down]` in any order (edeliver scanned its arguments for the direction). */
export function splitDirection(words: string[]): { env: string; direction: 'up' | 'down' } {
  const dirs = words.filter((w) => w === 'up' || w === 'down');
  if (dirs.length > 1) throw new UsageError(`expected one of up or down, got: ${dirs.join(' ')}`);
  return { env: environmentFrom(words.filter((w) => w !== 'up' && w !== 'down')), direction: (dirs[0] as 'up' | 'down' | undefined) ?? 'up' };
}

/** `--run-migrations` on update and deploy: the hook deployRelease runs once the release is in place. */
export function migrationsAfterDeploy(de: DeployEnv, wanted: boolean | undefined): { afterDeploy?: () => Promise<void> } {
  if (!wanted) return {};
  const m = migrationOf(de.config.migrations, de.app, 'up');
  return { afterDeploy: async () => void (await runMigrations(de, m)) };
}

function withMigrateOptions(cmd: Command): Command {
  return withTargetOptions(withCommonOptions(cmd)).option('--all-hosts', 'run on every host of the environment (a database per host), not once on the first');
}

export function registerMigrate(program: Command): void {
  withMigrateOptions(
    program
      .command('migrate')
      .argument('[words...]', '[on] <environment> [up|down]')
      .option('--version <version>', 'the migration version to migrate to (down: roll back to it)')
      .description('run the database migrations once for the environment, on its first host (or --host): up (default) or down --version=V'),
  ).action(
    action(async (ctx, words: string[], flags: MigrateFlags) => {
      const { env, direction } = splitDirection(words);
      await withEnv(ctx, env, flags, (de) => migrate(de, migrationOf(de.config.migrations, de.app, direction, flags.version), flags));
    }),
  );
  const status = (cmd: Command) =>
    withMigrateOptions(cmd.argument('[words...]', '[on] <environment>').description('list the migrations (status, version, name) of the environment\'s first host (or --host)')).action(
      action(async (ctx, words: string[], flags: MigrateFlags) => {
        await withEnv(ctx, environmentFrom(words), flags, (de) => migrate(de, migrationOf(de.config.migrations, de.app, 'status'), flags));
      }),
    );
  status(program.command('migrations'));
  const show = program.commands.find((c) => c.name() === 'show') ?? program.command('show').description('show releases and other information');
  status(show.command('migrations'));
}

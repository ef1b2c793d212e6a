// The migration settings (MIGRATE_COMMAND, MIGRATE_DOWN_COMMAND, MIGRATIONS_COMMAND, ECTO_REPOSITORY) and the
// `--version` a migration runs to: checked here, where every value that reaches a remote shell is checked.
import { failAt, type Where } from './hosts.js';
import type { Settings } from './types.js';
import { whereOf } from './validate.js';

export const MIGRATION_COMMAND_VARS = { up: 'MIGRATE_COMMAND', down: 'MIGRATE_DOWN_COMMAND', status: 'MIGRATIONS_COMMAND' } as const;

/** An Ecto migration version: the digits of its timestamp (the only value deliver puts into the command). */
export function migrationVersion(value: string, where: Where): string {
  if (!/^\d{1,20}$/.test(value)) failAt(where, `${JSON.stringify(value)} is not a migration version: expected its number, e.g. 20240131120000`);
  return value;
}

/** An Elixir module name (`MyApp.Repo`): it is written into the `rollback/2` expression as is. */
export function ectoRepository(value: string, where: Where): string {
  const v = value.trim();
  if (!/^[A-Z][A-Za-z0-9_]*(\.[A-Z][A-Za-z0-9_]*)*$/.test(v)) failAt(where, `ECTO_REPOSITORY=${JSON.stringify(value)}: expected an Elixir module name such as MyApp.Repo`);
  return v;
}

/** A user's migration command: one line of shell text (a newline would end the statement deliver wraps it in). */
export function migrationCommandSetting(value: string, name: string, where: Where): string {
  if (/[\r\n]/.test(value.trim())) failAt(where, `${name} must be one line of shell (join statements with ; or &&)`);
  return value.trim();
}

/** The user's command for an action, checked; undefined when unset (the Release module convention applies). */
export function migrationCommandOf(settings: Settings, action: keyof typeof MIGRATION_COMMAND_VARS): string | undefined {
  const name = MIGRATION_COMMAND_VARS[action];
  const value = settings.get(name);
  return value && value.trim() !== '' ? migrationCommandSetting(value, name, whereOf(settings, name)) : undefined;
}

export function ectoRepositoryOf(settings: Settings): string | undefined {
  const value = settings.get('ECTO_REPOSITORY');
  return value && value.trim() !== '' ? ectoRepository(value, whereOf(settings, 'ECTO_REPOSITORY')) : undefined;
}

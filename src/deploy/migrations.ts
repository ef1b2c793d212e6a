// Database migrations on a deploy host, as pure command builders: the `mix release` convention (a Release module
// run with `bin/APP eval`, which `mix phx.gen.release` generates: migrate/0 and rollback(repo, version)) or the
// user's own MIGRATE_COMMAND / MIGRATE_DOWN_COMMAND / MIGRATIONS_COMMAND, each run in the active release root.
import { and, raw, sh, type Shell } from '../ssh/quote.js';
import type { Layout } from './layout.js';
import { evalCommand, inActive, type ReleaseKind } from './node-commands.js';

export type MigrationAction = 'up' | 'down' | 'status';

export interface Migration {
  action: MigrationAction;
  app: string;
  /** `--version`: an Ecto migration version (digits only, checked by config/migrations.ts). */
  version?: string;
  /** The user's command for this action (shell text from the config), instead of the Release module. */
  command?: string;
  /** ECTO_REPOSITORY, the repo `rollback/2` gets (default `<App>.Repo`). */
  repo?: string;
}

/** The variable a user's command reads the `--version` from (empty without one). */
export const VERSION_VARIABLE = 'MIGRATION_VERSION';

/** `MyApp` for app `my_app`: the module prefix `mix phx.gen.release` uses. */
export function appModule(app: string): string {
  return app.split('_').filter(Boolean).map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');
}

/**
 * The Elixir expression of the default command: `<App>.Release.migrate()` and `<App>.Release.rollback(Repo, V)`
 * (phx.gen.release); the status, which phx.gen.release has no function for, lists every repo's migrations with
 * `Ecto.Migrator.migrations/1` as `up|down VERSION NAME` lines.
 */
export function defaultMigrationExpr(m: Migration): string {
  const mod = appModule(m.app);
  if (m.action === 'up') return `${mod}.Release.migrate()`;
  if (m.action === 'down') return `${mod}.Release.rollback(${m.repo ?? `${mod}.Repo`}, ${m.version ?? ''})`;
  const app = `:${m.app}`;
  return `Application.load(${app}); Enum.each(Application.fetch_env!(${app}, :ecto_repos), fn repo -> {:ok, ms, _} = Ecto.Migrator.with_repo(repo, &Ecto.Migrator.migrations/1); Enum.each(ms, fn {s, v, n} -> IO.puts("#{s} #{v} #{n}") end) end)`;
}

/**
 * Why the default command cannot do `m` on a `kind` release (undefined: it can). relx releases are Erlang: there
 * is no Release module convention to follow, so they need the setting.
 */
export function defaultUnavailable(m: Migration, kind: ReleaseKind): string | undefined {
  if (m.command) return undefined;
  if (kind === 'relx') return `relx releases have no Release module convention: set ${settingOf(m.action)} (e.g. bin/${m.app} eval '${m.app}_release:${m.action === 'status' ? 'status' : 'migrate'}().')`;
  return undefined;
}

/** The setting that holds the user's command for `action`. */
export function settingOf(action: MigrationAction): string {
  return action === 'up' ? 'MIGRATE_COMMAND' : action === 'down' ? 'MIGRATE_DOWN_COMMAND' : 'MIGRATIONS_COMMAND';
}

/** The command that runs `m` in the active release root, with the environment's env file loaded. */
export function migrationCommand(l: Layout, kind: ReleaseKind, m: Migration, envFile?: string): Shell {
  if (!m.command) return evalCommand(l, kind, defaultMigrationExpr(m), envFile);
  // The user's own shell text: `$MIGRATION_VERSION` carries the (validated) version into it.
  return and(inActive(l, envFile), sh`export ${raw(VERSION_VARIABLE)}=${m.version ?? ''}`, raw(m.command));
}

/** How a plan names the action: `migrate up to 20240101 (MIGRATE_COMMAND)`. */
export function describeMigration(m: Migration): string {
  const what = m.action === 'status' ? 'list the migrations' : `migrate ${m.action}${m.version ? ` to ${m.version}` : ''}`;
  return `${what} (${m.command ? settingOf(m.action) : `bin/${m.app} eval ${defaultMigrationExpr(m).slice(0, 60)}${defaultMigrationExpr(m).length > 60 ? '…' : ''}`})`;
}

export interface MigrationStatus {
  status: 'up' | 'down';
  version: string;
  name: string;
}

/** The `up|down VERSION NAME` lines of a status command's output (Ecto's own order); other lines are not migrations. */
export function parseMigrations(stdout: string): MigrationStatus[] {
  const out: MigrationStatus[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s*(up|down)\s+(\d+)\s+(.*?)\s*$/.exec(line);
    if (m) out.push({ status: m[1] as 'up' | 'down', version: m[2]!, name: m[3]! });
  }
  return out;
}

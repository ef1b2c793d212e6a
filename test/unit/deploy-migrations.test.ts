// Migration commands (the Release module convention and the user's own commands), their settings and the
// `up|down VERSION NAME` status lines: exact text, and run by a real sh against a fake release script.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/load.js';
import { configOf } from '../../src/config/config.js';
import { validateSettings } from '../../src/config/validate.js';
import { layoutFor } from '../../src/deploy/layout.js';
import { migrationTargets } from '../../src/deploy/migrate-run.js';
import { defaultMigrationExpr, defaultUnavailable, describeMigration, migrationCommand, parseMigrations, type Migration } from '../../src/deploy/migrations.js';
import { queryStep } from '../../src/deploy/node-plan.js';
import { StepList } from '../../src/plan/plan.js';
import { migrationOf, splitDirection } from '../../src/cli/commands/migrate.js';
import { ConfigError, UsageError } from '../../src/output/errors.js';

const root = mkdtempSync(join(tmpdir(), 'deliver-migrations-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const run = (text: string) => spawnSync('sh', ['-c', text], { encoding: 'utf8' });

/** An active release whose bin/demo prints its arguments, one per line. */
function release() {
  const dir = join(root, `h${++n}`);
  const l = layoutFor(dir, 'demo');
  mkdirSync(join(l.releases, '1', 'bin'), { recursive: true });
  writeFileSync(join(l.releases, '1', 'bin', 'demo'), '#!/bin/sh\nfor a in "$@"; do echo "[$a]"; done\n');
  chmodSync(join(l.releases, '1', 'bin', 'demo'), 0o755);
  symlinkSync('.deliver/demo/releases/1', l.root);
  return l;
}

async function settings(config: string) {
  const dir = join(root, `p${++n}`);
  mkdirSync(join(dir, '.deliver'), { recursive: true });
  writeFileSync(join(dir, '.deliver', 'config'), config);
  return loadSettings({ cwd: dir, env: { HOME: '/home/t', PATH: process.env.PATH ?? '/usr/bin:/bin' } });
}

const up: Migration = { action: 'up', app: 'my_app' };

describe('migration commands', () => {
  it('follows mix phx.gen.release: migrate/0, rollback(repo, version); the status lists Ecto.Migrator.migrations/1', () => {
    expect(defaultMigrationExpr(up)).toBe('MyApp.Release.migrate()');
    expect(defaultMigrationExpr({ action: 'down', app: 'my_app', version: '20240101' })).toBe('MyApp.Release.rollback(MyApp.Repo, 20240101)');
    expect(defaultMigrationExpr({ action: 'down', app: 'my_app', version: '3', repo: 'Other.Repo' })).toBe('MyApp.Release.rollback(Other.Repo, 3)');
    expect(defaultMigrationExpr({ action: 'status', app: 'my_app' })).toBe(
      'Application.load(:my_app); Enum.each(Application.fetch_env!(:my_app, :ecto_repos), fn repo -> {:ok, ms, _} = Ecto.Migrator.with_repo(repo, &Ecto.Migrator.migrations/1); Enum.each(ms, fn {s, v, n} -> IO.puts("#{s} #{v} #{n}") end) end)',
    );
  });

  it('runs the default with bin/APP eval in the active release, the env file loaded', () => {
    const l = release();
    const env = join(l.home, 'production.env');
    writeFileSync(env, 'X=1\n');
    const down = migrationCommand(l, 'mix', { action: 'down', app: 'demo', version: '7' }, env);
    expect(down.text).toBe(`{ if [ -f ${env} ]; then set -a; . ${env}; set +a; fi; cd ${l.root}; } && bin/demo eval 'Demo.Release.rollback(Demo.Repo, 7)'`);
    expect(run(down.text).stdout).toBe('[eval]\n[Demo.Release.rollback(Demo.Repo, 7)]\n');
    const status = run(migrationCommand(l, 'distillery', { action: 'status', app: 'demo' }).text);
    expect(status.stdout).toBe(`[eval]\n[${defaultMigrationExpr({ action: 'status', app: 'demo' })}]\n`);
  });

  it("a user's command gets the version as $MIGRATION_VERSION (empty without one)", () => {
    const l = release();
    const cmd = 'bin/demo eval "Demo.Release.rollback(Demo.Repo, $MIGRATION_VERSION)" # to V';
    const m = migrationCommand(l, 'mix', { action: 'down', app: 'demo', version: '20240101', command: cmd });
    expect(m.text).toBe(`cd ${l.root} && export MIGRATION_VERSION=20240101 && { ${cmd}\n}`);
    expect(run(`${m.text} && echo after`).stdout).toBe('[eval]\n[Demo.Release.rollback(Demo.Repo, 20240101)]\nafter\n');
    expect(run(migrationCommand(l, 'mix', { action: 'up', app: 'demo', command: 'echo "v=[$MIGRATION_VERSION]"' }).text).stdout).toBe('v=[]\n');
  });

  it('relx has no default (the setting is named); the plan step describes the action', () => {
    expect(defaultUnavailable(up, 'relx')).toBe("relx releases have no Release module convention: set MIGRATE_COMMAND (e.g. bin/my_app eval 'my_app_release:migrate().')");
    expect(defaultUnavailable({ action: 'status', app: 'a' }, 'relx')).toMatch(/^relx .*set MIGRATIONS_COMMAND/);
    expect(defaultUnavailable({ ...up, command: 'x' }, 'relx')).toBeUndefined();
    expect(defaultUnavailable(up, 'distillery')).toBeUndefined();
    expect(describeMigration({ action: 'down', app: 'a', version: '5', command: 'x' })).toBe('migrate down to 5 (MIGRATE_DOWN_COMMAND)');
    const l = release();
    const [step] = queryStep({ layout: l, timeoutMs: 1000 }, 'mix', { action: 'migrate', migration: { action: 'up', app: 'demo' } }, new StepList()).steps;
    expect([step!.name, step!.does, step!.script.text]).toEqual(['migrate', 'migrate up (bin/demo eval Demo.Release.migrate()) (mix release)', `cd ${l.root} && bin/demo eval 'Demo.Release.migrate()'`]);
  });

  it('parses up|down VERSION NAME lines and nothing else', () => {
    expect(parseMigrations('noise\nup 1 create_users\n  down   20240101 add email  \nup x y\n')).toEqual([
      { status: 'up', version: '1', name: 'create_users' },
      { status: 'down', version: '20240101', name: 'add email' },
    ]);
  });

  it('runs once per environment: the first host, every host with --all-hosts', () => {
    const hosts = [{ name: 'a', host: 'a' }, { name: 'b', host: 'b' }];
    expect(migrationTargets(hosts).map((h) => h.name)).toEqual(['a']);
    expect(migrationTargets(hosts, true).map((h) => h.name)).toEqual(['a', 'b']);
  });
});

describe('migration settings and flags', () => {
  it('takes the commands and ECTO_REPOSITORY from the config; --version is checked before it reaches a shell', async () => {
    const s = await settings('APP=demo\nMIGRATE_COMMAND="bin/demo eval \'Demo.Release.migrate()\'"\nMIGRATE_DOWN_COMMAND=\'bin/demo eval "Demo.Release.rollback(Demo.Repo, $MIGRATION_VERSION)"\'\nECTO_REPOSITORY=Demo.Repo\n');
    expect(migrationOf(configOf(s).migrations, 'demo', 'up')).toEqual({ action: 'up', app: 'demo', command: "bin/demo eval 'Demo.Release.migrate()'", repo: 'Demo.Repo' });
    expect(migrationOf(configOf(s).migrations, 'demo', 'down', '42')).toMatchObject({ action: 'down', version: '42', command: 'bin/demo eval "Demo.Release.rollback(Demo.Repo, $MIGRATION_VERSION)"' });
    expect(() => migrationOf(configOf(s).migrations, 'demo', 'down', "1'; rm -rf /")).toThrow(UsageError);
    expect(() => migrationOf(configOf(s).migrations, 'demo', 'down', "1'; rm -rf /")).toThrow(/--version: "1'; rm -rf \/" is not a migration version/);
    expect(() => migrationOf(configOf(s).migrations, 'demo', 'status', '1')).toThrow(/takes no --version/);
  });

  it('the Release module convention: down needs --version, up --version needs MIGRATE_COMMAND', async () => {
    const s = await settings('APP=demo\n');
    expect(migrationOf(configOf(s).migrations, 'demo', 'down', '3')).toEqual({ action: 'down', app: 'demo', version: '3' });
    expect(() => migrationOf(configOf(s).migrations, 'demo', 'down')).toThrow(/migrate down needs --version=V: Demo.Release.rollback\/2/);
    expect(() => migrationOf(configOf(s).migrations, 'demo', 'up', '3')).toThrow(/migrate up --version needs MIGRATE_COMMAND/);
  });

  it('validates ECTO_REPOSITORY and the commands with file:line', async () => {
    const s = await settings('APP=demo\nECTO_REPOSITORY="Repo; System.halt"\nMIGRATIONS_COMMAND="a\nb"\n');
    const errors = validateSettings(s).errors.map((e) => [e instanceof ConfigError, e.message]);
    expect(errors).toEqual([
      [true, expect.stringMatching(/config:2.*ECTO_REPOSITORY="Repo; System.halt": expected an Elixir module name/)],
      [true, expect.stringMatching(/config:3.*MIGRATIONS_COMMAND must be one line of shell/)],
    ]);
  });

  it('reads [on] <env> [up|down] in any order', () => {
    expect(splitDirection(['production'])).toEqual({ env: 'production', direction: 'up' });
    expect(splitDirection(['down', 'on', 'qa'])).toEqual({ env: 'qa', direction: 'down' });
    expect(() => splitDirection(['up', 'down', 'qa'])).toThrow(/one of up or down/);
  });
});

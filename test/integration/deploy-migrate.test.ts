// Migrations on the real bed, with a fixture mix app whose Release module keeps its "database" in a file on each
// host (MIGRATIONS_DB from the environment's env file): `update --run-migrations` (built once on the build host),
// then migrate up/down, show migrations, once per environment, --host, --all-hosts and a failing migration.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitFile, createMixFixture } from '../helpers/fixtures.js';
import { activeVersion, cli, ensureBed, hostPath, json, type Bed, type HostJson, type Project } from './deploy-support.js';

const APP = 'dmig';

/** migrate/0 and /1, rollback/2 (phx.gen.release's signatures) and status/0 over a file of applied versions. */
const RELEASE_MODULE = `defmodule Dmig.Release do
  @migrations [{1, "create_users"}, {2, "add_email"}, {3, "create_posts"}]

  def migrate(to \\\\ nil) do
    fail_if_asked()
    wanted = for {v, _} <- @migrations, to == nil or v <= to, do: v
    save(Enum.uniq(applied() ++ wanted))
    log("up #{System.get_env("RELEASE_VSN")}")
    IO.puts("migrated up to #{Enum.max(applied(), fn -> 0 end)}")
  end

  def rollback(_repo, version) do
    fail_if_asked()
    save(Enum.filter(applied(), &(&1 < version)))
    log("down #{version}")
    IO.puts("rolled back to before #{version}")
  end

  def status do
    done = applied()
    for {v, name} <- @migrations, do: IO.puts("#{if v in done, do: "up", else: "down"} #{v} #{name}")
  end

  defp db, do: System.fetch_env!("MIGRATIONS_DB")
  defp applied do
    case File.read(db()) do
      {:ok, t} -> t |> String.split() |> Enum.map(&String.to_integer/1)
      _ -> []
    end
  end

  defp save(vs), do: File.write!(db(), vs |> Enum.sort() |> Enum.map_join(" ", &Integer.to_string/1))
  defp log(line), do: File.write!(db() <> ".log", line <> "\\n", [:append])
  defp fail_if_asked, do: if(File.exists?(db() <> ".fail"), do: raise("the migration failed on purpose"))
end
`;

let bed: Bed;
let p: Project;
let store: string;

const db = (i: number, ext = '') => hostPath(p, p.hosts[i]!, `migrations.db${ext}`);
const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : undefined);

beforeAll(() => {
  bed = ensureBed();
  const fx = createMixFixture(APP);
  commitFile(fx, 'lib/dmig/release.ex', RELEASE_MODULE, 'a Release module over a file');
  store = mkdtempSync(join(tmpdir(), 'deliver-migrate-store-'));
  const deliverTo = `/srv/${store.split('/').pop()}`;
  mkdirSync(join(fx.dir, '.deliver'), { recursive: true });
  writeFileSync(
    join(fx.dir, '.deliver', 'config'),
    [
      `APP="${APP}"`,
      'BUILD_HOST="build"',
      'BUILD_USER="root"',
      `BUILD_AT="/srv/builds/${store.split('/').pop()}"`,
      'PRODUCTION_HOSTS="host33 host34 host35"',
      'PRODUCTION_USER="root"',
      `DELIVER_TO="${deliverTo}"`,
      `RELEASE_STORE="${store}"`,
      'MIGRATIONS_COMMAND="bin/dmig eval \'Dmig.Release.status()\'"',
    ].join('\n') + '\n',
  );
  // Each host's own "database", in its own /srv.
  writeFileSync(join(fx.dir, '.deliver', 'production.env'), `MIGRATIONS_DB=${deliverTo}/migrations.db\n`);
  p = { dir: fx.dir, deliverTo, hosts: [bed.hosts[32]!, bed.hosts[33]!, bed.hosts[34]!] };
}, 300_000);

afterAll(async () => {
  if (p) await cli(bed, p, 'stop', 'production');
  if (store) rmSync(store, { recursive: true, force: true });
  if (p) rmSync(dirname(p.dir), { recursive: true, force: true });
}, 120_000);

describe('migrations', () => {
  it('update --run-migrations: once the new release is in place (and started), on the first host only, before the report', async () => {
    const r = await cli(bed, p, 'update', 'production', '--start-deploy', '--run-migrations');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(p.hosts.map((_, i) => activeVersion(p, p.hosts[i]!, APP))).toEqual(['0.1.0', '0.1.0', '0.1.0']);
    // The new release's own code ran them (RELEASE_VSN), once, on host33.
    expect([read(db(0)), read(db(0, '.log'))]).toEqual(['1 2 3', 'up 0.1.0\n']);
    expect([read(db(1)), read(db(2))]).toEqual([undefined, undefined]);
    const out = r.stdout;
    expect(out).toContain('Running migrations on root@host33 (once for production)');
    expect(out).toContain('root@host33 | migrated up to 3');
    // Before the hosts are reported done: the summary comes after the migration.
    expect(out.indexOf('migrate up done')).toBeGreaterThan(0);
    expect(out.indexOf('migrate up done')).toBeLessThan(out.lastIndexOf('root@host35'));
  }, 600_000);

  it('show migrations lists status, version and name from the first host', async () => {
    const r = await cli(bed, p, 'show', 'migrations', 'production', '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = json<{ hosts: (HostJson & { value: { migrations: unknown[] } })[] }>(r);
    expect(res.hosts.map((h) => [h.host, h.value.migrations])).toEqual([
      ['root@host33', [{ status: 'up', version: '1', name: 'create_users' }, { status: 'up', version: '2', name: 'add_email' }, { status: 'up', version: '3', name: 'create_posts' }]],
    ]);
    const t = await cli(bed, p, 'migrations', 'on', 'production', '--host', 'host34');
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/root@host34:\nSTATUS +VERSION +NAME\ndown +1 +create_users\ndown +2 +add_email\ndown +3 +create_posts\n/);
  }, 120_000);

  it('migrate runs once per environment (the first host); down --version uses rollback/2; --host picks another; --all-hosts runs on each', async () => {
    const plain = await cli(bed, p, 'migrate', 'production');
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain('✔ root@host33: migrate up done');
    expect([read(db(0, '.log')), read(db(1)), read(db(2))]).toEqual(['up 0.1.0\nup 0.1.0\n', undefined, undefined]);

    const down = await cli(bed, p, 'migrate', 'production', 'down', '--version=2');
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain('root@host33 | rolled back to before 2');
    expect(down.stdout).toContain('migrate down to 2 done');
    expect([read(db(0)), read(db(1)), read(db(2))]).toEqual(['1', undefined, undefined]);

    const one = await cli(bed, p, 'migrate', 'production', '--host', 'host35');
    expect(one.code, one.stderr).toBe(0);
    expect([read(db(0)), read(db(1)), read(db(2))]).toEqual(['1', undefined, '1 2 3']);

    const all = await cli(bed, p, 'migrate', 'production', 'up', '--all-hosts');
    expect(all.code, all.stderr).toBe(0);
    expect([read(db(0)), read(db(1)), read(db(2))]).toEqual(['1 2 3', '1 2 3', '1 2 3']);
    expect(read(db(0, '.log'))).toBe('up 0.1.0\nup 0.1.0\ndown 2\nup 0.1.0\n');
  }, 180_000);

  it('a failing migration exits 1 naming the host that ran it (migrate and deploy --run-migrations)', async () => {
    writeFileSync(db(0, '.fail'), '');
    const m = await cli(bed, p, 'migrate', 'production');
    expect(m.code).toBe(1);
    expect(m.stderr).toContain('migrate up failed on 1 of 1 host(s): root@host33');
    expect(m.stderr + m.stdout).toContain('the migration failed on purpose');
    // The deploy itself succeeds (the release is already there); the migration after it fails the command.
    const d = await cli(bed, p, 'deploy', 'release', 'production', '--run-migrations');
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/root@host33: migrate up failed \(exit 1\)/);
    rmSync(db(0, '.fail'));
    expect(read(db(1, '.log'))).toBe('up 0.1.0\n');
  }, 180_000);

  it('usage errors exit 2 before any host is touched; --dry-run prints the one step', async () => {
    const bad = await cli(bed, p, 'migrate', 'production', 'down', "--version=1'; touch /tmp/x");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a migration version');
    const noVersion = await cli(bed, p, 'migrate', 'production', 'down');
    expect(noVersion.code).toBe(2);
    expect(noVersion.stderr).toContain('migrate down needs --version=V: Dmig.Release.rollback/2');
    const dry = await cli(bed, p, 'migrate', 'production', '--dry-run', '--verbose');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('once, on root@host33');
    expect(dry.stdout).toContain("bin/dmig eval 'Dmig.Release.migrate()'");
    expect(dry.stdout).not.toContain('host34');
  }, 120_000);
});

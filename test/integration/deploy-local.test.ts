// `deliver deploy release to local` (edeliver's TEST_LOCALLY_AT): a real `mix release` from a local store deployed on
// this machine through the local shell, no SSH and no hosts configured; then start/ping/version/migrate/stop on it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver, spareEpmdPort } from '../helpers/fixtures.js';
import { ensureBed } from './deploy-support.js';

const APP = 'dloc';
let parent: string;
let project: string;
/** Its own epmd port: the local node never meets another test's node (or the machine's default epmd). */
let env: Record<string, string>;

beforeAll(() => {
  ensureBed(); // only for spareEpmdPort's range: `local` itself needs no host
  env = { ERL_EPMD_PORT: String(spareEpmdPort(21)) };
  parent = mkdtempSync(join(tmpdir(), 'deliver-local-'));
  execFileSync('mix', ['new', APP, '--sup'], { cwd: parent, stdio: 'ignore', env: { ...process.env, MIX_ENV: 'dev' } });
  const app = join(parent, APP);
  writeFileSync(join(app, 'lib', APP, 'release.ex'), 'defmodule Dloc.Release do\n  def migrate, do: IO.puts("migrated #{System.get_env("RELEASE_VSN")} in #{File.cwd!()}")\nend\n');
  execFileSync('mix', ['release', '--quiet'], { cwd: app, stdio: 'ignore', env: { ...process.env, MIX_ENV: 'prod' } });
  const store = join(parent, 'store');
  mkdirSync(store);
  const file = `${APP}_0.1.0.release.tar.gz`;
  execFileSync('tar', ['-czf', join(store, file), '-C', join(app, '_build', 'prod', 'rel', APP), '.']);
  writeFileSync(join(store, `${file}.sha256`), `${createHash('sha256').update(readFileSync(join(store, file))).digest('hex')}  ${file}\n`);
  // No hosts, no DELIVER_TO: `local` needs only the app and the store.
  project = join(parent, 'project');
  mkdirSync(join(project, '.deliver'), { recursive: true });
  writeFileSync(join(project, '.deliver', 'config'), `APP="${APP}"\nRELEASE_STORE="${store}"\n`);
}, 300_000);

afterAll(async () => {
  if (project) await deliver(project, ['stop', 'local'], env);
  if (parent) rmSync(parent, { recursive: true, force: true });
}, 120_000);

describe('deploy release to local', () => {
  it('deploys into .local-release with the same pipeline, starts, answers and stops', async () => {
    // Nothing is deployed yet: the migration step after the deploy is shown for a mix release.
    const dry = await deliver(project, ['deploy', 'release', 'to', 'local', '--dry-run', '--run-migrations'], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('Dry run: deploy dloc 0.1.0 to local (1 host(s), parallel)');
    expect(dry.stdout).toContain('then, once the release is in place: migrate up');
    expect(dry.stdout).toContain('shown for a mix release: the real run reads the kind once the new release is in place');
    expect(existsSync(join(project, '.local-release'))).toBe(false);

    const d = await deliver(project, ['deploy', 'release', 'to', 'local', '--start-deploy', '--run-migrations'], env);
    expect(d.code, d.stderr + d.stdout).toBe(0);
    expect(d.stdout).toContain('Running migrations on local (once for local)');
    expect(d.stdout).toContain('local | migrated 0.1.0 in');
    expect(readlinkSync(join(project, '.local-release', APP))).toMatch(/releases\/0\.1\.0$/);
    expect(existsSync(join(project, '.local-release', '.deliver', APP, 'lock'))).toBe(false);

    expect(await deliver(project, ['ping', 'locally'], env)).toMatchObject({ code: 0, stdout: 'pong\n' });
    expect(await deliver(project, ['version', 'local'], env)).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const m = await deliver(project, ['migrate', 'local'], env);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toContain(`local | migrated 0.1.0 in ${join(project, '.local-release', '.deliver', APP, 'releases', '0.1.0')}`);
    expect(await deliver(project, ['stop', 'local'], env)).toMatchObject({ code: 0, stdout: 'stopped\n' });
    const gone = await deliver(project, ['ping', 'local'], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('local');
  }, 300_000);

  it('TEST_LOCALLY_AT moves it; --host has no meaning there (exit 2)', async () => {
    const h = await deliver(project, ['ping', 'local', '--host', 'web1'], env);
    expect(h.code).toBe(2);
    expect(h.stderr).toContain('the local environment is this machine: drop --host');
    writeFileSync(join(project, '.deliver', 'config'), `${readFileSync(join(project, '.deliver', 'config'), 'utf8')}TEST_LOCALLY_AT="try"\n`);
    const d = await deliver(project, ['deploy', 'release', 'local'], env);
    expect(d.code, d.stderr + d.stdout).toBe(0);
    expect(readlinkSync(join(project, 'try', APP))).toMatch(/releases\/0\.1\.0$/);
  }, 120_000);
});

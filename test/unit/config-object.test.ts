// The typed configuration commands receive (src/config/config.ts): defaults, each field from a config file, and a
// bad value's file:line error, raised by the group that holds it when a command first reads that group.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError, EXIT_USAGE } from '../../src/output/errors.js';
import { tempDirs } from '../helpers/temp-dir.js';
import { thrown } from '../helpers/thrown.js';

const tmp = tempDirs();
const ENV = { HOME: '/home/t', PATH: process.env.PATH ?? '/usr/bin:/bin' };

async function config(text: string, deployEnvironment?: string) {
  const dir = tmp('deliver-config-');
  mkdirSync(join(dir, '.deliver'));
  writeFileSync(join(dir, '.deliver', 'config'), text);
  return { dir, config: await loadConfig({ cwd: dir, env: ENV, ...(deployEnvironment ? { deployEnvironment } : {}) }) };
}

describe('the typed config', () => {
  it('has every default when the config sets nothing but APP', async () => {
    const { dir, config: c } = await config('APP=shop\n');
    expect(c.app).toBe('shop');
    expect(c.deploy).toEqual({ keepReleases: 5, startDeploy: false, cleanDeploy: false, startTimeoutMs: 30_000, healthCheckTimeoutMs: 30_000, lockTtlMs: 900_000, links: {}, pull: false, delta: true });
    expect(c.build).toMatchObject({ skipGitClean: false, skipMixClean: false, force: false, rebarProfile: 'prod', gitCleanPaths: ['.'], mixEnv: 'prod' });
    expect(c.build.buildAt).toBeUndefined();
    expect(c.build.releaseVersion).toBeUndefined();
    expect(c.build.autoVersion).toBeUndefined();
    expect(c.ssh).toEqual({ connectTimeoutMs: 10_000, concurrency: 32 });
    expect(c.hostKeyPolicy()).toBeUndefined();
    expect(c.store.spec).toBe('.deliver/releases');
    expect(c.store.localDir).toBe(join(dir, '.deliver/releases'));
    expect(c.store.s3.region).toBeTypeOf('string');
    expect(c.cluster).toEqual({});
    expect(c.migrations).toEqual({});
    expect(c.releaseKind).toBeUndefined();
    expect(c.localDeployDir).toBe(join(dir, '.local-release'));
    expect(c.hooks.size).toBe(0);
  });

  it('types each setting of a config file', async () => {
    const { dir, config: c } = await config(
      [
        'APP=shop',
        'KEEP_RELEASES=3',
        'START_DEPLOY=yes',
        'CLEAN_DEPLOY=1',
        'START_TIMEOUT=2.5',
        'HEALTH_CHECK_TIMEOUT=4',
        'LOCK_TTL=60',
        'LINK_VM_ARGS=/etc/shop/vm.args',
        'VERSION=1.2.0',
        "HEALTH_CHECK='curl -fs localhost:4000/health'",
        'RELEASE_PULL=on',
        'DELTA_DEPLOY=false',
        'SKIP_GIT_CLEAN=true',
        'REBAR_PROFILE=staging',
        "GIT_CLEAN_PATHS='_build rel'",
        'TARGET_MIX_ENV=staging',
        'BUILD_AT=/srv/build',
        'BUILD_USER=builder',
        "RELEASE_CMD='mix release'",
        'RELEASE_VERSION=2.0.0',
        'AUTO_VERSION=git-revision',
        "MIX_CMD='mix --quiet'",
        'RELEASE_DIR=_build/rel/shop',
        'SSH_TIMEOUT=3',
        'SSH_CONCURRENCY=4',
        'HOST_KEY_CHECKING=accept-new',
        'RELEASE_STORE=s3://bucket/shop',
        'LOCAL_RELEASE_STORE=releases',
        'S3_ENDPOINT=http://127.0.0.1:9000',
        'S3_REGION=eu-west-1',
        'PRODUCTION_HOSTS="10.0.0.1 10.0.0.2"',
        'PRODUCTION_USER=root',
        'DELIVER_TO=/srv',
        "CLUSTER_NODE_NAME='${APP}_${INDEX}@${HOST}'",
        "MIGRATE_COMMAND='bin/shop eval Shop.Release.migrate'",
        'ECTO_REPOSITORY=Shop.Repo',
        'RELEASE_KIND=relx',
        'TEST_LOCALLY_AT=try',
        'pre_erlang_clean_compile() {',
        '  echo hi',
        '}',
        '',
      ].join('\n'),
      'production',
    );
    expect(c.env).toBe('production');
    expect(c.deploy).toEqual({
      keepReleases: 3, startDeploy: true, cleanDeploy: true, startTimeoutMs: 2500, healthCheckTimeoutMs: 4000, lockTtlMs: 60_000,
      links: { vmArgs: '/etc/shop/vm.args' }, version: '1.2.0', healthCheck: 'curl -fs localhost:4000/health', pull: true, delta: false,
    });
    expect(c.build).toMatchObject({
      skipGitClean: true, rebarProfile: 'staging', gitCleanPaths: ['_build', 'rel'], mixEnv: 'staging', buildAt: '/srv/build', buildUser: 'builder',
      detect: { RELEASE_CMD: 'mix release' }, releaseVersion: '2.0.0', autoVersion: { value: 'git-revision', label: 'AUTO_VERSION (.deliver/config:21)' },
      commands: { mixCmd: 'mix --quiet' }, releaseDir: '_build/rel/shop',
    });
    expect(c.ssh).toEqual({ connectTimeoutMs: 3000, concurrency: 4, hostKeyChecking: 'accept-new' });
    expect(c.hostKeyPolicy('strict')).toBe('strict');
    expect(c.store.spec).toBe('s3://bucket/shop');
    expect(c.store.localDir).toBe(join(dir, 'releases'));
    expect(c.store.s3).toMatchObject({ endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1' });
    expect(c.cluster.nodeName?.template).toBe('${APP}_${INDEX}@${HOST}');
    expect(c.cluster.hosts?.map((h) => h.name)).toEqual(['root@10.0.0.1', 'root@10.0.0.2']);
    expect(c.environment({ hosts: ['10.0.0.2'] }).targets.map((t) => t.name)).toEqual(['root@10.0.0.2']);
    expect(c.migrations).toEqual({ up: 'bin/shop eval Shop.Release.migrate', repo: 'Shop.Repo' });
    expect(c.releaseKind).toBe('relx');
    expect(c.localDeployDir).toBe(join(dir, 'try'));
    expect([...c.hooks.keys()]).toEqual(['pre_erlang_clean_compile']);
    expect(c.hookEnv).toMatchObject({ APP: 'shop', BUILD_USER: 'builder', KEEP_RELEASES: '3' });
  });

  it("reports a bad value at its file:line (exit 2) when a command reads its group; other groups still load", async () => {
    const { config: c } = await config('APP=shop\n\nKEEP_RELEASES=0\nSSH_TIMEOUT=soon\nDELTA_DEPLOY=sometimes\n');
    const e = thrown(() => c.deploy);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.exitCode).toBe(EXIT_USAGE);
    expect(e.message).toBe('.deliver/config:3: KEEP_RELEASES="0": expected a whole number of at least 1');
    expect(thrown(() => c.ssh).message).toBe('.deliver/config:4: SSH_TIMEOUT="soon": expected seconds (a positive number)');
    expect(c.build.rebarProfile).toBe('prod');
    expect(c.build).toBe(c.build);
  });
});

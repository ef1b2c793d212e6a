// The typed config objects: their defaults, parsed values, and each bad value as the error `deliver check` gives
// (file:line from the config, the variable and its source from the environment).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/load.js';
import { configOf } from '../../src/config/config.js';
import { buildSettings, deploySettings, sshSettings } from '../../src/config/typed.js';
import type { Settings } from '../../src/config/types.js';
import { validateSettings } from '../../src/config/validate.js';
import { isKnownVariable } from '../../src/config/variables.js';
import { strategyOf, type DeployEnv } from '../../src/deploy/run.js';
import { ConfigError, UsageError } from '../../src/output/errors.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

async function settings(config: string, env: Record<string, string> = {}) {
  const dir = tmp('deliver-typed-');
  mkdirSync(join(dir, '.deliver'), { recursive: true });
  writeFileSync(join(dir, '.deliver', 'config'), config);
  return loadSettings({ cwd: dir, env: { HOME: '/home/t', PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('typed config objects', () => {
  it('have the documented defaults', async () => {
    const s = await settings('APP=demo\n');
    expect(deploySettings(s)).toEqual({
      keepReleases: 5,
      startDeploy: false,
      cleanDeploy: false,
      startTimeoutMs: 30_000,
      healthCheckTimeoutMs: 30_000,
      lockTtlMs: 900_000,
      links: {},
    });
    expect(buildSettings(s)).toEqual({ skipGitClean: false, skipMixClean: false, force: false, rebarProfile: 'prod', gitCleanPaths: ['.'] });
    expect(sshSettings(s)).toEqual({ connectTimeoutMs: 10_000, concurrency: 32 });
  });

  it('parse what the config sets; every boolean accepts true/yes/1/on and false/no/0/off', async () => {
    const s = await settings(
      [
        'KEEP_RELEASES=3',
        'START_DEPLOY=on',
        'CLEAN_DEPLOY=Yes',
        'START_TIMEOUT=1.5',
        'HEALTH_CHECK_TIMEOUT=60',
        'LOCK_TTL=120',
        'LINK_VM_ARGS=/etc/demo/vm.args',
        'SKIP_GIT_CLEAN=1',
        'SKIP_MIX_CLEAN=off',
        'FORCE=true',
        'REBAR_PROFILE=staging',
        'GIT_CLEAN_PATHS="_build rel"',
        'SSH_TIMEOUT=2.5',
        'SSH_CONCURRENCY=4',
        '',
      ].join('\n'),
    );
    expect(deploySettings(s)).toEqual({
      keepReleases: 3,
      startDeploy: true,
      cleanDeploy: true,
      startTimeoutMs: 1500,
      healthCheckTimeoutMs: 60_000,
      lockTtlMs: 120_000,
      links: { vmArgs: '/etc/demo/vm.args' },
    });
    expect(buildSettings(s)).toEqual({ skipGitClean: true, skipMixClean: false, force: true, rebarProfile: 'staging', gitCleanPaths: ['_build', 'rel'] });
    expect(sshSettings(s)).toEqual({ connectTimeoutMs: 2500, concurrency: 4 });
    // validation agrees: on/off are booleans, not "treated as false"
    expect(validateSettings(s).warnings.map((w) => w.message)).toEqual([]);
  });

  const bad: [string, string, (s: Settings) => unknown, string][] = [
    ['KEEP_RELEASES', '0', deploySettings, 'expected a whole number of at least 1'],
    ['START_TIMEOUT', 'soon', deploySettings, 'expected seconds (a positive number)'],
    ['HEALTH_CHECK_TIMEOUT', '-5', deploySettings, 'expected seconds (a positive number)'],
    ['LOCK_TTL', '0', deploySettings, 'expected seconds (a positive number)'],
    ['SSH_TIMEOUT', '10s', sshSettings, 'expected seconds (a positive number)'],
    ['SSH_CONCURRENCY', '2.5', sshSettings, 'expected a whole number of at least 1'],
  ];
  for (const [name, value, of, reason] of bad) {
    it(`${name}=${value} fails with the file:line check reports`, async () => {
      const s = await settings(`APP=demo\n${name}=${value}\n`);
      const message = `.deliver/config:2: ${name}="${value}": ${reason}`;
      const err = thrown(() => of(s));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toBe(message);
      expect(validateSettings(s).errors.map((e) => e.message)).toEqual([message]);
    });
  }

  it('a bad value from the environment names the variable and its source', async () => {
    const s = await settings('APP=demo\n', { KEEP_RELEASES: 'many' });
    const err = thrown(() => deploySettings(s));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe('KEEP_RELEASES (environment): KEEP_RELEASES="many": expected a whole number of at least 1');
  });
});

describe('SSH_CONCURRENCY', () => {
  const env = (s: Settings) => ({ config: configOf(s) }) as DeployEnv;

  it('is the default --concurrency of multi-host commands: flag > setting > 32', async () => {
    const s = await settings('APP=demo\nSSH_CONCURRENCY=3\n');
    expect(strategyOf(env(s), {}).concurrency).toBe(3);
    expect(strategyOf(env(s), { concurrency: '7' }).concurrency).toBe(7);
    expect(strategyOf(env(await settings('APP=demo\n')), {}).concurrency).toBe(32);
  });
});

describe('VERSION_INFO_LAST_COMMITS', () => {
  it('is not a deliver variable (nothing reads it): no error, the unknown-variable notice', async () => {
    expect(isKnownVariable('VERSION_INFO_LAST_COMMITS')).toBe(false);
    const s = await settings('APP=demo\nVERSION_INFO_LAST_COMMITS=x\n');
    const { errors, warnings } = validateSettings(s);
    expect(errors).toEqual([]);
    expect(warnings.map((w) => w.message)).toEqual(['VERSION_INFO_LAST_COMMITS is not a deliver variable (fine if your hooks use it)']);
  });
});

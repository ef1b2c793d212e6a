// Validation, host specs, environments, the build host, host key policy and did-you-mean suggestions.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { thrown } from '../helpers/thrown.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHostList, parseHostSpec, parseNodeList, parseNodeSpec } from '../../src/config/hosts.js';
import { loadSettings } from '../../src/config/load.js';
import { hostKeyPolicy, resolveBuildHost, resolveEnvironment } from '../../src/config/resolve.js';
import { knownEnvironments, requireVars, requirementsFor, validateSettings } from '../../src/config/validate.js';
import { describeVariable, editDistance, isKnownVariable, suggestVariable, VARIABLES } from '../../src/config/variables.js';
import { ConfigError, UsageError } from '../../src/output/errors.js';

const root = mkdtempSync(join(tmpdir(), 'deliver-validate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function settings(config: string, env: Record<string, string> = {}) {
  const dir = join(root, `p${++n}`);
  mkdirSync(join(dir, '.deliver'), { recursive: true });
  writeFileSync(join(dir, '.deliver', 'config'), config);
  return loadSettings({ cwd: dir, env: { HOME: '/home/t', PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
}

const LOC = { file: '.deliver/config', line: 7 };

describe('host specs', () => {
  it('parses [user@]host[:port], IPv6 and ssh aliases', () => {
    expect(parseHostSpec('web1.example.com', LOC)).toEqual({ name: 'web1.example.com', host: 'web1.example.com' });
    expect(parseHostSpec('deploy@web1:2222', LOC)).toEqual({ name: 'deploy@web1:2222', host: 'web1', user: 'deploy', port: 2222 });
    expect(parseHostSpec('[::1]:2200', LOC, 'ops')).toEqual({ name: 'ops@[::1]:2200', host: '::1', user: 'ops', port: 2200 });
    expect(parseHostSpec('127.0.0.1', LOC, 'ops')).toMatchObject({ user: 'ops', host: '127.0.0.1' });
    expect(parseHostSpec('me@prod_alias', LOC, 'ops')).toMatchObject({ user: 'me', host: 'prod_alias' });
  });

  it('errors name file:line (config) or the flag (command line)', () => {
    const e1 = thrown(() => parseHostSpec('web 1', LOC));
    expect(e1).toBeInstanceOf(ConfigError);
    expect(e1.message).toBe('.deliver/config:7: invalid host "web 1": expected [user@]host[:port]');
    expect(thrown(() => parseHostSpec('web:99999', LOC)).message).toBe('.deliver/config:7: invalid port 99999 in "web:99999": expected 1-65535');
    const e2 = thrown(() => parseHostSpec('a@b@c', '--host'));
    expect(e2).toBeInstanceOf(UsageError);
    expect(e2.message).toBe('--host: invalid host "a@b@c": expected [user@]host[:port]');
    expect(thrown(() => parseHostSpec('-oProxyCommand=x', LOC)).message).toMatch(/invalid host/);
  });

  it('host lists are separated by spaces or commas; duplicates are errors', () => {
    expect(parseHostList('a b,c ,  d', LOC).map((h) => h.name)).toEqual(['a', 'b', 'c', 'd']);
    expect(thrown(() => parseHostList('a u@b a', LOC)).message).toBe('.deliver/config:7: host a is listed twice');
  });

  it('node entries: user@host:/path[|configfile]', () => {
    expect(parseNodeSpec('deploy@web1:/opt/app', LOC)).toEqual({ name: 'deploy@web1', host: 'web1', user: 'deploy', path: '/opt/app' });
    expect(parseNodeSpec('web2:2222:~/app|/etc/app/sys.config', LOC, 'ops')).toEqual({
      name: 'ops@web2:2222',
      host: 'web2',
      user: 'ops',
      port: 2222,
      path: '~/app',
      configFile: '/etc/app/sys.config',
    });
    expect(parseNodeList('a@h1:/x  a@h2:/y', LOC)).toHaveLength(2);
    expect(thrown(() => parseNodeSpec('deploy@web1', LOC)).message).toBe('.deliver/config:7: invalid node "deploy@web1": expected user@host:/path[|configfile]');
    expect(thrown(() => parseNodeSpec('d@w:/x|', LOC)).message).toMatch(/empty config file after \|/);
  });
});

describe('required variables', () => {
  it('build needs APP BUILD_HOST BUILD_USER BUILD_AT, listed together', async () => {
    const s = await settings('APP=shop\nBUILD_HOST=b\n');
    const err = thrown(() => requireVars(s, 'build'));
    expect(err.message).toBe('.deliver/config: build needs BUILD_USER, BUILD_AT, which are not set');
    expect(err.exitCode).toBe(2);
  });

  it('BUILD_USER is not needed when BUILD_HOST names the user', async () => {
    const s = await settings('BUILD_HOST=me@b\nBUILD_AT=/b\n');
    expect(() => requireVars(s, 'build release')).not.toThrow();
  });

  it('deploy to production needs hosts, user and DELIVER_TO', async () => {
    const s = await settings('APP=shop\n');
    expect(thrown(() => requireVars(s, 'deploy', 'production')).message).toBe(
      '.deliver/config: deploy to production needs PRODUCTION_HOSTS (or PRODUCTION_NODES), PRODUCTION_USER, DELIVER_TO, which are not set',
    );
  });

  it('staging uses TEST_AT, defaulting to DELIVER_TO; nodes replace hosts', async () => {
    expect(requirementsFor(await settings('STAGING_HOSTS=s\nSTAGING_USER=u\nDELIVER_TO=/d\n'), 'deploy', 'staging').satisfied).toBe(true);
    expect(requirementsFor(await settings('STAGING_NODES="u@s:/d"\n'), 'start', 'staging')).toMatchObject({ label: 'start on staging', satisfied: true });
    const r = requirementsFor(await settings('STAGING_HOSTS=s\n'), 'update', 'staging');
    expect(r.items.filter((i) => !i.ok).map((i) => i.name)).toEqual(['BUILD_HOST', 'BUILD_USER', 'BUILD_AT', 'STAGING_USER', 'TEST_AT or DELIVER_TO']);
  });

  it('custom environments fall back to STAGING_USER (edeliver)', async () => {
    const r = requirementsFor(await settings('QA_HOSTS=qa1\nSTAGING_USER=u\nDELIVER_TO=/d\n'), 'deploy', 'qa');
    expect(r.items.map((i) => i.name)).toEqual(['APP', 'QA_HOSTS (or QA_NODES)', 'QA_USER or STAGING_USER', 'TEST_AT or DELIVER_TO']);
    expect(r.satisfied).toBe(true);
  });
});

describe('resolveEnvironment', () => {
  const config = 'APP=shop\nSTAGING_HOSTS="s1 s2"\nSTAGING_USER=web\nDELIVER_TO=/srv\nPRODUCTION_HOSTS="p1,ops@p2:2222"\nPRODUCTION_USER=deploy\nQA_NODES="qa@q1:/opt/qa qa@q2:/opt/qa|/etc/qa.config"\n';
  let s0: Awaited<ReturnType<typeof settings>>;
  beforeAll(async () => {
    s0 = await settings(config);
  });

  it('staging: hosts with the env user, TEST_AT defaulting to DELIVER_TO', async () => {
    const env = resolveEnvironment(await settings(config), 'staging');
    expect(env).toEqual({ name: 'staging', targets: [{ name: 'web@s1', host: 's1', user: 'web' }, { name: 'web@s2', host: 's2', user: 'web' }], deliverTo: '/srv', user: 'web' });
  });

  it('production: per-host user and port win', async () => {
    const env = resolveEnvironment(await settings(config + 'TEST_AT=/test\n'), 'production');
    expect(env.targets.map((t) => t.name)).toEqual(['deploy@p1', 'ops@p2:2222']);
    expect(env.deliverTo).toBe('/srv');
  });

  it('nodes: per-node paths and config files', async () => {
    const env = resolveEnvironment(await settings(config), 'QA');
    expect(env.name).toBe('qa');
    expect(env.targets).toEqual([
      { name: 'qa@q1', host: 'q1', user: 'qa', path: '/opt/qa' },
      { name: 'qa@q2', host: 'q2', user: 'qa', path: '/opt/qa', configFile: '/etc/qa.config' },
    ]);
  });

  it('--host narrows to a subset, matching with or without the user', async () => {
    const s = await settings(config);
    expect(resolveEnvironment(s, 'production', { hosts: ['p2'] }).targets.map((t) => t.name)).toEqual(['ops@p2:2222']);
    expect(resolveEnvironment(s, 'staging', { hosts: ['web@s2', 's1'] }).targets.map((t) => t.name)).toEqual(['web@s2', 'web@s1']);
  });

  it('--host not in the environment is an error naming it and the hosts', async () => {
    const err = thrown(() => resolveEnvironment(s0, 'staging', { hosts: ['s3'] }));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe('--host s3: not a host of the staging environment');
    expect(err.hint).toBe('staging hosts: web@s1, web@s2');
  });

  it('known environments come from <ENV>_HOSTS and <ENV>_NODES', () => {
    expect(knownEnvironments(s0)).toEqual(['production', 'qa', 'staging']);
  });

  it('an environment without hosts takes --host as given', async () => {
    const env = resolveEnvironment(await settings('LOCAL_USER=me\nTEST_AT=/t\n'), 'local', { hosts: ['127.0.0.1:2222'] });
    expect(env.targets).toEqual([{ name: 'me@127.0.0.1:2222', host: '127.0.0.1', user: 'me', port: 2222 }]);
  });

  it('HOST in the config acts like --host (edeliver)', async () => {
    expect(resolveEnvironment(await settings(config + 'HOST=s2\n'), 'staging').targets.map((t) => t.name)).toEqual(['web@s2']);
  });

  it('unknown environment: ConfigError listing the known ones', async () => {
    const err = thrown(() => resolveEnvironment(s0, 'prodution'));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe('.deliver/config: unknown environment "prodution": neither PRODUTION_HOSTS nor PRODUTION_NODES is set');
    expect(err.hint).toBe('did you mean production? known environments: production, qa, staging');
    expect(thrown(() => resolveEnvironment(s0, 'uat')).hint).toBe('known environments: production, qa, staging');
  });

  it("unknown staging/production: names the config's typo'd variable, never offers it as an environment", async () => {
    const s = await settings('STAGING_HOSTS=s1\nQA_HOSTS=q1\nPRODUCTON_HOSTS=p1\nDELIVER_TO=/d\n');
    const err = thrown(() => resolveEnvironment(s, 'production'));
    expect(err.message).toBe('.deliver/config: unknown environment "production": neither PRODUCTION_HOSTS nor PRODUCTION_NODES is set');
    expect(err.hint).toBe('PRODUCTON_HOSTS is set (.deliver/config:3): a typo for PRODUCTION_HOSTS?');
    expect(thrown(() => resolveEnvironment(s, 'uat')).hint).toBe('known environments: qa, staging');
  });

  it('a host without any user is an error', async () => {
    const s = await settings('PRODUCTION_HOSTS=p1\nDELIVER_TO=/d\n');
    const err = thrown(() => resolveEnvironment(s, 'production'));
    expect(err.message).toBe('.deliver/config: no ssh user for p1 in the production environment');
  });

  it('invalid host lists name file:line', async () => {
    const s = await settings('STAGING_USER=u\nSTAGING_HOSTS="ok bad!"\nDELIVER_TO=/d\n');
    const err = thrown(() => resolveEnvironment(s, 'staging'));
    expect(err.message).toBe('.deliver/config:2: invalid host "bad!": expected [user@]host[:port]');
  });
});

describe('build host and host key policy', () => {
  it('resolveBuildHost', async () => {
    const s = await settings('BUILD_HOST=build:2200\nBUILD_USER=builder\nBUILD_AT=/b\n');
    expect(resolveBuildHost(s)).toEqual({ target: { name: 'builder@build:2200', host: 'build', user: 'builder', port: 2200 }, buildAt: '/b' });
  });

  it('more than one build host is an error at its line', async () => {
    const s = await settings('APP=x\nBUILD_HOST="b1 b2"\nBUILD_USER=u\nBUILD_AT=/b\n');
    expect(thrown(() => resolveBuildHost(s)).message).toBe('.deliver/config:2: BUILD_HOST names 2 hosts (b1 b2); builds run on exactly one host');
  });

  it('docker builds are refused clearly', async () => {
    const s = await settings('BUILD_HOST=docker\nBUILD_USER=u\nBUILD_AT=/b\n');
    expect(thrown(() => resolveBuildHost(s)).message).toMatch(/^\.deliver\/config:1: BUILD_HOST=docker .* not supported/);
  });

  it('hostKeyPolicy: flag > HOST_KEY_CHECKING > unset (the SSH layer then applies ~/.ssh/config, else strict)', async () => {
    expect(hostKeyPolicy(await settings(''))).toBeUndefined();
    const s = await settings('HOST_KEY_CHECKING=accept-new\n');
    expect(hostKeyPolicy(s)).toBe('accept-new');
    expect(hostKeyPolicy(s, 'strict')).toBe('strict');
    expect(thrown(() => hostKeyPolicy(s, 'no')).message).toBe('--host-key-checking "no": expected strict or accept-new');
    const bad = await settings('APP=x\nHOST_KEY_CHECKING=off\n');
    expect(thrown(() => hostKeyPolicy(bad)).message).toBe('.deliver/config:2: HOST_KEY_CHECKING="off": expected strict or accept-new');
  });
});

describe('did you mean', () => {
  it('typos of known variables and environments', () => {
    expect(suggestVariable('PRODUCTON_HOSTS')).toBe('PRODUCTION_HOSTS');
    expect(suggestVariable('PRODUCTION_HOST')).toBe('PRODUCTION_HOSTS');
    expect(suggestVariable('STAGNG_USER')).toBe('STAGING_USER');
    expect(suggestVariable('BUILD_HOTS')).toBe('BUILD_HOST');
    expect(suggestVariable('DELIVERTO')).toBe('DELIVER_TO');
    expect(suggestVariable('RELASE_STORE')).toBe('RELEASE_STORE');
    expect(suggestVariable('QA_USR', ['qa'])).toBe('QA_USER');
  });

  it('no suggestion for known names, custom environments or unrelated names', () => {
    expect(suggestVariable('PRODUCTION_HOSTS')).toBeUndefined();
    expect(suggestVariable('QA_HOSTS')).toBeUndefined();
    expect(suggestVariable('EU_WEST_NODES')).toBeUndefined();
    expect(suggestVariable('DATABASE_URL')).toBeUndefined();
    expect(suggestVariable('FOO')).toBeUndefined();
  });

  it('edit distance counts a swap as one typo', () => {
    expect(editDistance('HOSTS', 'HOTSS')).toBe(1);
    expect(editDistance('abc', 'abc')).toBe(0);
    expect(editDistance('', 'ab')).toBe(2);
  });

  it('the registry knows edeliver variables, deliver ones and the <ENV> patterns', () => {
    for (const name of ['APP', 'BUILD_HOST', 'LINK_VM_ARGS', 'GIT_CLEAN_PATHS', 'RELEASE_STORE', 'HOST_KEY_CHECKING', 'KEEP_RELEASES', 'QA_NODES', 'EU_HOSTS']) expect(isKnownVariable(name), name).toBe(true);
    expect(isKnownVariable('NODE_ENV')).toBe(false);
    expect(describeVariable('QA_HOSTS')).toMatch(/hosts of the qa environment/);
    for (const [name, info] of Object.entries(VARIABLES)) expect(info.description.length, name).toBeGreaterThan(5);
  });
});

describe('validateSettings', () => {
  it('collects every problem with its file:line, and typo warnings', async () => {
    const s = await settings(
      [
        'APP=shop',
        'PRODUCTON_HOSTS=p1',
        'STAGING_HOSTS="s1 s 2!"',
        'KEEP_RELEASES=none',
        'SSH_TIMEOUT=-1',
        'STAGING_NODES="web@s1"',
        'CLEAN_DEPLOY=maybe',
        'MY_HELPER=1',
        'QA_HOSTS=q',
        'QA_USR=x',
        'PRODUCTION_USER="bad user"',
        '',
      ].join('\n'),
    );
    const { errors, warnings } = validateSettings(s);
    expect(errors.map((e) => e.message)).toEqual([
      '.deliver/config:3: invalid host "2!": expected [user@]host[:port]',
      '.deliver/config:6: invalid node "web@s1": expected user@host:/path[|configfile]',
      '.deliver/config:11: PRODUCTION_USER="bad user" is not a valid user name (letters, digits, . _ -, not starting with -)',
      '.deliver/config:4: KEEP_RELEASES="none": expected a whole number of at least 1',
      '.deliver/config:5: SSH_TIMEOUT="-1": expected seconds (a positive number)',
    ]);
    expect(warnings.map((w) => `${w.location?.line}: ${w.message}`)).toEqual([
      '7: CLEAN_DEPLOY="maybe" is neither true nor false; deliver treats it as false',
      '2: PRODUCTON_HOSTS: did you mean PRODUCTION_HOSTS?',
      '8: MY_HELPER is not a deliver variable (fine if your hooks use it)',
      '10: QA_USR: did you mean QA_USER?',
    ]);
  });

  it('values from the environment name the variable and its source', async () => {
    const s = await settings('APP=x\n', { STAGING_HOSTS: 'a b!' });
    expect(validateSettings(s).errors.map((e) => e.message)).toEqual(['.deliver/config: STAGING_HOSTS (environment): invalid host "b!": expected [user@]host[:port]']);
  });

  it('users and hosts that are shell syntax or options, and deploy/build directories that are not absolute or ~/', async () => {
    const s = await settings(
      [
        'APP=shop',
        'PRODUCTION_HOSTS="-oProxyCommand=touch_x@web1 web2"',
        'PRODUCTION_USER=deploy',
        "STAGING_USER='$(touch x)'",
        'STAGING_HOSTS=s1',
        'DELIVER_TO="~"',
        'TEST_AT=apps',
        'BUILD_AT=/',
        'QA_NODES="q@q1:~/x q@q2:-x"',
        'TARGET_MIX_ENV=../../etc',
        '',
      ].join('\n'),
    );
    expect(validateSettings(s).errors.map((e) => e.message)).toEqual([
      '.deliver/config:2: user "-oProxyCommand=touch_x" of host "-oProxyCommand=touch_x@web1" is not a valid user name (letters, digits, . _ -, not starting with -)',
      '.deliver/config:4: STAGING_USER="$(touch x)" is not a valid user name (letters, digits, . _ -, not starting with -)',
      '.deliver/config:5: user "$(touch x)" of host "s1" is not a valid user name (letters, digits, . _ -, not starting with -)',
      '.deliver/config:9: invalid node "q@q2:-x": expected user@host:/path[|configfile]',
      '.deliver/config:10: TARGET_MIX_ENV="../../etc": expected a Mix environment name such as prod',
      '.deliver/config:6: DELIVER_TO="~": refusing the home directory itself; name a directory for deliver',
      '.deliver/config:7: TEST_AT="apps": expected an absolute path or ~/path',
      '.deliver/config:8: BUILD_AT="/": refusing the root directory; name a directory for deliver',
    ]);
    expect(() => parseHostSpec('web1', LOC, '-oProxyCommand=x')).toThrow('.deliver/config:7: user "-oProxyCommand=x" of host "web1" is not a valid user name');
    expect(() => parseHostSpec('-oProxyCommand=x', LOC)).toThrow(/invalid host/);
    expect(() => parseNodeSpec('q@q1:/', LOC)).toThrow('.deliver/config:7: path "/" of node "q@q1:/": refusing the root directory; name a directory for deliver');
    expect(parseNodeSpec('q@q1:~/apps', LOC)).toMatchObject({ path: '~/apps' });
  });

  it('a valid config has no errors', async () => {
    const s = await settings('APP=shop\nBUILD_HOST=b\nBUILD_USER=u\nBUILD_AT=/b\nSTAGING_HOSTS=s\nSTAGING_USER=u\nDELIVER_TO=/d\n');
    expect(validateSettings(s)).toEqual({ errors: [], warnings: [] });
  });
});

// Careless or hostile input, refused by the real bin/deliver where it is used: exit 2, one line naming the value (and
// the file:line it came from), no stack trace, and nothing run. No SSH server is involved: a refusal comes first.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver, ensureBuilt, expectNoStack, projects } from '../helpers/cli.js';

const { project, cleanup } = projects('deliver-input-');
beforeAll(ensureBuilt, 120_000);
afterAll(cleanup);

const config = (...lines: string[]) => ({ '.deliver/config': ['APP=shop', ...lines, ''].join('\n') });

/** A HOME whose ~/.ssh/config sends every host through a ProxyCommand that substitutes %r, with a key to log in. */
function sshHome(dir: string): string {
  const home = join(dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, '.ssh', 'id_ed25519')]);
  execFileSync('sh', ['-c', `printf 'Host *\\n  ProxyCommand sh -c "exit 1" %%r\\n' > '${join(home, '.ssh', 'config')}'`]);
  return home;
}

describe('users and hosts', () => {
  it('a user holding shell syntax never reaches a ProxyCommand: ping refuses it, exit 2', () => {
    const dir = project(config('PRODUCTION_HOSTS=web1', "PRODUCTION_USER='$(touch pwned)'", 'DELIVER_TO=/opt'));
    const r = deliver(dir, ['ping', 'production'], { HOME: sshHome(dir) });
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`deliver: .deliver/config:3: PRODUCTION_USER="$(touch pwned)" is not a valid user name (letters, digits, . _ -, not starting with -)\n`);
  });

  it('a user or host starting with - is refused by check and by the commands that would put it in ssh argv', () => {
    const dir = project(config('PRODUCTION_HOSTS="-oProxyCommand=touch_pwned@web1"', 'DELIVER_TO=/opt'));
    const want = 'deliver: .deliver/config:2: user "-oProxyCommand=touch_pwned" of host "-oProxyCommand=touch_pwned@web1" is not a valid user name';
    for (const args of [['check', 'production'], ['remote_console', 'production'], ['ping', 'production', '--host', '-oProxyCommand=x']]) {
      const r = deliver(dir, args);
      expect(r.code, args.join(' ')).toBe(2);
      expectNoStack(r.stderr);
      if (args[0] !== 'ping') expect(r.stderr).toContain(want);
      else expect(r.stderr).toMatch(/--host: invalid host/);
    }
  });
});

describe('deploy and build directories, the Mix environment', () => {
  it('DELIVER_TO, TEST_AT and BUILD_AT: absolute or ~/…, never / or relative', () => {
    for (const [line, message] of [
      ['DELIVER_TO=/', 'DELIVER_TO="/": refusing the root directory; name a directory for deliver'],
      ['DELIVER_TO=apps', 'DELIVER_TO="apps": expected an absolute path or ~/path'],
      ['DELIVER_TO=-x', 'DELIVER_TO="-x": expected an absolute path or ~/path'],
    ] as const) {
      const r = deliver(project(config('PRODUCTION_HOSTS=web1', 'PRODUCTION_USER=deploy', line)), ['ping', 'production', '--dry-run']);
      expect([r.code, r.stderr.split('\n')[0]]).toEqual([2, `deliver: .deliver/config:4: ${message}`]);
    }
    const build = deliver(project(config('BUILD_HOST=b', 'BUILD_USER=u', "BUILD_AT='~'")), ['build', 'release', '--dry-run']);
    expect([build.code, build.stderr.split('\n')[0]]).toEqual([2, 'deliver: .deliver/config:4: BUILD_AT="~": refusing the home directory itself; name a directory for deliver']);
  });

  it('--mix-env and TARGET_MIX_ENV are checked by build, not only by check', () => {
    const dir = project(config('BUILD_HOST=b', 'BUILD_USER=u', 'BUILD_AT=/srv/b'));
    const flag = deliver(dir, ['build', 'release', '--mix-env', '../../etc', '--dry-run']);
    expect([flag.code, flag.stderr]).toEqual([2, 'deliver: --mix-env: TARGET_MIX_ENV="../../etc": expected a Mix environment name such as prod\n']);
    const env = deliver(dir, ['build', 'release', '--dry-run'], { TARGET_MIX_ENV: 'x;y' });
    expect([env.code, env.stderr.split('\n')[0]]).toEqual([2, 'deliver: TARGET_MIX_ENV (environment): TARGET_MIX_ENV="x;y": expected a Mix environment name such as prod']);
  });
});

describe('the files settings come from', () => {
  it('a directory where the config, .deliver/.env or APP_CONFIG should be: one line naming it, exit 2', () => {
    const asDir = project({ '.deliver/config/x': '' });
    const dotenvDir = project({ ...config(), '.deliver/.env/x': '' });
    for (const [dir, env, message] of [
      [asDir, {}, 'deliver: .deliver/config: is a directory, not a file\n'],
      [dotenvDir, {}, 'deliver: .deliver/.env: is a directory, not a file\n'],
      [dotenvDir, { APP_CONFIG: '/tmp' }, 'deliver: /tmp: is a directory, not a file\n'],
    ] as const) {
      const r = deliver(dir, ['check'], env);
      expect([r.code, r.stderr]).toEqual([2, message]);
    }
  });

  it('bytes that are not UTF-8: the file and line, exit 2, never U+FFFD in a value', () => {
    const bad = Buffer.concat([Buffer.from('APP=shop\nDELIVER_TO=/opt/'), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]);
    const r = deliver(project({ '.deliver/config': bad }), ['check']);
    expect([r.code, r.stderr]).toEqual([2, 'deliver: .deliver/config:2: this line is not valid UTF-8 text: save the file as UTF-8\n']);
    const e = deliver(project({ ...config(), '.deliver/.env': Buffer.concat([Buffer.from('A=1\nB='), Buffer.from([0xc3]), Buffer.from('\n')]) }), ['check']);
    expect([e.code, e.stderr]).toEqual([2, 'deliver: .deliver/.env:2: this line is not valid UTF-8 text: save the file as UTF-8\n']);
  });

  it('huge configs: 200k variables are checked, without a stack overflow', () => {
    const lines = Array.from({ length: 200_000 }, (_, i) => `V${i}=value${i}`).join('\n');
    const complete = ['BUILD_HOST=b', 'BUILD_USER=u', 'BUILD_AT=/b', 'STAGING_HOSTS=s', 'STAGING_USER=u', 'DELIVER_TO=/opt'];
    const r = deliver(project(config(...complete, lines)), ['check', '--json'], {}, 110_000);
    expectNoStack(r.stderr);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).variables.length).toBeGreaterThan(200_000);
  }, 120_000);
});

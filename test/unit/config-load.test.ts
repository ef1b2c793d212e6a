// loadSettings: precedence (flag > environment > .deliver/.env > config file > default), defaults, hooks, how the
// file was evaluated, and every loader error with its file:line.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { loadSettings, type LoadOptions } from '../../src/config/load.js';
import { ConfigError } from '../../src/output/errors.js';
import { clearSecretsForTests, redact } from '../../src/output/redact.js';

const root = mkdtempSync(join(tmpdir(), 'deliver-load-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => clearSecretsForTests());

let n = 0;
/** A project directory with `.deliver/config` (and optional other files). */
function project(config: string | undefined, files: Record<string, string> = {}): string {
  const dir = join(root, `p${++n}`);
  mkdirSync(join(dir, '.deliver'), { recursive: true });
  if (config !== undefined) writeFileSync(join(dir, '.deliver', 'config'), config);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const ENV = { HOME: '/home/tester', PATH: process.env.PATH ?? '/usr/bin:/bin' };

function load(cwd: string, opts: Partial<LoadOptions> = {}) {
  return loadSettings({ cwd, ...opts, env: { ...ENV, ...opts.env } });
}

async function loadError(cwd: string, opts: Partial<LoadOptions> = {}): Promise<ConfigError> {
  try {
    await load(cwd, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('precedence', () => {
  it('the config file beats defaults and records file:line', async () => {
    const s = await load(project('APP=shop\nKEEP_RELEASES=3\n'));
    expect(s.get('KEEP_RELEASES')).toBe('3');
    expect(s.lookup('KEEP_RELEASES')).toMatchObject({ source: 'config', location: { line: 2 } });
    expect(s.where('KEEP_RELEASES')).toBe('.deliver/config:2');
    expect(s.where('SSH_TIMEOUT')).toBe('default');
  });

  it('the environment beats the file (unlike edeliver) and remembers the shadowed line', async () => {
    const s = await load(project('APP=shop\nBUILD_HOST=file-host\n'), { env: { BUILD_HOST: 'env-host' } });
    expect(s.get('BUILD_HOST')).toBe('env-host');
    expect(s.lookup('BUILD_HOST')).toMatchObject({ source: 'env', shadows: { line: 2 } });
    expect(s.where('BUILD_HOST')).toBe('environment');
  });

  it('a flag beats the environment', async () => {
    const s = await load(project('BRANCH=file\n'), { env: { BRANCH: 'env' }, flags: { BRANCH: 'flag', TAG: undefined } });
    expect(s.get('BRANCH')).toBe('flag');
    expect(s.where('BRANCH')).toBe('--branch');
    expect(s.lookup('TAG')).toBeUndefined();
  });

  it('values in the file see the overriding value of variables they reference', async () => {
    const s = await load(project('BUILD_AT=/file/build\nDELIVER_TO=$BUILD_AT/release\nX=${BUILD_AT:-none}\n'), { env: { BUILD_AT: '/env/build' } });
    expect(s.get('DELIVER_TO')).toBe('/env/build/release');
    expect(s.get('X')).toBe('/env/build');
  });

  it('the same holds when the file is evaluated by bash', async () => {
    const s = await load(project('BUILD_AT=/file/build\nif true; then DELIVER_TO=$BUILD_AT/release; fi\n'), { env: { BUILD_AT: '/env/build' } });
    expect(s.evaluation?.mode).toBe('bash');
    expect(s.get('DELIVER_TO')).toBe('/env/build/release');
    expect(s.lookup('BUILD_AT')).toMatchObject({ source: 'env', shadows: { line: 1 } });
  });

  it('${X:-default} in the file sees the environment X', async () => {
    const s = await load(project('STAGING_USER=${STAGING_USER:-deploy}\nOTHER=${MY_OWN:-dflt}\n'), { env: { STAGING_USER: 'ops', MY_OWN: 'mine' } });
    expect(s.get('STAGING_USER')).toBe('ops');
    expect(s.get('OTHER')).toBe('mine');
  });

  it('an empty environment value does not override the file', async () => {
    const s = await load(project('BUILD_HOST=file-host\n'), { env: { BUILD_HOST: '' } });
    expect(s.get('BUILD_HOST')).toBe('file-host');
    expect(s.lookup('BUILD_HOST')?.source).toBe('config');
  });

  it("variables that are not deliver's keep bash semantics: the file's assignment wins", async () => {
    const s = await load(project('PATH=/opt/bin:$PATH\nMY_HELPER=file\n'), { env: { MY_HELPER: 'env' } });
    expect(s.get('PATH')).toBe(`/opt/bin:${ENV.PATH}`);
    expect(s.get('MY_HELPER')).toBe('file');
  });

  it('.deliver/.env beats the file but never the environment, and secrets are registered', async () => {
    const dir = project('APP=shop\nBUILD_USER=file-user\nSTAGING_USER=file-staging\n');
    writeFileSync(join(dir, '.deliver', '.env'), '# secrets\nBUILD_USER=dotenv-user\nSTAGING_USER=dotenv-staging\nAWS_SECRET_ACCESS_KEY="s3cr3t-value"\n');
    const s = await load(dir, { env: { STAGING_USER: 'env-staging' } });
    expect(s.get('BUILD_USER')).toBe('dotenv-user');
    expect(s.lookup('BUILD_USER')).toMatchObject({ source: 'dotenv', location: { line: 2 }, shadows: { line: 2 } });
    expect(s.where('BUILD_USER')).toBe('.deliver/.env:2');
    expect(s.get('STAGING_USER')).toBe('env-staging');
    expect(s.get('AWS_SECRET_ACCESS_KEY')).toBe('s3cr3t-value');
    expect(redact('key is s3cr3t-value')).toBe('key is ***');
  });

  it('.env values are visible to the file', async () => {
    const dir = project('RELEASE_STORE="s3://$S3_KEY_ID@$S3_SECRET:bucket"\n');
    writeFileSync(join(dir, '.deliver', '.env'), 'S3_KEY_ID=AKIAEXAMPLE\nS3_SECRET=abc/def+ghi\n');
    const s = await load(dir);
    expect(s.get('RELEASE_STORE')).toBe('s3://AKIAEXAMPLE@abc/def+ghi:bucket');
    expect(redact(s.get('RELEASE_STORE')!)).toBe('s3://AKIAEXAMPLE@***:bucket');
  });

  it('secret-named values in the file are registered too', async () => {
    await load(project('DOCKER_HUB_ACCESS_TOKEN=tok-123456\n'));
    expect(redact('tok-123456')).toBe('***');
  });

  it('the deploy environment and mix env are visible to conditionals', async () => {
    const text = 'if [ "$DEPLOY_ENVIRONMENT" = production ]; then DELIVER_TO=/prod; else DELIVER_TO=/other; fi\ncase $TARGET_MIX_ENV in prod) S=p ;; *) S=o ;; esac\n';
    const dir = project(text);
    expect((await load(dir, { deployEnvironment: 'production' })).get('DELIVER_TO')).toBe('/prod');
    expect((await load(dir, { deployEnvironment: 'staging' })).get('DELIVER_TO')).toBe('/other');
    expect((await load(dir)).get('S')).toBe('p');
    const s = await load(dir, { mixEnv: 'dev' });
    expect(s.get('S')).toBe('o');
    expect(s.where('TARGET_MIX_ENV')).toBe('--mix-env');
  });
});

describe('defaults', () => {
  it('APP from mix.exs', async () => {
    const dir = project('BUILD_HOST=b\n', { 'mix.exs': 'defmodule Shop.MixProject do\n  def project do\n    [app: :shop_web, version: "0.1.0"]\n  end\nend\n' });
    const s = await load(dir);
    expect(s.get('APP')).toBe('shop_web');
    expect(s.lookup('APP')?.source).toBe('default');
  });

  it('APP from the relx release in rebar.config', async () => {
    const dir = project('', { 'rebar.config': "{erl_opts, [debug_info]}.\n{relx, [{release, {'my_rel', \"0.1.0\"}, [my_app, sasl]}]}.\n" });
    expect((await load(dir)).get('APP')).toBe('my_rel');
  });

  it('APP from the project directory name otherwise', async () => {
    const dir = project('');
    expect((await load(dir)).get('APP')).toBe(basename(dir));
  });

  it('the documented defaults', async () => {
    const s = await load(project(''));
    expect(Object.fromEntries(['TARGET_MIX_ENV', 'RELEASE_STORE', 'KEEP_RELEASES', 'GIT_CLEAN_PATHS', 'SSH_TIMEOUT', 'HOST_KEY_CHECKING'].map((k) => [k, s.get(k)]))).toEqual({
      TARGET_MIX_ENV: 'prod',
      RELEASE_STORE: '.deliver/releases',
      KEEP_RELEASES: '5',
      GIT_CLEAN_PATHS: '.',
      SSH_TIMEOUT: '10',
      HOST_KEY_CHECKING: 'strict',
    });
  });

  it('a missing default config is a warning, an explicit missing one an error', async () => {
    const dir = project(undefined);
    const s = await load(dir, { env: { BUILD_HOST: 'from-env' } });
    expect(s.evaluation?.mode).toBe('none');
    expect(s.warnings?.[0]?.message).toMatch(/no config file at \.deliver\/config/);
    expect(s.get('BUILD_HOST')).toBe('from-env');
    const err = await loadError(dir, { configFile: 'deploy.conf' });
    expect(err.message).toBe('deploy.conf: config file not found');
    const viaEnv = await loadError(dir, { env: { APP_CONFIG: 'other/config' } });
    expect(viaEnv.message).toBe('other/config: config file not found');
  });

  it('--config elsewhere: the .env next to it is read', async () => {
    const dir = project(undefined);
    mkdirSync(join(dir, 'ops'));
    writeFileSync(join(dir, 'ops', 'deliver.conf'), 'APP=x\n');
    writeFileSync(join(dir, 'ops', '.env'), 'BUILD_USER=ops-user\n');
    const s = await load(dir, { configFile: 'ops/deliver.conf' });
    expect(s.get('BUILD_USER')).toBe('ops-user');
    expect(s.where('APP')).toBe('ops/deliver.conf:1');
  });
});

describe('hooks and evaluation mode', () => {
  it('native: hooks verbatim with their line, unset-variable warnings', async () => {
    const s = await load(project('APP=x\nDELIVER_TO=/home/$DEPLOY_USR/app\npre_erlang_clean_compile() {\n  __sync_remote "cd $BUILD_AT && npm ci"\n}\n'));
    expect(s.evaluation).toEqual({ mode: 'native' });
    const hook = s.hooks.get('pre_erlang_clean_compile')!;
    expect(hook.location.line).toBe(3);
    expect(hook.body).toBe('\n  __sync_remote "cd $BUILD_AT && npm ci"\n');
    expect(s.warnings?.map((w) => [w.message, w.location?.line])).toEqual([['$DEPLOY_USR is not set at this point, so it expands to an empty string (as in bash)', 2]]);
  });

  it('bash: names the construct that required it; conditional hooks come from bash', async () => {
    const text = 'APP=x\nV=$(printf 1.2.3)\nif [ "$DEPLOY_ENVIRONMENT" = production ]; then\n  post_x() { echo prod; }\nelse\n  post_x() { echo other; }\nfi\npre_y() {\n  echo y\n}\n';
    const s = await load(project(text), { deployEnvironment: 'production' });
    expect(s.evaluation).toMatchObject({ mode: 'bash', reason: 'command substitution $(...)', location: { line: 2 } });
    expect(s.get('V')).toBe('1.2.3');
    expect(s.lookup('V')?.location?.line).toBe(2);
    expect(s.hooks.get('post_x')?.source).toMatch(/echo prod/);
    expect(s.hooks.get('post_x')?.location.line).toBe(6);
    expect(s.hooks.get('pre_y')).toMatchObject({ body: '\n  echo y\n', location: { line: 8 } });
  });

  it('CRLF files: values keep the \\r as in bash, with a warning naming the first line', async () => {
    const s = await load(project('# comment\nAPP=x\r\nB=y\r\n'));
    expect(s.get('APP')).toBe('x\r');
    expect(s.warnings?.map((w) => [w.location?.line, w.message])).toEqual([[2, expect.stringMatching(/Windows \(CRLF\) line endings/)]]);
  });

  it('a helper defined inside a hook body is not a hook until the hook runs', async () => {
    const s = await load(project('pre_git_push() {\n  helper() { echo x; }\n  helper\n}\n'));
    expect([...s.hooks.keys()]).toEqual(['pre_git_push']);
  });

  it('the last definition of a hook wins', async () => {
    const s = await load(project('h() { echo 1; }\nh() { echo 2; }\n'));
    expect(s.hooks.get('h')?.body).toBe(' echo 2; ');
    expect(s.hooks.get('h')?.location.line).toBe(2);
  });
});

describe('errors name file:line', () => {
  const cases: [string, string, string][] = [
    ['unterminated quote', 'APP=x\nBUILD_HOST="build\n', '.deliver/config:2: unexpected EOF while looking for matching `"\''],
    ['exit at top level', 'APP=x\nif [ -z "$NOPE" ]; then\n  echo "set NOPE first"\n  exit 1\nfi\n', '.deliver/config:4: the config runs `exit 1` (exit status 1); a config must not exit'],
    ['exit inside a function the config calls', 'APP=x\nguard() {\n  exit 3\n}\nguard\nBUILD_HOST=never\n', '.deliver/config:5: the config runs `exit 3` (from `guard`) (exit status 3); a config must not exit'],
    ['unknown command', 'APP=x\nno_such_command_xyz --flag\n', '.deliver/config:2: no_such_command_xyz: command not found'],
    ['${X:?message} natively', 'APP=x\n\nBUILD_AT=${BUILD_DIR:?set BUILD_DIR}\n', '.deliver/config:3: BUILD_DIR: set BUILD_DIR'],
    ['${X:?message} in bash mode', 'V=$(true)\nBUILD_AT=${BUILD_DIR:?set BUILD_DIR}\n', '.deliver/config:2: BUILD_DIR: set BUILD_DIR'],
    ['a failing command under set -e', 'set -e\nAPP=x\nfalse\nBUILD_HOST=never\n', '.deliver/config:3: `false` failed (exit status 1) and the config uses set -e, so bash stopped here'],
    ['missing fi', 'APP=x\nif true; then\n  A=1\n', '.deliver/config:4: syntax error: unexpected end of file'],
  ];
  for (const [title, text, message] of cases) {
    it(title, async () => {
      const err = await loadError(project(text));
      expect(err.message).toBe(message);
      expect(err.exitCode).toBe(2);
    });
  }

  it('a config that hangs is stopped after the timeout, naming the line', async () => {
    const err = await loadError(project('APP=x\nsleep 30\n'), { bashTimeoutMs: 500 });
    expect(err.message).toBe('.deliver/config:2: evaluating the config with bash did not finish within 0.5s (running `sleep 30`)');
  });

  it('stdin is /dev/null: a config reading input does not block', async () => {
    const s = await load(project('read -r ANSWER\nAPP=x\n'));
    expect(s.get('APP')).toBe('x');
    expect(s.get('ANSWER')).toBe('');
  });
});

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/load.js';
import { DeliverError, UsageError } from '../../src/output/errors.js';
import { clearSecretsForTests, redact } from '../../src/output/redact.js';
import { openConfiguredStore, openStore } from '../../src/store/index.js';
import { LocalStore } from '../../src/store/local.js';
import { S3Store, s3OptionsFrom } from '../../src/store/s3.js';
import { parseStoreSpec, type StoreSpec } from '../../src/store/spec.js';
import type { Settings } from '../../src/config/types.js';
import { configOf } from '../../src/config/config.js';
import { s3Settings } from '../../src/config/s3.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

type S3Spec = Extract<StoreSpec, { kind: 's3' }>;
/** The S3 settings of a config holding `values` (each at line 7). */
const s3Of = (values: Record<string, string>) => s3Settings(fakeSettings(values));
const s3 = (spec: string) => parseStoreSpec(spec) as S3Spec;

function fakeSettings(values: Record<string, string>): Settings {
  return {
    file: '/p/.deliver/config',
    projectDir: '/p',
    get: (n) => values[n],
    lookup: (n) => (values[n] === undefined ? undefined : { name: n, value: values[n] as string, source: 'config', location: { file: '/p/.deliver/config', line: 7 } }),
    all: () => [],
    hooks: new Map(),
    where: () => '/p/.deliver/config:7',
  };
}

describe('parseStoreSpec: local and remote', () => {
  it('treats plain paths as local directories', () => {
    expect(parseStoreSpec('.deliver/releases')).toEqual({ kind: 'local', path: '.deliver/releases' });
    expect(parseStoreSpec('/var/releases')).toEqual({ kind: 'local', path: '/var/releases' });
    expect(parseStoreSpec('./odd:name')).toEqual({ kind: 'local', path: './odd:name' });
  });

  it('parses user@host:path and alias:path (scp syntax)', () => {
    expect(parseStoreSpec('deploy@store.example.com:/srv/releases')).toEqual({
      kind: 'remote',
      user: 'deploy',
      host: 'store.example.com',
      path: '/srv/releases',
      name: 'deploy@store.example.com',
    });
    expect(parseStoreSpec('storehost:releases')).toEqual({ kind: 'remote', host: 'storehost', path: 'releases', name: 'storehost' });
    expect(parseStoreSpec('me@[::1]:/r')).toMatchObject({ kind: 'remote', host: '::1', user: 'me', path: '/r' });
  });

  it('rejects docker:// and unknown schemes with a usage error', () => {
    expect(() => parseStoreSpec('docker://registry/app')).toThrow(UsageError);
    expect(() => parseStoreSpec('ftp://x/y')).toThrow(/unknown store URL scheme/);
    expect(() => parseStoreSpec('  ')).toThrow(/empty/);
  });
});

describe('parseStoreSpec: s3', () => {
  it('parses s3://bucket[/prefix]', () => {
    expect(s3('s3://releases')).toEqual({ kind: 's3', bucket: 'releases', prefix: '' });
    expect(s3('S3://releases/my/app/')).toEqual({ kind: 's3', bucket: 'releases', prefix: 'my/app' });
    expect(s3('s3://releases//a//b')).toEqual({ kind: 's3', bucket: 'releases', prefix: 'a/b' });
    expect(s3('s3://releases/a@b:c')).toEqual({ kind: 's3', bucket: 'releases', prefix: 'a@b:c' });
  });

  it('parses the legacy s3://KEY@SECRET:bucket form', () => {
    expect(s3('s3://AKIAXYZ@secret:bucket')).toEqual({ kind: 's3', bucket: 'bucket', prefix: '', accessKeyId: 'AKIAXYZ', secretAccessKey: 'secret' });
    expect(s3('s3://AK@sec:bucket/prefix/dir')).toMatchObject({ bucket: 'bucket', prefix: 'prefix/dir', secretAccessKey: 'sec' });
  });

  it('keeps hostile secrets whole where edeliver cut them', () => {
    // edeliver: secret "c" (split at the last @); here the secret runs from the first @ to the next ':'.
    expect(s3('s3://AK@se@c:bk')).toMatchObject({ accessKeyId: 'AK', secretAccessKey: 'se@c', bucket: 'bk' });
    expect(s3('s3://AK@wJal/rXUtn+FEMI=K7MDENG/bPxRfiCY:my-bucket/rel')).toMatchObject({
      secretAccessKey: 'wJal/rXUtn+FEMI=K7MDENG/bPxRfiCY',
      bucket: 'my-bucket',
      prefix: 'rel',
    });
    expect(s3("s3://AK@a'b\";$(x)`:bkt")).toMatchObject({ secretAccessKey: "a'b\";$(x)`", bucket: 'bkt' });
  });

  it('refuses a legacy URL it cannot split, without echoing the secret', () => {
    const attempt = () => parseStoreSpec('s3://AK@sup3r/secret:x:y');
    expect(attempt).toThrow(UsageError);
    try {
      attempt();
    } catch (err) {
      expect((err as Error).message).not.toContain('sup3r');
      expect((err as UsageError).hint).toMatch(/must not contain ":"/);
    }
    expect(() => parseStoreSpec('s3://AK@nocolon')).toThrow(/expected s3:\/\/KEY@SECRET:bucket/);
  });
});

describe('S3 settings', () => {
  afterEach(() => clearSecretsForTests());

  it('defaults to AWS behaviour without an endpoint', () => {
    const saved = { ...process.env };
    delete process.env.S3_REGION;
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    delete process.env.S3_ENDPOINT;
    delete process.env.S3_FORCE_PATH_STYLE;
    delete process.env.S3_CHECKSUM_MODE;
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete process.env[k];
    try {
      const o = s3OptionsFrom(s3('s3://bkt/p'), s3Of({}));
      expect(o).toEqual({ bucket: 'bkt', prefix: 'p', region: 'us-east-1', forcePathStyle: false, checksumMode: 'when_supported' });
    } finally {
      process.env = saved;
    }
  });

  it('uses path style and when_required with a custom endpoint, and reads every setting', () => {
    const o = s3OptionsFrom(s3('s3://bkt'), s3Of({ S3_ENDPOINT: 'http://127.0.0.1:7480', S3_REGION: 'eu-central-1' }));
    expect(o).toMatchObject({ endpoint: 'http://127.0.0.1:7480', region: 'eu-central-1', forcePathStyle: true, checksumMode: 'when_required' });
    const p = s3OptionsFrom(
      s3('s3://bkt'),
      s3Of({ S3_ENDPOINT: 'https://s3.x', S3_FORCE_PATH_STYLE: 'false', S3_CHECKSUM_MODE: 'WHEN_SUPPORTED' }),
    );
    expect(p).toMatchObject({ forcePathStyle: false, checksumMode: 'when_supported' });
  });

  it('takes keys and profiles from settings (.deliver/.env, config), keys in the URL first', () => {
    const saved = { ...process.env };
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete process.env[k];
    try {
      const keys = s3Of({ AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 'from-dotenv', AWS_PROFILE: 'ignored' });
      expect(s3OptionsFrom(s3('s3://bkt'), keys).credentials).toEqual({ accessKeyId: 'AKID', secretAccessKey: 'from-dotenv' });
      expect(s3OptionsFrom(s3('s3://bkt'), keys).profile).toBeUndefined();
      expect(s3OptionsFrom(s3('s3://URLKEY@urlsecret:bkt'), keys).credentials).toEqual({ accessKeyId: 'URLKEY', secretAccessKey: 'urlsecret' });
      const prof = s3OptionsFrom(s3('s3://bkt'), s3Of({ AWS_PROFILE: 'deploy' }));
      expect(prof).toMatchObject({ profile: 'deploy' });
      expect(prof.credentials).toBeUndefined();
    } finally {
      process.env = saved;
    }
  });

  it('reports a bad setting at its config line', () => {
    expect(() => s3OptionsFrom(s3('s3://bkt'), s3Of({ S3_CHECKSUM_MODE: 'sometimes' }))).toThrow(
      '/p/.deliver/config:7: S3_CHECKSUM_MODE: expected when_required or when_supported, got "sometimes"',
    );
    expect(() => s3OptionsFrom(s3('s3://bkt'), s3Of({ S3_FORCE_PATH_STYLE: 'maybe' }))).toThrow(/S3_FORCE_PATH_STYLE/);
    expect(() => s3OptionsFrom(s3('s3://bkt'), s3Of({ S3_ENDPOINT: 'localhost:7480' }))).toThrow(/S3_ENDPOINT/);
  });

  it('registers the legacy secret and never shows it in the description', () => {
    const secret = 'wJal/rXUtn+FEMI=K7MDENG';
    const store = openStore(`s3://AKID@${secret}:bkt/pre`, { cwd: '/tmp', projectDir: '/p', s3: () => s3Of({}) });
    expect(store).toBeInstanceOf(S3Store);
    expect(store.description).toBe('s3://bkt/pre');
    expect(redact(`oops ${secret} leaked`)).toBe('oops *** leaked');
  });
});

describe('openStore', () => {
  it('resolves a relative local store against the project directory', () => {
    const store = openStore('.deliver/releases', { cwd: '/elsewhere', projectDir: '/p' });
    expect(store.description).toBe('local /p/.deliver/releases');
    expect(openStore('rel', { cwd: '/work' }).description).toBe('local rel');
  });

  it('needs a transport for a remote store', () => {
    expect(() => openStore('u@h:/x', { cwd: '/tmp' })).toThrow(DeliverError);
  });
});

describe('openConfiguredStore', () => {
  it('an empty RELEASE_STORE means the default store, not the project directory', async () => {
    const dir = tmp('deliver-store-');
    mkdirSync(join(dir, '.deliver'));
    for (const value of ['""', '" "', '"custom/dir"']) {
      writeFileSync(join(dir, '.deliver', 'config'), `APP=demo\nRELEASE_STORE=${value}\n`);
      const settings = await loadSettings({ cwd: dir, env: {} });
      const store = openConfiguredStore(configOf(settings), { cwd: dir });
      expect(store).toBeInstanceOf(LocalStore);
      expect((store as LocalStore).dir).toBe(join(dir, value === '"custom/dir"' ? 'custom/dir' : '.deliver/releases'));
    }
  });
});

// The redactor: registered secrets are masked in every encoding they can reach output or a host in (raw, JSON,
// shell-quoted, multi-line, cut into lines), and RELEASE_STORE's credentials in every spelling.
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { auditEntry } from '../../src/deploy/audit.js';
import { Output } from '../../src/output/output.js';
import { addSecret, clearSecretsForTests, isSecretName, redact, redactValue } from '../../src/output/redact.js';
import { quote } from '../../src/ssh/quote.js';
import { storeSecret } from '../../src/store/spec.js';

afterEach(() => clearSecretsForTests());

const QUOTED = 'pa"ss\\wo\'rd-42';
const KEY = ['-----BEGIN OPENSSH PRIVATE KEY-----', 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUA', 'QyNTUxOQAAACBvY2FsaG9zdAAAAA==', '-----END OPENSSH PRIVATE KEY-----', ''].join('\n');

function jsonResult(value: unknown): string {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (c: Buffer) => (text += c.toString()));
  new Output({ json: true, stdout, stderr: new PassThrough() }).result(value);
  return text;
}

describe('redact', () => {
  it('masks a secret holding " \\ and \' in clear text, in JSON and in a shell-quoted word', () => {
    addSecret(QUOTED);
    expect(redact(`token ${QUOTED} end`)).toBe('token *** end');
    expect(redact(JSON.stringify({ v: `x${QUOTED}y` }))).toBe('{"v":"x***y"}');
    expect(redact(`curl -H ${quote(`Authorization: ${QUOTED}`)}`)).toBe(`curl -H 'Authorization: ***'`);
    // a shell-quoted value inside a JSON string (an audit line's command text), and the other way round
    expect(redact(JSON.stringify(quote(QUOTED)))).not.toContain('ss');
    expect(redact(quote(JSON.stringify(QUOTED)))).not.toContain('ss');
  });

  it('--json results are redacted value by value, before encoding', () => {
    addSecret(QUOTED);
    const text = jsonResult({ variables: [{ name: 'DATABASE_URL', value: `ecto://u:${QUOTED}@db/shop` }], [`k${QUOTED}`]: 1 });
    expect(text).not.toContain('ss\\\\wo');
    expect(JSON.parse(text)).toEqual({ variables: [{ name: 'DATABASE_URL', value: 'ecto://u:***@db/shop' }], 'k***': 1 });
  });

  it('masks a multi-line value whole, in JSON, with CRLF, and each of its lines alone', () => {
    addSecret(KEY);
    expect(redact(`key:\n${KEY}done`)).toBe('key:\n***done');
    expect(redact(JSON.stringify(KEY))).toBe('"***"');
    expect(redact(KEY.replace(/\n/g, '\r\n'))).toBe('***');
    // output that arrives line by line (the last lines of a failed command) never shows a line of the key
    for (const line of KEY.split('\n').filter((l) => l.length >= 8)) expect(redact(`> ${line}`)).toBe('> ***');
    expect(redact('a line with } and {')).toBe('a line with } and {');
  });

  it('masks overlapping secrets as one, never leaving part of the longer one', () => {
    addSecret('abcdefgh');
    addSecret('efghijkl');
    addSecret('abcd');
    expect(redact('x abcdefghijkl y abcd z')).toBe('x *** y *** z');
  });

  it('leaves text alone without secrets, and never registers short values', () => {
    addSecret('abc');
    addSecret('');
    addSecret(undefined);
    expect(redact('abc abc')).toBe('abc abc');
  });

  it('redactValue keeps the shape and non-string values', () => {
    addSecret('s3cr3t-value');
    expect(redactValue({ a: ['s3cr3t-value', 1, true, null], b: { c: 'x s3cr3t-value' } })).toEqual({ a: ['***', 1, true, null], b: { c: 'x ***' } });
    expect(redactValue(['nul\0s3cr3t-value', 's3cr3t-value'])).toEqual(['nul\0***', '***']);
    expect(JSON.stringify(redactValue(JSON.parse('{"__proto__":"s3cr3t-value"}')))).toBe('{"__proto__":"***"}');
    const big = Array.from({ length: 5_000 }, (_, i) => ({ name: `V${i}`, value: i % 100 === 0 ? 's3cr3t-value' : 'plain' }));
    expect(redactValue(big).filter((v) => v.value === '***')).toHaveLength(50);
  });

  it('the audit line masks a registered secret in the error before cutting it to one bounded line', () => {
    addSecret(QUOTED);
    // the secret straddles the 300-character cut
    const e = auditEntry({ action: 'deploy', env: 'production', version: '1.0.0', result: 'failed', step: 'health', error: `${'x'.repeat(295)}${QUOTED}` });
    expect(e.error).toBe(`${'x'.repeat(295)}***`);
    const short = auditEntry({ action: 'deploy', env: 'production', version: '1.0.0', result: 'failed', error: `health check failed: curl -H 'X-Token: ${QUOTED}'\nmore` });
    expect(short.error).toBe(`health check failed: curl -H 'X-Token: ***'`);
  });
});

describe('isSecretName', () => {
  it.each(['API_KEY', 'APIKEY', 'STRIPE_API_KEY', 'GITHUB_TOKEN', 'AWS_SESSION_TOKEN', 'APP_SECRET', 'SECRET_KEY_BASE', 'DB_PASSWORD', 'PASSWORD_SALT', 'MYSQL_ROOT_PASSWD', 'SSH_PASSPHRASE', 'SIGNING_KEY', 'DEPLOY_PRIVATE_KEY', 'ERLANG_COOKIE', 'GOOGLE_CREDENTIALS', 'api_key'])(
    '%s is a secret',
    (name) => expect(isSecretName(name)).toBe(true),
  );
  it.each(['APP', 'BUILD_HOST', 'HOST_KEY_CHECKING', 'KEEP_RELEASES', 'RELEASE_STORE', 'PWD', 'MONKEY', 'KEYBOARD'])('%s is not', (name) => expect(isSecretName(name)).toBe(false));
});

describe('storeSecret: the credentials of RELEASE_STORE in every spelling', () => {
  it.each([
    ['s3://AKID@wJal/rX+Ut=n@x:bucket/prefix', 'wJal/rX+Ut=n@x'],
    ['  s3://AKID@sup3rsecret:bucket', 'sup3rsecret'],
    ['S3://AKID@sup3rsecret:bucket', 'sup3rsecret'],
    ['s3://AKID@sup3rsecret', 'sup3rsecret'],
    ['s3://AKID@sup3rsecret:', 'sup3rsecret:'],
    ['s3://AKID@sup3r:secret:bucket', 'sup3r:secret:bucket'],
    ['s3://AKID@sup3rsecret:bad bucket/p', 'sup3rsecret:bad bucket/p'],
  ])('%j masks %j', (spec, secret) => {
    expect(storeSecret(spec)).toBe(secret);
    addSecret(storeSecret(spec));
    expect(redact(spec)).not.toMatch(/sup3r|wJal/);
  });

  it('has nothing to mask in stores without credentials', () => {
    for (const spec of ['s3://bucket/pre@fix', 's3://bucket', '.deliver/releases', 'user@host:/srv/releases', '']) expect(storeSecret(spec)).toBeUndefined();
  });

  it('keeps the bucket of a valid legacy URL visible', () => {
    addSecret(storeSecret('s3://AKID@sup3rsecret:bucket/p'));
    expect(redact('s3://AKID@sup3rsecret:bucket/p')).toBe('s3://AKID@***:bucket/p');
  });
});

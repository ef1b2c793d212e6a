// `deliver upload` / `deliver download` as users run them (bin/deliver), against real radosgw and a real sshd host:
// exit codes, one-line errors without secrets, overwrite protection, and byte-exact round trips.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { rawS3Client, startS3, type S3TestEnv } from '../helpers/s3.js';
import { cliEnv, loadTestbed, runCli, type RunResult, type Testbed, type TestHost } from '../helpers/testbed.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const run = `cli-${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

let s3: S3TestEnv;
let tb: Testbed;
let host: TestHost;

/** A project with `.deliver/config` lines, optional `.deliver/.env`, and releases in .deliver/releases. */
function project(config: string[], dotenv: string[] = []): { dir: string; release: (v: string, type?: string) => Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'deliver-store-cli-'));
  mkdirSync(join(dir, '.deliver', 'releases'), { recursive: true });
  writeFileSync(join(dir, '.deliver', 'config'), ['APP="demo"', ...config].join('\n') + '\n');
  if (dotenv.length > 0) writeFileSync(join(dir, '.deliver', '.env'), dotenv.join('\n') + '\n');
  return {
    dir,
    release: (v, type = 'release') => {
      const data = randomBytes(256 * 1024 + v.length);
      writeFileSync(join(dir, '.deliver', 'releases', `demo_${v}.${type}.tar.gz`), data);
      return data;
    },
  };
}

/** The environment without the test server's S3 variables: the project's config must supply them. */
function bareEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = cliEnv(tb, extra);
  for (const k of Object.keys(s3.vars)) if (!(k in extra)) delete env[k];
  return env;
}

function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  return runCli(args, { cwd, env, timeoutMs: 120_000 });
}

/** A failure prints `deliver: <one line>` (plus at most a hint line) and never a stack trace. */
function expectOneLineError(r: RunResult, code: number, message: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trim().split('\n');
  expect(lines[0]).toMatch(message);
  expect(lines.slice(1).every((l) => l.startsWith('hint: '))).toBe(true);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(() => {
  s3 = startS3();
  tb = loadTestbed();
  host = tb.hosts[0] as TestHost;
});

describe('deliver upload / download with an S3 store', () => {
  const s3Config = () => [`RELEASE_STORE="s3://${s3.bucket}/${run}/s3"`, `S3_ENDPOINT="${s3.endpoint}"`];
  const keys = () => [`AWS_ACCESS_KEY_ID=${s3.accessKeyId}`, `AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey}`];

  it('uploads and downloads with keys from .deliver/.env, refusing to overwrite without --force', async () => {
    const p = project(s3Config(), keys());
    const v1 = p.release('1.0.0');
    const v2 = p.release('1.10.0');
    const env = bareEnv();

    const up = await cli(['upload', 'release', '1.0.0'], p.dir, env);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain(`uploaded demo_1.0.0.release.tar.gz (256.0 KiB) to s3://${s3.bucket}/${run}/s3`);
    expect(up.stderr).toBe('');

    const again = await cli(['upload', 'release', '1.0.0'], p.dir, env);
    expectOneLineError(again, 1, new RegExp(`^deliver: s3://${s3.bucket}/${run}/s3: demo_1\\.0\\.0\\.release\\.tar\\.gz already exists; use --force to overwrite it$`));
    expect((await cli(['upload', 'release', '1.0.0', '--force'], p.dir, env)).code).toBe(0);

    // No version: the newest local release (1.10.0 sorts after 1.0.0).
    const newest = await cli(['upload', 'release', '--json'], p.dir, env);
    expect(newest.code, newest.stderr).toBe(0);
    expect(JSON.parse(newest.stdout)).toMatchObject({ action: 'upload', file: 'demo_1.10.0.release.tar.gz', size: v2.length, sha256: sha(v2) });

    const dest = join(p.dir, 'out.tar.gz');
    const down = await cli(['download', 'release', '1.0.0', dest], p.dir, env);
    expect(down.code, down.stderr).toBe(0);
    expect(readFileSync(dest).equals(v1)).toBe(true);
    expectOneLineError(await cli(['download', 'release', '1.0.0', dest], p.dir, env), 1, /^deliver: .*out\.tar\.gz already exists; use --force to overwrite it$/);

    // Into a second project's .deliver/releases (the default destination), verified and with its digest file.
    const q = project(s3Config(), keys());
    const pulled = await cli(['download', 'release'], q.dir, env);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(readFileSync(join(q.dir, '.deliver/releases/demo_1.10.0.release.tar.gz')).equals(v2)).toBe(true);
    expect(readFileSync(join(q.dir, '.deliver/releases/demo_1.10.0.release.tar.gz.sha256'), 'utf8')).toBe(
      `${sha(v2)}  demo_1.10.0.release.tar.gz\n`,
    );

    expectOneLineError(await cli(['download', 'release', '9.9.9'], q.dir, env), 1, /demo_9\.9\.9\.release\.tar\.gz not found$/);
    expectOneLineError(await cli(['upload', 'release', '9.9.9'], q.dir, env), 1, /^deliver: local \.deliver\/releases: demo_9\.9\.9\.release\.tar\.gz not found$/);
  });

  it('fails with one line and no secret for a wrong legacy secret, a missing bucket and a dead endpoint', async () => {
    const secret = 'Wr0ng/Secret+Value=';
    const legacy = project([`RELEASE_STORE="s3://${s3.accessKeyId}@${secret}:${s3.bucket}/${run}"`, `S3_ENDPOINT="${s3.endpoint}"`]);
    legacy.release('1.0.0');
    const r = await cli(['upload', 'release', '1.0.0'], legacy.dir, bareEnv());
    expectOneLineError(r, 1, new RegExp(`^deliver: s3://${s3.bucket}/${run}: cannot stat demo_1\\.0\\.0\\.release\\.tar\\.gz: access denied`));
    expect(r.stdout + r.stderr).not.toContain(secret);

    const noBucket = project([`RELEASE_STORE="s3://missing-${run}"`, `S3_ENDPOINT="${s3.endpoint}"`], keys());
    noBucket.release('1.0.0');
    expectOneLineError(await cli(['upload', 'release', '1.0.0'], noBucket.dir, bareEnv()), 1, /bucket "missing-.*" does not exist$/);

    const dead = project([`RELEASE_STORE="s3://${s3.bucket}"`, 'S3_ENDPOINT="http://127.0.0.1:9"'], keys());
    const d = await cli(['download', 'release', '1.0.0'], dead.dir, bareEnv());
    expectOneLineError(d, 1, /^deliver: s3:\/\/.*: cannot reach http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)$/);
    expect(d.stderr).not.toContain(s3.secretAccessKey);
  });

  it('refuses to download an object corrupted in the bucket and leaves no file behind', async () => {
    const p = project([`RELEASE_STORE="s3://${s3.bucket}/${run}/corrupt"`, `S3_ENDPOINT="${s3.endpoint}"`], keys());
    const data = p.release('3.0.0');
    const env = bareEnv();
    expect((await cli(['upload', 'release', '3.0.0'], p.dir, env)).code).toBe(0);
    // Overwrite the object behind deliver's back (its .sha256 object still names the original bytes).
    const bad = Buffer.from(data);
    bad[1000] = (bad[1000] as number) ^ 0x10;
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const raw = rawS3Client(s3);
    await raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${run}/corrupt/demo_3.0.0.release.tar.gz`, Body: bad }));
    raw.destroy();

    const q = project([`RELEASE_STORE="s3://${s3.bucket}/${run}/corrupt"`, `S3_ENDPOINT="${s3.endpoint}"`], keys());
    const r = await cli(['download', 'release', '3.0.0'], q.dir, env);
    expectOneLineError(r, 1, new RegExp(`^deliver: s3://${s3.bucket}/${run}/corrupt: demo_3\\.0\\.0\\.release\\.tar\\.gz: checksum mismatch: expected sha256 ${sha(data)}, got ${sha(bad)}$`));
    expect(readdirSync(join(q.dir, '.deliver', 'releases'))).toEqual([]);
    const r2 = await cli(['download', 'release', '3.0.0', join(q.dir, 'out.tgz')], q.dir, env);
    expectOneLineError(r2, 1, /checksum mismatch/);
    expect(readdirSync(q.dir).filter((f) => f !== '.deliver')).toEqual([]);
  });

  it("prints no third-party runtime warnings: the AWS SDK's Node-version notice stays out of every S3 command's output", async () => {
    // On Node < 22 the SDK emits a 9-line NodeVersionSupportWarning when a client is created, unless told not to.
    const p = project(s3Config(), keys());
    p.release('3.0.0');
    const env = bareEnv();
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    delete env.NODE_NO_WARNINGS;
    const dest = join(p.dir, 'downloaded.tar.gz');
    for (const args of [['upload', 'release', '3.0.0'], ['show', 'releases'], ['download', 'release', '3.0.0', dest]]) {
      const r = await cli(args, p.dir, env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr, args.join(' ')).not.toMatch(/Warning|AWS SDK for JavaScript|--trace-warnings/);
      expect(r.stderr, args.join(' ')).toBe('');
    }
  });

  it('refuses a RELEASE_STORE that is the local release directory (exit 2)', async () => {
    const p = project([]);
    p.release('1.0.0');
    expectOneLineError(await cli(['upload', 'release', '1.0.0'], p.dir, bareEnv()), 2, /RELEASE_STORE is this machine's release directory/);
    expectOneLineError(await cli(['upload', 'banana'], p.dir, bareEnv()), 2, /expected release, upgrade or a release file name/);
  });
});

describe('deliver upload / download with a remote store', () => {
  it('copies both ways through the store host and reports an unreachable host in one line', async () => {
    const p = project([`RELEASE_STORE="${tb.user}@${host.name}:/srv/${run}/remote"`]);
    const data = p.release('2.0.0', 'upgrade');
    const env = bareEnv();
    const up = await cli(['upload', 'upgrade', '2.0.0'], p.dir, env);
    expect(up.code, up.stderr).toBe(0);
    expect(readFileSync(join(host.root, run, 'remote', 'demo_2.0.0.upgrade.tar.gz')).equals(data)).toBe(true);
    expect(readFileSync(join(host.root, run, 'remote', 'demo_2.0.0.upgrade.tar.gz.sha256'), 'utf8')).toBe(`${sha(data)}  demo_2.0.0.upgrade.tar.gz\n`);

    const q = project([`RELEASE_STORE="${tb.user}@${host.name}:/srv/${run}/remote"`]);
    const down = await cli(['download', 'demo_2.0.0.upgrade.tar.gz'], q.dir, env);
    expect(down.code, down.stderr).toBe(0);
    expect(readFileSync(join(q.dir, '.deliver/releases/demo_2.0.0.upgrade.tar.gz')).equals(data)).toBe(true);

    // The dry run prints the copy's plan (the store looked at, read-only) and touches nothing.
    const dry = await cli(['download', 'upgrade', '2.0.0', join(q.dir, 'x.tgz'), '--dry-run'], q.dir, env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('Dry run: download demo_2.0.0.upgrade.tar.gz');
    expect(dry.stdout).toContain(`from ${tb.user}@${host.name}:/srv/${run}/remote to ${join(q.dir, 'x.tgz')}, sha256 checked`);
    expect(dry.stdout).toContain('Dry run: nothing was changed on any host.');
    expect(existsSync(join(q.dir, 'x.tgz'))).toBe(false);

    const dead = project([`RELEASE_STORE="${tb.user}@${tb.net}.249:/srv/x"`]);
    dead.release('1.0.0');
    const r = await cli(['upload', 'release', '1.0.0'], dead.dir, env);
    expectOneLineError(r, 1, new RegExp(`^deliver: ${tb.user}@${tb.net.replace(/\./g, '\\.')}\\.249`));
  });
});

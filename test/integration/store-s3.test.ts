// The S3 store against a real Ceph radosgw (scripts/s3-server.sh): every operation, both URL forms, corrupted
// and truncated objects, failing uploads, wrong credentials, a missing bucket, a dead endpoint, presigned URLs,
// and a 200 MB release streamed through with bounded memory.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failingSource, randomSource, roundTrip } from '../helpers/big-release.js';
import { expectListsGetsOverwrites, readAll, sha } from '../helpers/store-contract.js';
import { DeliverError } from '../../src/output/errors.js';
import { clearSecretsForTests, redact } from '../../src/output/redact.js';
import { openStore } from '../../src/store/index.js';
import type { S3Store } from '../../src/store/s3.js';
import { applyS3Env, rawS3Client, startS3, type S3TestEnv } from '../helpers/s3.js';

const FILE = 'demo_1.0.0.release.tar.gz';
const run = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

let env: S3TestEnv;
let restoreEnv: () => void;
let raw: S3Client;

function s3Store(url: string): S3Store {
  return openStore(url, { cwd: process.cwd() }) as S3Store;
}

/** Everything under a key prefix, including in-progress multipart uploads. */
async function leftovers(prefix: string): Promise<{ objects: string[]; uploads: string[] }> {
  const objs = await raw.send(new ListObjectsV2Command({ Bucket: env.bucket, Prefix: prefix }));
  const mpu = await raw.send(new ListMultipartUploadsCommand({ Bucket: env.bucket, Prefix: prefix }));
  return { objects: (objs.Contents ?? []).map((o) => o.Key ?? ''), uploads: (mpu.Uploads ?? []).map((u) => u.Key ?? '') };
}

beforeAll(() => {
  env = startS3();
  restoreEnv = applyS3Env(env);
  raw = rawS3Client(env);
});

afterAll(() => {
  restoreEnv?.();
  raw?.destroy();
  clearSecretsForTests();
});

describe('S3 store (real radosgw)', () => {
  it('puts, stats, lists, gets and deletes with s3://bucket/prefix and the AWS credential chain', async () => {
    const store = s3Store(`s3://${env.bucket}/${run}/modern`);
    expect(store.description).toBe(`s3://${env.bucket}/${run}/modern`);
    expect(await store.list('demo')).toEqual([]);
    expect(await store.stat(FILE)).toBeUndefined();

    const data = randomBytes(3 * 1024 * 1024 + 17);
    const put = await store.put(FILE, Readable.from([data]));
    expect(put).toMatchObject({ app: 'demo', version: '1.0.0', type: 'release', file: FILE, size: data.length, sha256: sha(data) });

    // The digest is stored twice: a sha256sum-format object next to it, and object metadata.
    const key = `${run}/modern/${FILE}`;
    const shaObj = await raw.send(new GetObjectCommand({ Bucket: env.bucket, Key: `${key}.sha256` }));
    expect(await shaObj.Body?.transformToString()).toBe(`${sha(data)}  ${FILE}\n`);
    const head = await raw.send(new HeadObjectCommand({ Bucket: env.bucket, Key: key }));
    expect(head.Metadata?.sha256).toBe(sha(data));

    await expectListsGetsOverwrites(store, FILE, data);

    await store.delete(FILE);
    expect(await store.stat(FILE)).toBeUndefined();
    expect((await leftovers(`${run}/modern/${FILE}`)).objects).toEqual([]);
    await expect(store.get(FILE)).rejects.toThrow(`s3://${env.bucket}/${run}/modern: ${FILE} not found`);
    await expect(store.delete(FILE)).rejects.toThrow(/not found/);
  });

  it("works with edeliver's s3://KEY@SECRET:bucket/prefix form and never shows the secret", async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    try {
      expect(env.secretAccessKey).toMatch(/[/+=]/);
      const store = s3Store(`s3://${env.accessKeyId}@${env.secretAccessKey}:${env.bucket}/${run}/legacy`);
      expect(store.description).toBe(`s3://${env.bucket}/${run}/legacy`);
      await store.put(FILE, Readable.from([Buffer.from('legacy')]));
      expect((await readAll((await store.get(FILE)).stream)).toString()).toBe('legacy');
      expect((await store.list('demo')).map((r) => r.file)).toEqual([FILE]);
      expect(redact(`RELEASE_STORE=s3://${env.accessKeyId}@${env.secretAccessKey}:x`)).not.toContain(env.secretAccessKey);
      // The wrong secret in the same form: a one-line error without the secret.
      const bad = s3Store(`s3://${env.accessKeyId}@Wrong/Secret+Key=:${env.bucket}/${run}/legacy`);
      const err = await bad.list('demo').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeliverError);
      expect((err as Error).message).toMatch(new RegExp(`^s3://${env.bucket}/${run}/legacy: cannot list releases: access denied \\(SignatureDoesNotMatch\\)$`));
      expect(redact((err as Error).message + ((err as DeliverError).hint ?? ''))).not.toContain('Wrong/Secret+Key=');
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });

  it('finds keys through AWS_PROFILE in ~/.aws/credentials, and says so when there are none', async () => {
    const saved = { ...process.env };
    const home = mkdtempSync(join(tmpdir(), 'aws-home-'));
    try {
      for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete process.env[k];
      process.env.HOME = home;
      const err = await s3Store(`s3://${env.bucket}/${run}/profile`).list('demo').catch((e: unknown) => e);
      expect((err as Error).message).toBe(`s3://${env.bucket}/${run}/profile: cannot list releases: no AWS credentials found`);

      // A second HOME: the SDK caches the shared files it read (or did not find) per path.
      const home2 = mkdtempSync(join(tmpdir(), 'aws-home-'));
      process.env.HOME = home2;
      mkdirSync(join(home2, '.aws'));
      writeFileSync(
        join(home2, '.aws', 'credentials'),
        `[deliver-test]\naws_access_key_id = ${env.accessKeyId}\naws_secret_access_key = ${env.secretAccessKey}\n`,
      );
      process.env.AWS_PROFILE = 'deliver-test';
      const store = s3Store(`s3://${env.bucket}/${run}/profile`);
      await store.put(FILE, Readable.from([Buffer.from('via profile')]));
      expect((await store.list('demo')).map((r) => r.file)).toEqual([FILE]);
    } finally {
      process.env = saved;
    }
  });

  it('refuses an object corrupted or truncated behind its back', async () => {
    const store = s3Store(`s3://${env.bucket}/${run}/corrupt`);
    const data = randomBytes(1024 * 1024);
    await store.put(FILE, Readable.from([data]));
    const bad = Buffer.from(data);
    bad[500_000] = (bad[500_000] as number) ^ 0x01;
    await raw.send(new PutObjectCommand({ Bucket: env.bucket, Key: `${run}/corrupt/${FILE}`, Body: bad }));
    const got = await store.get(FILE);
    await expect(readAll(got.stream)).rejects.toThrow(
      `s3://${env.bucket}/${run}/corrupt: ${FILE}: checksum mismatch: expected sha256 ${sha(data)}, got ${sha(bad)}`,
    );
    await raw.send(new PutObjectCommand({ Bucket: env.bucket, Key: `${run}/corrupt/${FILE}`, Body: data.subarray(0, 1000) }));
    await expect(readAll((await store.get(FILE)).stream)).rejects.toThrow(/checksum mismatch: expected sha256/);
  });

  it('leaves nothing behind when an upload fails, is interrupted or does not match its digest', async () => {
    const store = s3Store(`s3://${env.bucket}/${run}/fail`);
    // Fails after 20 MiB: a multipart upload is in flight and must be aborted.
    const failing = failingSource(20 * 1024 * 1024);
    await expect(store.put(FILE, failing)).rejects.toThrow(`s3://${env.bucket}/${run}/fail: cannot store ${FILE}: build host connection lost`);
    expect(await leftovers(`${run}/fail/`)).toEqual({ objects: [], uploads: [] });

    await expect(store.put(FILE, randomSource(10 * 1024 * 1024), { sha256: '0'.repeat(64) })).rejects.toThrow(/checksum mismatch/);
    await expect(store.put(FILE, Readable.from([Buffer.from('small')]), { sha256: sha('other') })).rejects.toThrow(/checksum mismatch/);
    expect(await leftovers(`${run}/fail/`)).toEqual({ objects: [], uploads: [] });

    const ac = new AbortController();
    const pending = store.put(FILE, randomSource(100 * 1024 * 1024), { signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    await expect(pending).rejects.toMatchObject({ exitCode: 130 });
    expect(await leftovers(`${run}/fail/`)).toEqual({ objects: [], uploads: [] });
  });

  it('gives one-line errors for wrong credentials, a missing bucket and a dead endpoint', async () => {
    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'definitely-not-the-secret';
    try {
      const err = await s3Store(`s3://${env.bucket}/${run}`).stat(FILE).catch((e: unknown) => e);
      expect((err as Error).message).toBe(`s3://${env.bucket}/${run}: cannot stat ${FILE}: access denied (SignatureDoesNotMatch)`);
      expect((err as DeliverError).exitCode).toBe(1);
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = saved;
    }

    const missing = s3Store(`s3://no-such-bucket-${run}`);
    await expect(missing.list('demo')).rejects.toThrow(`s3://no-such-bucket-${run}: cannot list releases: bucket "no-such-bucket-${run}" does not exist`);
    await expect(missing.get(FILE)).rejects.toThrow(/bucket "no-such-bucket-.*" does not exist/);
    await expect(missing.put(FILE, Readable.from([Buffer.from('x')]))).rejects.toThrow(/bucket "no-such-bucket-.*" does not exist/);

    const savedEndpoint = process.env.S3_ENDPOINT;
    process.env.S3_ENDPOINT = 'http://127.0.0.1:9'; // discard port: nothing listens
    try {
      const t0 = Date.now();
      const err = await s3Store(`s3://${env.bucket}`).list('demo').catch((e: unknown) => e);
      expect((err as Error).message).toBe(`s3://${env.bucket}: cannot list releases: cannot reach http://127.0.0.1:9 (ECONNREFUSED)`);
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      process.env.S3_ENDPOINT = savedEndpoint;
    }
  });

  it('signs GET URLs that a host can download from without credentials', async () => {
    const store = s3Store(`s3://${env.bucket}/${run}/presign`);
    await store.put(FILE, Readable.from([Buffer.from('pull me')]));
    const url = await store.presignedGetUrl(FILE, 300);
    expect(url).not.toContain(env.secretAccessKey);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('pull me');
    const expired = await store.presignedGetUrl(FILE, 1);
    await new Promise((r) => setTimeout(r, 2100));
    expect((await fetch(expired)).status).toBe(403);
  });

  it('streams a 200 MB release in and out with under 150 MB of memory growth', async () => {
    const store = s3Store(`s3://${env.bucket}/${run}/big`);
    const size = 200 * 1024 * 1024;
    const r = await roundTrip(store, 'big_1.0.0.release.tar.gz', size);
    expect(r.put).toMatchObject({ size, sha256: r.digest });
    expect(r.readBack).toEqual({ bytes: size, digest: r.digest });
    expect(r.peakGrowth, `peak RSS growth ${(r.peakGrowth / 1048576).toFixed(0)} MB`).toBeLessThan(150 * 1024 * 1024);
    await store.delete('big_1.0.0.release.tar.gz');
  });
});

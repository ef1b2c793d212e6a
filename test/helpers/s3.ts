// The real S3 server (Ceph radosgw, scripts/s3-server.sh) for integration tests. startS3() is idempotent: the
// first caller starts it (about 1–2 s), later callers and later test files find it running. It keeps running
// after the tests (stop it with `scripts/s3-server.sh stop` with the same S3_PORT/S3_DIR).
import { execFileSync } from 'node:child_process';
import { S3Client } from '@aws-sdk/client-s3';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 's3-server.sh');

export interface S3TestEnv {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Every variable `scripts/s3-server.sh env` exports (S3_ENDPOINT, AWS_ACCESS_KEY_ID, …). */
  vars: Record<string, string>;
}

function scriptEnv(): NodeJS.ProcessEnv {
  // S3_PORT / S3_DIR pick the instance (the lead's full runs use the defaults).
  return { ...process.env, S3_PORT: process.env.S3_PORT ?? '7480' };
}

/** The connection values of the test S3 server (does not start it). */
export function s3Env(): S3TestEnv {
  const text = execFileSync('bash', [SCRIPT, 'env'], { env: scriptEnv(), encoding: 'utf8' });
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) vars[m[1] as string] = (m[2] as string).replace(/^'(.*)'$/, '$1');
  }
  const need = (k: string): string => {
    const v = vars[k];
    if (v === undefined) throw new Error(`scripts/s3-server.sh env did not print ${k}`);
    return v;
  };
  return {
    endpoint: need('S3_ENDPOINT'),
    bucket: need('S3_BUCKET'),
    region: need('S3_REGION'),
    accessKeyId: need('AWS_ACCESS_KEY_ID'),
    secretAccessKey: need('AWS_SECRET_ACCESS_KEY'),
    vars,
  };
}

/** Starts the S3 server unless it runs already; fails with the script's own message when it cannot. */
export function startS3(): S3TestEnv {
  try {
    execFileSync('bash', [SCRIPT, 'start'], { env: scriptEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`cannot start the test S3 server (scripts/s3-server.sh start): ${(err.stderr || err.message).trim()}`);
  }
  return s3Env();
}

/** Sets the server's variables in process.env (for code that reads the AWS chain) and returns a restore function. */
export function applyS3Env(env: S3TestEnv = s3Env()): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env.vars)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** A plain SDK client for the test server, for tests that go behind deliver's back (corrupting an object, say). */
export function rawS3Client(env: S3TestEnv): S3Client {
  return new S3Client({
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

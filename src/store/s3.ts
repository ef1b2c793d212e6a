// A release store in an S3 bucket (AWS or S3-compatible: Ceph, MinIO, R2), signed with SigV4.
//
// No temp key is needed: S3 makes an object visible only when its PutObject or CompleteMultipartUpload
// succeeds, so a failed or interrupted upload never shows a partial release. Multipart uploads that fail are
// aborted (lib-storage's default), so no orphan parts stay billed. The streamed digest is checked before the
// upload completes (a mismatch fails the body stream, which aborts the upload).
// The SDK is loaded on first use (synchronously, through require): it costs about 40 MB and 0.3 s at start-up,
// which every command with a local or remote store would otherwise pay.
import type * as S3Sdk from '@aws-sdk/client-s3';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type * as LibStorage from '@aws-sdk/lib-storage';
import type * as Presigner from '@aws-sdk/s3-request-presigner';
import { createRequire } from 'node:module';
import pLimit from 'p-limit';
import type { Readable } from 'node:stream';
import { s3SettingsOfEnvironment, type S3ChecksumMode, type S3Settings } from '../config/s3.js';
import { DeliverError, InterruptedError } from '../output/errors.js';
import { addSecret } from '../output/redact.js';
import { HashingStream, VerifyingStream, formatSha256Line, inboundHasher, parseSha256Text } from './checksum.js';
import { assertStoreFileName, shaFileName, storedRelease } from './names.js';
import { s3Description, type StoreSpec } from './spec.js';
import { alreadyExists, notFound } from './store-errors.js';
import type { PutOptions, ReleaseStore, StoredRelease } from './types.js';
import { isReleaseFileOf, sortReleases } from './versions.js';

const requireModule = createRequire(import.meta.url);
/**
 * Loads an SDK module. deliver's output is deliver's: the SDK's multi-line "upgrade to Node 22" notice
 * (NodeVersionSupportWarning, emitted on Node < 22 when a client is created) is switched off by the SDK's own
 * variable before any of its code runs. A user who sets the variable keeps their choice.
 */
function requireSdk(name: string): unknown {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return requireModule(name);
}
let s3Sdk: typeof S3Sdk | undefined;
let libStorage: typeof LibStorage | undefined;
let presigner: typeof Presigner | undefined;
const sdk = (): typeof S3Sdk => (s3Sdk ??= requireSdk('@aws-sdk/client-s3') as typeof S3Sdk);
const storage = (): typeof LibStorage => (libStorage ??= requireSdk('@aws-sdk/lib-storage') as typeof LibStorage);
const signer = (): typeof Presigner => (presigner ??= requireSdk('@aws-sdk/s3-request-presigner') as typeof Presigner);

export type { S3ChecksumMode };

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix without leading/trailing `/`. */
  prefix: string;
  /** Static credentials (legacy URL form, or keys from settings); otherwise the SDK's default chain (env, profiles, SSO, IMDS …). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** A profile of ~/.aws/config and ~/.aws/credentials (AWS_PROFILE). */
  profile?: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  checksumMode: S3ChecksumMode;
  /** Multipart part size in bytes (default 8 MiB) and parts in flight (default 2): a 200 MB upload peaks near 80 MB RSS growth here, at the same loopback speed as 4. */
  partSize?: number;
  queueSize?: number;
  /** Attempts per request (SDK retries with backoff), default 3. */
  maxAttempts?: number;
}

const META_SHA = 'sha256';

/**
 * S3 options from a parsed `s3://` spec plus the S3 settings (config/s3.ts): S3_FORCE_PATH_STYLE defaults to on when
 * S3_ENDPOINT is set, as S3-compatible servers rarely have wildcard DNS; S3_CHECKSUM_MODE to when_required with
 * S3_ENDPOINT (Ceph and others reject the SDK's default trailing checksums), else when_supported.
 */
export function s3OptionsFrom(spec: Extract<StoreSpec, { kind: 's3' }>, s: S3Settings = s3SettingsOfEnvironment()): S3StoreOptions {
  const { endpoint, region } = s;
  const forcePathStyle = s.forcePathStyle ?? endpoint !== undefined;
  const checksumMode: S3ChecksumMode = s.checksumMode ?? (endpoint !== undefined ? 'when_required' : 'when_supported');
  const opts: S3StoreOptions = { bucket: spec.bucket, prefix: spec.prefix, region, forcePathStyle, checksumMode };
  if (endpoint !== undefined) opts.endpoint = endpoint;
  // Keys in the URL win; then keys from deliver's settings (flag > environment > .deliver/.env > config), which
  // the SDK cannot see by itself because .deliver/.env and the config file never become process.env.
  if (spec.accessKeyId !== undefined && spec.secretAccessKey !== undefined) {
    opts.credentials = { accessKeyId: spec.accessKeyId, secretAccessKey: spec.secretAccessKey };
  } else if (s.keys !== undefined) {
    opts.credentials = { ...s.keys };
  }
  if (s.profile !== undefined && !opts.credentials) opts.profile = s.profile;
  return opts;
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  Code?: string;
}

export class S3Store implements ReleaseStore {
  readonly kind = 's3' as const;
  readonly description: string;
  readonly bucket: string;
  readonly prefix: string;
  private clientInstance: S3Client | undefined;

  constructor(private readonly opts: S3StoreOptions) {
    this.bucket = opts.bucket;
    this.prefix = opts.prefix;
    this.description = s3Description(opts.bucket, opts.prefix);
    addSecret(opts.credentials?.secretAccessKey);
    addSecret(opts.credentials?.sessionToken);
    addSecret(process.env.AWS_SECRET_ACCESS_KEY);
    addSecret(process.env.AWS_SESSION_TOKEN);
  }

  /** The SDK client, created on first use (creating it never contacts the endpoint). */
  get client(): S3Client {
    if (!this.clientInstance) {
      const mode = this.opts.checksumMode === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
      const config: S3ClientConfig = {
        region: this.opts.region,
        forcePathStyle: this.opts.forcePathStyle,
        requestChecksumCalculation: mode,
        responseChecksumValidation: mode,
        maxAttempts: this.opts.maxAttempts ?? 3,
        // A dead endpoint fails in seconds instead of hanging on the OS connect timeout.
        requestHandler: { connectionTimeout: 5000, requestTimeout: 120_000 },
      };
      if (this.opts.endpoint !== undefined) config.endpoint = this.opts.endpoint;
      if (this.opts.credentials) config.credentials = this.opts.credentials;
      if (this.opts.profile !== undefined) config.profile = this.opts.profile;
      this.clientInstance = new (sdk().S3Client)(config);
    }
    return this.clientInstance;
  }

  keyOf(file: string): string {
    return this.prefix ? `${this.prefix}/${file}` : file;
  }

  /** One line naming store, object and cause; credentials never appear (the SDK's messages do not echo them). */
  private error(action: string, file: string | undefined, err: unknown): DeliverError {
    if (err instanceof DeliverError) return err;
    const e = (err ?? {}) as SdkError;
    if (e.name === 'AbortError') return new InterruptedError(`${this.description}: ${action}: interrupted`);
    const what = file === undefined ? '' : ` ${file}`;
    const status = e.$metadata?.httpStatusCode;
    const name = e.name === 'Unknown' ? '' : e.name ?? e.Code ?? e.code ?? '';
    let reason: string;
    let hint: string | undefined;
    if (name === 'NoSuchBucket') {
      reason = `bucket ${JSON.stringify(this.bucket)} does not exist`;
    } else if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken'].includes(name) || status === 403) {
      reason = `access denied (${name || 'HTTP 403'})`;
      hint = 'check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE) and their permissions on the bucket';
    } else if (name === 'CredentialsProviderError' || /credential/i.test(e.message ?? '') && status === undefined) {
      reason = 'no AWS credentials found';
      hint = 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (environment or .deliver/.env) or AWS_PROFILE';
    } else if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'TimeoutError'].includes(e.code ?? name)) {
      reason = `cannot reach ${this.opts.endpoint ?? 'S3'} (${e.code ?? name})`;
      hint = this.opts.endpoint ? 'check S3_ENDPOINT and that the server is running' : 'check the network and S3_REGION';
    } else {
      const msg = (e.message ?? String(err)).split('\n')[0] ?? '';
      reason = [name && name !== 'Error' && !msg.includes(name) ? name : '', msg, status ? `(HTTP ${status})` : ''].filter(Boolean).join(' ');
    }
    return new DeliverError(`${this.description}: cannot ${action}${what}: ${reason}`, { cause: err, ...(hint ? { hint } : {}) });
  }

  /** The digest from `<file>.sha256`; errors are reported as `<action> <file>` (the user asked about the release). */
  private async readShaObject(file: string, action = 'read the digest of'): Promise<string | undefined> {
    try {
      const r = await this.client.send(new (sdk().GetObjectCommand)({ Bucket: this.bucket, Key: this.keyOf(shaFileName(file)) }));
      return parseSha256Text((await r.Body?.transformToString('utf8')) ?? '');
    } catch (err) {
      const e = err as SdkError;
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket') return undefined;
      throw this.error(action, file, err);
    }
  }

  async list(app: string): Promise<StoredRelease[]> {
    const all = app === '' || app === '*';
    const keyPrefix = this.keyOf(all ? '' : `${app}_`);
    const base = this.prefix ? `${this.prefix}/` : '';
    const releases: { file: string; size: number; modified: Date }[] = [];
    const withSha = new Set<string>();
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new (sdk().ListObjectsV2Command)({ Bucket: this.bucket, Prefix: keyPrefix, Delimiter: '/', ...(token ? { ContinuationToken: token } : {}) }),
        );
        for (const o of page.Contents ?? []) {
          const name = (o.Key ?? '').slice(base.length);
          if (name.endsWith('.sha256')) withSha.add(name.slice(0, -'.sha256'.length));
          else if (isReleaseFileOf(name, app)) releases.push({ file: name, size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw this.error('list releases', undefined, err);
    }
    const limit = pLimit(8);
    const out = await Promise.all(
      releases.map((r) =>
        limit(async () => storedRelease(r.file, r.size, r.modified, withSha.has(r.file) ? await this.readShaObject(r.file) : undefined)),
      ),
    );
    return sortReleases(out);
  }

  async stat(file: string): Promise<StoredRelease | undefined> {
    assertStoreFileName(file, this.description);
    // The digest object's GET tells a missing bucket (NoSuchBucket) or bad signature apart from a missing key,
    // which a body-less HEAD response cannot; so its error wins when both fail.
    const [headR, shaR] = await Promise.allSettled([
      this.client.send(new (sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: this.keyOf(file) })).catch((err: SdkError) => {
        if (err.$metadata?.httpStatusCode === 404 || err.name === 'NotFound') return undefined;
        throw this.error('stat', file, err);
      }),
      this.readShaObject(file, 'stat'),
    ]);
    if (shaR.status === 'rejected') throw shaR.reason;
    if (headR.status === 'rejected') throw headR.reason;
    const head = headR.value;
    const shaFile = shaR.value;
    if (!head) return undefined;
    const sha256 = shaFile ?? parseSha256Text(head.Metadata?.[META_SHA] ?? '');
    return storedRelease(file, head.ContentLength ?? 0, head.LastModified ?? new Date(0), sha256);
  }

  async put(file: string, source: Readable, opts: PutOptions = {}): Promise<StoredRelease> {
    assertStoreFileName(file, this.description);
    if (!opts.force && (await this.stat(file))) throw alreadyExists(this.description, file);
    const key = this.keyOf(file);
    const hasher = inboundHasher(this.description, file, opts);
    source.on('error', (err) => hasher.destroy(err));
    source.pipe(hasher);
    const upload = new (storage().Upload)({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: hasher,
        ContentType: 'application/gzip',
        ...(opts.sha256 ? { Metadata: { [META_SHA]: opts.sha256.toLowerCase() } } : {}),
      },
      partSize: this.opts.partSize ?? 8 * 1024 * 1024,
      queueSize: this.opts.queueSize ?? 2,
      leavePartsOnError: false,
    });
    // An interrupt fails the body stream: lib-storage then aborts the multipart upload before done() rejects
    // (its own abort() rejects at once and cleans up later, which would leave parts behind on Ctrl-C).
    const onAbort = () => hasher.destroy(Object.assign(new Error('interrupted'), { name: 'AbortError' }));
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let digest: string;
    try {
      await upload.done();
      if (hasher.errored) throw hasher.errored;
      digest = hasher.digest();
    } catch (err) {
      source.unpipe(hasher);
      hasher.destroy();
      if (opts.signal?.aborted) throw new InterruptedError(`${this.description}: store ${file}: interrupted`);
      throw this.error('store', file, hasher.errored ?? err);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    try {
      if (!opts.sha256) {
        // The digest was unknown when the upload started: record it as metadata with a server-side self-copy.
        await this.client.send(
          new (sdk().CopyObjectCommand)({
            Bucket: this.bucket,
            Key: key,
            CopySource: `${this.bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`,
            MetadataDirective: 'REPLACE',
            ContentType: 'application/gzip',
            Metadata: { [META_SHA]: digest },
          }),
        );
      }
      await this.client.send(
        new (sdk().PutObjectCommand)({ Bucket: this.bucket, Key: this.keyOf(shaFileName(file)), Body: formatSha256Line(digest, file), ContentType: 'text/plain' }),
      );
    } catch (err) {
      throw this.error('store', file, err);
    }
    const stored = await this.stat(file);
    if (!stored) throw new DeliverError(`${this.description}: ${file} is missing right after it was stored`);
    return stored;
  }

  async get(file: string, opts: { signal?: AbortSignal } = {}): Promise<{ stream: Readable; sha256: string; size: number }> {
    const r = await this.stat(file);
    if (!r) throw notFound(this.description, file);
    let body: Readable;
    try {
      const res = await this.client.send(new (sdk().GetObjectCommand)({ Bucket: this.bucket, Key: this.keyOf(file) }), opts.signal ? { abortSignal: opts.signal } : {});
      body = res.Body as Readable;
    } catch (err) {
      const e = err as SdkError;
      if (e.name === 'NoSuchKey') throw notFound(this.description, file);
      throw this.error('read', file, err);
    }
    // Objects stored without a digest (by edeliver) are streamed unverified; sha256 is then ''.
    const check = r.sha256
      ? new VerifyingStream({ store: this.description, file, expected: r.sha256, size: r.size })
      : new HashingStream();
    body.on('error', (err) => check.destroy(this.error('read', file, err)));
    check.on('close', () => {
      if (!body.readableEnded) body.destroy();
    });
    body.pipe(check);
    return { stream: check, sha256: r.sha256 ?? '', size: r.size };
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    const res = await this.client.send(
      new (sdk().DeleteObjectsCommand)({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
    );
    const failed = res.Errors?.[0];
    if (failed) throw new DeliverError(`${this.description}: cannot delete ${failed.Key ?? ''}: ${failed.Code ?? ''} ${failed.Message ?? ''}`.trim());
  }

  async delete(file: string): Promise<void> {
    if (!(await this.stat(file))) throw notFound(this.description, file);
    try {
      await this.deleteKeys([this.keyOf(file), this.keyOf(shaFileName(file))]);
    } catch (err) {
      throw this.error('delete', file, err);
    }
  }

  /** A time-limited GET URL, so deploy hosts can download the release themselves (curl/wget) without keys. */
  async presignedGetUrl(file: string, ttlSeconds: number): Promise<string> {
    assertStoreFileName(file, this.description);
    try {
      return await signer().getSignedUrl(this.client, new (sdk().GetObjectCommand)({ Bucket: this.bucket, Key: this.keyOf(file) }), { expiresIn: ttlSeconds });
    } catch (err) {
      throw this.error('sign a URL for', file, err);
    }
  }
}

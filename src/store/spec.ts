// RELEASE_STORE values: which store a string names. Pure parsing, so every form is unit-tested.
import { UsageError } from '../output/errors.js';

export type StoreSpec =
  | { kind: 'local'; path: string }
  | { kind: 'remote'; user?: string; host: string; path: string; /** `user@host` as written. */ name: string }
  | {
      kind: 's3';
      bucket: string;
      /** Key prefix without leading/trailing `/` ('' for the bucket root). */
      prefix: string;
      /** Only for edeliver's legacy `s3://KEY@SECRET:bucket` form; otherwise the AWS credential chain applies. */
      accessKeyId?: string;
      secretAccessKey?: string;
    };

/** S3 bucket names (with the legacy upper-case/underscore names some S3-compatible stores still allow). */
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;
const REMOTE = /^(?:([^@:/\s]+)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*):(.+)$/;

/** `s3://bucket/prefix` for messages: never the credentials. */
export function s3Description(bucket: string, prefix: string): string {
  return `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
}

function cleanPrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, '').replace(/\/{2,}/g, '/');
}

/**
 * edeliver's legacy `KEY@SECRET:bucket[/prefix]` after `s3://`, split at the first `@` and the first `:` after it
 * (undefined for `bucket[/prefix]`): the key runs to the first `@` (access key ids are alphanumeric), the secret to
 * the next `:`, the bucket to the next `/`, the rest is the prefix. So the secret may contain `/`, `+`, `=` and `@`
 * (edeliver cut it at the last `@`), but not `:` — there is no unambiguous split otherwise; such secrets belong in
 * AWS_SECRET_ACCESS_KEY or a profile instead. A string is legacy when the text before its first `@` has no `/` or
 * `:` (a prefix may contain `@`). `colon` is -1 when no `:` follows the secret.
 */
function splitLegacy(rest: string): { key: string; afterKey: string; colon: number } | undefined {
  const at = rest.indexOf('@');
  const key = at === -1 ? '' : rest.slice(0, at);
  if (at <= 0 || /[/:]/.test(key)) return undefined;
  const afterKey = rest.slice(at + 1);
  return { key, afterKey, colon: afterKey.indexOf(':') };
}

/**
 * The text to mask in a RELEASE_STORE value, in every spelling (leading blanks, a missing `:bucket`, an empty
 * bucket, a secret holding `:`): the secret of a valid legacy URL; everything after the key when it does not parse,
 * since where the secret ends is then unknown.
 */
export function storeSecret(spec: string): string | undefined {
  const s = spec.trim();
  const legacy = /^s3:\/\//i.test(s) ? splitLegacy(s.slice(5)) : undefined;
  if (!legacy) return undefined;
  const { afterKey, colon } = legacy;
  const location = colon === -1 ? '' : afterKey.slice(colon + 1);
  const bucket = location.split('/')[0]!;
  return colon > 0 && BUCKET.test(bucket) ? afterKey.slice(0, colon) : afterKey;
}

/** Parses the part after `s3://`: `bucket[/prefix]` (credentials from the standard AWS chain) or the legacy form. */
function parseS3(rest: string, spec: string): StoreSpec {
  const legacy = splitLegacy(rest);
  if (legacy) {
    const { key: head, afterKey, colon } = legacy;
    if (colon <= 0) {
      throw new UsageError(`invalid RELEASE_STORE s3://${head}@…: expected s3://KEY@SECRET:bucket[/prefix]`, {
        hint: 'or use s3://bucket[/prefix] with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE',
      });
    }
    const secretAccessKey = afterKey.slice(0, colon);
    const location = afterKey.slice(colon + 1);
    const slash = location.indexOf('/');
    const bucket = slash === -1 ? location : location.slice(0, slash);
    const prefix = slash === -1 ? '' : cleanPrefix(location.slice(slash + 1));
    if (!BUCKET.test(bucket)) {
      // Never echo the spec: it holds the secret.
      throw new UsageError(`invalid RELEASE_STORE s3://${head}@***:…: the bucket name after the secret is not valid`, {
        hint: 'the secret must not contain ":"; put it in AWS_SECRET_ACCESS_KEY and use s3://bucket[/prefix]',
      });
    }
    return { kind: 's3', bucket, prefix, accessKeyId: head, secretAccessKey };
  }
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefix = slash === -1 ? '' : cleanPrefix(rest.slice(slash + 1));
  if (!BUCKET.test(bucket)) throw new UsageError(`invalid RELEASE_STORE ${JSON.stringify(spec)}: ${JSON.stringify(bucket)} is not a bucket name`);
  return { kind: 's3', bucket, prefix };
}

/**
 * Which store `spec` names, in edeliver's order: `s3://…`, `docker://…` (not supported), `[user@]host:path`
 * (scp syntax; a host alias from ~/.ssh/config works too, unlike edeliver which required `user@`), else a
 * local directory. A local path containing `:` must start with `./` or `/`.
 */
export function parseStoreSpec(spec: string): StoreSpec {
  const s = spec.trim();
  if (s === '') throw new UsageError('RELEASE_STORE is empty');
  if (/^s3:\/\//i.test(s)) return parseS3(s.slice(5), s);
  if (/^docker:\/\//i.test(s)) {
    throw new UsageError(`RELEASE_STORE ${JSON.stringify(s)}: docker:// release stores are not supported`, {
      hint: 'use a local directory, user@host:/path or s3://bucket/prefix',
    });
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(s)) throw new UsageError(`RELEASE_STORE ${JSON.stringify(s)}: unknown store URL scheme`);
  const m = REMOTE.exec(s);
  if (m && !s.startsWith('./') && !s.startsWith('/')) {
    const user = m[1];
    const host = (m[2] as string).replace(/^\[|\]$/g, '');
    const path = m[3] as string;
    const name = `${user ? `${user}@` : ''}${m[2]}`;
    return user ? { kind: 'remote', user, host, path, name } : { kind: 'remote', host, path, name };
  }
  return { kind: 'local', path: s };
}

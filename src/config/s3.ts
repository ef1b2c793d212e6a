// The S3_* and AWS_* settings an S3 release store reads, parsed once. deliver's settings (flag > environment >
// .deliver/.env > config) come first; the process environment is the fallback, as the SDK would see it.
import type { Settings } from './types.js';
import { settingError } from './validate.js';
import { parseBoolean } from './values.js';

export type S3ChecksumMode = 'when_required' | 'when_supported';

export interface S3Settings {
  endpoint?: string;
  /** S3_REGION, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1. */
  region: string;
  /** S3_FORCE_PATH_STYLE when set (the store's default depends on the endpoint). */
  forcePathStyle?: boolean;
  checksumMode?: S3ChecksumMode;
  /** AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), when both keys are set. */
  keys?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  profile?: string;
}

function value(name: string, settings?: Settings): string | undefined {
  const v = settings?.get(name) ?? process.env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** The S3 settings; without `settings` (tests, a store named on the command line) the process environment only. */
export function s3Settings(settings?: Settings): S3Settings {
  const endpoint = value('S3_ENDPOINT', settings);
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) {
    throw settingError('S3_ENDPOINT', `expected http(s)://host[:port], got ${JSON.stringify(endpoint)}`, settings);
  }
  const region = value('S3_REGION', settings) ?? value('AWS_REGION', settings) ?? value('AWS_DEFAULT_REGION', settings) ?? 'us-east-1';
  const s: S3Settings = { region };
  if (endpoint !== undefined) s.endpoint = endpoint;
  const pathStyle = value('S3_FORCE_PATH_STYLE', settings);
  if (pathStyle !== undefined) {
    const b = parseBoolean(pathStyle);
    if (b === undefined) throw settingError('S3_FORCE_PATH_STYLE', `expected true or false, got ${JSON.stringify(pathStyle)}`, settings);
    s.forcePathStyle = b;
  }
  const mode = value('S3_CHECKSUM_MODE', settings)?.toLowerCase();
  if (mode !== undefined && mode !== 'when_required' && mode !== 'when_supported') {
    throw settingError('S3_CHECKSUM_MODE', `expected when_required or when_supported, got ${JSON.stringify(mode)}`, settings);
  }
  if (mode !== undefined) s.checksumMode = mode;
  const keyId = value('AWS_ACCESS_KEY_ID', settings);
  const secret = value('AWS_SECRET_ACCESS_KEY', settings);
  const token = value('AWS_SESSION_TOKEN', settings);
  if (keyId !== undefined && secret !== undefined) s.keys = { accessKeyId: keyId, secretAccessKey: secret, ...(token !== undefined ? { sessionToken: token } : {}) };
  const profile = value('AWS_PROFILE', settings);
  if (profile !== undefined) s.profile = profile;
  return s;
}

/** The S3 settings of the process environment alone (a store opened without a project's config). */
export function s3SettingsOfEnvironment(): S3Settings {
  return s3Settings();
}

// The build host from BUILD_HOST / BUILD_USER (edeliver: exactly one host), as an SSH target.
import type { Settings } from '../config/types.js';
import { UsageError } from '../output/errors.js';
import type { HostTarget } from '../ssh/types.js';

/** `[user@]host[:port]` in BUILD_HOST; BUILD_USER gives the user when the value has none. */
export function buildHostTarget(settings: Settings): HostTarget {
  const raw = settings.get('BUILD_HOST')?.trim() ?? '';
  if (raw === '') {
    throw new UsageError('BUILD_HOST is not set: `build release` needs APP, BUILD_HOST, BUILD_USER and BUILD_AT', {
      hint: `set BUILD_HOST="build.example.com" in ${settings.file}`,
    });
  }
  const words = raw.split(/[\s,]+/).filter((w) => w !== '');
  if (words.length > 1) {
    throw new UsageError(`BUILD_HOST (${settings.where('BUILD_HOST')}): builds run on one host, got ${words.length}: ${words.join(' ')}`);
  }
  if (raw === 'docker') throw new UsageError(`BUILD_HOST=docker (${settings.where('BUILD_HOST')}): docker builds are not supported; name an SSH build host`);
  const m = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(raw);
  if (!m) throw new UsageError(`BUILD_HOST=${JSON.stringify(raw)} (${settings.where('BUILD_HOST')}): expected [user@]host[:port]`);
  const user = m[1] ?? (settings.get('BUILD_USER')?.trim() || undefined);
  const host = (m[2] ?? '').replace(/^\[|\]$/g, '');
  const port = m[3] !== undefined ? Number(m[3]) : undefined;
  if (port !== undefined && (port < 1 || port > 65535)) throw new UsageError(`BUILD_HOST=${raw}: invalid port ${port}`);
  const name = `${user ? `${user}@` : ''}${host}${port !== undefined ? `:${port}` : ''}`;
  const t: { name: string; host: string; user?: string; port?: number } = { name, host };
  if (user !== undefined) t.user = user;
  if (port !== undefined) t.port = port;
  return t;
}

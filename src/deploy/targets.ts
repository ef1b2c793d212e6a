// The deploy hosts of an environment, as edeliver defines them: `<ENV>_NODES="user@host:/path ..."`, else
// `<ENV>_HOSTS` with `<ENV>_USER` and DELIVER_TO (staging: TEST_AT, falling back to DELIVER_TO).
import type { Settings } from '../config/types.js';
import { ConfigError } from '../output/errors.js';
import type { HostTarget } from '../ssh/types.js';

export interface ResolvedTargets {
  targets: HostTarget[];
  deliverTo: string;
}

function parseHostWord(word: string, user: string | undefined, where: string): HostTarget {
  // [user@]host[:port] — a bracketed IPv6 address keeps its colons.
  const m = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(word);
  if (!m) throw new ConfigError(where, undefined, `invalid host ${JSON.stringify(word)}`);
  const u = m[1] ?? user;
  const host = m[2]!.replace(/^\[|\]$/g, '');
  const port = m[3] ? Number(m[3]) : undefined;
  return { name: word.includes('@') || !u ? word : `${u}@${word}`, host, ...(u ? { user: u } : {}), ...(port ? { port } : {}) };
}

export function resolveDeployTargets(settings: Settings, env: string): ResolvedTargets {
  const E = env.toUpperCase();
  const deliverTo = (env === 'staging' ? settings.get('TEST_AT') || settings.get('DELIVER_TO') : settings.get('DELIVER_TO')) ?? '';
  const nodes = settings.get(`${E}_NODES`);
  if (nodes && nodes.trim()) {
    const where = settings.where(`${E}_NODES`);
    const targets = nodes.trim().split(/\s+/).map((w) => {
      const [spec, ] = w.split('|');
      const colon = spec!.indexOf(':/');
      const hostPart = colon === -1 ? spec! : spec!.slice(0, colon);
      const path = colon === -1 ? undefined : spec!.slice(colon + 1);
      const t = parseHostWord(hostPart, undefined, where);
      return path ? { ...t, path } : t;
    });
    if (!deliverTo && targets.some((t) => !t.path)) throw new ConfigError(settings.where('DELIVER_TO'), undefined, 'DELIVER_TO is not set');
    return { targets, deliverTo };
  }
  const hosts = settings.get(`${E}_HOSTS`);
  if (!hosts || !hosts.trim()) {
    throw new ConfigError(settings.file, undefined, `no hosts for environment ${env}: set ${E}_HOSTS (and ${E}_USER) or ${E}_NODES`);
  }
  if (!deliverTo) throw new ConfigError(settings.file, undefined, `DELIVER_TO is not set (where ${env}'s release lives on the hosts)`);
  const user = settings.get(`${E}_USER`);
  const where = settings.where(`${E}_HOSTS`);
  return { targets: hosts.trim().split(/\s+/).map((w) => parseHostWord(w, user, where)), deliverTo };
}

// Host key verification for one connection, fed to ssh2's `hostVerifier` with the raw key blob.
// strict: unknown or changed key → refuse. accept-new: record unknown keys, still refuse changed ones loudly.
import { homedir } from 'node:os';
import type { HostKeyPolicy } from './types.js';
import { RemoteError } from '../output/errors.js';
import {
  algorithmsForKeyType,
  appendKnownHost,
  checkHostKey,
  fingerprint,
  keyTypeOf,
  knownHostName,
  keysForHostOnAnyPort,
  knownKeyTypes,
  loadKnownHosts,
  type KnownHostEntry,
} from './known-hosts.js';

/** ssh2's host key algorithms in its default preference order. */
const DEFAULT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

export interface HostKeyContext {
  /** Label for messages (the target's name). */
  label: string;
  /** Host name and port the key is recorded under (HostKeyAlias replaces the host name). */
  host: string;
  port: number;
  policy: HostKeyPolicy;
  /** Files read for known keys, in order. */
  readFiles: string[];
  /** Where accept-new records a new key. */
  writeFile: string;
  /** Told when a key was recorded (accept-new). */
  onRecorded?: (message: string) => void;
}

export interface PreparedVerifier {
  /** For ssh2's `algorithms.serverHostKey`: known key types first, so a host with several keys is not "changed". */
  serverHostKey: string[];
  verify: (key: Buffer, done: (ok: boolean) => void) => void;
  /** The reason a key was refused, once `verify` said no. */
  failure(): RemoteError | undefined;
}

export function tildify(path: string): string {
  const home = homedir();
  return home && home !== '/' && path.startsWith(home + '/') ? '~' + path.slice(home.length) : path;
}

function describe(entries: KnownHostEntry[]): string {
  return entries.map((e) => `${e.keyType} ${fingerprint(e.key)} (${tildify(e.file)}:${e.line})`).join(', ');
}

export async function prepareHostKeyVerifier(ctx: HostKeyContext): Promise<PreparedVerifier> {
  const entries = await loadKnownHosts(ctx.readFiles);
  const name = knownHostName(ctx.host, ctx.port);
  const preferred = knownKeyTypes(entries, name).flatMap(algorithmsForKeyType);
  const serverHostKey = [...preferred, ...DEFAULT_HOST_KEY_ALGORITHMS.filter((a) => !preferred.includes(a))];
  let failure: RemoteError | undefined;
  const where = `${ctx.host} port ${ctx.port}`;

  const verify = (key: Buffer, done: (ok: boolean) => void) => {
    const type = keyTypeOf(key);
    const fp = fingerprint(key);
    const check = checkHostKey(entries, name, key);
    if (check.status === 'known') return done(true);
    if (check.status === 'revoked') {
      failure = new RemoteError(ctx.label, `host key of ${where} is REVOKED (${type} ${fp}, ${tildify(check.entry.file)}:${check.entry.line}); refusing to connect`);
      return done(false);
    }
    if (check.status === 'changed') {
      failure = new RemoteError(
        ctx.label,
        `HOST KEY CHANGED for ${where}: it presented ${type} ${fp}, but known_hosts has ${describe(check.expected)}. ` +
          'Someone may be intercepting the connection (man-in-the-middle), or the host was reinstalled; refusing to connect',
        {
          hint: `if you are sure the host was reinstalled, remove the old key with: ssh-keygen -R '${name}' -f ${tildify(check.expected[0]!.file)}`,
        },
      );
      return done(false);
    }
    // accept-new records a host seen for the first time, never a second key for one known on another port.
    const elsewhere = keysForHostOnAnyPort(entries, ctx.host, ctx.port);
    if (ctx.policy === 'accept-new' && elsewhere.length > 0 && !elsewhere.some((e) => e.key.equals(key))) {
      failure = new RemoteError(
        ctx.label,
        `host key of ${where} (${type} ${fp}) is new for this port, but known_hosts has ${describe(elsewhere)} for ${ctx.host}; ` +
          'accept-new does not record a different key for a known host; refusing to connect',
        { hint: `if that port really has its own host key, verify ${fp} with the host's administrator and add it with \`ssh-keyscan -p ${ctx.port} ${ctx.host} >> ${tildify(ctx.writeFile)}\`` },
      );
      return done(false);
    }
    if (ctx.policy === 'accept-new') {
      appendKnownHost(ctx.writeFile, name, key).then(
        () => {
          ctx.onRecorded?.(`added host key of ${where} (${type} ${fp}) to ${tildify(ctx.writeFile)}`);
          done(true);
        },
        (err: Error) => {
          failure = new RemoteError(ctx.label, `cannot record host key of ${where} in ${tildify(ctx.writeFile)}: ${err.message}`);
          done(false);
        },
      );
      return;
    }
    failure = new RemoteError(ctx.label, `unknown host key for ${where}: ${type} ${fp}`, {
      hint:
        `verify that fingerprint with the host's administrator, then add it with ` +
        `\`ssh-keyscan -p ${ctx.port} ${ctx.host} >> ${tildify(ctx.writeFile)}\` (check it with ssh-keygen -lf), ` +
        'or run once with --host-key-checking accept-new',
    });
    done(false);
  };
  return { serverHostKey, verify, failure: () => failure };
}

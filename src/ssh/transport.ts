// The connection pool: one ssh2 connection per resolved host (user@address:port), reused by every step of a
// command; handshakes bounded below sshd's MaxStartups; retries only for connection failures; ProxyJump hops
// share one pooled bastion connection and tunnel with forwardOut.
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import pLimit from 'p-limit';
import ssh2 from 'ssh2';
import type { Client as ClientType } from 'ssh2';
import { ConfigError, DeliverError, RemoteError } from '../output/errors.js';
import type { Output } from '../output/output.js';
import { authFailure, authHandlerFor, planAuth } from './auth.js';
import { SshBackend, SshConnection } from './backend.js';
import { prepareHostKeyVerifier } from './host-key.js';
import { expandProxyCommand, spawnProxyCommand } from './proxy-command.js';
import { backoffMs, describeConnectError, HandshakeClosedError, isRetryableConnectError, sleep } from './retry.js';
import { parseJumpSpec, resolveHost, SshConfig, type ResolvedHost } from './ssh-config.js';
import type { Backend, HostKeyPolicy, HostTarget, SshOptions, Transport } from './types.js';

const { Client } = ssh2;

export const DEFAULT_SSH_OPTIONS: SshOptions = {
  hostKeyPolicy: 'strict',
  connectTimeoutMs: 10_000,
  keepaliveIntervalMs: 15_000,
  maxConcurrentStarts: 16,
  connectAttempts: 3,
};

const MAX_JUMP_DEPTH = 8;

/**
 * Handshakes at once to one sshd: below its MaxStartups (10 unauthenticated connections, after which it drops new
 * ones at random). All ProxyCommand connections count as one server: they usually log in to the same bastion.
 */
const MAX_STARTS_PER_SERVER = 8;

export type TransportOptions = Partial<SshOptions> & {
  hostKeyPolicy?: HostKeyPolicy;
  out?: Output;
};

/** The SSH transport (a dry run uses it too, for its read-only queries). */
export function createTransport(opts: TransportOptions = {}): Transport {
  return new SshTransport(opts);
}

/** Reads the ssh config a transport should use (`null`: none; default ~/.ssh/config). */
export function loadSshConfig(file: string | null | undefined): SshConfig {
  if (file === null) return SshConfig.empty();
  return SshConfig.load(file ?? join(homedir(), '.ssh', 'config'));
}

export class SshTransport implements Transport {
  private readonly opts: TransportOptions;
  private readonly out: Output | undefined;
  private config: SshConfig | undefined;
  private readonly pool = new Map<string, Promise<SshConnection>>();
  /** Every connection opened, with the jump host's connection it tunnels through (closed after it). */
  private readonly opened: { conn: SshConnection; via?: SshConnection }[] = [];
  private readonly startLimit;
  private readonly serverLimits = new Map<string, ReturnType<typeof pLimit>>();
  private readonly warned = new Set<string>();
  /** Bumped by closeAll(): a handshake still in flight from before then closes itself instead of leaking. */
  private generation = 0;
  /** SSH handshakes completed (tests assert one per host). */
  handshakes = 0;

  constructor(opts: TransportOptions = {}) {
    this.opts = opts;
    this.out = opts.out;
    this.startLimit = pLimit(Math.max(1, opts.maxConcurrentStarts ?? DEFAULT_SSH_OPTIONS.maxConcurrentStarts));
  }

  private sshConfig(): SshConfig {
    this.config ??= loadSshConfig(this.opts.sshConfigFile);
    return this.config;
  }

  /** What the transport would use for `target` (exported for `deliver check` and sshCommandFor). */
  resolve(target: Pick<HostTarget, 'host' | 'user' | 'port'>): ResolvedHost {
    return resolveHost(this.sshConfig(), target.host, {
      ...(target.user ? { user: target.user } : {}),
      ...(target.port ? { port: target.port } : {}),
    });
  }

  async connect(target: HostTarget): Promise<Backend> {
    const conn = await this.connection(target.name, target, undefined, 0);
    return new SshBackend(target, conn);
  }

  /** Connections currently pooled (alive or not), for tests and statistics. */
  get connectionCount(): number {
    return this.opened.length;
  }

  private connection(
    label: string,
    spec: Pick<HostTarget, 'host' | 'user' | 'port'>,
    chainOverride: string[] | undefined,
    depth: number,
  ): Promise<SshConnection> {
    if (depth > MAX_JUMP_DEPTH) {
      return Promise.reject(new ConfigError(this.sshConfig().file ?? 'ssh config', undefined, `ProxyJump chain for ${label} is longer than ${MAX_JUMP_DEPTH} hops (a loop?)`));
    }
    let resolved: ResolvedHost;
    try {
      resolved = this.resolve(spec);
    } catch (err) {
      return Promise.reject(err);
    }
    const chain = chainOverride ?? resolved.proxyJump ?? [];
    // Same address reached another way (jump chain, proxy command) is another connection.
    const route = chain.length ? ` via ${chain.join(',')}` : resolved.proxyCommand ? ` via proxy ${resolved.proxyCommand}` : '';
    const key = `${resolved.user}@${resolved.hostName}:${resolved.port}${route}`;
    const existing = this.pool.get(key);
    if (existing) {
      return existing.then((c) => {
        if (c.alive) return c;
        if (this.pool.get(key) === existing) this.pool.delete(key); // reconnect after a dropped connection
        return this.connection(label, spec, chainOverride, depth);
      });
    }
    const promise = this.open(label, resolved, chain, depth);
    this.pool.set(key, promise);
    promise.catch(() => {
      if (this.pool.get(key) === promise) this.pool.delete(key); // a later connect() may try again
    });
    return promise;
  }

  private async open(label: string, r: ResolvedHost, chain: string[], depth: number): Promise<SshConnection> {
    // Through a jump host: its own pooled connection, reached the same way (chains recurse).
    let viaJump: SshConnection | undefined;
    let jumpName = '';
    if (chain.length > 0) {
      jumpName = chain[chain.length - 1]!;
      const hop = parseJumpSpec(jumpName);
      const before = chain.length > 1 ? chain.slice(0, -1) : undefined;
      try {
        viaJump = await this.connection(jumpName, hop, before, depth + 1);
      } catch (err) {
        if (err instanceof RemoteError) {
          throw new RemoteError(label, `jump host ${err.message}`, { ...(err.hint ? { hint: err.hint } : {}), cause: err });
        }
        throw err;
      }
    }

    const policy = this.policyFor(label, r);
    const explicitKnown = this.opts.knownHostsFiles ?? [];
    const verifierCtx = {
      label,
      host: r.hostKeyAlias ?? r.hostName,
      port: r.port,
      policy,
      readFiles: [...r.userKnownHostsFiles, ...explicitKnown, ...r.globalKnownHostsFiles],
      writeFile: r.userKnownHostsFiles[0] ?? explicitKnown[0] ?? join(homedir(), '.ssh', 'known_hosts'),
      ...(this.out ? { onRecorded: (m: string) => this.out!.warn(`${label}: ${m}`) } : {}),
    };
    const plan = await planAuth({
      label,
      username: r.user,
      explicitFiles: this.opts.identityFiles ?? [],
      configFiles: r.identityFiles,
      identitiesOnly: r.identitiesOnly,
      ...(r.identityAgent !== undefined ? { identityAgent: r.identityAgent } : {}),
    });
    const connectTimeoutMs = this.opts.connectTimeoutMs ?? r.connectTimeoutMs ?? DEFAULT_SSH_OPTIONS.connectTimeoutMs;
    const keepaliveMs = this.opts.keepaliveIntervalMs ?? r.serverAliveIntervalMs ?? DEFAULT_SSH_OPTIONS.keepaliveIntervalMs;
    const attempts = Math.max(1, this.opts.connectAttempts ?? DEFAULT_SSH_OPTIONS.connectAttempts);
    const address = `${r.user}@${r.hostName}:${r.port}`;
    const generation = this.generation;

    for (let attempt = 1; ; attempt++) {
      // Each attempt holds a start slot only for its own handshake, not for the backoff sleep.
      const verifier = await prepareHostKeyVerifier(verifierCtx);
      plan.tried = [];
      try {
        // The server's slot first, then the global one: a handshake queued behind its own server holds no global slot.
        const client = await this.serverLimit(r)(() =>
          this.startLimit(async () => {
            const sock = viaJump
              ? await forward(viaJump, r.hostName, r.port)
              : r.proxyCommand
                ? spawnProxyCommand(expandProxyCommand(r.proxyCommand, { host: r.hostName, port: r.port, user: r.user, alias: r.alias }))
                : undefined;
            return handshake({
              host: r.hostName,
              port: r.port,
              username: r.user,
              ...(sock ? { sock } : {}),
              ...(plan.agentSocket ? { agent: plan.agentSocket } : {}),
              authHandler: authHandlerFor(plan),
              hostVerifier: verifier.verify,
              algorithms: { serverHostKey: verifier.serverHostKey as never },
              readyTimeout: connectTimeoutMs,
              keepaliveInterval: keepaliveMs,
              keepaliveCountMax: r.serverAliveCountMax ?? 3,
            });
          }),
        );
        this.handshakes++;
        const conn = new SshConnection(client, address);
        if (generation !== this.generation) {
          void conn.close();
          throw new RemoteError(label, 'connection closed: the transport was closed while connecting');
        }
        this.opened.push({ conn, ...(viaJump ? { via: viaJump } : {}) });
        this.out?.debug(`${label}: connected to ${address}${viaJump ? ` via ${jumpName}` : r.proxyCommand ? ' via ProxyCommand' : ''}`);
        return conn;
      } catch (err) {
        const refused = verifier.failure();
        if (refused) throw refused;
        if (isAuthFailure(err)) throw authFailure(label, plan, r.hostName, r.port);
        if (err instanceof DeliverError) throw err;
        if (!isRetryableConnectError(err) || attempt >= attempts) {
          const tries = attempt > 1 ? ` (after ${attempt} attempts)` : '';
          const via = viaJump ? ` via ${jumpName}` : r.proxyCommand ? ' via ProxyCommand' : '';
          const why = r.proxyCommand && /^ProxyCommand/.test((err as Error)?.message ?? '') ? (err as Error).message : describeConnectError(err);
          throw new RemoteError(label, `cannot connect to ${r.hostName}:${r.port}${via}: ${why}${tries}`, {
            cause: err,
          });
        }
        this.out?.debug(`${label}: ${describeConnectError(err)}; retrying (attempt ${attempt + 1} of ${attempts})`);
        await sleep(backoffMs(attempt));
      }
    }
  }

  /** The handshake slots of the sshd that `r`'s connection logs in to (see MAX_STARTS_PER_SERVER). */
  private serverLimit(r: ResolvedHost): ReturnType<typeof pLimit> {
    const key = r.proxyCommand ? 'ProxyCommand' : `${r.hostName}:${r.port}`;
    let limit = this.serverLimits.get(key);
    if (!limit) this.serverLimits.set(key, (limit = pLimit(MAX_STARTS_PER_SERVER)));
    return limit;
  }

  private policyFor(label: string, r: ResolvedHost): HostKeyPolicy {
    if (this.opts.hostKeyPolicy) return this.opts.hostKeyPolicy;
    switch (r.strictHostKeyChecking) {
      case 'accept-new':
        return 'accept-new';
      case 'no':
        if (!this.warned.has(r.hostName)) {
          this.warned.add(r.hostName);
          this.out?.warn(
            `${label}: ssh config says StrictHostKeyChecking no; deliver treats it as accept-new (new keys are recorded, changed keys are still refused)`,
          );
        }
        return 'accept-new';
      default:
        return 'strict';
    }
  }

  async closeAll(): Promise<void> {
    this.generation++;
    const opened = this.opened.splice(0);
    this.pool.clear();
    // All at once (one by one, 16 hosts took ~20 ms at the end of every command), tunnels before their jump hosts.
    for (const layer of closingLayers(opened)) await Promise.all(layer.map((c) => c.close()));
  }
}

/**
 * Connections in the order they can be closed, as layers closed together: each layer holds every connection that no
 * remaining one tunnels through (a jump host closes after all of its tunnels).
 */
export function closingLayers<T>(opened: readonly { conn: T; via?: T }[]): T[][] {
  const layers: T[][] = [];
  let left = [...opened];
  while (left.length > 0) {
    const jumps = new Set(left.map((o) => o.via));
    const now = left.filter((o) => !jumps.has(o.conn));
    if (now.length === 0) {
      layers.push(left.map((o) => o.conn)); // a cycle cannot happen (a jump host is opened first); never spin on one
      break;
    }
    layers.push(now.map((o) => o.conn));
    left = left.filter((o) => jumps.has(o.conn));
  }
  return layers;
}

function isAuthFailure(err: unknown): boolean {
  const e = err as { level?: unknown };
  return e?.level === 'client-authentication';
}

/** Opens a TCP tunnel from the jump host's connection to host:port (ssh -W). */
function forward(via: SshConnection, host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    via.client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
      if (err) return reject(err);
      via.channels++;
      resolve(stream);
    });
  });
}

type ConnectConfig = Parameters<ClientType['connect']>[0];

/** One SSH handshake; resolves once authenticated. Errors keep ssh2's `level` for classification. */
function handshake(cfg: ConnectConfig): Promise<ClientType> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      if (err) {
        client.removeAllListeners('ready');
        client.on('error', () => undefined); // late errors from the dead socket must not crash the process
        client.destroy();
        reject(err);
      } else {
        resolve(client);
      }
    };
    client.once('ready', () => finish());
    client.on('error', (err: Error & { level?: string }) => {
      if (err.level === 'agent') return; // agent trouble: ssh2 moves on to the next key by itself
      finish(err);
    });
    client.once('close', () => finish(new HandshakeClosedError()));
    try {
      client.connect(cfg);
      // Without TCP_NODELAY, Nagle holds a small packet until the last one is acknowledged, and the server delays
      // that ACK (40 ms on Linux): the key exchange and the userauth service request each stalled 40 ms, and so did
      // later small requests. (A jump-host channel or ProxyCommand pipe has no such setting: no-op there.)
      client.setNoDelay(true);
    } catch (err) {
      finish(err as Error);
    }
  });
}

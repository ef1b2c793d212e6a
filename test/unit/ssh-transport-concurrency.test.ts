// How connections open and close together. Handshakes at once: up to 16 to different servers, but never more than
// 8 to one sshd (its MaxStartups drops new unauthenticated connections beyond 10). Real TCP listeners that accept
// and never answer hold every handshake open until its timeout (1.5 s): connections arriving before the first
// timeout were in flight together. Closing: all at once, tunnels before their jump hosts.
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { closingLayers, SshTransport } from '../../src/ssh/transport.js';
import type { HostTarget } from '../../src/ssh/types.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

interface Silent {
  server: Server;
  port: number;
  /** When each connection arrived (ms, performance.now()). */
  arrivals: number[];
}

const TIMEOUT_MS = 1500;

/** Connections that arrived before the first handshake could have timed out. */
const firstWave = (arrivals: number[], since: number) => arrivals.filter((t) => t - since < TIMEOUT_MS / 2).length;

const servers: Silent[] = [];
const sockets: Socket[] = [];

async function silentServer(): Promise<Silent> {
  const s: Silent = { server: createServer(), port: 0, arrivals: [] };
  s.server.on('connection', (sock) => {
    sockets.push(sock);
    s.arrivals.push(performance.now());
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
  s.port = (s.server.address() as { port: number }).port;
  servers.push(s);
  return s;
}

function identity(): string {
  const dir = tmp('starts-');
  const file = join(dir, 'id_ed25519');
  writeFileSync(file, ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
  return file;
}

function transport(): SshTransport {
  return new SshTransport({ sshConfigFile: null, identityFiles: [identity()], connectTimeoutMs: TIMEOUT_MS, connectAttempts: 1, hostKeyPolicy: 'strict' });
}

afterEach(async () => {
  for (const sock of sockets.splice(0)) sock.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.server.close(resolve))));
});

describe('SSH handshakes at once', () => {
  it('never more than 8 to one sshd, even for 12 targets there (different users)', async () => {
    const one = await silentServer();
    const t = transport();
    const targets: HostTarget[] = Array.from({ length: 12 }, (_, i) => ({ name: `n${i}`, host: '127.0.0.1', port: one.port, user: `u${i}` }));
    const t0 = performance.now();
    const results = await Promise.allSettled(targets.map((x) => t.connect(x)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true); // the silent server never answers
    expect(one.arrivals).toHaveLength(12);
    expect(firstWave(one.arrivals, t0)).toBe(8);
  });

  it('all 12 at once to 12 different servers', async () => {
    const many = await Promise.all(Array.from({ length: 12 }, () => silentServer()));
    const t = transport();
    const t0 = performance.now();
    const results = await Promise.allSettled(many.map((s, i) => t.connect({ name: `h${i}`, host: '127.0.0.1', port: s.port, user: 'deploy' })));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(firstWave(many.flatMap((s) => s.arrivals), t0)).toBe(12);
  });
});

describe('closing connections', () => {
  it('closes all at once, tunnels before the jump hosts they run through (chains too)', () => {
    const [a, b, c, bastion, inner, outer] = ['a', 'b', 'c', 'bastion', 'inner-bastion', 'outer-bastion'];
    expect(closingLayers([{ conn: a }, { conn: b }, { conn: c }])).toEqual([[a, b, c]]);
    // outer-bastion → inner-bastion → c; bastion → a, b
    const layers = closingLayers([
      { conn: bastion },
      { conn: a, via: bastion },
      { conn: outer },
      { conn: inner, via: outer },
      { conn: b, via: bastion },
      { conn: c, via: inner },
    ]);
    expect(layers).toEqual([[a, b, c], [bastion, inner], [outer]]);
    expect(closingLayers([])).toEqual([]);
  });
});

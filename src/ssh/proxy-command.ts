// ssh_config `ProxyCommand`: the command's stdin/stdout become the SSH connection's socket (cloudflared,
// AWS SSM, `ssh -W`, corporate proxies). It runs under /bin/sh with OpenSSH's %-tokens expanded.
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { UsageError } from '../output/errors.js';
import { isPlainWord, quote } from './quote.js';

export interface ProxyTokens {
  /** %h: the host name to reach. */
  host: string;
  /** %p */
  port: number;
  /** %r: remote user. */
  user: string;
  /** %n: the name as given (alias). */
  alias: string;
}

const TOKEN_NAMES: Record<string, string> = { h: 'host', p: 'port', r: 'user', n: 'host alias' };

/**
 * Expands %h %p %r %n %% like OpenSSH does for ProxyCommand. The values are not quoted (as in OpenSSH), so one holding
 * shell syntax or starting with `-` is refused, as OpenSSH ≥ 9.6 does: it would run as part of the command.
 */
export function expandProxyCommand(command: string, t: ProxyTokens): string {
  return command.replace(/%([hprn%])/g, (_m, c: string) => {
    if (c === '%') return '%';
    const value = { h: t.host, p: String(t.port), r: t.user, n: t.alias }[c]!;
    if (!isPlainWord(value)) {
      throw new UsageError(`ProxyCommand: the ${TOKEN_NAMES[c]} ${JSON.stringify(value)} (%${c}) holds characters the shell would interpret; refusing to run it`);
    }
    return value;
  });
}

/**
 * Starts the proxy command; the returned stream is its stdio and dies with it. Its exit status decides how the
 * stream ends, so a failing proxy reports its own stderr instead of a bare EPIPE from writing to it.
 */
export function spawnProxyCommand(command: string): Duplex {
  const child = spawn('/bin/sh', ['-c', `exec ${command}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderrTail: string[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderrTail.push(...s.split('\n').filter((l) => l.trim() !== ''));
    stderrTail.splice(0, Math.max(0, stderrTail.length - 5));
  });
  child.stdin.on('error', () => undefined); // EPIPE when the proxy exits: reported through its exit status
  const sock = new Duplex({
    read() {
      child.stdout.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      if (child.stdin.destroyed) return cb();
      child.stdin.write(chunk, () => cb());
    },
    final(cb) {
      child.stdin.end();
      cb();
    },
    destroy(err, cb) {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      cb(err);
    },
  });
  child.stdout.on('data', (d: Buffer) => {
    if (!sock.push(d)) child.stdout.pause();
  });
  child.on('error', (err) => sock.destroy(new Error(`ProxyCommand ${quote(command)} could not start: ${err.message}`)));
  child.on('close', (code) => {
    if (code !== 0 && code !== null) {
      const why = stderrTail.length > 0 ? `: ${stderrTail.join(' / ')}` : '';
      sock.destroy(Object.assign(new Error(`ProxyCommand exited with code ${code}${why}`), { code: 'ECONNRESET' }));
    } else if (!sock.destroyed) {
      sock.push(null);
    }
  });
  return sock;
}

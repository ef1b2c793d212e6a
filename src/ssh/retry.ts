// Which connection failures are worth another attempt. Only failures before a session exists qualify
// (refused, reset, timeout, sshd's MaxStartups drop during the handshake): a command that ran and failed, a
// rejected host key or a refused login are never retried.

const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED']);

export class HandshakeClosedError extends Error {
  readonly code = 'ECONNRESET';
  constructor() {
    super('connection closed by the server during the handshake');
  }
}

export function isRetryableConnectError(err: unknown): boolean {
  const e = err as { code?: unknown; level?: unknown; message?: unknown; reason?: unknown };
  if (typeof e?.code === 'string' && RETRYABLE_CODES.has(e.code)) return true;
  if (e?.level === 'client-timeout') return true;
  // A jump host could not open the TCP connection onward (SSH channel open failure "connect failed").
  if (typeof e?.reason === 'number' && e.reason === 2) return true;
  if (typeof e?.message === 'string' && /Connection lost before handshake|read ECONNRESET|Connection refused/i.test(e.message)) return true;
  return false;
}

/** Delay before attempt `n+1` (n ≥ 1): 250 ms doubling, capped at 4 s, with jitter so hosts do not retry in step. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(4000, 250 * 2 ** (attempt - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A readable reason for a low-level connect error. */
export function describeConnectError(err: unknown): string {
  const e = err as { code?: unknown; level?: unknown; message?: string };
  switch (e?.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is sshd running and the port right?)';
    case 'ECONNRESET':
      return 'connection reset by the server';
    case 'ETIMEDOUT':
      return 'TCP connect timed out';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENETUNREACH':
      return 'network unreachable';
    case 'ENOTFOUND':
      return 'host name not found (DNS)';
    case 'EAI_AGAIN':
      return 'DNS lookup failed temporarily';
  }
  if (e?.level === 'client-timeout') return 'timed out waiting for the SSH handshake';
  return e?.message ?? String(err);
}

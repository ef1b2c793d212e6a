import { describe, expect, it } from 'vitest';
import { backoffMs, describeConnectError, HandshakeClosedError, isRetryableConnectError } from '../../src/ssh/retry.js';

const err = (props: Record<string, unknown>) => Object.assign(new Error(String(props.message ?? 'x')), props);

describe('retry classification', () => {
  it('retries connection failures only', () => {
    expect(isRetryableConnectError(err({ code: 'ECONNREFUSED' }))).toBe(true);
    expect(isRetryableConnectError(err({ code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryableConnectError(err({ code: 'ETIMEDOUT' }))).toBe(true);
    expect(isRetryableConnectError(err({ level: 'client-timeout', message: 'Timed out while waiting for handshake' }))).toBe(true);
    expect(isRetryableConnectError(new HandshakeClosedError())).toBe(true);
    expect(isRetryableConnectError(err({ reason: 2, message: '(SSH) Channel open failure: Connection refused' }))).toBe(true);
    expect(isRetryableConnectError(err({ level: 'client-authentication', message: 'All configured authentication methods failed' }))).toBe(false);
    expect(isRetryableConnectError(err({ code: 'ENOTFOUND' }))).toBe(false);
    expect(isRetryableConnectError(err({ message: 'Host denied (verification failed)' }))).toBe(false);
  });

  it('backs off exponentially with jitter and a cap', () => {
    expect(backoffMs(1, () => 0.5)).toBe(250);
    expect(backoffMs(2, () => 0.5)).toBe(500);
    expect(backoffMs(3, () => 0)).toBe(750);
    expect(backoffMs(20, () => 1)).toBe(5000);
  });

  it('describes errors for people', () => {
    expect(describeConnectError(err({ code: 'ECONNREFUSED' }))).toMatch(/connection refused/);
    expect(describeConnectError(err({ level: 'client-timeout' }))).toBe('timed out waiting for the SSH handshake');
  });
});

import { describe, expect, it } from 'vitest';
import { expandProxyCommand, spawnProxyCommand } from '../../src/ssh/proxy-command.js';

describe('ProxyCommand', () => {
  it('expands %h %p %r %n %%', () => {
    expect(expandProxyCommand('nc -X 5 %h %p # %r %n 100%%', { host: '10.0.0.5', port: 2222, user: 'deploy', alias: 'web' })).toBe(
      'nc -X 5 10.0.0.5 2222 # deploy web 100%',
    );
  });

  it('refuses a user, host or alias holding shell syntax or starting with -, as OpenSSH >= 9.6 does', () => {
    const t = { host: 'web1', port: 22, user: 'deploy', alias: 'web' };
    expect(() => expandProxyCommand('nc %h %p # %r', { ...t, user: 'a;touch pwned' })).toThrow(
      'ProxyCommand: the user "a;touch pwned" (%r) holds characters the shell would interpret; refusing to run it',
    );
    expect(() => expandProxyCommand('nc %h %p', { ...t, host: '$(id)' })).toThrow(/the host "\$\(id\)" \(%h\)/);
    expect(() => expandProxyCommand('ssh -W %h:%p %n', { ...t, alias: '-oProxyCommand=x' })).toThrow(/host alias/);
    expect(() => expandProxyCommand('nc %h %p # %r', { ...t, user: 'a`id`' })).toThrow(/%r/);
    // Tokens the command does not use are not checked.
    expect(expandProxyCommand('nc %h %p', { ...t, user: 'a;b' })).toBe('nc web1 22');
  });

  it('is a duplex over the command\'s stdin/stdout', async () => {
    const sock = spawnProxyCommand('cat');
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.write('hello ');
    sock.end('proxy');
    await new Promise((r) => sock.on('end', r));
    expect(Buffer.concat(chunks).toString()).toBe('hello proxy');
  });

  it('a failing command errors with its exit code and stderr, not EPIPE', async () => {
    const sock = spawnProxyCommand(`sh -c 'echo "no route" >&2; exit 4'`);
    const err = await new Promise<Error>((resolve) => {
      sock.on('error', resolve);
      sock.write('SSH-2.0-test\r\n');
    });
    expect(err.message).toBe('ProxyCommand exited with code 4: no route');
  });
});

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitSshCommand, sshCommandFor } from '../../src/ssh/ssh-command.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

const dir = tmp('sshcmd-');
// With no UserKnownHostsFile in the config, the $HOME files are named explicitly (OpenSSH itself would read the
// passwd home's instead, which differs from the ssh2 transport's when HOME is overridden).
const homeKnown = `UserKnownHostsFile=${join(process.env.HOME ?? '', '.ssh', 'known_hosts')} ${join(process.env.HOME ?? '', '.ssh', 'known_hosts2')}`;
const cfg = join(dir, 'config');
writeFileSync(cfg, 'Host build\n  UserKnownHostsFile /etc/kh-a\nHost lax\n  StrictHostKeyChecking no\n');

describe('sshCommandFor', () => {
  it('passes config file, port, identities, known_hosts and the policy', () => {
    const argv = sshCommandFor(
      { name: 'deploy@build:2222', host: 'build', user: 'deploy', port: 2222 },
      { sshConfigFile: cfg, identityFiles: ['/k/id_a', '/k/id b'], knownHostsFiles: ['/kh/extra'], connectTimeoutMs: 3000 },
    );
    expect(argv).toEqual([
      'ssh', '-F', cfg, '-p', '2222', '-i', '/k/id_a', '-i', '/k/id b',
      '-o', 'UserKnownHostsFile=/etc/kh-a /kh/extra',
      '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=3',
      '-l', 'deploy', '--', 'build',
    ]);
  });

  it('maps accept-new (explicit or from ssh config) and never disables checking', () => {
    expect(sshCommandFor({ name: 'h', host: 'h' }, { sshConfigFile: null, hostKeyPolicy: 'accept-new' })).toEqual([
      'ssh', '-F', '/dev/null', '-o', homeKnown, '-o', 'StrictHostKeyChecking=accept-new', '-o', 'BatchMode=yes', '--', 'h',
    ]);
    expect(sshCommandFor({ name: 'lax', host: 'lax' }, { sshConfigFile: cfg })).toContain('StrictHostKeyChecking=accept-new');
  });

  it('the user goes in -l and -- ends the options: no user or host is ever read as an option', () => {
    const argv = sshCommandFor({ name: 'x', host: 'web1', user: '-oProxyCommand=touch_pwned' }, { sshConfigFile: null });
    expect(argv.slice(-4)).toEqual(['-l', '-oProxyCommand=touch_pwned', '--', 'web1']);
    expect(sshCommandFor({ name: 'x', host: '-oProxyCommand=x' }, { sshConfigFile: null }).slice(-2)).toEqual(['--', '-oProxyCommand=x']);
  });

  it('quotes paths with spaces inside -o values', () => {
    const argv = sshCommandFor({ name: 'h', host: 'h' }, { sshConfigFile: null, knownHostsFiles: ['/my dir/kh'] });
    expect(argv).toContain('UserKnownHostsFile=' + join(process.env.HOME ?? '', '.ssh', 'known_hosts') + ' ' + join(process.env.HOME ?? '', '.ssh', 'known_hosts2') + ' "/my dir/kh"');
  });

  it('gitSshCommand is a shell-quoted command without destination', () => {
    expect(gitSshCommand({ name: 'b', host: 'b', port: 2200 }, { sshConfigFile: null, identityFiles: ["/k/it's"] })).toBe(
      `ssh -F /dev/null -p 2200 -i '/k/it'\\''s' -o '${homeKnown}' -o StrictHostKeyChecking=yes -o BatchMode=yes`,
    );
  });
});

describe('sshCommandFor without an explicit config file', () => {
  it('names $HOME/.ssh/config for OpenSSH when it exists, so system ssh and the ssh2 transport agree', () => {
    const home = tmp('sshhome-');
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      expect(sshCommandFor({ name: 'h', host: 'h' })).not.toContain('-F');
      mkdirSync(join(home, '.ssh'));
      writeFileSync(join(home, '.ssh', 'config'), 'Host h\n  Port 2201\n');
      const argv = sshCommandFor({ name: 'h', host: 'h' });
      expect(argv.slice(0, 3)).toEqual(['ssh', '-F', join(home, '.ssh', 'config')]);
      expect(argv).toContain(`UserKnownHostsFile=${join(home, '.ssh', 'known_hosts')} ${join(home, '.ssh', 'known_hosts2')}`);
    } finally {
      process.env.HOME = saved;
    }
  });
});

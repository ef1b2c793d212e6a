import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/output/errors.js';
import { parseJumpSpec, resolveHost, splitArgs, SshConfig } from '../../src/ssh/ssh-config.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

const HOME = '/home/alice';
const opts = { home: HOME, localUser: 'alice' };
const parse = (text: string) => SshConfig.parse(text, '/home/alice/.ssh/config', { home: HOME });

describe('ssh config: Host blocks', () => {
  const cfg = parse(`
# comment
Host web-*  !web-bad
  HostName %h.example.com
  User deploy
  Port 2222
  IdentityFile ~/.ssh/web_key

Host web-1 db
  User first-wins-is-not-this
  Port=2200
  IdentityFile "~/.ssh/second key"

Host *
  User fallback
  IdentityFile ~/.ssh/id_%r_%h
  IdentitiesOnly yes
  ConnectTimeout 7
  ServerAliveInterval 30
`);

  it('applies wildcard patterns with first-obtained-value-wins and accumulates IdentityFile', () => {
    const r = resolveHost(cfg, 'web-1', opts);
    expect(r.hostName).toBe('web-1.example.com');
    expect(r.user).toBe('deploy');
    expect(r.port).toBe(2222);
    expect(r.identityFiles).toEqual([
      '/home/alice/.ssh/web_key',
      '/home/alice/.ssh/second key',
      '/home/alice/.ssh/id_deploy_web-1.example.com',
    ]);
    expect(r.identitiesOnly).toBe(true);
    expect(r.connectTimeoutMs).toBe(7000);
    expect(r.serverAliveIntervalMs).toBe(30000);
  });

  it('a matching negated pattern vetoes the block', () => {
    const r = resolveHost(cfg, 'web-bad', opts);
    expect(r.hostName).toBe('web-bad');
    expect(r.user).toBe('fallback');
    expect(r.port).toBe(22);
  });

  it('matches any of several patterns on one Host line, case-insensitively', () => {
    const r = resolveHost(cfg, 'DB', opts);
    expect(r.user).toBe('first-wins-is-not-this');
    expect(r.port).toBe(2200);
  });

  it('explicit user and port win over the config (like ssh -p / user@)', () => {
    const r = resolveHost(cfg, 'web-2', { ...opts, user: 'root', port: 22 });
    expect(r.user).toBe('root');
    expect(r.port).toBe(22);
    expect(r.identityFiles).toContain('/home/alice/.ssh/id_root_web-2.example.com');
  });

  it('defaults: local user, port 22, known_hosts in the home directory', () => {
    const r = resolveHost(SshConfig.empty(), 'plain', opts);
    expect(r).toMatchObject({ hostName: 'plain', user: 'alice', port: 22, identityFiles: [], identitiesOnly: false });
    expect(r.userKnownHostsFiles).toEqual(['/home/alice/.ssh/known_hosts', '/home/alice/.ssh/known_hosts2']);
    expect(r.userKnownHostsFilesSet).toBe(false);
  });
});

describe('ssh config: host key and jump options', () => {
  it('maps StrictHostKeyChecking values', () => {
    const cfg = parse('Host a\n StrictHostKeyChecking accept-new\nHost b\n StrictHostKeyChecking no\nHost c\n StrictHostKeyChecking yes\nHost d\n StrictHostKeyChecking off\n');
    expect(resolveHost(cfg, 'a', opts).strictHostKeyChecking).toBe('accept-new');
    expect(resolveHost(cfg, 'b', opts).strictHostKeyChecking).toBe('no');
    expect(resolveHost(cfg, 'c', opts).strictHostKeyChecking).toBe('yes');
    expect(resolveHost(cfg, 'd', opts).strictHostKeyChecking).toBe('no');
    expect(resolveHost(cfg, 'e', opts).strictHostKeyChecking).toBeUndefined();
  });

  it('reads several UserKnownHostsFile paths and `none`', () => {
    const cfg = parse('Host a\n UserKnownHostsFile ~/.ssh/kh1 /etc/kh2\nHost b\n UserKnownHostsFile none\n');
    const a = resolveHost(cfg, 'a', opts);
    expect(a.userKnownHostsFiles).toEqual(['/home/alice/.ssh/kh1', '/etc/kh2']);
    expect(a.userKnownHostsFilesSet).toBe(true);
    expect(resolveHost(cfg, 'b', opts).userKnownHostsFiles).toEqual([]);
  });

  it('reads ProxyJump chains and `none`, and HostKeyAlias', () => {
    const cfg = parse('Host inner\n ProxyJump bastion,ops@jump2:2022\n HostKeyAlias inner-key\nHost bastion\n ProxyJump none\nHost *\n ProxyJump gateway\n');
    expect(resolveHost(cfg, 'inner', opts).proxyJump).toEqual(['bastion', 'ops@jump2:2022']);
    expect(resolveHost(cfg, 'inner', opts).hostKeyAlias).toBe('inner-key');
    expect(resolveHost(cfg, 'bastion', opts).proxyJump).toBeUndefined();
    expect(resolveHost(cfg, 'other', opts).proxyJump).toEqual(['gateway']);
  });

  it('parses jump specs', () => {
    expect(parseJumpSpec('bastion')).toEqual({ host: 'bastion' });
    expect(parseJumpSpec('ops@jump:2022')).toEqual({ host: 'jump', user: 'ops', port: 2022 });
    expect(parseJumpSpec('ssh://ops@[::1]:2200')).toEqual({ host: '::1', user: 'ops', port: 2200 });
    expect(() => parseJumpSpec('ops@jump:99999')).toThrow(ConfigError);
  });

  it('keeps ProxyCommand verbatim (quotes intact) and lets ProxyJump win', () => {
    const cfg = parse('Host a\n ProxyCommand sh -c "nc %h %p" # not a comment for the shell\nHost b\n ProxyJump j\n ProxyCommand nc %h %p\n');
    expect(resolveHost(cfg, 'a', opts).proxyCommand).toBe('sh -c "nc %h %p" # not a comment for the shell');
    expect(resolveHost(cfg, 'b', opts).proxyCommand).toBeUndefined();
  });

  it('IdentityAgent none/path', () => {
    const cfg = parse('Host a\n IdentityAgent none\nHost b\n IdentityAgent ~/agent.sock\n');
    expect(resolveHost(cfg, 'a', opts).identityAgent).toBeNull();
    expect(resolveHost(cfg, 'b', opts).identityAgent).toBe('/home/alice/agent.sock');
  });
});

describe('ssh config: Match and Include', () => {
  it('evaluates Match host/originalhost/user/all and skips exec', () => {
    const cfg = parse(
      'Host short\n HostName long.example.com\nMatch host *.example.com\n Port 2201\nMatch originalhost short user deploy\n User never\nMatch exec "true"\n Port 1\nMatch all\n User everyone\n',
    );
    const r = resolveHost(cfg, 'short', opts);
    expect(r.port).toBe(2201);
    expect(r.user).toBe('everyone');
  });

  it('follows Include relative to ~/.ssh with globs, only inside matching blocks', () => {
    const home = tmp('sshcfg-');
    mkdirSync(join(home, '.ssh', 'conf.d'), { recursive: true });
    writeFileSync(join(home, '.ssh', 'conf.d', 'a.conf'), 'Host inc-a\n  Port 2001\n');
    writeFileSync(join(home, '.ssh', 'conf.d', 'b.conf'), 'Host inc-b\n  Port 2002\n');
    writeFileSync(join(home, '.ssh', 'only-for-x'), 'User from-include\n');
    writeFileSync(
      join(home, '.ssh', 'config'),
      'Include conf.d/*.conf\nHost x\n  Include only-for-x\nHost y\n  Include only-for-x\n  User y-user\n',
    );
    const cfg = SshConfig.load(join(home, '.ssh', 'config'), { home });
    expect(resolveHost(cfg, 'inc-a', { home }).port).toBe(2001);
    expect(resolveHost(cfg, 'inc-b', { home }).port).toBe(2002);
    expect(resolveHost(cfg, 'x', { home }).user).toBe('from-include');
    expect(resolveHost(cfg, 'y', { home }).user).toBe('from-include');
    expect(resolveHost(cfg, 'z', { home, localUser: 'me' }).user).toBe('me');
  });

  it('a missing config file is an empty config', () => {
    const cfg = SshConfig.load('/nonexistent/dir/config');
    expect(resolveHost(cfg, 'h', opts).hostName).toBe('h');
  });
});

describe('ssh config: errors name file and line', () => {
  it('bad port', () => {
    const cfg = parse('Host a\n\n  Port abc\n');
    expect(() => resolveHost(cfg, 'a', opts)).toThrow('/home/alice/.ssh/config:3: Port must be 1-65535, got "abc"');
  });
  it('unterminated quote', () => {
    expect(() => parse('Host a\n  IdentityFile "oops\n')).toThrow('/home/alice/.ssh/config:2: unterminated " quote');
  });
  it('bad yes/no and unknown token', () => {
    expect(() => resolveHost(parse('Host a\n IdentitiesOnly maybe\n'), 'a', opts)).toThrow(/config:2: IdentitiesOnly must be yes or no/);
    expect(() => resolveHost(parse('Host a\n IdentityFile ~/%Z\n'), 'a', opts)).toThrow(/config:2: unsupported token %Z/);
  });
});

describe('splitArgs', () => {
  it('handles quotes, escapes and trailing comments', () => {
    expect(splitArgs(`a "b c" 'd e' f\\ g # comment`, 'f', 1)).toEqual(['a', 'b c', 'd e', 'f g']);
  });
});

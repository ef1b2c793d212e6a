// argv for the system `ssh` (and GIT_SSH_COMMAND for `git push` to the build host) with the same settings the
// ssh2 transport uses: same config file, port, identities, known_hosts files and host key policy. OpenSSH
// reads ~/.ssh/config itself, so only what deliver adds on top is passed explicitly.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { quote } from './quote.js';
import { loadSshConfig } from './transport.js';
import { resolveHost } from './ssh-config.js';
import type { HostKeyPolicy, HostTarget, SshOptions } from './types.js';

export type SshCommandOptions = Partial<SshOptions> & { hostKeyPolicy?: HostKeyPolicy };

function optionPath(p: string): string {
  // ssh -o values are split like config lines: quote paths with spaces
  return /[\s"]/.test(p) ? `"${p.replace(/(["\\])/g, '\\$1')}"` : p;
}

/** `ssh` options (without the destination) for `target`. */
export function sshOptionsFor(target: HostTarget, opts: SshCommandOptions = {}): string[] {
  const argv: string[] = [];
  // OpenSSH reads the passwd entry's home, the ssh2 transport reads $HOME (os.homedir()): name the files explicitly
  // so both see the same ~/.ssh when HOME is set (CI, test beds, sudo -E).
  const defaultConfig = join(homedir(), '.ssh', 'config');
  const configFile = opts.sshConfigFile !== undefined ? opts.sshConfigFile : existsSync(defaultConfig) ? defaultConfig : undefined;
  if (configFile !== undefined) argv.push('-F', configFile === null ? '/dev/null' : configFile);
  if (target.port !== undefined) argv.push('-p', String(target.port));
  for (const f of opts.identityFiles ?? []) argv.push('-i', f);
  const resolved = resolveHost(loadSshConfig(configFile), target.host, {
    ...(target.user ? { user: target.user } : {}),
    ...(target.port ? { port: target.port } : {}),
  });
  // A command-line UserKnownHostsFile replaces the config's, so repeat those first (new keys still go there).
  const knownFiles = [...resolved.userKnownHostsFiles, ...(opts.knownHostsFiles ?? [])];
  if (knownFiles.length > 0) argv.push('-o', `UserKnownHostsFile=${knownFiles.map(optionPath).join(' ')}`);
  const policy: HostKeyPolicy =
    opts.hostKeyPolicy ?? (resolved.strictHostKeyChecking === 'accept-new' || resolved.strictHostKeyChecking === 'no' ? 'accept-new' : 'strict');
  argv.push('-o', `StrictHostKeyChecking=${policy === 'accept-new' ? 'accept-new' : 'yes'}`);
  argv.push('-o', 'BatchMode=yes'); // never prompt: deliver runs unattended
  if (opts.connectTimeoutMs !== undefined) argv.push('-o', `ConnectTimeout=${Math.max(1, Math.ceil(opts.connectTimeoutMs / 1000))}`);
  if (opts.keepaliveIntervalMs !== undefined) argv.push('-o', `ServerAliveInterval=${Math.max(1, Math.ceil(opts.keepaliveIntervalMs / 1000))}`);
  return argv;
}

/**
 * Full argv: `['ssh', ...options, '-l', user, '--', host]`. Append the remote command (built with `sh`) yourself.
 * The user goes in `-l` and `--` ends the options, so neither a user nor a host can ever be read as an option.
 */
export function sshCommandFor(target: HostTarget, opts: SshCommandOptions = {}): string[] {
  return ['ssh', ...sshOptionsFor(target, opts), ...(target.user ? ['-l', target.user] : []), '--', target.host];
}

/** A GIT_SSH_COMMAND value (git appends the destination and command itself). */
export function gitSshCommand(target: HostTarget, opts: SshCommandOptions = {}): string {
  return ['ssh', ...sshOptionsFor(target, opts)].map((a) => quote(a)).join(' ');
}

// The SSH layer's public surface: import from here rather than from individual files.
export * from './types.js';
export { sh, quote, raw, envPrefix, and, shC, Shell } from './quote.js';
export { createTransport, SshTransport, DEFAULT_SSH_OPTIONS, loadSshConfig, type TransportOptions } from './transport.js';
export { sshCommandFor, sshOptionsFor, gitSshCommand, type SshCommandOptions } from './ssh-command.js';
export { SshConfig, resolveHost, parseJumpSpec, type ResolvedHost } from './ssh-config.js';
export { fingerprint, knownHostName } from './known-hosts.js';

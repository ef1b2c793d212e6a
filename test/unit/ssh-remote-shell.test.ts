import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { remoteCommandLine } from '../../src/ssh/remote-shell.js';

// What sshd runs: the login shell (bash on the test bed) with `-c <line>`.
const viaLoginShell = (line: string) => execFileSync('bash', ['-c', `${line} 2>&1`], { encoding: 'utf8' });

describe('remoteCommandLine', () => {
  it('hands the script to /bin/sh, quoted once', () => {
    expect(remoteCommandLine(`echo 'a b' "$HOME"`)).toBe(`exec /bin/sh -c 'echo '\\''a b'\\'' "$HOME"'`);
    expect(remoteCommandLine('echo hi', { loginShell: true })).toBe('echo hi');
  });

  it('the login shell starts /bin/sh, which runs the script byte for byte (real bash and sh)', () => {
    expect(viaLoginShell(remoteCommandLine(`printf '%s|%s\\n' "$0" 'it'\\''s $HOME'`))).toBe(`/bin/sh|it's $HOME\n`);
    expect(viaLoginShell(remoteCommandLine('printf "%s\\n" "$0"', { loginShell: true }))).toBe('bash\n');
  });

  it('the PID marker names the process that runs the script: exec keeps the login shell\'s PID', () => {
    const out = viaLoginShell(remoteCommandLine('echo "pid:$$"', { pidMarker: true }));
    const [marker, own] = out.trim().split('\n');
    expect(marker).toMatch(/^deliver-pid:\d+$/);
    expect(own).toBe(`pid:${marker!.slice('deliver-pid:'.length)}`);
  });
});

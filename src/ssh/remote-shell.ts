// The command line a host's sshd receives for one of deliver's scripts. sshd hands it to the user's login shell
// (`$SHELL -c`); deliver's scripts are POSIX sh, so the login shell only starts them: `exec /bin/sh -c '…'`. The
// login shell still runs its start-up first (bash reads ~/.bashrc for ssh commands: PATH, exported variables), and
// the script then runs in the shell it is written for. Debian's and Ubuntu's /bin/sh (dash) also starts each of a
// script's processes in about half of bash's time (fork + exec of /bin/true measured 2.3 ms against 4.5 ms on the
// test bed), and a deploy starts 15-25 of them per host. The build host keeps the login shell (`loginShell`): its
// scripts source the user's PROFILE, which edeliver sourced with bash.
import { withPidMarker } from './pid-marker.js';
import { quote } from './quote.js';

export interface RemoteShellOptions {
  /** Print the shell's PID first (pid-marker.ts), so the command can be killed. */
  pidMarker?: boolean;
  /** Run the line with the login shell itself. */
  loginShell?: boolean;
}

export function remoteCommandLine(command: string, o: RemoteShellOptions = {}): string {
  const script = o.pidMarker ? withPidMarker(command) : command;
  // `exec` keeps the PID (the marker's, and the process group sshd made) and stdin (continuations read it).
  return o.loginShell ? script : `exec /bin/sh -c ${quote(script)}`;
}

// Commands that may need killing print `deliver-pid:<pid of the remote shell>` on stderr first, so a timeout or
// Ctrl-C can kill the remote process group (sshd ignores signal requests for root sessions). This separates that
// marker from the command's real stderr.

export const PID_MARK = 'deliver-pid:';
const PID_LINE = new RegExp(`^${PID_MARK}(\\d+)$`);
/** Give up looking for the marker after this much stderr (the command then simply cannot be killed remotely). */
const SCAN_LIMIT = 64 * 1024;

/** The shell prefix that prints the marker before `command` runs. */
export function withPidMarker(command: string): string {
  return `printf '${PID_MARK}%s\\n' "$$" >&2; ${command}`;
}

/**
 * Feeds stderr chunks; holds them back until the marker line is found, then forwards everything else.
 * Shell start-up files (a .bashrc writing to stderr) may print before the marker: those lines pass through.
 */
export class PidMarkerFilter {
  pid: number | undefined;
  private held: Buffer | undefined = Buffer.alloc(0);

  constructor(private readonly forward: (chunk: Buffer) => void) {}

  push(chunk: Buffer): void {
    if (this.held === undefined) return this.forward(chunk);
    const buf = Buffer.concat([this.held, chunk]);
    let start = 0;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, start)) {
      const m = PID_LINE.exec(buf.subarray(start, nl).toString('latin1'));
      if (m) {
        this.pid = Number(m[1]);
        this.held = undefined;
        const rest = Buffer.concat([buf.subarray(0, start), buf.subarray(nl + 1)]);
        if (rest.length > 0) this.forward(rest);
        return;
      }
      start = nl + 1;
    }
    this.held = buf;
    if (buf.length > SCAN_LIMIT) this.flush();
  }

  /** End of stream (or giving up): forward whatever is held. */
  flush(): void {
    const held = this.held;
    this.held = undefined;
    if (held !== undefined && held.length > 0) this.forward(held);
  }
}

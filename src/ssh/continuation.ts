// One remote shell in two halves. The command runs its first half, prints a line the caller waits for, and then
// reads the rest of its script (and any bytes that script consumes) from the same channel's stdin. The caller
// decides what the rest is from what the first half printed. A deploy so takes the lock, reads the host's state,
// receives the tarball and unpacks it in one remote session, where separate commands would each cost the host a
// new session and shell (on a busy host about as much as an OpenSSH login).
import { PassThrough, type Readable } from 'node:stream';
import { caseOf, chain, raw, type Shell } from './quote.js';
import type { Backend, ExecOptions, ExecResult } from './types.js';

/** Ends every script sent this way: a script cut short (the sender died) never matches, so nothing of it runs. */
const END = '#deliver-end';

/**
 * The remote half that reads `<bytes>\n<script>#deliver-end` from stdin and runs the script in this same shell
 * (its `exit N` ends the command with N; later stdin bytes are the script's own input). End of input, a bad
 * length or a truncated script: exit 0, nothing run. POSIX sh (dash, bash, busybox): `read`, `head -c`, `eval`.
 */
export function runScriptFromStdin(): Shell {
  return chain(
    raw('IFS= read -r deliver_n || exit 0'),
    caseOf(raw('"$deliver_n"'), [[raw(`''|*[!0-9]*`), raw('exit 0')]]),
    raw('deliver_s=$(head -c "$deliver_n")'),
    caseOf(raw('"$deliver_s"'), [
      [raw(`*'${END}'`), raw('eval "$deliver_s"')],
      [raw('*'), raw('exit 0')],
    ]),
  );
}

/** What runScriptFromStdin() reads for `script`. */
export function scriptInput(script: Shell): string {
  const body = `${script.text}\n${END}`;
  return `${Buffer.byteLength(body)}\n${body}`;
}

/** A remote command waiting, after its first half, for the rest of its script. */
export interface Paused {
  /** Stdout up to and including the line the caller waited for. */
  readonly head: string;
  /**
   * Sends the rest, then `data` as its stdin (bytes streamed with backpressure); resolves with the command's result,
   * whose stdout is what came after the head.
   */
  send(script: Shell, data?: Readable | string): Promise<ExecResult>;
  /** Ends stdin: the remote shell exits 0 without running anything more. */
  close(): Promise<ExecResult>;
}

export type Started = { paused: Paused; result?: undefined } | { paused?: undefined; result: ExecResult };

/**
 * Runs `command` (which must end in runScriptFromStdin() on the path that waits) until a stdout line satisfies
 * `pauseAt`: lines up to there are the head, later ones go to `opts.onStdout`. Returns the paused command, or its
 * result when it ended without pausing (e.g. a lock held by someone else). A rejection (connection lost,
 * interrupted) comes from whichever call is waiting on it.
 */
export async function execUntil(backend: Backend, command: string, pauseAt: (line: string) => boolean, opts: ExecOptions = {}): Promise<Started> {
  const input = new PassThrough();
  const head: string[] = [];
  let seen = false;
  let onPause: () => void = () => undefined;
  const paused = new Promise<'paused'>((resolve) => (onPause = () => resolve('paused')));
  const done = backend.exec(command, {
    ...opts,
    stdin: input,
    // Lines up to the pause are the head (returned, not passed on); the continuation's lines go to onStdout.
    onStdout: (line) => {
      if (seen) return opts.onStdout?.(line);
      head.push(line);
      if (pauseAt(line)) {
        seen = true;
        onPause();
      }
    },
  });
  done.catch(() => undefined); // observed by whoever awaits it below
  const first = await Promise.race([paused, done]);
  if (first !== 'paused') {
    input.destroy();
    return { result: first };
  }
  const headText = `${head.join('\n')}\n`;
  let used = false;
  const once = () => {
    if (used) throw new Error('a paused remote command takes one continuation');
    used = true;
  };
  return {
    paused: {
      head: headText,
      async send(script, data) {
        once();
        input.write(scriptInput(script));
        if (data === undefined) input.end();
        else if (typeof data === 'string') input.end(data);
        else {
          data.once('error', (err) => input.destroy(err));
          data.pipe(input);
        }
        try {
          const r = await done;
          // The result's stdout is the continuation's own (the head was returned when the command paused).
          return r.stdout.startsWith(headText) ? { ...r, stdout: r.stdout.slice(headText.length) } : r;
        } finally {
          // The remote side may end before reading everything (a failed step): stop reading the source.
          if (data !== undefined && typeof data !== 'string') {
            data.unpipe(input);
            data.destroy();
          }
          input.destroy();
        }
      },
      async close() {
        once();
        input.end();
        return done;
      },
    },
  };
}

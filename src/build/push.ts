// The one step that is not on the pooled connection: `git push` of the local commit to the build host's
// repository, with the system git and ssh (GIT_SSH_COMMAND carries the SSH layer's host key policy and identities).
import { spawn } from 'node:child_process';
import { DeliverError, InterruptedError } from '../output/errors.js';
import type { Output } from '../output/output.js';
import { LineRing } from '../ssh/capture.js';
import { ERROR_TAIL_LINES } from '../ssh/types.js';

export interface PushOptions {
  root: string;
  url: string;
  sha: string;
  branch: string;
  sshCommand: string;
  host: string;
  out: Output;
  signal?: AbortSignal;
}

/** `git push --force --tags -- <url> <sha>:refs/heads/<branch>`: the exact commit, unpushed commits included. */
export function pushArgs(url: string, sha: string, branch: string): string[] {
  return ['push', '--force', '--tags', '--quiet', '--', url, `${sha}:refs/heads/${branch}`];
}

export async function pushCommit(o: PushOptions): Promise<void> {
  if (o.signal?.aborted) throw new InterruptedError();
  const args = pushArgs(o.url, o.sha, o.branch);
  const tail = new LineRing(ERROR_TAIL_LINES);
  const child = spawn('git', args, {
    cwd: o.root,
    env: { ...process.env, GIT_SSH_COMMAND: o.sshCommand, GIT_SSH_VARIANT: 'ssh', GIT_TERMINAL_PROMPT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const s of [child.stdout, child.stderr]) {
    s.setEncoding('utf8');
    let buf = '';
    s.on('data', (d: string) => {
      buf += d;
      const lines = buf.split(/\r?\n|\r/);
      buf = lines.pop() ?? '';
      for (const l of lines) {
        tail.push(l);
        o.out.debug(l);
      }
    });
    s.on('end', () => buf !== '' && tail.push(buf));
  }
  const onAbort = () => child.kill('SIGTERM');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', (err) => reject(new DeliverError(`cannot run git push: ${err.message}`)));
    child.on('close', (c) => resolve(c ?? 1));
  });
  o.signal?.removeEventListener('abort', onAbort);
  if (o.signal?.aborted) throw new InterruptedError();
  if (code !== 0) {
    throw new DeliverError(`${o.host}: git push to the build host failed (exit status ${code})`, {
      detail: `command: git ${args.join(' ')}\n${tail.lines().join('\n')}`,
      hint: 'the push uses the same SSH settings as deliver (host key checked against known_hosts)',
    });
  }
}

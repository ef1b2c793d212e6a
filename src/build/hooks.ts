// edeliver hooks (`pre_erlang_get_and_update_deps() { ... }` in .deliver/config) run unchanged: a local
// `bash --noprofile --norc` gets the config's variables exported, the hook functions defined, and shims for
// edeliver's helpers. `__sync_remote "script"` sends the script to deliver over fd 3 (NUL-terminated) and reads the
// exit status back on fd 4; deliver runs it on the pooled build-host connection. Unlike edeliver, a failing hook
// stops the build and is named in the error.
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { HookDef } from '../config/types.js';
import { DeliverError, InterruptedError } from '../output/errors.js';
import type { Output } from '../output/output.js';
import { LineRing } from '../ssh/capture.js';
import { ERROR_TAIL_LINES } from '../ssh/types.js';

export interface HookRunOptions {
  /** Every function defined in the config (hooks and helpers they may call). */
  hooks: ReadonlyMap<string, HookDef>;
  /** Exported into the hook's environment (config variables and the build's: APP, BUILD_AT, VERSION, ...). */
  vars: Record<string, string>;
  /** Runs a `__sync_remote` script on the build host; resolves to its exit status. */
  syncRemote: (script: string, tail: LineRing) => Promise<number>;
  out: Output;
  signal?: AbortSignal;
  /** Working directory of the hook (the project). */
  cwd: string;
}

// Shims for edeliver's output helpers; `error` stops the hook like edeliver's did (exit 1).
const SHIMS = String.raw`
__sync_remote() {
  if [ "$#" -gt 1 ]; then echo "__sync_remote: deliver runs hook scripts on the build host only (got host $2)" >&2; fi
  printf '%s\0' "$1" >&3
  local __deliver_code
  IFS= read -r __deliver_code <&4 || __deliver_code=1
  if [ "$__deliver_code" != 0 ]; then
    echo "__sync_remote: the script failed on the build host (exit $__deliver_code)" >&2
    exit "$__deliver_code"
  fi
  return 0
}
status() { printf -- '-----> %s\n' "$*"; }
info() { printf '%s\n' "$*"; }
hint_message() { printf 'hint: %s\n' "$*"; }
warning() { printf 'warning: %s\n' "$*" >&2; }
error() { printf 'error: %s\n' "$*" >&2; exit 1; }
error_message() { printf 'error: %s\n' "$*" >&2; }
success() { printf '%s\n' "$*"; }
`;

/** The bash program for one hook: shims, every config function, then the hook call. */
export function hookProgram(name: string, hooks: ReadonlyMap<string, HookDef>): string {
  const defs = [...hooks.values()].map((h) => h.source).join('\n');
  return `${SHIMS}\n${defs}\n${name}\n`;
}

/** Variables a hook may read; names bash cannot export are left out. */
export function hookEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(vars)) if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) env[k] = v;
  return env;
}

/** Runs hook `name` if the config defines it. Returns false when it is not defined. Throws naming the hook on failure. */
export async function runHook(name: string, o: HookRunOptions): Promise<boolean> {
  const def = o.hooks.get(name);
  if (def === undefined) return false;
  if (o.signal?.aborted) throw new InterruptedError();
  const where = `${def.location.file}:${def.location.line}`;
  const tail = new LineRing(ERROR_TAIL_LINES);
  const child = spawn('bash', ['--noprofile', '--norc', '-c', hookProgram(name, o.hooks)], {
    cwd: o.cwd,
    env: hookEnv(o.vars),
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
  });
  const requests = child.stdio[3] as Readable;
  const replies = child.stdio[4] as Writable;
  replies.on('error', () => undefined); // the hook may exit without reading a reply
  requests.on('error', () => undefined);

  const relay = (stream: Readable, onLine: (l: string) => void) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    stream.on('end', () => {
      if (buf !== '') onLine(buf);
    });
  };
  relay(child.stdout as Readable, (l) => {
    tail.push(l);
    o.out.info(`  ${l}`);
  });
  relay(child.stderr as Readable, (l) => {
    tail.push(l);
    o.out.errorDetail(`  ${l}`);
  });

  // __sync_remote requests are handled one at a time (the hook waits for each reply).
  let pending: Buffer = Buffer.alloc(0);
  let chain: Promise<void> = Promise.resolve();
  let remoteError: unknown;
  requests.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    let nul: number;
    while ((nul = pending.indexOf(0)) >= 0) {
      const script = pending.subarray(0, nul).toString('utf8');
      pending = pending.subarray(nul + 1);
      chain = chain.then(async () => {
        let code = 1;
        try {
          code = await o.syncRemote(script, tail);
        } catch (err) {
          remoteError ??= err;
        }
        replies.write(`${code}\n`);
      });
    }
  });

  const onAbort = () => child.kill('SIGTERM');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', (err) => reject(new DeliverError(`hook ${name} (${where}): cannot start bash: ${err.message}`)));
    child.on('close', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
  });
  o.signal?.removeEventListener('abort', onAbort);
  await chain;
  if (o.signal?.aborted) throw new InterruptedError();
  if (remoteError !== undefined) {
    if (remoteError instanceof DeliverError) throw remoteError;
    throw new DeliverError(`hook ${name} (${where}) failed: ${(remoteError as Error).message}`, { cause: remoteError });
  }
  if (code !== 0) {
    throw new DeliverError(`hook ${name} (${where}) failed with exit status ${code}; the build stopped`, {
      detail: tail.lines().join('\n'),
      hint: 'deliver stops on failing hooks (edeliver ignored them); fix the hook or its __sync_remote script',
    });
  }
  return true;
}

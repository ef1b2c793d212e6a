// Per-host deploy lock: a directory created with `mkdir` (atomic on every file system), holding owner.json
// (who, where, pid, when, version, command). The holder refreshes the directory's mtime while it works (a heartbeat,
// keepLock); a lock not refreshed for the TTL, or whose holder process on this same machine is gone, is stale and
// broken with a warning; `--lock-wait` polls instead of failing at once.
import { hostname, userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { execUntil, runScriptFromStdin, type Paused } from '../ssh/continuation.js';
import { and, caseOf, chain, group, ifThen, or, sh, shellFunction, type Shell } from '../ssh/quote.js';
import { ensureDirsCommand } from './commands.js';
import { ERROR_TAIL_LINES, type Backend, type ExecOptions, type ExecResult } from '../ssh/types.js';
import { InterruptedError, RemoteError } from '../output/errors.js';
import type { Layout } from './layout.js';
import { tempId } from './layout.js';

export interface LockOwner {
  id: string;
  user: string;
  machine: string;
  pid: number;
  /** ISO time on the deploying machine. */
  at: string;
  command: string;
  version?: string;
}

export function newOwner(command: string, version?: string): LockOwner {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep $USER
  }
  return { id: tempId(), user, machine: hostname(), pid: process.pid, at: new Date().toISOString(), command, ...(version ? { version } : {}) };
}

/** `dirs`: more directories to create in the same `mkdir -p` (a deploy's incoming/ and releases/). */
export function acquireCommand(l: Layout, owner: LockOwner, dirs: string[] = []): Shell {
  return takeLock(l, owner, dirs, sh`true`);
}

/**
 * `mkdir -p` the parents (unless they all exist: no process on a redeploy), then the atomic `mkdir` of the lock.
 * Taken: owner.json, `ACQUIRED`, then `onTaken`; held by someone else: `HELD`, the host's clock, the lock's age and
 * its owner record, exit 0. A lock whose owner record cannot be written is removed again (it would otherwise look
 * like a dead deploy's for a minute).
 */
function takeLock(l: Layout, owner: LockOwner, dirs: string[], onTaken: Shell): Shell {
  const ownerFile = `${l.lock}/owner.json`;
  const taken = chain(
    or(sh`printf '%s\\n' ${JSON.stringify(owner)} > ${ownerFile}`, chain(sh`e=$?`, sh`rm -rf ${l.lock}`, sh`exit "$e"`)),
    sh`echo ACQUIRED`,
    onTaken,
  );
  const held = chain(sh`echo HELD`, sh`date +%s`, sh`stat -c %Y ${l.lock} 2>/dev/null || echo 0`, sh`cat ${ownerFile} 2>/dev/null`, sh`exit 0`);
  return chain(or(ensureDirsCommand([l.home, ...dirs]), sh`exit $?`), ifThen(sh`mkdir ${l.lock} 2>/dev/null`, taken, held));
}

/** A held lock as seen once: its age and owner, and `stamp`, the mtime (host clock, seconds) its age came from. */
export interface HeldLock {
  ageSeconds: number;
  stamp: number;
  owner?: LockOwner;
}

export type AcquireResult = { acquired: true } | ({ acquired: false } & HeldLock);

export function parseAcquire(stdout: string): AcquireResult {
  const lines = stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  if (lines[0] === 'ACQUIRED') return { acquired: true };
  if (lines[0] !== 'HELD') throw new Error(`unexpected lock output: ${stdout.slice(0, 200)}`);
  const now = Number(lines[1]);
  const since = Number(lines[2]);
  const stamp = Number.isFinite(since) && since > 0 ? since : 0;
  const ageSeconds = Number.isFinite(now) && stamp > 0 ? Math.max(0, now - stamp) : 0;
  let owner: LockOwner | undefined;
  try {
    const parsed = JSON.parse(lines.slice(3).join('\n')) as LockOwner;
    if (parsed && typeof parsed.id === 'string') owner = parsed;
  } catch {
    // owner.json not written yet (the holder is between mkdir and printf) or damaged
  }
  return owner ? { acquired: false, ageSeconds, stamp, owner } : { acquired: false, ageSeconds, stamp };
}

/** Why a held lock may be broken, or undefined when it must be respected. */
export function staleReason(
  held: { ageSeconds: number; owner?: LockOwner },
  opts: { ttlMs: number; machine: string; pidAlive: (pid: number) => boolean },
): string | undefined {
  if (held.ageSeconds * 1000 > opts.ttlMs) return `not refreshed for ${duration(held.ageSeconds)}, LOCK_TTL is ${duration(Math.round(opts.ttlMs / 1000))}`;
  const o = held.owner;
  if (o && o.machine === opts.machine && !opts.pidAlive(o.pid)) return `its process ${o.pid} on ${o.machine} is gone`;
  // A lock without owner.json older than a minute: its holder died between mkdir and writing the file.
  if (!o && held.ageSeconds > 60) return 'it has no owner record';
  return undefined;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Breaks the lock judged stale, and only that one: the same owner id (none for a lock without a readable record)
 * and the same mtime (not refreshed since). Checked before the move and again after it, on the directory moved
 * aside (a unique name: only one breaker gets it), so a heartbeat landing in between puts the lock back. Prints
 * BROKEN, or KEPT when the lock is not (or no longer) the judged one. Should a newcomer take the free name in that
 * instant, the put-back fails and the aside copy goes: its holder finds the lock lost at its next refresh.
 */
export function breakCommand(l: Layout, judged: { ownerId?: string | undefined; stamp: number }): Shell {
  const aside = `${l.lock}.stale-${tempId()}`;
  const id = judged.ownerId ? sh`*${`"id":"${judged.ownerId}"`}*` : sh`*`;
  const same = shellFunction(
    'deliver_judged',
    chain(
      sh`[ "$(stat -c %Y "$1" 2>/dev/null)" = ${String(judged.stamp)} ] || return 1`,
      sh`o=`,
      sh`[ -f "$1/owner.json" ] && IFS= read -r o 2>/dev/null < "$1/owner.json"`,
      caseOf(sh`"$o"`, [[id, sh`return 0`]]),
      sh`return 1`,
    ),
  );
  const putBack = chain(sh`mv -T ${aside} ${l.lock} 2>/dev/null || rm -rf ${aside}`, sh`echo KEPT`);
  const moved = ifThen(sh`deliver_judged ${aside}`, chain(sh`rm -rf ${aside}`, sh`echo BROKEN`), putBack);
  return chain(same, ifThen(sh`deliver_judged ${l.lock} && mv -T ${l.lock} ${aside} 2>/dev/null`, moved, sh`echo KEPT`));
}

/** `o=` and the one line of the lock's owner.json in it (empty when there is none). */
function readOwner(l: Layout): Shell[] {
  return [sh`o=`, sh`[ -f ${`${l.lock}/owner.json`} ] && IFS= read -r o < ${`${l.lock}/owner.json`}`];
}

/** `case "$o" in *"id":"ID"*) ours;; *) other;; esac` */
function ifOurs(ownerId: string, ours: Shell, other: Shell): Shell {
  return caseOf(sh`"$o"`, [
    [sh`*${`"id":"${ownerId}"`}*`, ours],
    [sh`*`, other],
  ]);
}

/**
 * The holder's heartbeat: touches the lock directory (its age is its mtime) while owner.json still names us.
 * Prints LOST when it does not (the lock was broken or removed); `touch -c` never creates a lock that is gone.
 */
export function refreshCommand(l: Layout, ownerId: string): Shell {
  return chain(...readOwner(l), ifOurs(ownerId, and(sh`touch -c ${l.lock}`, sh`echo REFRESHED`), sh`echo LOST`));
}

/**
 * Releases our own lock (never someone else's). owner.json is one line: read by the shell itself, no grep. `also`:
 * paths removed by the same `rm` (a deploy's upload, which is not needed once the release is unpacked).
 */
export function unlockCommand(l: Layout, ownerId: string, also: string[] = []): Shell {
  const other = also.length ? sh`rm -rf ${also}` : sh`true`;
  return chain(...readOwner(l), ifOurs(ownerId, sh`rm -rf ${l.lock} ${also}`, other));
}

/** `deliver unlock`: prints the owner record (if any) and removes the lock. */
export function forceUnlockCommand(l: Layout): Shell {
  return ifThen(sh`[ -d ${l.lock} ]`, chain(sh`cat ${l.lock}/owner.json 2>/dev/null`, sh`echo`, sh`rm -rf ${l.lock}`, sh`echo UNLOCKED`), sh`echo NOLOCK`);
}

function duration(seconds: number): string {
  return seconds < 120 ? `${seconds}s` : `${Math.round(seconds / 60)} min`;
}

export function describeOwner(o: LockOwner | undefined, ageSeconds: number): string {
  const age = duration(ageSeconds);
  if (!o) return `an unknown owner (lock taken ${age} ago, no owner record)`;
  return `${o.user}@${o.machine} (pid ${o.pid}, ${o.command}${o.version ? ` ${o.version}` : ''}, since ${o.at}, ${age} ago)`;
}

export interface AcquireOptions {
  /** Keep trying this long when the lock is held (0: fail at once). */
  waitMs: number;
  ttlMs: number;
  signal?: AbortSignal;
  warn: (message: string) => void;
  /** Called once when we start waiting. */
  onWait?: (holder: string) => void;
  pollMs?: number;
  /**
   * A command run in the same round trip right after the lock is taken (never when it is not): saves the host a
   * shell. Its output and exit status come back in the result; its failure does not fail the lock step.
   */
  after?: Shell;
  /**
   * With `after`: when it succeeds the remote command stays open, waiting for the rest of its script on stdin
   * (continuation.ts), so the caller's next step runs in the same remote shell. The caller must `send` or `close`.
   */
  hold?: boolean;
  /** Directories created in the same `mkdir -p` as the lock's parent. */
  dirs?: string[];
  /** Output callbacks for the held command (its continuation's lines arrive here too). */
  output?: Pick<ExecOptions, 'onStdout' | 'onStderr'>;
}

/** What `after` printed and its exit status (undefined without `after`). */
export interface AfterResult {
  stdout: string;
  code: number;
  /** With `hold`: the still running lock command, waiting for the rest of its script. */
  held?: Paused;
}

const AFTER_MARK = '[deliver-after]';
const AFTER_EXIT = '[deliver-after-exit]';

/**
 * The acquire command followed, only when the lock was taken, by `after` and its exit status; with `then`, a
 * successful `after` is followed by `then` in the same shell (whose exit status becomes the command's). All in the
 * login shell itself: no subshell to capture the acquire output (on a busy host every process counts).
 */
export function acquireThenCommand(l: Layout, owner: LockOwner, after: Shell, then?: Shell, dirs: string[] = []): Shell {
  const rest = then ? chain(sh`[ "$a" = 0 ] || exit 0`, then) : sh`true`;
  return takeLock(l, owner, dirs, chain(sh`echo ${AFTER_MARK}`, group(after), sh`a=$?`, sh`printf '%s %s\\n' ${AFTER_EXIT} "$a"`, rest));
}

function splitAfter(stdout: string): AfterResult | undefined {
  const at = stdout.indexOf(`${AFTER_MARK}\n`);
  if (at < 0) return undefined;
  const rest = stdout.slice(at + AFTER_MARK.length + 1);
  const end = rest.lastIndexOf(`${AFTER_EXIT} `);
  if (end < 0) return { stdout: rest, code: 255 };
  return { stdout: rest.slice(0, end), code: Number.parseInt(rest.slice(end + AFTER_EXIT.length + 1), 10) };
}

/** Takes the host's lock or throws a RemoteError naming the owner. */
export async function acquireLock(backend: Backend, l: Layout, owner: LockOwner, opts: AcquireOptions): Promise<AfterResult | undefined> {
  const deadline = Date.now() + opts.waitMs;
  let announced = false;
  const tried = new Set<string>();
  for (;;) {
    if (opts.signal?.aborted) throw new InterruptedError();
    const fused = opts.after !== undefined;
    const hold = fused && opts.hold === true;
    const cmd = fused ? acquireThenCommand(l, owner, opts.after!, hold ? runScriptFromStdin() : undefined, opts.dirs) : acquireCommand(l, owner, opts.dirs);
    const sig = opts.signal ? { signal: opts.signal } : {};
    let res: ExecResult;
    if (hold) {
      const started = await execUntil(backend, cmd.text, (line) => line.startsWith(`${AFTER_EXIT} `), { ...opts.output, ...sig });
      if (started.paused) return { ...(splitAfter(started.paused.head) ?? { stdout: '', code: 255 }), held: started.paused };
      res = started.result;
      if (res.code !== 0) throw lockFailed(backend, cmd, res);
    } else res = await backend.run(cmd.text, { step: 'lock', ...sig });
    const parsed = parseAcquire(res.stdout);
    if (parsed.acquired) return fused ? (splitAfter(res.stdout) ?? { stdout: '', code: 255 }) : undefined;
    const holder = describeOwner(parsed.owner, parsed.ageSeconds);
    const stale = staleReason(parsed, { ttlMs: opts.ttlMs, machine: owner.machine, pidAlive });
    // Each lock judged stale (owner and mtime) gets one attempt; then, broken or not (refreshed or replaced since
    // we looked, so kept), look again at once.
    const judged = `${parsed.owner?.id ?? ''}@${parsed.stamp}`;
    if (stale && !tried.has(judged)) {
      tried.add(judged);
      if (await breakLock(backend, l, parsed)) opts.warn(`${backend.target.name}: broke a stale deploy lock (${stale}) held by ${holder}`);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new RemoteError(backend.target.name, `deploy lock held by ${holder}`, {
        step: 'lock',
        hint: opts.waitMs > 0 ? 'still held after --lock-wait; try again later or `deliver unlock <env>`' : 'wait with --lock-wait=SECONDS, or `deliver unlock <env>` if that deploy is dead',
      });
    }
    if (!announced) {
      opts.onWait?.(holder);
      announced = true;
    }
    try {
      await sleep(Math.min(opts.pollMs ?? 1000, Math.max(50, deadline - Date.now())), undefined, opts.signal ? { signal: opts.signal } : undefined);
    } catch {
      throw new InterruptedError();
    }
  }
}

async function breakLock(backend: Backend, l: Layout, held: HeldLock): Promise<boolean> {
  const r = await backend.run(breakCommand(l, { ownerId: held.owner?.id, stamp: held.stamp }).text, { step: 'lock' });
  return r.stdout.trim() === 'BROKEN';
}

/** The error backend.run would raise for a failed lock command (exec does not raise). */
function lockFailed(backend: Backend, cmd: Shell, res: ExecResult): RemoteError {
  const how = res.signal ? `was killed by signal ${res.signal}` : `failed with exit code ${res.code}`;
  const detail = `${res.stderr}${res.stdout}`.trim().split('\n').slice(-ERROR_TAIL_LINES).join('\n');
  return new RemoteError(backend.target.name, `lock ${how}`, { step: 'lock', command: cmd.text, ...(detail ? { detail } : {}) });
}

/** A running heartbeat (keepLock). */
export interface LockKeeper {
  /** True once a refresh found the lock no longer ours (broken by another deploy, or `deliver unlock`). */
  readonly lost: boolean;
  /** Ends the heartbeat, after the refresh in flight (if any). */
  stop(): Promise<void>;
}

/**
 * Keeps our lock fresh while the deploy works, however long a step (a slow hook, a large upload) takes: every
 * third of the TTL a refresh runs as its own command on the host's open connection, next to whatever runs there.
 * A deploy shorter than that sends none. A refresh that fails (a dropped connection) is simply tried again.
 */
export function keepLock(backend: Backend, l: Layout, ownerId: string, ttlMs: number): LockKeeper {
  const every = Math.max(200, Math.floor(ttlMs / 3));
  let lost = false;
  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout;
  const schedule = () => {
    timer = setTimeout(tick, every);
    timer.unref();
  };
  const tick = () => {
    inFlight = backend
      .exec(refreshCommand(l, ownerId).text, { timeoutMs: Math.max(5_000, every) })
      .then((r) => void (lost ||= /^LOST$/m.test(r.stdout)), () => undefined)
      .finally(() => void (stopped || lost || schedule()));
  };
  schedule();
  return {
    get lost() {
      return lost;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}

/** A deploy whose heartbeat found its lock gone stops before its next step (`step`). */
export function lostLockError(host: string, step: string): RemoteError {
  return new RemoteError(host, 'lost the deploy lock: it was removed or broken while this deploy held it', {
    step,
    hint: 'another deploy may have judged it stale (LOCK_TTL) or `deliver unlock` removed it; check the host and deploy again',
  });
}

export async function releaseLock(backend: Backend, l: Layout, ownerId: string): Promise<void> {
  await backend.exec(unlockCommand(l, ownerId).text, { timeoutMs: 15_000 });
}

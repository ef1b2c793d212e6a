// Node control on one host over its pooled connection: detect the release kind, start/stop/restart with waits,
// and one-shot actions (ping, version, pid, rpc, eval, migrate, run). Exit status follows the remote result.
import { setTimeout as sleep } from 'node:timers/promises';
import { InterruptedError, RemoteError } from '../output/errors.js';
import { sh } from '../ssh/quote.js';
import type { Backend, ExecOptions, ExecResult } from '../ssh/types.js';
import type { Layout } from './layout.js';
import {
  configCommand, defaultMigrateExpr, detectKindCommand, evalCommand, logTailCommand, parseKind, pidCommand, pingCommand, rpcCommand, scriptCommand,
  startCommand, stopCommand, versionCommand, type ReleaseKind,
} from './node-commands.js';

export interface NodeContext {
  backend: Backend;
  layout: Layout;
  /** Remote env file sourced before the release script (uploaded by deploy). */
  envFile?: string;
  signal?: AbortSignal;
  /** Streams remote output lines (verbose mode). */
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
}

export const DEFAULT_START_TIMEOUT_MS = 30_000;

function execOpts(ctx: NodeContext, extra: ExecOptions = {}): ExecOptions {
  return {
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    ...(ctx.onLine ? { onStdout: (l: string) => ctx.onLine!('stdout', l), onStderr: (l: string) => ctx.onLine!('stderr', l) } : {}),
    ...extra,
  };
}

export async function detectKind(ctx: NodeContext): Promise<ReleaseKind> {
  const r = await ctx.backend.run(detectKindCommand(ctx.layout).text, { step: 'detect', ...(ctx.signal ? { signal: ctx.signal } : {}) });
  const kind = parseKind(r.stdout);
  if (!kind) {
    throw new RemoteError(ctx.backend.target.name, `no release of ${ctx.layout.app} deployed at ${ctx.layout.root}`, {
      step: 'detect',
      hint: 'deploy one first: deliver deploy release <env>',
    });
  }
  return kind;
}

export async function isRunning(ctx: NodeContext, kind: ReleaseKind): Promise<boolean> {
  const r = await ctx.backend.exec(pingCommand(ctx.layout, kind, ctx.envFile).text, { timeoutMs: 20_000, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  return r.code === 0;
}

/** Polls until the node answers (want=true) or stops answering (want=false); false on timeout. */
export async function waitFor(ctx: NodeContext, kind: ReleaseKind, want: boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (ctx.signal?.aborted) throw new InterruptedError();
    if ((await isRunning(ctx, kind)) === want) return true;
    if (Date.now() >= deadline) return false;
    try {
      await sleep(300, undefined, ctx.signal ? { signal: ctx.signal } : undefined);
    } catch {
      throw new InterruptedError();
    }
  }
}

export async function logTail(ctx: NodeContext, lines = 20): Promise<string> {
  const r = await ctx.backend.exec(logTailCommand(ctx.layout, lines).text);
  return r.stdout.trimEnd();
}

/** Starts the active release; refuses when already running; waits until the node answers. Returns the log tail. */
export async function startNode(ctx: NodeContext, kind: ReleaseKind, timeoutMs = DEFAULT_START_TIMEOUT_MS): Promise<string> {
  const host = ctx.backend.target.name;
  if (await isRunning(ctx, kind)) {
    throw new RemoteError(host, `${ctx.layout.app} is already running`, { step: 'start', hint: 'use `deliver restart <env>`' });
  }
  await ctx.backend.run(startCommand(ctx.layout, kind, ctx.envFile).text, { step: 'start', ...execOpts(ctx, { timeoutMs: timeoutMs + 30_000 }) });
  const up = await waitFor(ctx, kind, true, timeoutMs);
  const tail = await logTail(ctx);
  if (!up) {
    throw new RemoteError(host, `${ctx.layout.app} did not answer within ${Math.round(timeoutMs / 1000)}s after start`, {
      step: 'start',
      ...(tail ? { detail: tail } : {}),
    });
  }
  return tail;
}

/** Stops the node if it runs and waits until it no longer answers. Returns whether it was running. */
export async function stopNode(ctx: NodeContext, kind: ReleaseKind, timeoutMs = DEFAULT_START_TIMEOUT_MS): Promise<boolean> {
  const host = ctx.backend.target.name;
  let osPid: number | undefined;
  // The node's OS pid doubles as the "is it running" answer and lets the wait below be a cheap `kill -0`
  // loop on the host instead of booting a VM per poll.
  const r = await ctx.backend.exec(pidCommand(ctx.layout, kind, ctx.envFile).text, { timeoutMs: 20_000, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  if (r.code !== 0) return false;
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (/^\d+$/.test(last)) osPid = Number(last);
  await ctx.backend.run(stopCommand(ctx.layout, kind, ctx.envFile).text, { step: 'stop', ...execOpts(ctx, { timeoutMs: timeoutMs + 30_000 }) });
  const gone =
    osPid !== undefined
      ? (await ctx.backend.exec(sh`i=0; while kill -0 ${osPid} 2>/dev/null; do i=$((i+1)); if [ $i -gt ${Math.ceil(timeoutMs / 200)} ]; then exit 1; fi; sleep 0.2; done`.text, { timeoutMs: timeoutMs + 10_000, ...(ctx.signal ? { signal: ctx.signal } : {}) })).code === 0
      : await waitFor(ctx, kind, false, timeoutMs);
  if (!gone) {
    throw new RemoteError(host, `${ctx.layout.app} still runs ${Math.round(timeoutMs / 1000)}s after stop`, { step: 'stop' });
  }
  return true;
}

export async function restartNode(ctx: NodeContext, kind: ReleaseKind, timeoutMs = DEFAULT_START_TIMEOUT_MS): Promise<string> {
  await stopNode(ctx, kind, timeoutMs);
  return startNode(ctx, kind, timeoutMs);
}

export type NodeQuery =
  | { action: 'ping' | 'version' | 'pid' }
  | { action: 'rpc' | 'eval'; expr: string }
  | { action: 'migrate'; command?: string; app: string }
  | { action: 'run'; args: string[] };

/** Builds the command line of a one-shot node action. */
export function queryCommand(l: Layout, kind: ReleaseKind, q: NodeQuery, envFile?: string): string {
  switch (q.action) {
    case 'ping':
      return pingCommand(l, kind, envFile).text;
    case 'version':
      return versionCommand(l, kind, envFile).text;
    case 'pid':
      return pidCommand(l, kind, envFile).text;
    case 'rpc':
      return rpcCommand(l, kind, q.expr, envFile).text;
    case 'eval':
      return evalCommand(l, kind, q.expr, envFile).text;
    case 'migrate':
      // MIGRATE_COMMAND is the user's own shell text, run in the release root like edeliver's node commands.
      return q.command ? configCommand(l, q.command, envFile).text : evalCommand(l, kind, defaultMigrateExpr(q.app), envFile).text;
    case 'run':
      return scriptCommand(l, q.args, envFile).text;
  }
}

export async function runQuery(ctx: NodeContext, kind: ReleaseKind, q: NodeQuery, timeoutMs = 120_000): Promise<ExecResult> {
  return queryResult(kind, q, await ctx.backend.exec(queryCommand(ctx.layout, kind, q, ctx.envFile), execOpts(ctx, { timeoutMs })));
}

/** A one-shot action's result as deliver reports it (relx's quirks undone). */
export function queryResult(kind: ReleaseKind, q: NodeQuery, r: ExecResult): ExecResult {
  if (kind === 'relx' && (q.action === 'rpc' || q.action === 'eval' || q.action === 'version')) {
    const out = r.stdout.trimStart();
    // relx's eval prints an error term and still exits 0 (edeliver issue #210): an error is an error.
    if (r.code === 0 && /^\{(error|badrpc),/.test(out)) return { ...r, code: 1 };
    // Its result is printed as a term: the version string arrives quoted.
    if (q.action === 'version' && r.code === 0) return { ...r, stdout: out.trim().replace(/^"(.*)"$/, '$1') };
  }
  return r;
}

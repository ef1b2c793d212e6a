// Node control on one host over its pooled connection: detect the release kind (start/stop/restart: node-run.ts),
// and one-shot actions (ping, version, pid, rpc, eval, migrate, run). Exit status follows the remote result.
import { RemoteError } from '../output/errors.js';
import { type Backend, type ExecOptions, type ExecResult } from '../ssh/types.js';
import type { Shell } from '../ssh/quote.js';
import { CLUSTER_MARK, clusterCommand } from './cluster.js';
import type { Layout } from './layout.js';
import { migrationCommand, type Migration } from './migrations.js';
import {
  detectKindCommand, evalCommand, parseKind, pidCommand, pingCommand, rpcCommand, scriptCommand,
  unknownScriptCommand, versionCommand, type ReleaseKind,
} from './node-commands.js';

export interface NodeContext {
  backend: Backend;
  layout: Layout;
  /** Remote env file sourced before the release script (uploaded by deploy). */
  envFile?: string;
  signal?: AbortSignal;
  /** Streams remote output lines (verbose mode). */
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** RELEASE_KIND / USING_DISTILLERY=true (config/resolve.ts configuredReleaseKind): wins over detection. */
  configuredKind?: ReleaseKind;
}

const SET_KIND = 'set RELEASE_KIND=mix, distillery or relx in .deliver/config (edeliver\'s USING_DISTILLERY=true means distillery)';

function execOpts(ctx: NodeContext, extra: ExecOptions = {}): ExecOptions {
  return {
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    ...(ctx.onLine ? { onStdout: (l: string) => ctx.onLine!('stdout', l), onStderr: (l: string) => ctx.onLine!('stderr', l) } : {}),
    ...extra,
  };
}

export async function detectKind(ctx: NodeContext): Promise<ReleaseKind> {
  const r = await ctx.backend.run(detectKindCommand(ctx.layout).text, { step: 'detect', ...(ctx.signal ? { signal: ctx.signal } : {}) });
  return kindFrom(ctx.backend.target.name, ctx.layout, r.stdout, ctx.configuredKind, true)!;
}

/**
 * The kind detectKindCommand's answer and RELEASE_KIND/USING_DISTILLERY give (the setting wins over the files);
 * undefined when no release is there (unless `required`); a release whose files match no generator is an error.
 */
export function kindFrom(host: string, l: Layout, stdout: string, configured: ReleaseKind | undefined, required = false): ReleaseKind | undefined {
  const found = parseKind(stdout);
  if (!found) {
    if (!required) return undefined;
    throw new RemoteError(host, `no release of ${l.app} deployed at ${l.root}`, { step: 'detect', hint: 'deploy one first: deliver deploy release <env>' });
  }
  if (configured) return configured;
  if (found === 'unknown') {
    throw new RemoteError(host, `cannot tell whether ${l.root}/bin/${l.app} is a mix release, Distillery or relx release from its files: ${SET_KIND}`, { step: 'detect' });
  }
  return found;
}

/**
 * Throws when the script answered that it has no such command: deliver runs it as the wrong kind of release, and
 * the user needs the setting, not the script's usage text.
 */
export function assertKnownCommand(s: ScriptOf, output: string, step: string): void {
  const line = unknownScriptCommand(output);
  if (!line) return;
  const why = s.configured ? 'as RELEASE_KIND/USING_DISTILLERY say' : 'as detected from its files';
  throw new RemoteError(s.host, `bin/${s.app} is not a ${s.kind} release (${why}): it answered "${line}"; ${SET_KIND}`, { step });
}

/** Which release script answered: the host, the app and the kind deliver ran it as (and whether the user set it). */
export interface ScriptOf {
  host: string;
  app: string;
  kind: ReleaseKind;
  configured?: boolean;
}

function scriptOf(ctx: NodeContext, kind: ReleaseKind): ScriptOf {
  return { host: ctx.backend.target.name, app: ctx.layout.app, kind, ...(ctx.configuredKind ? { configured: true } : {}) };
}

export type NodeQuery =
  | { action: 'ping' | 'version' | 'pid' | 'cluster' }
  | { action: 'rpc' | 'eval'; expr: string }
  | { action: 'migrate'; migration: Migration }
  | { action: 'run'; args: string[] };

/** Builds the command line of a one-shot node action. */
export function queryCommand(l: Layout, kind: ReleaseKind, q: NodeQuery, envFile?: string): Shell {
  switch (q.action) {
    case 'ping':
      return pingCommand(l, kind, envFile);
    case 'version':
      return versionCommand(l, kind, envFile);
    case 'pid':
      return pidCommand(l, kind, envFile);
    case 'rpc':
      return rpcCommand(l, kind, q.expr, envFile);
    case 'eval':
      return evalCommand(l, kind, q.expr, envFile);
    case 'migrate':
      return migrationCommand(l, kind, q.migration, envFile);
    case 'run':
      return scriptCommand(l, q.args, envFile);
    case 'cluster':
      return clusterCommand(l, kind, envFile);
  }
}

export async function runQuery(ctx: NodeContext, kind: ReleaseKind, q: NodeQuery, timeoutMs = 120_000): Promise<ExecResult> {
  return queryResult(scriptOf(ctx, kind), q, await ctx.backend.exec(queryCommand(ctx.layout, kind, q, ctx.envFile).text, execOpts(ctx, { timeoutMs })));
}

/**
 * A one-shot action's result as deliver reports it: a wrong-kind script named, Distillery's and relx's quirks undone.
 */
export function queryResult(s: ScriptOf, q: NodeQuery, r: ExecResult): ExecResult {
  const kind = s.kind;
  // `run` and a MIGRATE_COMMAND are the user's own commands: their usage errors are theirs to read.
  if (q.action !== 'run' && !(q.action === 'migrate' && q.migration.command)) assertKnownCommand(s, `${r.stdout}\n${r.stderr}`, q.action);
  if (kind === 'distillery' && r.code === 0 && (q.action === 'rpc' || q.action === 'version')) return { ...r, stdout: distilleryAnswer(r.stdout, q.action) };
  // relx's eval prints an error term and exits 0; no cluster line means no answer (any kind).
  if (q.action === 'cluster' && r.code === 0 && !r.stdout.includes(CLUSTER_MARK)) return { ...r, code: 1 };
  if (kind === 'relx' && (q.action === 'rpc' || q.action === 'eval' || q.action === 'version')) {
    const out = r.stdout.trimStart();
    // relx's eval prints an error term and still exits 0 (edeliver issue #210): an error is an error.
    if (r.code === 0 && /^\{(error|badrpc),/.test(out)) return { ...r, code: 1 };
    // Its result is printed as a term: the version string arrives quoted.
    if (q.action === 'version' && r.code === 0) return { ...r, stdout: out.trim().replace(/^"(.*)"$/, '$1') };
  }
  return r;
}

/**
 * Distillery's rpc prints the expression's value after its output (IO.inspect): `version` keeps only the value,
 * unquoted; `rpc` drops the `:ok` an IO.puts returns, so both print what a mix release would.
 */
export function distilleryAnswer(stdout: string, action: 'rpc' | 'version'): string {
  const lines = stdout.split('\n');
  while (lines.length && lines.at(-1)!.trim() === '') lines.pop();
  while (lines.length && lines[0]!.trim() === '') lines.shift();
  if (action === 'version') return (lines.at(-1) ?? '').trim().replace(/^"(.*)"$/, '$1');
  if (lines.at(-1)?.trim() === ':ok') lines.pop();
  return lines.length ? `${lines.join('\n')}\n` : '';
}

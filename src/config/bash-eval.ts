// Evaluates a config file with the system bash, in a controlled subprocess, when it uses constructs outside the
// native subset (`$(...)`, backticks, `if`/`case`/loops, commands). How it is controlled:
// - `/bin/bash --noprofile --norc <file>`: the file runs as a script, so bash's own line numbers are the file's;
//   stdin is /dev/null, the working directory is the project, and it is killed after a timeout;
// - the environment is deliver's effective environment (process env, .deliver/.env, flags, DEPLOY_ENVIRONMENT,
//   NODE_ENVIRONMENT, TARGET_MIX_ENV) so conditionals see what the run will use; BASH_ENV, ENV, SHELLOPTS,
//   BASHOPTS and exported functions of the caller are dropped;
// - a prelude (via BASH_ENV, read before the file) snapshots every variable, installs a DEBUG trap that records
//   `line<TAB>command` of each top-level command (the source of `file:line` for each variable) and restores the
//   protected (environment-overridden) variables before each command, and an EXIT trap that dumps every variable
//   and function. Functions are defined but never called; nothing else of the file changes.
// - errors: any `file: line N: message` bash prints (syntax error, command not found, ...) and a top-level `exit`
//   become a ConfigError naming file:line. A non-zero status of the last command alone is not an error (a final
//   `[ ... ] && X=1` is normal in sourced configs).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../output/errors.js';
import { tokenize } from './shell-lexer.js';
import { assignmentOf } from './shell-scan.js';

export interface BashEvalOptions {
  /** Absolute path of the config file. */
  file: string;
  /** Shown in error messages instead of the absolute path (e.g. `.deliver/config`). */
  displayName: string;
  cwd: string;
  env: Record<string, string | undefined>;
  protect: ReadonlySet<string>;
  timeoutMs?: number;
}

export interface BashEvalResult {
  vars: Map<string, { value: string; line?: number }>;
  shadowed: Map<string, number>;
  /** Functions bash knows after the file ran, as `declare -f` prints them. */
  functions: Map<string, string>;
  /** Output the config printed (kept for --verbose and error details). */
  stdout: string;
}

export const BASH = existsSync('/bin/bash') ? '/bin/bash' : 'bash';

// Bash's own and dynamic variables: never reported as config variables.
const BASH_INTERNAL = /^(BASH.*|LINENO|RANDOM|SRANDOM|SECONDS|EPOCHSECONDS|EPOCHREALTIME|_|PIPESTATUS|FUNCNAME|GROUPS|DIRSTACK|HISTCMD|COMP_.*|SHLVL|PPID|OPTIND|OPTARG|OPTERR|SHELLOPTS|UID|EUID|IFS|PS4|PS1|PS2|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|PWD|OLDPWD|COLUMNS|LINES|__deliver_.*|__DELIVER_.*)$/;

// Written with %{ for bash's ${ so the template literal does not interpolate.
const PRELUDE = String.raw`
__deliver_out=$__DELIVER_OUT
__deliver_protect=$__DELIVER_PROTECT
unset __DELIVER_OUT __DELIVER_PROTECT BASH_ENV
__deliver_dump() {
  local __deliver_n
  for __deliver_n in $(compgen -v); do
    case $__deliver_n in __deliver_*|BASH*|LINENO|RANDOM|SRANDOM|SECONDS|EPOCH*|_|PIPESTATUS|FUNCNAME|GROUPS|DIRSTACK|HISTCMD) continue ;; esac
    printf '%s\0%s\0%s\0' "$1" "$__deliver_n" "%{!__deliver_n}"
  done >>"$__deliver_out"
}
declare -A __deliver_saved=()
for __deliver_n in $__deliver_protect; do __deliver_saved[$__deliver_n]=%{!__deliver_n}; done
__deliver_restore() {
  local __deliver_n
  for __deliver_n in "%{!__deliver_saved[@]}"; do printf -v "$__deliver_n" '%s' "%{__deliver_saved[$__deliver_n]}"; done
}
__deliver_trace() {
  printf 'T\0%s\0%s\0' "$1" "$2" >>"$__deliver_out"
  __deliver_restore
}
__deliver_end() {
  local __deliver_f
  __deliver_restore
  printf 'E\0%s\0%s\0' "$1" "$2" >>"$__deliver_out"
  printf 'X\0%s\0\0' "$3" >>"$__deliver_out"
  __deliver_dump V
  for __deliver_f in $(compgen -A function); do
    case $__deliver_f in __deliver_*) continue ;; esac
    printf 'F\0%s\0%s\0' "$__deliver_f" "$(declare -f "$__deliver_f")" >>"$__deliver_out"
  done
}
__deliver_dump B
trap '__deliver_s=$?; __deliver_c=$BASH_COMMAND; trap - DEBUG; __deliver_end "$__deliver_s" "$-" "$__deliver_c"' EXIT
trap '__deliver_trace "$LINENO" "$BASH_COMMAND"' DEBUG
`.replaceAll('%{', '$' + '{');

/** Names a traced command assigns (`A=1 B=2`, `export A=1`, `declare -x A=1`, `readonly A=1`). */
export function assignedNames(command: string): string[] {
  let toks;
  try {
    toks = tokenize(command);
  } catch {
    return [];
  }
  const names: string[] = [];
  let i = 0;
  const first = toks[0];
  if (first && first.t === 'word' && ['export', 'declare', 'typeset', 'readonly', 'local'].includes(first.raw)) {
    for (i = 1; i < toks.length; i++) {
      const t = toks[i]!;
      if (t.t !== 'word') break;
      const a = assignmentOf(t);
      if (a) names.push(a.name);
    }
    return names;
  }
  for (; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.t !== 'word') break;
    const a = assignmentOf(t);
    if (!a) break;
    names.push(a.name);
  }
  // `A=1 cmd` only sets A for cmd.
  return i === toks.length || toks[i]!.t !== 'word' ? names : [];
}

/** Line spans of every assignment word in the file (when it tokenizes), by variable name. */
function assignmentSpans(text: string): Map<string, [number, number][]> {
  const spans = new Map<string, [number, number][]>();
  let toks;
  try {
    toks = tokenize(text);
  } catch {
    return spans;
  }
  for (const t of toks) {
    if (t.t !== 'word') continue;
    const a = assignmentOf(t);
    if (!a) continue;
    const end = t.line + (t.raw.match(/\n/g)?.length ?? 0);
    spans.set(a.name, [...(spans.get(a.name) ?? []), [t.line, end]]);
  }
  return spans;
}

/** bash's LINENO is the last line of a multi-line command; users want the line the assignment starts on. */
function startLine(spans: Map<string, [number, number][]>, name: string, line: number): number {
  const span = spans.get(name)?.find(([start, end]) => start <= line && line <= end);
  return span ? span[0] : line;
}

function parseRecords(buf: string): string[][] {
  const fields = buf.split('\0');
  const records: string[][] = [];
  for (let i = 0; i + 2 < fields.length; i += 3) records.push([fields[i]!, fields[i + 1]!, fields[i + 2]!]);
  return records;
}

export async function evaluateWithBash(opts: BashEvalOptions): Promise<BashEvalResult> {
  const dir = await mkdtemp(join(tmpdir(), 'deliver-config-'));
  try {
    const prelude = join(dir, 'prelude.bash');
    const outFile = join(dir, 'out');
    await writeFile(prelude, PRELUDE, { mode: 0o600 });
    await writeFile(outFile, '', { mode: 0o600 });
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.env)) {
      if (v === undefined || k.startsWith('BASH_FUNC_') || ['BASH_ENV', 'ENV', 'SHELLOPTS', 'BASHOPTS', 'PS4'].includes(k)) continue;
      env[k] = v;
    }
    env.BASH_ENV = prelude;
    env.__DELIVER_OUT = outFile;
    env.__DELIVER_PROTECT = [...opts.protect].join(' ');
    const timeoutMs = opts.timeoutMs ?? 15_000;

    const { code, stdout, stderr, timedOut } = await new Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }>((resolve, reject) => {
      // Its own process group, so a timeout also ends what the config started (`sleep`, background jobs).
      const child = spawn(BASH, ['--noprofile', '--norc', opts.file], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const killGroup = () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      let out = '';
      let err = '';
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, timeoutMs);
      // Leftover background jobs would keep the pipes open: end them once bash itself has exited.
      child.on('exit', killGroup);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        if (out.length < 64 * 1024) out += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        if (err.length < 64 * 1024) err += d;
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new ConfigError(opts.displayName, undefined, `cannot run ${BASH} to evaluate the config: ${e.message}`));
      });
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve({ code: c, stdout: out, stderr: err, timedOut });
      });
    });

    const records = parseRecords(await readFile(outFile, 'utf8'));
    const trace = records.filter((r) => r[0] === 'T').map((r) => ({ line: Number(r[1]), command: r[2]! }));
    // The DEBUG trap also fires for the EXIT trap's own first commands, repeating the last command at line 1.
    while (trace.length >= 2 && trace[trace.length - 1]!.line === 1 && trace[trace.length - 1]!.command === trace[trace.length - 2]!.command) trace.pop();
    const detail = [stdout.trim() && `output:\n${stdout.trim()}`, stderr.trim() && `bash said:\n${stderr.trim().split(opts.file).join(opts.displayName)}`].filter(Boolean).join('\n');
    const detailOpt = detail ? { detail } : {};

    if (timedOut) {
      const last = trace[trace.length - 1];
      throw new ConfigError(opts.displayName, last?.line, `evaluating the config with bash did not finish within ${timeoutMs / 1000}s${last ? ` (running \`${last.command}\`)` : ''}`, detailOpt);
    }
    // bash's own diagnostics name the script: `<file>: line N: message`.
    const prefix = `${opts.file}: line `;
    const located = stderr.split('\n').find((l) => l.startsWith(prefix));
    if (located) {
      const m = /^(\d+): (.*)$/.exec(located.slice(prefix.length));
      if (m) throw new ConfigError(opts.displayName, Number(m[1]), m[2]!, detailOpt);
    }
    const end = records.find((r) => r[0] === 'E');
    const lastCmd = trace[trace.length - 1];
    // The command running when bash exited: `exit` at top level, or inside a function the config called.
    const exitCmd = records.find((r) => r[0] === 'X')?.[1] ?? lastCmd?.command ?? '';
    if (lastCmd && /^exit(\s|$)/.test(exitCmd)) {
      const via = exitCmd === lastCmd.command ? '' : ` (from \`${lastCmd.command}\`)`;
      throw new ConfigError(opts.displayName, lastCmd.line, `the config runs \`${exitCmd}\`${via} (exit status ${end?.[1] ?? code}); a config must not exit`, detailOpt);
    }
    // Under `set -e` a failing command ends the script early: the values after it would silently be missing.
    if (end && end[1] !== '0' && end[2]!.includes('e') && lastCmd) {
      throw new ConfigError(opts.displayName, lastCmd.line, `\`${lastCmd.command}\` failed (exit status ${end[1]}) and the config uses set -e, so bash stopped here`, detailOpt);
    }
    if (!end) {
      throw new ConfigError(opts.displayName, lastCmd?.line, `bash stopped while evaluating the config (exit status ${code})`, detailOpt);
    }

    const baseline = new Map(records.filter((r) => r[0] === 'B').map((r) => [r[1]!, r[2]!]));
    const final = new Map(records.filter((r) => r[0] === 'V').map((r) => [r[1]!, r[2]!]));
    const spans = assignmentSpans(await readFile(opts.file, 'utf8'));
    const assignedAt = new Map<string, number>();
    for (const t of trace) for (const n of assignedNames(t.command)) assignedAt.set(n, startLine(spans, n, t.line));

    const result: BashEvalResult = { vars: new Map(), shadowed: new Map(), functions: new Map(), stdout };
    for (const [name, value] of final) {
      if (BASH_INTERNAL.test(name)) continue;
      if (opts.protect.has(name)) {
        const line = assignedAt.get(name);
        if (line !== undefined) result.shadowed.set(name, line);
        continue;
      }
      if (baseline.get(name) === value && !assignedAt.has(name)) continue;
      const line = assignedAt.get(name);
      result.vars.set(name, line === undefined ? { value } : { value, line });
    }
    for (const r of records) if (r[0] === 'F') result.functions.set(r[1]!, r[2]!);
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `bash -n`: the syntax check used to confirm a native lexer error (bash has the last word on syntax). */
export async function bashSyntaxCheck(file: string, displayName: string): Promise<{ ok: true } | { ok: false; line?: number; reason: string }> {
  return new Promise((resolve) => {
    const child = spawn(BASH, ['--noprofile', '--norc', '-n', file], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => resolve({ ok: false, reason: `cannot run ${BASH}: ${e.message}` }));
    child.on('close', (code) => {
      if (code === 0) return resolve({ ok: true });
      const first = err.split('\n').find((l) => l.startsWith(`${file}: line `));
      const m = first ? /^(\d+): (.*)$/.exec(first.slice(`${file}: line `.length)) : null;
      resolve(m ? { ok: false, line: Number(m[1]), reason: m[2]! } : { ok: false, reason: err.trim().split(file).join(displayName) || `bash -n failed (${code})` });
    });
  });
}

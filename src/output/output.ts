// What the user sees (SSHKit's "formatter"). Human lines go to stderr/stdout with colour only on a TTY and never
// with NO_COLOR; `--json` mode prints exactly one JSON document on stdout and nothing else there.
import { Chalk, type ChalkInstance } from 'chalk';
import { redact, redactValue } from './redact.js';

export interface OutputOptions {
  json?: boolean;
  verbose?: boolean;
  /** Force colour on/off; default: stdout is a TTY and NO_COLOR is unset. */
  color?: boolean;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
}

export class Output {
  readonly json: boolean;
  readonly verbose: boolean;
  readonly color: boolean;
  readonly c: ChalkInstance;
  readonly isTTY: boolean;
  private readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };

  constructor(opts: OutputOptions = {}) {
    this.stdout = opts.stdout ?? process.stdout;
    this.stderr = opts.stderr ?? process.stderr;
    this.json = opts.json ?? false;
    this.verbose = opts.verbose ?? false;
    this.isTTY = Boolean(this.stdout.isTTY) && !this.json;
    const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
    this.color = opts.color ?? (this.isTTY && !noColor);
    this.c = new Chalk({ level: this.color ? 1 : 0 });
  }

  /** Normal human output (stdout); suppressed in --json mode so stdout stays one JSON document. */
  info(line: string): void {
    if (!this.json) this.stdout.write(redact(line) + '\n');
  }

  /** Output only shown with --verbose (stderr, so it never mixes with results). */
  debug(line: string): void {
    if (this.verbose) this.stderr.write(redact(line) + '\n');
  }

  /** A step finished: `✔ name (1.2s)`. */
  step(name: string, ms?: number): void {
    const t = ms === undefined ? '' : this.c.dim(` (${formatMs(ms)})`);
    this.info(`${this.c.green('✔')} ${name}${t}`);
  }

  warn(line: string): void {
    this.stderr.write(redact(`${this.c.yellow('warning:')} ${line}`) + '\n');
  }

  /** Error lines always go to stderr, also in --json mode. */
  error(line: string): void {
    this.stderr.write(redact(`${this.c.red('error:')} ${line}`) + '\n');
  }

  /** Raw text to stderr (detail blocks under an error). */
  errorDetail(text: string): void {
    this.stderr.write(redact(text.endsWith('\n') ? text : text + '\n'));
  }

  /** The single JSON result of a command in --json mode; secrets are masked in the values, before encoding. */
  result(value: unknown): void {
    if (this.json) this.stdout.write(JSON.stringify(redactValue(value), null, 2) + '\n');
  }

  /** Prints rows as an aligned table (human mode only). */
  table(headers: string[], rows: string[][]): void {
    if (this.json) return;
    // reduce, not Math.max(...rows): a spread of 200k rows (a huge config in `check`) overflows the stack.
    const widths = headers.map((h, i) => rows.reduce((w, r) => Math.max(w, (r[i] ?? '').length), h.length));
    const fmt = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
    this.info(this.c.bold(fmt(headers)));
    for (const r of rows) this.info(fmt(r));
  }
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

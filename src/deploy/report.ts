// What a multi-host command shows: a live line per host (TTY only), host-prefixed remote output with --verbose,
// then one summary table (or one JSON document with --json). Failed hosts are listed with step and error.
import type { Output } from '../output/output.js';
import { formatBytes, formatMs } from '../output/output.js';
import { redact } from '../output/redact.js';
import type { HostOutcome } from './strategy.js';

export class LiveReporter {
  /** Plain status text per host, and how to colour it once fitted to the terminal width. */
  private readonly lines = new Map<string, { text: string; paint?: (s: string) => string }>();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly live: boolean;

  constructor(private readonly out: Output, hosts: string[], private readonly stream: NodeJS.WriteStream = process.stderr) {
    // Redrawing needs a terminal; with --verbose the streamed output is the progress.
    this.live = out.isTTY && Boolean(stream.isTTY) && !out.verbose && !out.json;
    for (const h of hosts) this.lines.set(h, { text: 'waiting', paint: (x) => out.c.dim(x) });
  }

  step(host: string, step: string): void {
    this.set(host, step);
    this.out.debug(`[${host}] ${step}`);
  }

  progress(host: string, bytes: number, total: number): void {
    const pct = total > 0 ? Math.floor((bytes / total) * 100) : 0;
    this.set(host, `upload ${pct}% (${formatBytes(bytes)} of ${formatBytes(total)})`);
  }

  line(host: string, stream: 'stdout' | 'stderr', line: string): void {
    this.out.debug(`${host} ${stream === 'stderr' ? '!' : '|'} ${line}`);
  }

  done(host: string, ok: boolean, text: string): void {
    this.set(host, text, ok ? (x) => this.out.c.green(x) : (x) => this.out.c.red(x));
  }

  warn(message: string): void {
    this.clear();
    this.out.warn(message);
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.live) this.draw();
  }

  private set(host: string, text: string, paint?: (s: string) => string): void {
    this.lines.set(host, paint ? { text, paint } : { text });
    this.schedule();
  }

  private schedule(): void {
    if (!this.live || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, 80);
  }

  private clear(): void {
    if (!this.live || this.drawn === 0) return;
    this.stream.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  private draw(): void {
    this.clear();
    const width = Math.max(...[...this.lines.keys()].map((h) => h.length));
    // One physical line per host, or the cursor-up redraw would drift.
    const room = Math.max(10, (this.stream.columns || 120) - width - 3);
    let text = '';
    for (const [h, s] of this.lines) {
      const plain = redact(s.text);
      const fitted = plain.length > room ? `${plain.slice(0, room - 1)}…` : plain;
      text += `${h.padEnd(width)}  ${s.paint ? s.paint(fitted) : fitted}\n`;
    }
    this.stream.write(text);
    this.drawn = this.lines.size;
  }
}

export interface SummaryOptions {
  title: string;
  /** Extra column from each host's value (e.g. the version now active). */
  valueColumn?: ValueColumn;
  /** Several such columns, after valueColumn. */
  valueColumns?: ValueColumn[];
}

interface ValueColumn {
  header: string;
  cell: (value: unknown) => string;
}

/** Prints the table (human) and returns the number of hosts that did not succeed. */
export function printSummary<R>(out: Output, outcomes: HostOutcome<R>[], opts: SummaryOptions): number {
  const bad = outcomes.filter((o) => o.status !== 'ok');
  if (out.json) return bad.length;
  const columns = [...(opts.valueColumn ? [opts.valueColumn] : []), ...(opts.valueColumns ?? [])];
  const headers = ['HOST', 'STATUS', ...columns.map((c) => c.header), 'STEP', 'TIME'];
  const rows = outcomes.map((o) => [
    o.host,
    o.status,
    ...columns.map((c) => (o.status === 'ok' ? c.cell(o.value) : '')),
    o.step ?? '',
    o.durationMs ? formatMs(o.durationMs) : '',
  ]);
  out.info('');
  out.table(headers, rows);
  const ok = outcomes.length - bad.length;
  out.info(`${opts.title}: ${ok} of ${outcomes.length} host(s) ok${bad.length ? `, ${bad.length} not` : ''}`);
  for (const o of bad.filter((b) => b.status === 'failed')) {
    out.error(failureLine(o));
  }
  const skipped = bad.filter((b) => b.status !== 'failed');
  if (skipped.length) out.warn(`${skipped.length} host(s) ${skipped.some((s) => s.status === 'interrupted') ? 'interrupted or ' : ''}not started: ${skipped.map((s) => s.host).join(', ')}`);
  return bad.length;
}

/** `host [step]: what went wrong` for a failed host (its error text starts with the host already when it came from a RemoteError). */
export function failureLine(o: HostOutcome<unknown>, withStep = true): string {
  const text = o.error ?? 'failed';
  return `${o.host}${withStep && o.step ? ` [${o.step}]` : ''}: ${text.startsWith(`${o.host}: `) ? text.slice(o.host.length + 2) : text}`;
}

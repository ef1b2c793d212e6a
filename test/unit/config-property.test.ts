// Property test: random configs built from every quoting and expansion form the native evaluator supports
// (seeded, so a failure is reproducible) must resolve to exactly what real bash gives, variable by variable.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateWithBash } from '../../src/config/bash-eval.js';
import { evaluateNative, NeedsBash } from '../../src/config/expand.js';
import { scanShell } from '../../src/config/shell-scan.js';
import { sourceWithBash } from '../fixtures/configs/source-with-bash.js';

const dir = mkdtempSync(join(tmpdir(), 'deliver-property-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** mulberry32: small seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['A', 'B', 'C', 'APP', 'BUILD_AT'];
const READ = [...NAMES, 'UNSET_ONE', 'EMPTY', 'HOME', 'FROM_ENV'];
const OPS = [':-', '-', ':+', '+', ':=', '='];

class Gen {
  constructor(private readonly r: () => number) {}
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }

  /** Unquoted literal fragments (safe to put anywhere outside quotes). */
  bare(): string {
    return this.pick(['abc', 'x/y', '1.2', 'a-b', '~', '~/d', ':', 'a:~/b', '=', '%', '@', ',', '+', '.', '_z', '\\ ', '\\$', '\\"', "\\'", '\\\\', '\\~', '\\\n']);
  }

  single(): string {
    const body = Array.from({ length: 1 + Math.floor(this.r() * 4) }, () => this.pick(['a b', '$A', '"', '\\', '~', '${B}', '\n', 'x'])).join('');
    return `'${body}'`;
  }

  ansi(): string {
    const body = Array.from({ length: 1 + Math.floor(this.r() * 4) }, () => this.pick(['\\t', '\\n', '\\\\', "\\'", '\\x41', '\\101', 'q', ' ', '$', '"'])).join('');
    return `$'${body}'`;
  }

  expansion(depth: number, quoted: boolean): string {
    const name = this.pick(READ);
    const kind = this.r();
    if (kind < 0.25) return `$${name}`;
    if (kind < 0.4) return `\${${name}}`;
    if (kind < 0.45) return `\${#${name}}`;
    const op = this.pick(OPS);
    // `:=`/`=` only assign to names we track.
    const target = op.includes('=') ? this.pick(NAMES) : name;
    return `\${${target}${op}${this.word(depth + 1, quoted)}}`;
  }

  double(depth: number): string {
    const parts = Array.from({ length: 1 + Math.floor(this.r() * 4) }, () => {
      const k = this.r();
      if (k < 0.35 && depth < 3) return this.expansion(depth, true);
      return this.pick(['text', ' sp ', '\\$', '\\"', '\\\\', '\\x', "'", '~', ':~/', '\\\n', '\n', '@']);
    });
    return `"${parts.join('')}"`;
  }

  /** A word: concatenated fragments. Inside `${X:-...}` within double quotes only double-quoted forms are used. */
  word(depth: number, quoted = false): string {
    const n = 1 + Math.floor(this.r() * (depth === 0 ? 4 : 2));
    let out = '';
    for (let i = 0; i < n; i++) {
      const k = this.r();
      if (quoted) out += k < 0.5 && depth < 3 ? this.expansion(depth, true) : this.pick(['w', ' ', '~', '/', ':']);
      else if (k < 0.3) out += this.bare();
      else if (k < 0.45) out += this.single();
      else if (k < 0.55) out += this.ansi();
      else if (k < 0.75 && depth < 3) out += this.double(depth);
      else if (depth < 3) out += this.expansion(depth, false);
      else out += this.bare();
    }
    return out;
  }

  config(): string {
    const lines: string[] = [];
    for (let i = 0; i < 3 + Math.floor(this.r() * 6); i++) {
      const a = `${this.pick(NAMES)}${this.chance(0.1) ? '+' : ''}=${this.word(0)}`;
      if (this.chance(0.15)) lines.push(`export ${a} ${this.pick(NAMES)}=${this.word(1)}`);
      else if (this.chance(0.15)) lines.push(`${a} ${this.pick(NAMES)}=${this.word(1)}`);
      else lines.push(this.chance(0.2) ? `${a} # note` : a);
    }
    return lines.join(this.pick(['\n', '\n', ';\n', '\n\n'])) + (this.chance(0.7) ? '\n' : '');
  }
}

const ENV = { HOME: '/home/tester', PATH: '/usr/bin:/bin', EMPTY: '', FROM_ENV: 'env:val', PWD: '/' };
const RUNS = 150;

describe('random configs resolve exactly as bash resolves them', () => {
  it(`${RUNS} seeded configs`, async () => {
    const g = new Gen(rng(Number(process.env.DELIVER_PROPERTY_SEED ?? 20260521)));
    let native = 0;
    for (let run = 0; run < RUNS; run++) {
      const text = g.config();
      let scan;
      try {
        scan = scanShell(text);
      } catch (err) {
        throw new Error(`run ${run}: ${(err as Error).message}\n${text}`);
      }
      // Every generated form is in the native subset.
      expect(scan.unsupported, `run ${run}:\n${text}`).toEqual([]);
      const file = join(dir, `run-${run}.config`);
      writeFileSync(file, text);
      let vars;
      try {
        vars = evaluateNative(scan.statements, ENV, new Set()).vars;
        native++;
      } catch (err) {
        // `~user` (fragments `~` + `abc`) is left to bash by design: the loader's bash path must then be exact.
        if (!(err instanceof NeedsBash)) throw err;
        vars = (await evaluateWithBash({ file, displayName: file, cwd: '/', env: ENV, protect: new Set() })).vars;
      }
      const got = Object.fromEntries([...vars].map(([k, v]) => [k, v.value]));
      const bash = sourceWithBash(file, ENV);
      for (const [k, v] of Object.entries(got)) expect(v, `run ${run} ${k}:\n${text}`).toBe(bash.all.get(k));
      for (const k of bash.changed) expect(got[k], `run ${run} missing ${k}:\n${text}`).toBe(bash.all.get(k));
    }
    expect(native).toBeGreaterThan(RUNS * 0.8);
  });
});

// Reads a relup (the Erlang term file systools writes) without Erlang on this machine, for `show releases` (the
// versions an upgrade goes from) and `show relup` (its instructions, one readable line each).
import { DeliverError } from '../output/errors.js';

export type Term = number | string | { atom: string } | { tuple: Term[] } | Term[];

const isAtom = (t: Term | undefined): t is { atom: string } => typeof t === 'object' && t !== null && 'atom' in t;
const isTuple = (t: Term | undefined): t is { tuple: Term[] } => typeof t === 'object' && t !== null && 'tuple' in t;

/** Parses the first term of an Erlang term file (`%` comments, atoms, strings, numbers, lists, tuples). */
export function parseTerm(text: string, source: string): Term {
  let i = 0;
  const fail = (what: string): never => {
    throw new DeliverError(`${source}: not a relup: ${what} at offset ${i}`);
  };
  const skip = () => {
    for (;;) {
      while (i < text.length && /\s/.test(text[i] as string)) i++;
      if (text[i] !== '%') return;
      while (i < text.length && text[i] !== '\n') i++;
    }
  };
  const quoted = (q: string): string => {
    let s = '';
    for (i++; i < text.length && text[i] !== q; i++) {
      if (text[i] === '\\') i++;
      s += text[i] ?? '';
    }
    if (text[i] !== q) fail('unterminated quote');
    i++;
    return s;
  };
  const seq = (close: string): Term[] => {
    const items: Term[] = [];
    i++;
    skip();
    if (text[i] === close) {
      i++;
      return items;
    }
    for (;;) {
      items.push(value());
      skip();
      if (text[i] === ',') i++;
      else if (text[i] === close) {
        i++;
        return items;
      } else fail(`expected , or ${close}`);
    }
  };
  const value = (): Term => {
    skip();
    const c = text[i];
    if (c === '{') return { tuple: seq('}') };
    if (c === '[') return seq(']');
    if (c === '"') return quoted('"');
    if (c === "'") return { atom: quoted("'") };
    const m = /^(-?\d+(?:\.\d+)?(?:e-?\d+)?)|^([a-z][A-Za-z0-9_@]*)/.exec(text.slice(i, i + 256));
    if (!m) return fail('unexpected character');
    i += m[0].length;
    return m[1] !== undefined ? Number(m[1]) : { atom: m[2] as string };
  };
  return value();
}

export interface RelupStep {
  version: string;
  instructions: Term[];
}

export interface Relup {
  to: string;
  up: RelupStep[];
  down: RelupStep[];
}

/** `{NewVsn, [{FromVsn, Descr, Instrs}], [{ToVsn, Descr, Instrs}]}`. */
export function parseRelup(text: string, source: string): Relup {
  const t = parseTerm(text, source);
  const str = (x: Term | undefined): string | undefined => (typeof x === 'string' ? x : Array.isArray(x) && x.length === 0 ? '' : undefined);
  const steps = (x: Term | undefined): RelupStep[] => {
    if (!Array.isArray(x)) throw new DeliverError(`${source}: not a relup`);
    return x.map((s) => {
      const v = isTuple(s) ? str(s.tuple[0]) : undefined;
      const instrs = isTuple(s) ? s.tuple[2] : undefined;
      if (v === undefined || !Array.isArray(instrs)) throw new DeliverError(`${source}: not a relup`);
      return { version: v, instructions: instrs };
    });
  };
  const to = isTuple(t) ? str(t.tuple[0]) : undefined;
  if (!isTuple(t) || to === undefined) throw new DeliverError(`${source}: not a relup`);
  return { to, up: steps(t.tuple[1]), down: steps(t.tuple[2]) };
}

/** Erlang-ish text of a term, for instructions without a friendlier form. */
export function formatTerm(t: Term): string {
  if (typeof t === 'number') return String(t);
  if (typeof t === 'string') return JSON.stringify(t);
  if (Array.isArray(t)) return `[${t.map(formatTerm).join(', ')}]`;
  if (isAtom(t)) return t.atom;
  return `{${t.tuple.map(formatTerm).join(', ')}}`;
}

const names = (t: Term | undefined): string => (Array.isArray(t) ? t.map(formatTerm).join(', ') : t === undefined ? '' : formatTerm(t));

/** One line per low-level relup instruction. */
export function describeInstruction(i: Term): string {
  if (isAtom(i)) return i.atom.replace(/_/g, ' ');
  if (!isTuple(i) || !isAtom(i.tuple[0])) return formatTerm(i);
  const [head, a, b] = [i.tuple[0].atom, i.tuple[1], i.tuple[2]];
  switch (head) {
    case 'load_object_code': {
      const [app, vsn, mods] = isTuple(a) ? a.tuple : [];
      return `load object code of ${names(app)} ${typeof vsn === 'string' ? vsn : names(vsn)}: ${names(mods)}`;
    }
    case 'load':
      return `load ${isTuple(a) ? names(a.tuple[0]) : names(a)}`;
    case 'remove':
      return `remove ${isTuple(a) ? names(a.tuple[0]) : names(a)}`;
    case 'suspend':
    case 'resume':
    case 'purge':
      return `${head} ${names(a)}`;
    case 'code_change': {
      const mods = Array.isArray(b) ? b : [];
      return `code_change ${names(a)}: ${mods.map((m) => (isTuple(m) ? `${names(m.tuple[0])}${Array.isArray(m.tuple[1]) && m.tuple[1].length === 0 ? '' : ` (${names(m.tuple[1])})`}` : names(m))).join(', ')}`;
    }
    case 'apply': {
      const [m, f, args] = isTuple(a) ? a.tuple : [];
      return `apply ${names(m)}:${names(f)}(${Array.isArray(args) ? args.map(formatTerm).join(', ') : ''})`;
    }
    default:
      return formatTerm(i);
  }
}

/** `show relup`: each upgrade and downgrade with its instructions. */
export function describeRelup(r: Relup): string[] {
  const lines: string[] = [];
  for (const s of r.up) {
    lines.push(`${s.version} → ${r.to} (upgrade, ${s.instructions.length} instructions)`);
    for (const i of s.instructions) lines.push(`  ${describeInstruction(i)}`);
  }
  for (const s of r.down) {
    lines.push(`${r.to} → ${s.version} (downgrade, ${s.instructions.length} instructions)`);
    for (const i of s.instructions) lines.push(`  ${describeInstruction(i)}`);
  }
  return lines;
}

// The one place where values become parts of a remote shell command line.
// Every interpolated value is single-quoted for POSIX sh; nothing a value contains can execute.

/** A fragment that is already valid shell (built by this module or a literal in our own code). */
export class Shell {
  /** For a script joined by `and`/`chain`: its statements and how they are joined (printed one per line). */
  constructor(
    readonly text: string,
    readonly joined?: { readonly op: '&&' | ';'; readonly parts: readonly Shell[] },
  ) {}
  toString(): string {
    return this.text;
  }
}

/** Marks trusted shell text (our own literals) so `sh` does not quote it. Never pass user values here. */
export function raw(text: string): Shell {
  return new Shell(text);
}

/** Quotes one value for POSIX sh: `it's` -> `'it'\''s'`. Plain safe words are left bare for readability. */
export function quote(value: string | number): string {
  const s = String(value);
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

type Part = string | number | Shell | readonly (string | number | Shell)[];

function render(part: Part): string {
  if (part instanceof Shell) return part.text;
  if (Array.isArray(part)) return part.map((p) => render(p as Part)).join(' ');
  return quote(part as string | number);
}

/**
 * Tagged template for command lines: literal text is trusted, every `${value}` is quoted.
 * Arrays become space-separated quoted words; `Shell` fragments are inserted as they are.
 *   sh`mkdir -p ${dir} && cd ${dir}`
 */
export function sh(strings: TemplateStringsArray, ...values: Part[]): Shell {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Shell(out);
}

/** `NAME='value' NAME2='value2'` prefix for a command; names are checked, values quoted. */
export function envPrefix(vars: Record<string, string | undefined>): Shell {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(vars)) {
    if (value === undefined) continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid environment variable name: ${JSON.stringify(name)}`);
    parts.push(`${name}=${quote(value)}`);
  }
  return new Shell(parts.join(' '));
}

/**
 * Joins fragments with `&&` so the first failure stops the chain. A fragment that is more than one simple command
 * (`a; if …; fi`, `a || b`, a pipeline) is grouped in `{ …; }` first: `x && a; b` would run `b` whatever `x` did.
 */
export function and(...parts: (Shell | string)[]): Shell {
  const kept = parts.map((p) => (p instanceof Shell ? p : new Shell(p))).filter((p) => p.text !== '');
  const text = kept.map(({ text: t }) => (/[;|&\n]/.test(t) ? `{ ${t.replace(/[;\s]+$/, '')}; }` : t)).join(' && ');
  return new Shell(text, { op: '&&', parts: kept });
}

/** Joins statements with `; `: each runs whatever the one before did (a statement ends at its `;`). */
export function chain(...parts: (Shell | string)[]): Shell {
  const kept = parts.map((p) => (p instanceof Shell ? p : new Shell(p))).filter((p) => p.text !== '');
  return new Shell(kept.map((p) => p.text).join('; '), { op: ';', parts: kept });
}

/**
 * A script as a person reads it: one statement per line (the parts `and`/`chain` joined, each ending in its
 * operator), nested joins indented. Pasting the lines back together is the same script.
 */
export function statementLines(script: Shell, indent = ''): string[] {
  if (!script.joined || script.joined.parts.length < 2) return [`${indent}${script.text}`];
  const { op, parts } = script.joined;
  return parts.flatMap((p, i) => {
    const last = i === parts.length - 1;
    const grouped = op === '&&' && /[;|&\n]/.test(p.text) && p.joined !== undefined;
    const inner = grouped ? [`${indent}{`, ...statementLines(p, `${indent}  `), `${indent}}`] : statementLines(p, indent);
    if (!last) inner[inner.length - 1] += op === '&&' ? ' &&' : ';';
    return inner;
  });
}

/** Wraps a whole script so it runs under `sh -c` with its own quoting (useful with sudo or a login shell). */
export function shC(script: Shell): Shell {
  return new Shell(`sh -c ${quote(script.text)}`);
}

// The one place where values become parts of a remote shell command line.
// Every interpolated value is single-quoted for POSIX sh; nothing a value contains can execute.

/** A fragment that is already valid shell (built by this module or a literal in our own code). */
export class Shell {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Marks trusted shell text (our own literals) so `sh` does not quote it. Never pass user values here. */
export function raw(text: string): Shell {
  return new Shell(text);
}

/**
 * A word the shell takes literally and no program takes for an option: what may be substituted unquoted (OpenSSH's
 * ProxyCommand %r/%h/%n/%p) or stand where an argv expects a name.
 */
export function isPlainWord(value: string): boolean {
  return /^[A-Za-z0-9_@%+=:,./][A-Za-z0-9_@%+=:,./-]*$/.test(value);
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
 * One that may end in a comment (a user's MIGRATE_COMMAND `… # why`) is closed on its own line, or the comment would
 * swallow the closing brace and everything after it.
 */
export function and(...parts: (Shell | string)[]): Shell {
  return new Shell(
    parts
      .map((p) => (p instanceof Shell ? p.text : p))
      .filter((t) => t !== '')
      .map((t) => (/#/.test(t) ? `{ ${t}\n}` : /[;|&\n]/.test(t) ? `{ ${t.replace(/[;\s]+$/, '')}; }` : t))
      .join(' && '),
  );
}

/** Wraps a whole script so it runs under `sh -c` with its own quoting (useful with sudo or a login shell). */
export function shC(script: Shell): Shell {
  return new Shell(`sh -c ${quote(script.text)}`);
}

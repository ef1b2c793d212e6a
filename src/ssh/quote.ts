// The one place where values become parts of a remote shell command line.
// Every interpolated value is single-quoted for POSIX sh; nothing a value contains can execute.

/** A fragment that is already valid shell (built by this module or a literal in our own code). */
export class Shell {
  /** For a script joined by `and`/`or`/`chain` (or an `if`, `for`, `{ }`): its statements and how they are joined (printed one per line). */
  constructor(
    readonly text: string,
    readonly joined?: { readonly op: '&&' | '||' | ';' | '{' | 'if' | 'for'; readonly parts: readonly Shell[] },
  ) {}
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

/** A remote path as written in the config: `~/x` and `$HOME/x` expand on the host (quoting would stop the shell expanding them), anything else is literal. */
export function remotePath(p: string): Shell {
  if (p === '~' || p === '$HOME') return raw('"$HOME"');
  const m = /^(?:~|\$HOME|\$\{HOME\})\/(.*)$/.exec(p);
  if (m) return m[1] === '' ? raw('"$HOME"') : raw(`"$HOME"/${quote(m[1] ?? '')}`);
  return sh`${p}`;
}

/**
 * Joins fragments with `&&` so the first failure stops the chain. A fragment that is more than one simple command
 * (`a; if …; fi`, `a || b`, a pipeline) is grouped in `{ …; }` first: `x && a; b` would run `b` whatever `x` did.
 * One that may end in a comment (a user's MIGRATE_COMMAND `… # why`) is closed on its own line, or the comment would
 * swallow the closing brace and everything after it.
 */
export function and(...parts: (Shell | string)[]): Shell {
  return list('&&', parts);
}

/** Joins fragments with `||`: each runs only when the one before failed (`x || exit 3`); grouped as `and` does. */
export function or(...parts: (Shell | string)[]): Shell {
  return list('||', parts);
}

function list(op: '&&' | '||', parts: (Shell | string)[]): Shell {
  const kept = parts.map((p) => (p instanceof Shell ? p : new Shell(p))).filter((p) => p.text !== '');
  const text = kept.map(({ text: t }) => (needsGroup(t) ? braced(t) : t)).join(` ${op} `);
  return new Shell(text, { op, parts: kept });
}

/** More than one simple command, or one that may end in a comment: inside `&&`/`||` it is grouped in `{ …; }`. */
function needsGroup(t: string): boolean {
  // A redirection (`2>&1`, `>&2`) is part of its command, not a list operator.
  return /[;|&\n]/.test(t.replace(/\d*[<>]&(\d+|-)/g, '')) || COMMENT.test(t);
}

/** Joins statements with `; `: each runs whatever the one before did (a statement ends at its `;`). */
export function chain(...parts: (Shell | string)[]): Shell {
  const kept = parts.map((p) => (p instanceof Shell ? p : new Shell(p))).filter((p) => p.text !== '');
  return new Shell(kept.map(({ text: t }) => (COMMENT.test(t) ? braced(t) : t)).join('; '), { op: ';', parts: kept });
}

/** `{ script; }`: one statement (for `&&`, `||`, a redirect) that keeps the script's statements for printing. */
export function group(script: Shell): Shell {
  return new Shell(braced(script.text), { op: '{', parts: [script] });
}

/** A `#` that may start a comment (a word's first character), not `$#`, `${v##*}` or `'#x'`. */
const COMMENT = /(^|\s)#/;

/** `{ t; }`, or `{ t` and `}` on its own line when `t` may end in a comment (which would swallow the brace). */
function braced(t: string): string {
  return COMMENT.test(t) ? `{ ${t}\n}` : `{ ${t.replace(/[;\s]+$/, '')}; }`;
}

/** `if cond; then …; [else …;] fi`, printed with its branches indented. */
export function ifThen(cond: Shell, then: Shell, otherwise?: Shell): Shell {
  const text = `if ${cond.text}; then ${then.text}; ${otherwise ? `else ${otherwise.text}; ` : ''}fi`;
  return new Shell(text, { op: 'if', parts: otherwise ? [cond, then, otherwise] : [cond, then] });
}

/** `for name in words; do body; done`, printed with its body indented. `words` is shell (a glob, or sh`${list}`). */
export function forIn(name: string, words: Shell, body: Shell): Shell {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid shell variable name: ${JSON.stringify(name)}`);
  const head = new Shell(`for ${name} in ${words.text}`);
  return new Shell(`${head.text}; do ${body.text}; done`, { op: 'for', parts: [head, body] });
}

/**
 * A script as a person reads it: one statement per line (the parts `and`/`chain` joined, each ending in its
 * operator), groups and `if` branches indented. Joining the lines with spaces gives the same script.
 */
export function statementLines(script: Shell, indent = ''): string[] {
  const j = script.joined;
  if (!j) return [`${indent}${script.text}`];
  const inner = `${indent}  `;
  if (j.op === '{') return [`${indent}{`, ...statementLines(j.parts[0]!, inner).map(semi), `${indent}}`];
  if (j.op === 'if') {
    const [cond, then, otherwise] = j.parts;
    return [
      `${indent}if ${cond!.text}; then`,
      ...statementLines(then!, inner).map(semi),
      ...(otherwise ? [`${indent}else`, ...statementLines(otherwise, inner).map(semi)] : []),
      `${indent}fi`,
    ];
  }
  if (j.op === 'for') {
    const [head, body] = j.parts;
    return [`${indent}${head!.text}; do`, ...statementLines(body!, inner).map(semi), `${indent}done`];
  }
  if (j.parts.length < 2) {
    const only = j.parts[0] ?? new Shell(script.text);
    // One part that `and` grouped (`{ a; b; }`) is printed as the group it is.
    return only.text === script.text ? statementLines(only, indent) : [`${indent}{`, ...statementLines(only, inner).map(semi), `${indent}}`];
  }
  return j.parts.flatMap((p, i) => {
    const grouped = j.op !== ';' && needsGroup(p.text) && p.joined?.op !== '{';
    const lines = grouped ? [`${indent}{`, ...statementLines(p, inner).map(semi), `${indent}}`] : statementLines(p, indent);
    if (i < j.parts.length - 1) lines[lines.length - 1] += j.op === ';' ? ';' : ` ${j.op}`;
    return lines;
  });
}

/** The last line of a statement list inside braces or a branch ends in `;` (so the lines join into the script). */
function semi(line: string, i: number, all: string[]): string {
  return i === all.length - 1 && !/[;&{]$|^\s*(then|else|do)$/.test(line) ? `${line};` : line;
}

/** Wraps a whole script so it runs under `sh -c` with its own quoting (useful with sudo or a login shell). */
export function shC(script: Shell): Shell {
  return new Shell(`sh -c ${quote(script.text)}`);
}

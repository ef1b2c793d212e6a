// The one place where values become parts of a remote shell command line.
// Every interpolated value is single-quoted for POSIX sh; nothing a value contains can execute.

/** A fragment that is already valid shell (built by this module or a literal in our own code). */
export class Shell {
  /** For a script joined by `and`/`chain`: its statements and how they are joined (printed one per line). */
  constructor(
    readonly text: string,
    readonly joined?: Joined,
  ) {}
  toString(): string {
    return this.text;
  }
}

/**
 * How a script was built, for printing it one statement per line: `parts` joined by `op`. `head`: a loop's
 * `for f in …`/`while …`, a `case`'s word, a function's or a capture's name; `labels`: a `case`'s patterns;
 * `tail`: a loop's redirect.
 */
interface Joined {
  readonly op: '&&' | '||' | ';' | '{' | '(' | 'if' | 'loop' | 'case' | '$(';
  readonly parts: readonly Shell[];
  readonly head?: string;
  readonly labels?: readonly string[];
  readonly tail?: string;
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

/**
 * `a || b`: `b` runs only when `a` fails. Parts are grouped as in `and`, except a first part that is itself an
 * `and`/`or` list: `a && b || c` is `{ a && b; } || c` already (the shell reads such lists left to right).
 */
export function or(...parts: (Shell | string)[]): Shell {
  return list('||', parts);
}

function list(op: '&&' | '||', parts: (Shell | string)[]): Shell {
  const kept = parts.map((p) => (p instanceof Shell ? p : new Shell(p))).filter((p) => p.text !== '');
  const text = kept.map((p, i) => (grouped(op, p, i) ? braced(p.text) : p.text)).join(` ${op} `);
  return new Shell(text, { op, parts: kept });
}

/**
 * Whether part `i` of an `op` list is put in `{ …; }` (see `and` and `or`). A group, a loop, a `case`, a subshell
 * or a capture is one command already and needs no more braces (an `if` is one too, but keeps the braces it
 * always had).
 */
function grouped(op: string, p: Shell, i: number): boolean {
  const kind = p.joined?.op;
  if (kind === '{' || kind === 'loop' || kind === 'case' || kind === '(' || kind === '$(') return false;
  if (op === '||' && i === 0 && (kind === '&&' || kind === '||') && !COMMENT.test(p.text)) return false;
  return needsGroup(p.text);
}

/** More than one simple command (a list, a pipeline, a compound command), or a possible comment. */
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

/** A shell variable's name: what a loop, a capture or a function may be called (never a user value). */
function name(n: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) throw new Error(`invalid shell name: ${JSON.stringify(n)}`);
  return n;
}

/** `for v in words; do body; done [tail]`; `tail`: a redirect of the whole loop (`2>/dev/null`). */
export function forIn(v: string, words: Shell, body: Shell, tail = ''): Shell {
  return loop(`for ${name(v)} in ${words.text}`, body, tail);
}

/** `while cond; do body; done` */
export function whileDo(cond: Shell, body: Shell): Shell {
  return loop(`while ${cond.text}`, body);
}

/** `until cond; do body; done` */
export function untilDo(cond: Shell, body: Shell): Shell {
  return loop(`until ${cond.text}`, body);
}

function loop(head: string, body: Shell, tail = ''): Shell {
  return new Shell(`${head}; do ${body.text}; done${tail ? ` ${tail}` : ''}`, { op: 'loop', parts: [body], head, ...(tail ? { tail } : {}) });
}

/** `case word in pattern) body;; … esac`; an empty body is an arm that does nothing. */
export function caseOf(word: Shell, arms: readonly (readonly [pattern: Shell, body: Shell])[]): Shell {
  const text = `case ${word.text} in ${arms.map(([p, b]) => `${p.text}) ${b.text};;`).join(' ')} esac`;
  return new Shell(text, { op: 'case', parts: arms.map(([, b]) => b), head: word.text, labels: arms.map(([p]) => p.text) });
}

/** `v=$( script; )`: the script's output, run in a subshell (its assignments and `exit` stay there). */
export function captured(v: string, script: Shell): Shell {
  return new Shell(`${name(v)}=$( ${script.text.replace(/[;\s]+$/, '')}; )`, { op: '$(', parts: [script], head: v });
}

/** `( script; )`: runs the script in a subshell (its `exit` ends only the subshell). */
export function subshell(script: Shell): Shell {
  return new Shell(`( ${script.text.replace(/[;\s]+$/, '')}; )`, { op: '(', parts: [script] });
}

/** `f() { body; }`: a shell function. */
export function shellFunction(f: string, body: Shell): Shell {
  return new Shell(`${name(f)}() ${braced(body.text)}`, { op: '{', parts: [body], head: `${f}()` });
}

/**
 * A script as a person reads it: one statement per line (the parts `and`/`chain` joined, each ending in its
 * operator), groups, loops, `case` arms and `if` branches indented. Joining the lines with spaces gives the script.
 */
export function statementLines(script: Shell, indent = ''): string[] {
  const j = script.joined;
  if (!j) return [`${indent}${script.text}`];
  const inner = `${indent}  `;
  const body = (p: Shell, at = inner) => statementLines(p, at).map(semi);
  switch (j.op) {
    case '{':
      return [`${indent}${j.head ? `${j.head} ` : ''}{`, ...body(j.parts[0]!), `${indent}}`];
    case '(':
      return [`${indent}(`, ...body(j.parts[0]!), `${indent})`];
    case '$(':
      return [`${indent}${j.head}=$(`, ...body(j.parts[0]!), `${indent})`];
    case 'loop':
      return [`${indent}${j.head}; do`, ...body(j.parts[0]!), `${indent}done${j.tail ? ` ${j.tail}` : ''}`];
    case 'case':
      return [`${indent}case ${j.head} in`, ...j.parts.flatMap((p, i) => arm(j.labels![i]!, p, inner)), `${indent}esac`];
    case 'if': {
      const [cond, then, otherwise] = j.parts;
      return [`${indent}if ${cond!.text}; then`, ...body(then!), ...(otherwise ? [`${indent}else`, ...body(otherwise)] : []), `${indent}fi`];
    }
  }
  if (j.parts.length < 2) {
    const only = j.parts[0] ?? new Shell(script.text);
    // One part that `and` grouped (`{ a; b; }`) is printed as the group it is, so the lines join into the script.
    return only.text === script.text ? statementLines(only, indent) : [`${indent}{`, ...body(only), `${indent}}`];
  }
  return j.parts.flatMap((p, i) => {
    const braces = j.op !== ';' && grouped(j.op, p, i);
    const lines = braces ? [`${indent}{`, ...body(p), `${indent}}`] : statementLines(p, indent);
    if (i < j.parts.length - 1) lines[lines.length - 1] += j.op === ';' ? ';' : ` ${j.op}`;
    return lines;
  });
}

/** A `case` arm: `pattern)`, its statements, the last ending in `;;` (or `pattern) ;;` when it does nothing). */
function arm(label: string, p: Shell, indent: string): string[] {
  if (p.text === '') return [`${indent}${label}) ;;`];
  const lines = statementLines(p, `${indent}  `);
  lines[lines.length - 1] += ';;';
  return [`${indent}${label})`, ...lines];
}

/** The last line of a statement list inside braces or a branch ends in `;` (so the lines join into the script). */
function semi(line: string, i: number, all: string[]): string {
  return i === all.length - 1 && !/[;&{]$|^\s*(then|else|do)$/.test(line) ? `${line};` : line;
}

/** Wraps a whole script so it runs under `sh -c` with its own quoting (useful with sudo or a login shell). */
export function shC(script: Shell): Shell {
  return new Shell(`sh -c ${quote(script.text)}`);
}

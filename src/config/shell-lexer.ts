// Tokenizer for the bash used in `.deliver/config`. It knows all of bash's quoting (`'..'`, `".."`, `$'..'`, `$".."`,
// backslashes, line continuations), comments, heredocs and the nesting of `${..}`, `$(..)`, backticks and `$((..))`,
// so that words, assignments and function bodies are found exactly where bash finds them. Expansions the native
// evaluator supports become structured parts; anything else becomes an `unsupported` part naming the construct, and the
// loader then lets real bash evaluate the file.

export type Part =
  /** Literal text. `quoted` literals never take part in tilde expansion. */
  | { k: 'lit'; text: string; quoted: boolean }
  /** `$NAME` / `${NAME}`, or with an operator: `${NAME:-word}`, `${NAME-word}`, `${NAME:=word}`, `:+`, `+`, `:?`, `?`. */
  | { k: 'param'; name: string; op?: ParamOp; word?: Part[]; quoted: boolean }
  /** `${#NAME}` */
  | { k: 'length'; name: string; quoted: boolean }
  /** Something only bash can evaluate: `$(..)`, backticks, `$((..))`, `${x%..}`, `$1`, ... */
  | { k: 'unsupported'; construct: string; quoted: boolean };

export type ParamOp = ':-' | '-' | ':=' | '=' | ':+' | '+' | ':?' | '?';

export interface WordToken {
  t: 'word';
  raw: string;
  parts: Part[];
  start: number;
  end: number;
  line: number;
}
export interface OpToken {
  t: 'op';
  op: string;
  start: number;
  end: number;
  line: number;
}
export interface NewlineToken {
  t: 'nl';
  start: number;
  end: number;
  line: number;
}
export type Token = WordToken | OpToken | NewlineToken;

/** A syntax error at a 1-based line (the loader turns it into a ConfigError naming the file). */
export class ShellSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

const OPERATORS = ['<<<', '<<-', ';;&', '&>>', '&&', '||', ';;', ';&', '|&', '<<', '>>', '<&', '>&', '<>', '>|', '&>', ';', '&', '|', '(', ')', '<', '>'];
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

export function tokenize(src: string): Token[] {
  return new Lexer(src).run();
}

/** Bash's ANSI-C quoting `$'...'` escapes. */
function ansiC(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\' || i + 1 >= body.length) {
      out += c;
      continue;
    }
    const n = body[++i]!;
    const simple: Record<string, string> = { a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };
    if (simple[n] !== undefined) out += simple[n];
    else if (/[0-7]/.test(n)) {
      let digits = n;
      while (digits.length < 3 && /[0-7]/.test(body[i + 1] ?? '')) digits += body[++i];
      out += String.fromCharCode(parseInt(digits, 8) & 0xff);
    } else if (n === 'x' && /[0-9A-Fa-f]/.test(body[i + 1] ?? '')) {
      let digits = '';
      while (digits.length < 2 && /[0-9A-Fa-f]/.test(body[i + 1] ?? '')) digits += body[++i];
      out += String.fromCharCode(parseInt(digits, 16));
    } else if ((n === 'u' || n === 'U') && /[0-9A-Fa-f]/.test(body[i + 1] ?? '')) {
      let digits = '';
      const max = n === 'u' ? 4 : 8;
      while (digits.length < max && /[0-9A-Fa-f]/.test(body[i + 1] ?? '')) digits += body[++i];
      out += String.fromCodePoint(parseInt(digits, 16));
    } else if (n === 'c' && i + 1 < body.length) {
      out += String.fromCharCode(body[++i]!.toUpperCase().charCodeAt(0) & 0x1f);
    } else out += '\\' + n;
  }
  return out;
}

class Lexer {
  private i = 0;
  private line = 1;
  private readonly tokens: Token[] = [];
  /** Heredoc delimiters waiting for the next newline. */
  private pendingHeredocs: { delim: string; stripTabs: boolean; line: number }[] = [];

  constructor(private readonly src: string) {}

  run(): Token[] {
    const s = this.src;
    if (s.startsWith('#!')) this.skipComment();
    while (this.i < s.length) {
      const c = s[this.i]!;
      if (c === ' ' || c === '\t') {
        this.i++;
      } else if (c === '\\' && s[this.i + 1] === '\n') {
        this.i += 2;
        this.line++;
      } else if (c === '\n') {
        this.tokens.push({ t: 'nl', start: this.i, end: this.i + 1, line: this.line });
        this.i++;
        this.line++;
        this.readHeredocBodies();
      } else if (c === '#') {
        this.skipComment();
      } else {
        const op = OPERATORS.find((o) => s.startsWith(o, this.i));
        if (op !== undefined && !((op === '<' || op === '>') && s[this.i + 1] === '(')) {
          this.tokens.push({ t: 'op', op, start: this.i, end: this.i + op.length, line: this.line });
          this.i += op.length;
          if (op === '<<' || op === '<<-') this.queueHeredoc(op === '<<-');
        } else {
          this.tokens.push(this.readWord());
        }
      }
    }
    if (this.pendingHeredocs.length > 0) this.readHeredocBodies();
    return this.tokens;
  }

  private skipComment(): void {
    while (this.i < this.src.length && this.src[this.i] !== '\n') this.i++;
  }

  private queueHeredoc(stripTabs: boolean): void {
    while (this.src[this.i] === ' ' || this.src[this.i] === '\t') this.i++;
    const word = this.readWord();
    this.tokens.push(word);
    // The delimiter is the word with its quotes removed.
    const delim = word.parts.map((p) => (p.k === 'lit' ? p.text : '')).join('') || word.raw.replace(/["'\\]/g, '');
    this.pendingHeredocs.push({ delim, stripTabs, line: word.line });
  }

  private readHeredocBodies(): void {
    const s = this.src;
    for (const h of this.pendingHeredocs) {
      // Heredoc bodies run to a line equal to the delimiter (bash accepts end of file with a warning).
      while (this.i < s.length) {
        let end = s.indexOf('\n', this.i);
        if (end < 0) end = s.length;
        let text = s.slice(this.i, end);
        if (h.stripTabs) text = text.replace(/^\t+/, '');
        this.i = Math.min(end + 1, s.length);
        this.line++;
        if (text === h.delim) break;
      }
    }
    this.pendingHeredocs = [];
  }

  private fail(line: number, reason: string): never {
    throw new ShellSyntaxError(line, reason);
  }

  /** One word: everything up to unquoted whitespace or an operator character. */
  private readWord(): WordToken {
    const s = this.src;
    const start = this.i;
    const line = this.line;
    const parts: Part[] = [];
    const lit = (text: string, quoted: boolean) => {
      const last = parts[parts.length - 1];
      if (last && last.k === 'lit' && last.quoted === quoted) last.text += text;
      else parts.push({ k: 'lit', text, quoted });
    };
    while (this.i < s.length) {
      const c = s[this.i]!;
      // Like bash, a carriage return is an ordinary character (CRLF files keep it in values).
      if (c === ' ' || c === '\t' || c === '\n') break;
      if (';&|()<>'.includes(c)) {
        // `<(` / `>(` process substitution and extglob `@(..)` stay inside the word.
        if ((c === '<' || c === '>') && s[this.i + 1] === '(' && this.i === start) {
          this.i++;
          this.skipBalancedParens(this.line);
          parts.push({ k: 'unsupported', construct: 'process substitution', quoted: false });
          continue;
        }
        if (c === '(' && this.i > start && /[@?*+!]/.test(s[this.i - 1]!)) {
          this.skipBalancedParens(this.line);
          parts.push({ k: 'unsupported', construct: 'extended glob', quoted: false });
          continue;
        }
        break;
      }
      if (c === '\\') {
        if (s[this.i + 1] === '\n') {
          this.i += 2;
          this.line++;
        } else if (this.i + 1 < s.length) {
          lit(s[this.i + 1]!, true);
          this.i += 2;
        } else {
          lit('\\', false);
          this.i++;
        }
      } else if (c === "'") {
        const open = this.line;
        const end = s.indexOf("'", this.i + 1);
        if (end < 0) this.fail(open, 'unterminated single quote');
        const text = s.slice(this.i + 1, end);
        this.line += countNewlines(text);
        lit(text, true);
        this.i = end + 1;
      } else if (c === '$' && s[this.i + 1] === "'") {
        const open = this.line;
        const j = ansiCEnd(s, this.i + 2);
        if (j < 0) this.fail(open, "unterminated $'...' quote");
        const body = s.slice(this.i + 2, j);
        this.line += countNewlines(body);
        lit(ansiC(body), true);
        this.i = j + 1;
      } else if (c === '"' || (c === '$' && s[this.i + 1] === '"')) {
        if (c === '$') this.i++;
        this.readDoubleQuoted(parts);
      } else if (c === '$') {
        this.readDollar(parts, false);
      } else if (c === '`') {
        this.skipBackticks();
        parts.push({ k: 'unsupported', construct: 'command substitution (`...`)', quoted: false });
      } else {
        lit(c, false);
        this.i++;
      }
    }
    return { t: 'word', raw: s.slice(start, this.i), parts, start, end: this.i, line };
  }

  private readDoubleQuoted(parts: Part[]): void {
    const s = this.src;
    const open = this.line;
    this.i++; // opening quote
    const before = parts.length;
    let text = '';
    const flush = () => {
      if (text !== '') parts.push({ k: 'lit', text, quoted: true });
      text = '';
    };
    for (;;) {
      if (this.i >= s.length) this.fail(open, 'unterminated double quote');
      const c = s[this.i]!;
      if (c === '"') {
        this.i++;
        break;
      }
      if (c === '\\') {
        const n = s[this.i + 1];
        if (n === '\n') {
          this.i += 2;
          this.line++;
        } else if (n !== undefined && '$`"\\'.includes(n)) {
          text += n;
          this.i += 2;
        } else {
          text += '\\';
          this.i++;
        }
      } else if (c === '$') {
        flush();
        this.readDollar(parts, true);
      } else if (c === '`') {
        flush();
        this.skipBackticks();
        parts.push({ k: 'unsupported', construct: 'command substitution (`...`)', quoted: true });
      } else {
        if (c === '\n') this.line++;
        text += c;
        this.i++;
      }
    }
    flush();
    // `""` (or `"\<newline>"`) is still a quoted, empty part: it makes the word present and keeps a following `~`
    // from being at the start of the word.
    if (parts.length === before) parts.push({ k: 'lit', text: '', quoted: true });
  }

  /** `$...` at this.i. */
  private readDollar(parts: Part[], quoted: boolean): void {
    const s = this.src;
    const n = s[this.i + 1];
    if (n === '(' && s[this.i + 2] === '(') {
      this.i += 1;
      this.skipBalancedParens(this.line);
      parts.push({ k: 'unsupported', construct: 'arithmetic expansion $((...))', quoted });
    } else if (n === '(') {
      this.i += 1;
      this.skipBalancedParens(this.line);
      parts.push({ k: 'unsupported', construct: 'command substitution $(...)', quoted });
    } else if (n === '{') {
      this.readBraceParam(parts, quoted);
    } else if (n !== undefined && NAME_START.test(n)) {
      // bash removes line continuations before it reads a name: `$BUILD_AT\<newline>text` is $BUILD_ATtext.
      let j = this.i + 1;
      let name = '';
      for (;;) {
        if (j < s.length && NAME_CHAR.test(s[j]!)) name += s[j++];
        else if (s[j] === '\\' && s[j + 1] === '\n') {
          j += 2;
          this.line++;
        } else break;
      }
      parts.push({ k: 'param', name, quoted });
      this.i = j;
    } else if (n !== undefined && SPECIAL_PARAMS.has(n)) {
      parts.push({ k: 'unsupported', construct: `special parameter $${n}`, quoted });
      this.i += 2;
    } else {
      // A lone `$` is literal.
      const last = parts[parts.length - 1];
      if (last && last.k === 'lit' && last.quoted === quoted) last.text += '$';
      else parts.push({ k: 'lit', text: '$', quoted });
      this.i++;
    }
  }

  /** `${...}` at this.i. */
  private readBraceParam(parts: Part[], quoted: boolean): void {
    const s = this.src;
    const open = this.line;
    const startBody = this.i + 2;
    const end = this.findBraceEnd(startBody, open, quoted);
    const body = s.slice(startBody, end);
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(:?[-=+?])?/.exec(body);
    const lenMatch = /^#([A-Za-z_][A-Za-z0-9_]*)$/.exec(body);
    if (lenMatch) {
      parts.push({ k: 'length', name: lenMatch[1]!, quoted });
    } else if (m && m[0].length === body.length && m[2] === undefined) {
      parts.push({ k: 'param', name: m[1]!, quoted });
    } else if (m && m[2] !== undefined) {
      // The word after the operator is parsed like the inside of the surrounding context.
      const wordStart = startBody + m[0].length;
      const sub = new Lexer(s);
      sub.i = wordStart;
      sub.line = this.line + countNewlines(s.slice(this.i, wordStart));
      const word = sub.readParamWord(end, quoted);
      parts.push({ k: 'param', name: m[1]!, op: m[2] as ParamOp, word, quoted });
    } else if (body === '') {
      this.fail(open, 'bad substitution: ${}');
    } else {
      parts.push({ k: 'unsupported', construct: `parameter expansion \${${body.length > 20 ? body.slice(0, 20) + '...' : body}}`, quoted });
    }
    this.line += countNewlines(s.slice(this.i, end + 1));
    this.i = end + 1;
  }

  /** The word of `${NAME:-word}`: quotes and expansions as usual, up to `end` (the closing brace). */
  private readParamWord(end: number, outerQuoted: boolean): Part[] {
    const s = this.src;
    const parts: Part[] = [];
    const lit = (text: string, quoted: boolean) => {
      const last = parts[parts.length - 1];
      if (last && last.k === 'lit' && last.quoted === quoted) last.text += text;
      else parts.push({ k: 'lit', text, quoted });
    };
    while (this.i < end) {
      const c = s[this.i]!;
      if (c === '\\') {
        const n = s[this.i + 1];
        if (n === '\n') {
          this.i += 2;
        } else if (outerQuoted && !(n !== undefined && '$`"\\}'.includes(n))) {
          lit('\\', true);
          this.i++;
        } else {
          lit(n ?? '', true);
          this.i += 2;
        }
      } else if (c === "'" && !outerQuoted) {
        const close = s.indexOf("'", this.i + 1);
        lit(s.slice(this.i + 1, close), true);
        this.i = close + 1;
      } else if (c === '$' && s[this.i + 1] === "'" && !outerQuoted) {
        const j = ansiCEnd(s, this.i + 2); // found by findBraceEnd already
        lit(ansiC(s.slice(this.i + 2, j)), true);
        this.i = j + 1;
      } else if (c === '"') {
        this.readDoubleQuoted(parts);
      } else if (c === '$') {
        this.readDollar(parts, outerQuoted);
      } else if (c === '`') {
        this.skipBackticks();
        parts.push({ k: 'unsupported', construct: 'command substitution (`...`)', quoted: outerQuoted });
      } else {
        lit(c, outerQuoted);
        this.i++;
      }
    }
    if (parts.length === 0) parts.push({ k: 'lit', text: '', quoted: true });
    return parts;
  }

  /** Index of the `}` closing a `${` whose body starts at `from`, skipping nested quotes and expansions. */
  private findBraceEnd(from: number, openLine: number, inDoubleQuotes: boolean): number {
    const s = this.src;
    let j = from;
    let depth = 0;
    while (j < s.length) {
      const c = s[j]!;
      if (c === '\\') j += 2;
      else if (c === '$' && s[j + 1] === "'" && !inDoubleQuotes) {
        const close = ansiCEnd(s, j + 2);
        if (close < 0) this.fail(openLine, "unterminated $'...' quote inside ${...}");
        j = close + 1;
      } else if (c === "'" && !inDoubleQuotes) {
        const close = s.indexOf("'", j + 1);
        if (close < 0) this.fail(openLine, 'unterminated single quote inside ${...}');
        j = close + 1;
      } else if (c === '"') {
        j++;
        while (j < s.length && s[j] !== '"') {
          if (s[j] === '\\') j++;
          else if (s[j] === '$' && s[j + 1] === '{') {
            j = this.findBraceEnd(j + 2, openLine, true);
          }
          j++;
        }
        j++;
      } else if (c === '$' && s[j + 1] === '{') {
        j = this.findBraceEnd(j + 2, openLine, inDoubleQuotes) + 1;
      } else if (c === '$' && s[j + 1] === '(') {
        const save = this.i;
        const saveLine = this.line;
        this.i = j + 1;
        this.skipBalancedParens(openLine);
        j = this.i;
        this.i = save;
        this.line = saveLine;
      } else if (c === '{') {
        depth++;
        j++;
      } else if (c === '}') {
        if (depth === 0) return j;
        depth--;
        j++;
      } else j++;
    }
    this.fail(openLine, 'unterminated ${...}: missing }');
  }

  /** At `(`: skips to after the matching `)`, honouring quotes, comments and nested substitutions. */
  private skipBalancedParens(openLine: number): void {
    const s = this.src;
    let depth = 0;
    while (this.i < s.length) {
      const c = s[this.i]!;
      if (c === '(') {
        depth++;
        this.i++;
      } else if (c === ')') {
        depth--;
        this.i++;
        if (depth === 0) return;
      } else if (c === '\\') {
        if (s[this.i + 1] === '\n') this.line++;
        this.i += 2;
      } else if (c === '$' && s[this.i + 1] === "'") {
        const j = ansiCEnd(s, this.i + 2);
        if (j < 0) this.fail(openLine, "unterminated $'...' quote inside $(...)");
        this.line += countNewlines(s.slice(this.i, j));
        this.i = j + 1;
      } else if (c === "'") {
        const close = s.indexOf("'", this.i + 1);
        if (close < 0) this.fail(openLine, 'unterminated single quote inside $(...)');
        this.line += countNewlines(s.slice(this.i, close));
        this.i = close + 1;
      } else if (c === '"') {
        this.readDoubleQuoted([]);
      } else if (c === '`') {
        this.skipBackticks();
      } else if (c === '$' && s[this.i + 1] === '{') {
        this.readBraceParam([], false);
      } else if (c === '#' && (this.i === 0 || /[\s;&|(]/.test(s[this.i - 1]!))) {
        this.skipComment();
      } else {
        if (c === '\n') this.line++;
        this.i++;
      }
    }
    this.fail(openLine, 'unterminated $(...) or (...): missing )');
  }

  private skipBackticks(): void {
    const s = this.src;
    const open = this.line;
    let j = this.i + 1;
    while (j < s.length && s[j] !== '`') {
      if (s[j] === '\\') j++;
      j++;
    }
    if (j >= s.length) this.fail(open, 'unterminated command substitution: missing closing `');
    this.line += countNewlines(s.slice(this.i, j));
    this.i = j + 1;
  }
}

/** Index of the quote closing a `$'...'` body that starts at `from` (backslash escapes skipped), or -1. */
function ansiCEnd(s: string, from: number): number {
  let j = from;
  while (j < s.length && s[j] !== "'") j += s[j] === '\\' ? 2 : 1;
  return j < s.length ? j : -1;
}

function countNewlines(text: string): number {
  let n = 0;
  for (const ch of text) if (ch === '\n') n++;
  return n;
}

// Splits a tokenized config into what deliver evaluates natively (assignments and `export`s, in file order), the
// function definitions (captured verbatim as hooks, never run), and the first construct outside that subset
// (`if`, `case`, loops, commands, `$(...)`, ...) with its line, which makes the loader evaluate the file with bash.
import { tokenize, type Part, type Token, type WordToken } from './shell-lexer.js';

export interface Assignment {
  name: string;
  /** `NAME+=value` */
  append: boolean;
  value: Part[];
  line: number;
}

export interface AssignStatement {
  line: number;
  assignments: Assignment[];
  /** `export NAME=value` (names exported without a value are dropped: they change nothing deliver reads). */
  exported: boolean;
}

export interface FunctionDef {
  name: string;
  /** Text between the braces, verbatim. */
  body: string;
  /** The whole definition as written. */
  source: string;
  line: number;
  /** Defined inside an `if`/`case`/...: whether it exists depends on the evaluation. */
  nested: boolean;
}

export interface Construct {
  construct: string;
  line: number;
}

export interface Scan {
  statements: AssignStatement[];
  functions: FunctionDef[];
  /** Constructs outside the native subset, in file order (empty: the file is evaluated natively). */
  unsupported: Construct[];
}

const ASSIGN_RE = /^([A-Za-z_][A-Za-z0-9_]*)(\+?)=/;
const FUNC_NAME_RE = /^[A-Za-z_][A-Za-z0-9_:.-]*$/;
const RESERVED = new Set(['if', 'then', 'elif', 'else', 'fi', 'case', 'esac', 'for', 'select', 'while', 'until', 'do', 'done', 'in', 'function', '{', '}', '!', '[[', ']]', 'time', 'coproc']);
const TERMINATORS = new Set([';', '&']);

/** The word's name if it is an assignment word (`NAME=` / `NAME+=` written unquoted). */
export function assignmentOf(word: WordToken): { name: string; append: boolean; value: Part[] } | undefined {
  const first = word.parts[0];
  if (!first || first.k !== 'lit' || first.quoted) return undefined;
  const m = ASSIGN_RE.exec(first.text);
  if (!m) return undefined;
  const rest = first.text.slice(m[0].length);
  const value: Part[] = rest === '' ? [] : [{ k: 'lit', text: rest, quoted: false }];
  value.push(...word.parts.slice(1));
  return { name: m[1]!, append: m[2] === '+', value };
}

function isPlainWord(tok: Token | undefined, text: string): boolean {
  return tok !== undefined && tok.t === 'word' && tok.raw === text;
}

function constructName(tok: Token): string {
  if (tok.t === 'op') return tok.op === '(' ? 'subshell or arithmetic ( ... )' : `operator ${tok.op}`;
  if (tok.t === 'nl') return 'newline';
  switch (tok.raw) {
    case 'if':
      return '`if` statement';
    case 'case':
      return '`case` statement';
    case 'for':
    case 'while':
    case 'until':
    case 'select':
      return `\`${tok.raw}\` loop`;
    case '[[':
      return '`[[ ... ]]` test';
    case '{':
      return '`{ ... }` group';
    case 'exit':
      return '`exit`';
    case 'source':
    case '.':
      return '`source` of another file';
    default:
      return `command \`${tok.raw.length > 30 ? tok.raw.slice(0, 30) + '...' : tok.raw}\``;
  }
}

export function scanShell(src: string): Scan {
  return new Scanner(src, tokenize(src)).run();
}

interface Frame {
  close: string;
  /** `case` phases: before `in`, reading patterns, reading a branch body. */
  phase?: 'head' | 'pattern' | 'body';
}

class Scanner {
  private p = 0;
  private readonly out: Scan = { statements: [], functions: [], unsupported: [] };

  constructor(
    private readonly src: string,
    private readonly toks: Token[],
  ) {}

  run(): Scan {
    while (this.p < this.toks.length) {
      const tok = this.toks[this.p]!;
      if (tok.t === 'nl' || (tok.t === 'op' && TERMINATORS.has(tok.op))) {
        this.p++;
        continue;
      }
      if (tok.t === 'word' && this.tryAssignments()) continue;
      if (tok.t === 'word' && tok.raw === 'export' && this.tryExport()) continue;
      if (this.tryFunction(false)) continue;
      this.unsupported(tok);
      this.skip('statement');
    }
    return this.out;
  }

  private unsupported(tok: Token, construct = constructName(tok)): void {
    this.out.unsupported.push({ construct, line: tok.line });
  }

  private atStatementEnd(i: number): boolean {
    const t = this.toks[i];
    return t === undefined || t.t === 'nl' || (t.t === 'op' && t.op === ';');
  }

  /** Parts no native expansion can evaluate, reported as constructs. */
  private checkParts(parts: Part[], line: number): void {
    for (const part of parts) {
      if (part.k === 'unsupported') this.out.unsupported.push({ construct: part.construct, line });
      else if (part.k === 'param' && part.word) this.checkParts(part.word, line);
    }
  }

  private tryAssignments(): boolean {
    const assignments: Assignment[] = [];
    let i = this.p;
    for (;;) {
      const t = this.toks[i];
      if (!t || t.t !== 'word') break;
      const a = assignmentOf(t);
      if (!a) break;
      assignments.push({ ...a, line: t.line });
      i++;
    }
    if (assignments.length === 0) return false;
    const next = this.toks[i];
    if (!this.atStatementEnd(i)) {
      const prev = this.toks[i - 1] as WordToken;
      if (next && next.t === 'op' && next.op === '(' && next.start === prev.end) this.unsupported(next, 'array assignment NAME=(...)');
      else if (next && next.t === 'word') this.unsupported(next, `command with assignment prefix (\`${prev.raw} ${next.raw}\`)`);
      else if (next) this.unsupported(next);
      this.skip('statement');
      return true;
    }
    for (const a of assignments) this.checkParts(a.value, a.line);
    this.out.statements.push({ line: this.toks[this.p]!.line, assignments, exported: false });
    this.p = i;
    return true;
  }

  private tryExport(): boolean {
    const start = this.toks[this.p] as WordToken;
    const assignments: Assignment[] = [];
    let i = this.p + 1;
    for (; !this.atStatementEnd(i); i++) {
      const t = this.toks[i]!;
      if (t.t !== 'word') return false;
      const a = assignmentOf(t);
      if (a) assignments.push({ ...a, line: t.line });
      else if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(t.raw)) return false; // `export -n`, `export -f`, ...
    }
    for (const a of assignments) this.checkParts(a.value, a.line);
    if (assignments.length > 0) this.out.statements.push({ line: start.line, assignments, exported: true });
    this.p = i;
    return true;
  }

  /** `name() body` or `function name [()] body` at this.p; records the definition. */
  private tryFunction(nested: boolean): boolean {
    const t0 = this.toks[this.p];
    if (!t0 || t0.t !== 'word') return false;
    let i: number;
    let name: string;
    if (t0.raw === 'function') {
      const n = this.toks[this.p + 1];
      if (!n || n.t !== 'word' || !FUNC_NAME_RE.test(n.raw)) return false;
      name = n.raw;
      i = this.p + 2;
      const o = this.toks[i];
      const c = this.toks[i + 1];
      if (o && o.t === 'op' && o.op === '(' && c && c.t === 'op' && c.op === ')') i += 2;
    } else {
      const o = this.toks[this.p + 1];
      const c = this.toks[this.p + 2];
      if (RESERVED.has(t0.raw) || !FUNC_NAME_RE.test(t0.raw)) return false;
      if (!o || o.t !== 'op' || o.op !== '(' || !c || c.t !== 'op' || c.op !== ')') return false;
      name = t0.raw;
      i = this.p + 3;
    }
    while (this.toks[i]?.t === 'nl') i++;
    const open = this.toks[i];
    if (!open) return false;
    this.p = i;
    const end = this.skip('compound'); // index of the closing token
    const close = this.toks[end]!;
    const body = isPlainWord(open, '{') ? this.src.slice(open.end, close.start) : this.src.slice(open.start, close.end);
    this.out.functions.push({ name, body, source: this.src.slice(t0.start, close.end), line: t0.line, nested });
    return true;
  }

  /**
   * Skips one statement (up to its terminator) or, in 'compound' mode, one compound command starting at this.p
   * (returns the index of its closing token). Function definitions met on the way are recorded as nested.
   */
  private skip(mode: 'statement' | 'compound'): number {
    const stack: Frame[] = [];
    let cmdPos = true;
    let last = this.p;
    while (this.p < this.toks.length) {
      const tok = this.toks[this.p]!;
      const top = stack[stack.length - 1];
      last = this.p;
      if (top?.close === ']]') {
        if (isPlainWord(tok, ']]')) stack.pop();
        this.p++;
        if (mode === 'compound' && stack.length === 0) return last;
        continue;
      }
      if (top?.close === 'esac' && top.phase !== 'body') {
        if (isPlainWord(tok, 'esac')) {
          stack.pop();
          cmdPos = false;
        } else if (top.phase === 'head' && isPlainWord(tok, 'in')) top.phase = 'pattern';
        else if (top.phase === 'pattern' && tok.t === 'op' && tok.op === ')') {
          top.phase = 'body';
          cmdPos = true;
        }
        this.p++;
        if (mode === 'compound' && stack.length === 0) return last;
        continue;
      }
      if (tok.t === 'nl' || (tok.t === 'op' && TERMINATORS.has(tok.op))) {
        this.p++;
        cmdPos = true;
        if (stack.length === 0 && mode === 'statement') return last;
        continue;
      }
      if (tok.t === 'op') {
        if (['&&', '||', '|', '|&'].includes(tok.op)) cmdPos = true;
        else if (tok.op === '(' && cmdPos) stack.push({ close: ')' });
        else if (tok.op === ')' && top?.close === ')') {
          stack.pop();
          cmdPos = false;
        } else if ((tok.op === ';;' || tok.op === ';&' || tok.op === ';;&') && top?.close === 'esac') {
          top.phase = 'pattern';
        }
        this.p++;
        if (mode === 'compound' && stack.length === 0) return last;
        continue;
      }
      // A word.
      if (cmdPos) {
        const r = tok.raw;
        if (r === 'if') stack.push({ close: 'fi' });
        else if (r === 'for' || r === 'while' || r === 'until' || r === 'select') stack.push({ close: 'done' });
        else if (r === 'case') stack.push({ close: 'esac', phase: 'head' });
        else if (r === '{') stack.push({ close: '}' });
        else if (r === '[[') stack.push({ close: ']]' });
        else if ((r === 'fi' || r === 'done' || r === '}') && top?.close === r) {
          stack.pop();
          this.p++;
          cmdPos = false;
          if (mode === 'compound' && stack.length === 0) return last;
          continue;
        } else if (r === 'esac' && top?.close === 'esac') {
          stack.pop();
        } else if (r === 'then' || r === 'else' || r === 'elif' || r === 'do' || r === '!' || r === 'time') {
          // still at command position
        } else if (this.tryFunction(true)) {
          cmdPos = false;
          if (mode === 'compound' && stack.length === 0) return this.p - 1;
          continue;
        } else if (assignmentOf(tok)) {
          // `A=1 cmd`: the command word follows
        } else cmdPos = false;
        if (['if', 'for', 'while', 'until', 'select', 'case', '{', '[[', 'then', 'else', 'elif', 'do', '!', 'time'].includes(r)) cmdPos = r !== 'case' && r !== 'for' && r !== 'select';
      }
      this.p++;
      if (mode === 'compound' && stack.length === 0) return last;
    }
    if (stack.length > 0) {
      const open = stack[stack.length - 1]!;
      throw new ScanError(this.toks[last]?.line ?? 1, `syntax error: missing \`${open.close}\` before the end of the file`);
    }
    return last;
  }
}

export class ScanError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

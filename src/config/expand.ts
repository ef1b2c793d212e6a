// Native evaluation of the config subset: assignments and exports, in order, with bash's expansion rules for
// assignment words (no word splitting or globbing; `~` expanded at the start and after each unquoted `:`; unset
// variables expand to the empty string). Variables in `protect` keep their value (the environment overrides the
// file), exactly as the bash-mode evaluator does, so both paths give the same result.
import type { Part } from './shell-lexer.js';
import type { AssignStatement } from './shell-scan.js';

export interface EvalVar {
  value: string;
  /** Line of the assignment that set the value (last one wins). */
  line: number;
}

export interface EvalResult {
  /** Variables the file assigned, with their final value (protected names keep the environment's value). */
  vars: Map<string, EvalVar>;
  /** Protected names the file tried to assign (the environment won), with the line of the last attempt. */
  shadowed: Map<string, number>;
  /** `$X` used while X was unset (expands to '' as in bash): worth a warning in `deliver check`. */
  unsetRefs: { name: string; line: number }[];
}

/** Thrown when a word needs something only bash can do; the loader then evaluates the file with bash. */
export class NeedsBash extends Error {
  constructor(
    readonly construct: string,
    readonly line: number,
  ) {
    super(`${construct} at line ${line}`);
  }
}

/** `${X:?message}` on an unset X: bash stops with that message. */
export class ParamError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export function evaluateNative(statements: AssignStatement[], env: Record<string, string | undefined>, protect: ReadonlySet<string>): EvalResult {
  const scope = new Map<string, string>();
  for (const [k, v] of Object.entries(env)) if (v !== undefined) scope.set(k, v);
  const result: EvalResult = { vars: new Map(), shadowed: new Map(), unsetRefs: [] };

  const assign = (name: string, value: string, line: number) => {
    if (protect.has(name)) {
      result.shadowed.set(name, line);
      return;
    }
    scope.set(name, value);
    result.vars.set(name, { value, line });
  };

  for (const stmt of statements) {
    if (stmt.exported) {
      // `export A=1 B=$A`: the builtin's arguments are all expanded before any is assigned (B gets the old A).
      const values = stmt.assignments.map((a) => expandAssignmentWord(a.value, { scope, line: a.line, assign, result }));
      stmt.assignments.forEach((a, i) => assign(a.name, a.append ? (scope.get(a.name) ?? '') + values[i]! : values[i]!, a.line));
      continue;
    }
    // `A=1 B=$A`: plain assignments happen left to right (B gets 1).
    for (const a of stmt.assignments) {
      const value = expandAssignmentWord(a.value, { scope, line: a.line, assign, result });
      assign(a.name, a.append ? (scope.get(a.name) ?? '') + value : value, a.line);
    }
  }
  return result;
}

interface ExpandContext {
  scope: Map<string, string>;
  line: number;
  assign: (name: string, value: string, line: number) => void;
  result: EvalResult;
}

function home(ctx: ExpandContext): string {
  const h = ctx.scope.get('HOME');
  if (h === undefined) throw new NeedsBash('~ with HOME unset', ctx.line);
  return h;
}

/**
 * Tilde expansion in an assignment value: at the start and after every unquoted `:`, a `~` (or `~+`, `~-`) followed
 * by `/`, `:` or the end of the word. `~user` is left to bash.
 */
function expandTildes(parts: Part[], ctx: ExpandContext, assignment: boolean): Part[] {
  const out: Part[] = [];
  parts.forEach((part, idx) => {
    if (part.k !== 'lit' || part.quoted) {
      out.push(part);
      return;
    }
    const isLastPart = idx === parts.length - 1;
    let text = part.text;
    let result = '';
    // Positions where a tilde prefix may start: the word start (only in the first part) and after unquoted ':'.
    let atStart = idx === 0;
    while (text.length > 0) {
      if (atStart && text[0] === '~') {
        const m = assignment ? /^~([^/:]*)/.exec(text)! : /^~([^/]*)/.exec(text)!;
        const rest = text.slice(m[0].length);
        const endsHere = rest.length > 0 || isLastPart;
        if (endsHere) {
          const user = m[1]!;
          if (user === '') result += home(ctx);
          else if (user === '+' && ctx.scope.has('PWD')) result += ctx.scope.get('PWD');
          else if (user === '-' && ctx.scope.has('OLDPWD')) result += ctx.scope.get('OLDPWD');
          else if (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(user)) throw new NeedsBash(`~${user} (home of another user)`, ctx.line);
          else result += m[0];
          text = rest;
          atStart = false;
          continue;
        }
      }
      const colon = assignment ? text.indexOf(':') : -1;
      if (colon < 0) {
        result += text;
        text = '';
      } else {
        result += text.slice(0, colon + 1);
        text = text.slice(colon + 1);
        atStart = true;
      }
    }
    out.push({ k: 'lit', text: result, quoted: false });
  });
  return out;
}

export function expandAssignmentWord(parts: Part[], ctx: ExpandContext): string {
  return expandParts(expandTildes(parts, ctx, true), ctx);
}

function expandParts(parts: Part[], ctx: ExpandContext): string {
  let out = '';
  for (const part of parts) {
    switch (part.k) {
      case 'lit':
        out += part.text;
        break;
      case 'length':
        out += String([...(ctx.scope.get(part.name) ?? '')].length);
        break;
      case 'unsupported':
        throw new NeedsBash(part.construct, ctx.line);
      case 'param':
        out += expandParam(part, ctx);
        break;
    }
  }
  return out;
}

function expandParam(part: Extract<Part, { k: 'param' }>, ctx: ExpandContext): string {
  const value = ctx.scope.get(part.name);
  const op = part.op;
  if (op === undefined) {
    if (value === undefined) ctx.result.unsetRefs.push({ name: part.name, line: ctx.line });
    return value ?? '';
  }
  const colon = op.startsWith(':');
  const unsetOrNull = value === undefined || (colon && value === '');
  // The operator's word: tilde-expanded when unquoted, at its start and after each ':' (bash's assignment context),
  // except for `=`/`:=` words, where bash expands only a leading `~` (checked against bash in the tests).
  const word = () => expandParts(expandTildes(part.word ?? [], ctx, op !== '=' && op !== ':='), ctx);
  switch (op) {
    case ':-':
    case '-':
      return unsetOrNull ? word() : value!;
    case ':=':
    case '=': {
      if (!unsetOrNull) return value!;
      const w = word();
      ctx.assign(part.name, w, ctx.line);
      return ctx.scope.get(part.name) ?? w;
    }
    case ':+':
    case '+':
      return unsetOrNull ? '' : word();
    case ':?':
    case '?': {
      if (!unsetOrNull) return value!;
      const msg = word();
      throw new ParamError(ctx.line, `${part.name}: ${msg === '' ? (colon ? 'parameter null or not set' : 'parameter not set') : msg}`);
    }
  }
}

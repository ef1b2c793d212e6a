import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { and, captured, caseOf, chain, envPrefix, forIn, ifThen, or, quote, raw, sh, shC, shellFunction, statementLines, subshell, untilDo, whileDo } from '../../src/ssh/quote.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

// Hostile values go through `sh`/`quote` and the result runs under the real /bin/sh: nothing may execute and
// every value must arrive byte-exact.
const canary = join(tmp('quote-'), 'pwned');
export const HOSTILE = [
  `$(touch ${canary})`,
  `\`touch ${canary}\``,
  `; touch ${canary}`,
  `&& touch ${canary}`,
  `| touch ${canary}`,
  `'; touch ${canary}; '`,
  `"; touch ${canary}; "`,
  `it's`,
  `''`,
  `\\'`,
  `line1\nline2; touch ${canary}`,
  `tab\there`,
  '*',
  '/etc/*',
  '?',
  '[a-z]*',
  '~',
  '~root',
  '-rf',
  '--help',
  '$HOME',
  '${HOME}',
  '$((1+1))',
  '!!',
  '#not a comment',
  ' leading and trailing ',
  '',
  'ümlaut ☃ 日本',
  `> ${canary}`,
  `< /etc/passwd`,
  '\\',
  'a\\nb',
  '%s%n',
  '\x01\x7f',
];

function runSh(script: string, cwd?: string): string {
  return execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
}

describe('quote / sh with hostile values under real /bin/sh', () => {
  it.each(HOSTILE.map((v) => [JSON.stringify(v), v]))('%s arrives byte-exact and executes nothing', (_n, value) => {
    // run in a directory with files so any glob expansion would show
    const cwd = tmp('quote-cwd-');
    execFileSync('/bin/sh', ['-c', 'touch a b ./-rf'], { cwd });
    const out = runSh(sh`printf '%s' ${value}`.text, cwd);
    expect(out).toBe(value);
    expect(runSh(`printf '%s' ${quote(value)}`, cwd)).toBe(value);
    expect(existsSync(canary)).toBe(false);
    expect(readdirSync(cwd).sort()).toEqual(['-rf', 'a', 'b']);
  });

  it('arrays become separate quoted words', () => {
    const out = runSh(sh`for w in ${HOSTILE}; do printf '<%s>' "$w"; done`.text);
    expect(out).toBe(HOSTILE.map((v) => `<${v}>`).join(''));
    expect(existsSync(canary)).toBe(false);
  });

  it('envPrefix quotes values and rejects bad names', () => {
    for (const value of HOSTILE) {
      const out = runSh(`${envPrefix({ V: value }).text} sh -c 'printf "%s" "$V"'`);
      expect(out).toBe(value);
    }
    expect(() => envPrefix({ 'A;touch x': 'v' })).toThrow(/invalid environment variable name/);
    expect(existsSync(canary)).toBe(false);
  });

  it('shC survives a second level of shell parsing', () => {
    for (const value of HOSTILE) {
      expect(runSh(shC(sh`printf '%s' ${value}`).text)).toBe(value);
    }
    expect(existsSync(canary)).toBe(false);
  });

  it('and() stops at the first failure even when a part is a list or a pipeline', () => {
    for (const part of ['echo a; echo b', 'echo a || echo b', 'echo a | cat', 'if true; then echo a; fi;', 'echo a\necho b']) {
      expect(runSh(and(raw('false'), raw(part), raw('echo c')).text + ' || echo stopped')).toBe('stopped\n');
      expect(runSh(and(raw('true'), raw(part)).text)).toMatch(/^a\n/);
    }
  });

  it('and() closes a part that ends in a comment on its own line', () => {
    expect(and(raw('cd /x'), raw('a; b # why')).text).toBe('cd /x && { a; b # why\n}');
    expect(runSh(and(raw('true'), raw('echo a; echo b # why; }'), raw('echo c')).text)).toBe('a\nb\nc\n');
    expect(runSh(and(raw('false'), raw('echo a # why'), raw('echo c')).text + ' || echo stopped')).toBe('stopped\n');
  });

  it('raw and and() keep trusted text as is', () => {
    expect(and(raw('true'), sh`printf %s ${'a b'}`).text).toBe(`true && printf %s 'a b'`);
    expect(runSh(and(raw('true'), sh`printf %s ${'a b'}`).text)).toBe('a b');
  });

  it('leaves safe words bare for readable commands', () => {
    expect(quote('/srv/app/releases/1.2.3')).toBe('/srv/app/releases/1.2.3');
    expect(quote('')).toBe("''");
    expect(quote("it's")).toBe(`'it'\\''s'`);
  });
});

/** The lines --verbose prints, and that they join (trimmed, with spaces) into the script itself. */
function lines(script: ReturnType<typeof sh>): string[] {
  const out = statementLines(script);
  expect(out.map((x) => x.trim()).join(' ')).toBe(script.text);
  return out;
}

describe('statement helpers: exact text, real sh, one statement per line', () => {
  it('forIn: a loop over words, with the redirect of the whole loop', () => {
    const s = forIn('f', sh`a ${'b c'}`, chain(sh`[ "$f" != a ] || continue`, sh`printf '%s;' "$f"`), '2>/dev/null');
    expect(s.text).toBe(`for f in a 'b c'; do [ "$f" != a ] || continue; printf '%s;' "$f"; done 2>/dev/null`);
    expect(runSh(s.text)).toBe('b c;');
    expect(lines(s)).toEqual(['for f in a \'b c\'; do', '  [ "$f" != a ] || continue;', `  printf '%s;' "$f";`, 'done 2>/dev/null']);
    expect(() => forIn('f; rm', sh`a`, sh`true`)).toThrow(/invalid shell name/);
  });

  it('whileDo and untilDo', () => {
    const w = chain(sh`i=0`, whileDo(sh`[ $i -lt 3 ]`, chain(sh`i=$((i+1))`, sh`printf %s $i`)));
    expect(w.text).toBe('i=0; while [ $i -lt 3 ]; do i=$((i+1)); printf %s $i; done');
    expect(runSh(w.text)).toBe('123');
    expect(lines(w)).toEqual(['i=0;', 'while [ $i -lt 3 ]; do', '  i=$((i+1));', '  printf %s $i;', 'done']);
    const u = chain(sh`i=0`, untilDo(sh`[ $i -ge 2 ]`, sh`i=$((i+1))`), sh`echo $i`);
    expect(u.text).toBe('i=0; until [ $i -ge 2 ]; do i=$((i+1)); done; echo $i');
    expect(runSh(u.text)).toBe('2\n');
    expect(lines(u)).toEqual(['i=0;', 'until [ $i -ge 2 ]; do', '  i=$((i+1));', 'done;', 'echo $i']);
  });

  it('caseOf: arms with their statements, an empty arm does nothing', () => {
    const c = (word: string) => caseOf(sh`${word}`, [[sh`a*`, chain(sh`echo A`, sh`echo B`)], [sh`b`, raw('')], [sh`*`, and(sh`true`, sh`echo other`)]]);
    expect(c('x').text).toBe('case x in a*) echo A; echo B;; b) ;; *) true && echo other;; esac');
    expect(runSh(c('ab').text)).toBe('A\nB\n');
    expect(runSh(c('b').text)).toBe('');
    expect(runSh(c('z; echo no').text)).toBe('other\n');
    expect(lines(c('x'))).toEqual(['case x in', '  a*)', '    echo A;', '    echo B;;', '  b) ;;', '  *)', '    true &&', '    echo other;;', 'esac']);
  });

  it('captured, subshell and shellFunction keep their statements', () => {
    const cap = chain(captured('n', chain(sh`x=1`, sh`echo "$x"`, sh`exit 0`)), sh`echo "n=$n x=$x"`);
    expect(cap.text).toBe('n=$( x=1; echo "$x"; exit 0; ); echo "n=$n x=$x"');
    expect(runSh(cap.text)).toBe('n=1 x=\n');
    expect(lines(cap)).toEqual(['n=$(', '  x=1;', '  echo "$x";', '  exit 0;', ');', 'echo "n=$n x=$x"']);
    // A subshell (like a loop or a `case`) is one command: `and` needs no braces around it.
    const sub = and(subshell(chain(sh`echo a`, sh`exit 0`)), sh`echo b`);
    expect(sub.text).toBe('( echo a; exit 0; ) && echo b');
    expect(runSh(sub.text)).toBe('a\nb\n');
    expect(lines(sub)).toEqual(['(', '  echo a;', '  exit 0;', ') &&', 'echo b']);
    expect(runSh(and(forIn('f', sh`a`, sh`false`), sh`echo no`).text + ' || echo stopped')).toBe('stopped\n');
    const fn = chain(shellFunction('twice', chain(sh`echo "$1"`, sh`echo "$1"`)), sh`twice x`);
    expect(fn.text).toBe('twice() { echo "$1"; echo "$1"; }; twice x');
    expect(runSh(fn.text)).toBe('x\nx\n');
    expect(lines(fn)).toEqual(['twice() {', '  echo "$1";', '  echo "$1";', '};', 'twice x']);
    expect(() => captured('$(x)', sh`true`)).toThrow(/invalid shell name/);
  });

  it('or: the fallback runs only on failure; a leading and-list needs no braces, a later part does', () => {
    const o = or(and(sh`true`, sh`false`), chain(sh`echo fell`, sh`echo back`));
    expect(o.text).toBe('true && false || { echo fell; echo back; }');
    expect(runSh(o.text)).toBe('fell\nback\n');
    expect(runSh(or(and(sh`true`, sh`echo ok`), sh`echo no`).text)).toBe('ok\n');
    expect(lines(o)).toEqual(['true &&', 'false ||', '{', '  echo fell;', '  echo back;', '}']);
    expect(or(chain(sh`a`, sh`b`), sh`c`).text).toBe('{ a; b; } || c');
    expect(and(sh`x`, or(sh`a`, sh`b`)).text).toBe('x && { a || b; }');
    expect(runSh(and(sh`false`, or(sh`echo a`, sh`echo b`)).text + ' || echo stopped')).toBe('stopped\n');
    expect(lines(ifThen(sh`true`, or(sh`false`, sh`echo x`)))).toEqual(['if true; then', '  false ||', '  echo x;', 'fi']);
  });
  it('a redirection (2>&1, >&2) does not make a part a list: it is not grouped', () => {
    expect(or(raw('command -v git >/dev/null 2>&1'), raw('echo no >&2')).text).toBe('command -v git >/dev/null 2>&1 || echo no >&2');
    expect(and(raw('a 2>&1 | b'), raw('d >&2; e')).text).toBe('{ a 2>&1 | b; } && { d >&2; e; }');
  });

  it('statementLines() of one part that and() grouped prints the group: the lines join into the script', () => {
    const one = and(chain(raw('a'), raw('b')));
    expect(one.text).toBe('{ a; b; }');
    expect(statementLines(one)).toEqual(['{', '  a;', '  b;', '}']);
    expect(statementLines(and(raw('a')))).toEqual(['a']);
  });
});

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { and, chain, envPrefix, forIn, ifThen, or, quote, raw, sh, shC, statementLines } from '../../src/ssh/quote.js';
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

  it('or() runs a part only when the one before failed, a list part grouped as one', () => {
    expect(or(sh`test -d ${'/x y'}`, and(raw('echo no'), raw('exit 3'))).text).toBe(`test -d '/x y' || { echo no && exit 3; }`);
    expect(runSh(`${or(raw('true'), and(raw('echo a'), raw('echo b'))).text}; echo c`)).toBe('c\n');
    expect(runSh(`${or(raw('false'), and(raw('echo a'), raw('echo b'))).text}; echo c`)).toBe('a\nb\nc\n');
    expect(runSh(`${or(and(raw('true'), raw('false')), raw('echo failed')).text}`)).toBe('failed\n');
    expect(statementLines(or(and(raw('a'), raw('b')), raw('exit 3')))).toEqual(['{', '  a &&', '  b;', '} ||', 'exit 3']);
  });

  it('forIn() loops over quoted words, its body printed indented', () => {
    const loop = forIn('f', sh`${['a b', "it's"]}`, ifThen(raw('[ -n "$f" ]'), raw('printf "<%s>" "$f"')));
    expect(loop.text).toBe(`for f in 'a b' 'it'\\''s'; do if [ -n "$f" ]; then printf "<%s>" "$f"; fi; done`);
    expect(runSh(loop.text)).toBe("<a b><it's>");
    const lines = statementLines(and(raw('true'), loop, raw('echo')));
    expect(lines).toEqual(['true &&', '{', `  for f in 'a b' 'it'\\''s'; do`, '    if [ -n "$f" ]; then', '      printf "<%s>" "$f";', '    fi;', '  done;', '} &&', 'echo']);
    expect(lines.map((l) => l.trim()).join(' ')).toBe(and(raw('true'), loop, raw('echo')).text);
    expect(() => forIn('a b', raw('x'), raw('true'))).toThrow('invalid shell variable name');
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

// The native config parser/evaluator, case by case: every case is checked against the expected values AND against
// real bash sourcing the same text, so "resolves values exactly as bash would" is tested, not assumed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateNative } from '../../src/config/expand.js';
import { scanShell } from '../../src/config/shell-scan.js';
import { sourceWithBash } from '../fixtures/configs/source-with-bash.js';

const dir = mkdtempSync(join(tmpdir(), 'deliver-parser-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE_ENV = { HOME: '/home/tester', PATH: '/usr/bin:/bin', PWD: '/', SET_EMPTY: '', FROM_ENV: 'env value' };

let n = 0;
function native(text: string, env: Record<string, string> = BASE_ENV) {
  const scan = scanShell(text);
  expect(scan.unsupported, 'the case must stay in the native subset').toEqual([]);
  return evaluateNative(scan.statements, env, new Set());
}

function bash(text: string, env: Record<string, string> = BASE_ENV) {
  const file = join(dir, `case-${++n}.config`);
  writeFileSync(file, text);
  return sourceWithBash(file, env);
}

/** Native values equal the expected ones, and bash agrees on every variable either of them sets. */
function check(text: string, expected: Record<string, string>, env: Record<string, string> = BASE_ENV) {
  const nat = native(text, env);
  const natValues = Object.fromEntries([...nat.vars].map(([k, v]) => [k, v.value]));
  for (const [k, v] of Object.entries(expected)) expect(natValues[k], `native ${k}`).toBe(v);
  const b = bash(text, env);
  for (const [k, v] of Object.entries(natValues)) expect(b.all.get(k), `bash ${k}`).toBe(v);
  for (const k of b.changed) expect(natValues[k], `native misses ${k}, which bash sets`).toBe(b.all.get(k));
  return nat;
}

describe('quoting', () => {
  it('plain unquoted value', () => check('A=1\n', { A: '1' }));
  it('double quotes keep spaces', () => check('A="a  b"\n', { A: 'a  b' }));
  it('single quotes are literal', () => check(`A='a $B "x" \\n'\n`, { A: 'a $B "x" \\n' }));
  it("ANSI-C $'...' escapes", () => check("A=$'a\\tb\\nc\\x41\\101\\\\ \\''\n", { A: 'a\tb\ncAA\\ \'' }));
  it('$"..." is a double-quoted string', () => check('A=$"hi $HOME"\n', { A: 'hi /home/tester' }));
  it('adjacent quoted and unquoted parts concatenate', () => check(`A=foo"bar"'baz'$'\\t'x\n`, { A: 'foobarbaz\tx' }));
  it('backslash escapes outside quotes', () => check('A=a\\ b\\$c\\"d\n', { A: 'a b$c"d' }));
  it('line continuation outside quotes', () => check('A=abc\\\ndef\n', { A: 'abcdef' }));
  it('line continuation inside double quotes', () => check('A="abc\\\ndef"\n', { A: 'abcdef' }));
  it('newline inside double quotes is kept', () => check('A="a\nb"\n', { A: 'a\nb' }));
  it('newline inside single quotes is kept', () => check("A='a\nb'\n", { A: 'a\nb' }));
  it('double-quote escapes: only $ ` " \\ are special', () => check('A="a\\"b\\\\c\\$d\\e"\n', { A: 'a"b\\c$d\\e' }));
  it('= inside a value', () => check('A=b=c\n', { A: 'b=c' }));
  it('empty values', () => check('A=\nB=""\nC=\'\'\n', { A: '', B: '', C: '' }));
  it('a lone $ is literal', () => check('A=cost$\nB=$/x\nC="$"\n', { A: 'cost$', B: '$/x', C: '$' }));
  it('# starts a comment only at a word start', () => check('A=1 # comment\nB=a#b\n# C=3\n', { A: '1', B: 'a#b' }));
  it('carriage returns stay in values, as in bash', () => check('A=1\r\nB="x"\r\n', { A: '1\r', B: 'x\r' }));
});

describe('expansions', () => {
  it('$VAR', () => check('A=one\nB=$A/x\n', { B: 'one/x' }));
  it('${VAR} next to text', () => check('A=one\nB=${A}x\n', { B: 'onex' }));
  it('unset variables expand to empty', () => check('B=x${NOPE}y$NOPE2\n', { B: 'xy' }));
  it('environment variables are visible', () => check('B="[$FROM_ENV]"\n', { B: '[env value]' }));
  it('a variable assigned twice: the last wins', () => check('A=1\nA=2\n', { A: '2' }));
  it('values are expanded at assignment time', () => check('A=1\nB=$A\nA=2\n', { A: '2', B: '1' }));
  it('assignments on one line run left to right', () => check('A=1 B=$A\n', { B: '1' }));
  it('export expands every argument before assigning', () => check('A=old\nexport A=new B=$A\n', { A: 'new', B: 'old' }));
  it('${X:-default} when unset', () => check('B=${NOPE:-dflt}\n', { B: 'dflt' }));
  it('${X:-default} when set but empty', () => check('B=${SET_EMPTY:-dflt}\n', { B: 'dflt' }));
  it('${X-default} when set but empty', () => check('B=${SET_EMPTY-dflt}\n', { B: '' }));
  it('${X:-default} sees the environment', () => check('B=${FROM_ENV:-dflt}\n', { B: 'env value' }));
  it('${X:=v} assigns X', () => check('B=${X:=assigned}\n', { B: 'assigned', X: 'assigned' }));
  it('${X=v} assigns only when unset', () => check('B=${SET_EMPTY=nope}${Y=yes}\n', { B: 'yes', Y: 'yes' }));
  it('${X:+alt} and ${X+alt}', () => check('A=1\nB=${A:+alt}\nC=${NOPE:+alt}\nD=${SET_EMPTY+alt}\nE=${SET_EMPTY:+alt}\n', { B: 'alt', C: '', D: 'alt', E: '' }));
  it('nested defaults', () => check('B=${NOPE:-${NOPE2:-deep}}\nC=${NOPE:-a${FROM_ENV}b}\n', { B: 'deep', C: 'aenv valueb' }));
  it('double-quoted default word', () => check('B=${NOPE:-"a  b"}\n', { B: 'a  b' }));
  it('single-quoted default word outside double quotes', () => check("B=${NOPE:-'x  $y'}\n", { B: 'x  $y' }));
  it('default word inside double quotes keeps single quotes', () => check(`B="\${NOPE:-'x'}"\n`, { B: "'x'" }));
  it('empty default', () => check('B=${NOPE:-}\n', { B: '' }));
  it('${#VAR} is the length', () => check('A=hello\nB=${#A}\n', { B: '5' }));
  it('A+=x appends', () => check('A=a\nA+=b\nB+=c\n', { A: 'ab', B: 'c' }));
  it('values with spaces are not split', () => check('A="a b"\nB=$A\n', { B: 'a b' }));
});

describe('tilde', () => {
  it('~ at the start of a value', () => check('A=~/app\nB=~\n', { A: '/home/tester/app', B: '/home/tester' }));
  it('~ after each unquoted colon', () => check('A=~/a:~/b\n', { A: '/home/tester/a:/home/tester/b' }));
  it('quoted ~ stays literal', () => check('A="~/x"\nB=\'~\'\nC=\\~/y\n', { A: '~/x', B: '~', C: '~/y' }));
  it('~ elsewhere stays literal', () => check('A=x~\nB=a/~/b\n', { A: 'x~', B: 'a/~/b' }));
  it('~ in a default word', () => check('A=${NOPE:-~/d}\n', { A: '/home/tester/d' }));
  it('$HOME', () => check('A=$HOME/app\n', { A: '/home/tester/app' }));
});

describe('statements', () => {
  it('shebang, comments, blank lines and no final newline', () => check('#!/usr/bin/env bash\n\n# app\nAPP="myapp"\n\nBUILD_USER=builder', { APP: 'myapp', BUILD_USER: 'builder' }));
  it('semicolons separate assignments', () => check('A=1; B=2;\n', { A: '1', B: '2' }));
  it('export NAME=value and export NAME', () => check('A=1\nexport A\nexport B="x y"\n', { A: '1', B: 'x y' }));
  it('assignments after a function definition', () => check('f() {\n  X=inside\n}\nA=after\n', { A: 'after' }));
});

describe('functions (hooks)', () => {
  it('captures name() { ... } verbatim with its line', () => {
    const text = 'APP=x\n\npre_erlang_get_and_update_deps() {\n  local p="/home/builder/prod.secret.exs"\n  __sync_remote "ln -sfn $p \'$BUILD_AT/config/prod.secret.exs\'"\n}\n';
    const scan = scanShell(text);
    expect(scan.unsupported).toEqual([]);
    expect(scan.functions).toHaveLength(1);
    const f = scan.functions[0]!;
    expect(f.name).toBe('pre_erlang_get_and_update_deps');
    expect(f.line).toBe(3);
    expect(f.body).toBe('\n  local p="/home/builder/prod.secret.exs"\n  __sync_remote "ln -sfn $p \'$BUILD_AT/config/prod.secret.exs\'"\n');
    expect(f.source).toBe(text.slice(text.indexOf('pre_erlang'), text.lastIndexOf('}') + 1));
  });

  it('function keyword forms, braces in strings, nested blocks and heredocs', () => {
    const text = [
      'function post_git_push {',
      '  echo "}"; echo \'{\'',
      '  if true; then { echo nested; }; fi',
      '  cat <<EOF',
      '}',
      'EOF',
      '}',
      'function pre_git_push() { echo one; }',
      'post_extract_release_archive ()',
      '{',
      '  case "$DEPLOY_ENVIRONMENT" in production) echo p ;; *) echo o ;; esac',
      '}',
      'A=1',
    ].join('\n');
    const scan = scanShell(text);
    expect(scan.unsupported).toEqual([]);
    expect(scan.functions.map((f) => [f.name, f.line])).toEqual([
      ['post_git_push', 1],
      ['pre_git_push', 8],
      ['post_extract_release_archive', 9],
    ]);
    expect(scan.functions[0]!.body).toContain('cat <<EOF\n}\nEOF');
    expect(scan.statements.map((s) => s.assignments[0]!.name)).toEqual(['A']);
  });

  it('function bodies are never evaluated', () => {
    const nat = native('pre_erlang_clean_compile() {\n  X=$(rm -rf /)\n  exit 1\n}\nA=1\n');
    expect([...nat.vars.keys()]).toEqual(['A']);
  });
});

describe('constructs left to bash', () => {
  const cases: [string, string, number][] = [
    ['V=$(git rev-parse HEAD)\n', 'command substitution $(...)', 1],
    ['A=1\nV=`date`\n', 'command substitution (`...`)', 2],
    ['if [ "$DEPLOY_ENVIRONMENT" = production ]; then\n  A=1\nfi\n', '`if` statement', 1],
    ['case "$TARGET_MIX_ENV" in\n  prod) A=1 ;;\nesac\n', '`case` statement', 1],
    ['for h in a b; do A=$h; done\n', '`for` loop', 1],
    ['[[ -n "$X" ]] && A=1\n', '`[[ ... ]]` test', 1],
    ['A=1\n\nexit 0\n', '`exit`', 3],
    ['source .deliver/secrets\n', '`source` of another file', 1],
    ['A=(one two)\n', 'array assignment NAME=(...)', 1],
    ['A=$((1 + 2))\n', 'arithmetic expansion $((...))', 1],
    ['A=${B%/*}\n', 'parameter expansion ${B%/*}', 1],
    ['A=$1\n', 'special parameter $1', 1],
    ['A=1 mix compile\n', 'command with assignment prefix (`A=1 mix`)', 1],
    ['echo hi\n', 'command `echo`', 1],
  ];
  for (const [text, construct, line] of cases) {
    it(`${construct} at line ${line}`, () => {
      expect(scanShell(text).unsupported[0]).toEqual({ construct, line });
    });
  }
});

describe('syntax errors carry their line', () => {
  const cases: [string, number, RegExp][] = [
    ['A=1\nB="unterminated\nC=3\n', 2, /unterminated double quote/],
    ["A=1\nB='x\n", 2, /unterminated single quote/],
    ['A=1\n\nB=${C:-x\n', 3, /unterminated \$\{/],
    ['A=$(echo x\n', 1, /unterminated \$\(/],
    ['A=`echo x\n', 1, /unterminated command substitution/],
    ['A=1\nf() {\n  echo x\n', 3, /missing `}`/],
    ['A=${}\n', 1, /bad substitution/],
  ];
  for (const [text, line, reason] of cases) {
    it(`${reason.source} at line ${line}`, () => {
      let err: unknown;
      try {
        scanShell(text);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ line });
      expect((err as Error).message).toMatch(reason);
    });
  }
});

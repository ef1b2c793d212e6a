import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mixTools, rebarTools } from '../helpers/tool-settings.js';
import * as c from '../../src/build/commands.js';
import { statementLines } from '../../src/ssh/quote.js';
import { pushUrl } from '../../src/build/build-release.js';
import { pushArgs } from '../../src/build/push.js';
import { detectProject } from '../../src/build/project.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();


describe('build host command lines', () => {
  it('expands ~ and $HOME on the build host and quotes everything else', () => {
    expect(c.remotePath('~/builds/my app').text).toBe(`"$HOME"/'builds/my app'`);
    expect(c.remotePath('$HOME/x').text).toBe('"$HOME"/x');
    expect(c.remotePath("/tmp/it's").text).toBe(`'/tmp/it'\\''s'`);
    expect(c.prelude('/srv/build', undefined).text).toBe('if [ -f "$HOME"/.profile ]; then . "$HOME"/.profile; fi; set -e; cd /srv/build');
    expect(c.prelude('/srv/build', '~/.bash_profile').text).toContain('. "$HOME"/.bash_profile;');
  });
  it('initialises a non-bare repository that accepts pushes to its branch', () => {
    const s = c.initRepository('~/build').text;
    expect(s).toContain('git init -q');
    expect(s).toContain('git config receive.denyCurrentBranch ignore');
    expect(s.endsWith('pwd')).toBe(true);
  });
  it('a step in the build directory reads one statement per line, and the repository script exactly so', () => {
    expect(statementLines(c.inBuildDir('~/b', undefined, c.gitReset('abc'), c.gitSubmodules()))).toEqual([
      'if [ -f "$HOME"/.profile ]; then',
      '  . "$HOME"/.profile;',
      'fi;',
      'set -e;',
      'cd "$HOME"/b;',
      'git reset --hard -q abc &&',
      '{',
      '  if [ -f .gitmodules ]; then',
      '    git submodule sync --recursive -q &&',
      '    git submodule update --init --recursive --force -q;',
      '  fi;',
      '}',
    ]);
    expect(c.initRepository('/srv/b').text).toBe(
      "{ command -v git >/dev/null 2>&1 || { echo 'git is not installed on the build host (or not in PATH)' >&2; exit 127; }; } && mkdir -p /srv/b && cd /srv/b && { if [ ! -d .git ]; then git init -q; fi; } && git config receive.denyCurrentBranch ignore && pwd",
    );
    expect(c.packRelease('rel/x', '/b/d/x.tar.gz').text).toBe('mkdir -p /b/d && rm -f /b/d/x.tar.gz.partial && tar -czf /b/d/x.tar.gz.partial -C rel/x . && mv -f /b/d/x.tar.gz.partial /b/d/x.tar.gz && wc -c < /b/d/x.tar.gz');
  });
  it('what --verbose prints: the repository, inspect and pack scripts one statement per line', () => {
    expect(statementLines(c.initRepository('/srv/b'))).toEqual([
      '{',
      '  command -v git >/dev/null 2>&1 ||',
      '  {',
      "    echo 'git is not installed on the build host (or not in PATH)' >&2;",
      '    exit 127;',
      '  };',
      '} &&',
      'mkdir -p /srv/b &&',
      'cd /srv/b &&',
      '{',
      '  if [ ! -d .git ]; then',
      '    git init -q;',
      '  fi;',
      '} &&',
      'git config receive.denyCurrentBranch ignore &&',
      'pwd',
    ]);
    const R = '_build/prod/rel/demo';
    expect(statementLines(c.inspectRelease(R))).toEqual([
      `if [ -d ${R}/releases ]; then`,
      `  if [ -f ${R}/releases/start_erl.data ]; then`,
      `    printf 'found %s\\n' "$(cat ${R}/releases/start_erl.data)";`,
      '  else',
      '    echo found;',
      '  fi;',
      `  for v in ${R}/releases/*/; do`,
      '    [ -d "$v" ] &&',
      `    printf 'version %s\\n' "$(basename "$v")";`,
      '  done;',
      '  true;',
      'else',
      "  find _build _rel -maxdepth 6 -type d -name releases 2>/dev/null | sed -n 's|/releases$||p' | sed 's/^/candidate /';",
      '  true;',
      'fi',
    ]);
    expect(statementLines(c.packRelease('rel/x', '/b/d/x.tar.gz'))).toEqual([
      'mkdir -p /b/d &&',
      'rm -f /b/d/x.tar.gz.partial &&',
      'tar -czf /b/d/x.tar.gz.partial -C rel/x . &&',
      'mv -f /b/d/x.tar.gz.partial /b/d/x.tar.gz &&',
      'wc -c < /b/d/x.tar.gz',
    ]);
  });
  it('git steps', () => {
    expect(c.gitReset('abc123').text).toBe('git reset --hard -q abc123');
    expect(c.gitClean(['.', 'priv/static']).text).toBe('git clean -ffdxq -- . priv/static');
    expect(c.gitClean([]).text).toBe('git clean -ffdxq -- .');
    expect(c.gitSubmodules().text).toContain('git submodule update --init --recursive');
  });
  it('mix steps use MIX_ENV and need no network unless the project does', () => {
    const deps = c.depsCommands(mixTools).map((s) => s.text);
    expect(deps.at(-1)).toBe('MIX_ENV=prod mix deps.get --only prod');
    expect(deps.join('\n')).not.toMatch(/mix local\.hex --force$/m);
    expect(deps[0]).toContain("grep -q ':hex,' mix.lock");
    expect(c.compileCommands(mixTools).map((s) => s.text)).toEqual(['MIX_ENV=prod mix clean', 'MIX_ENV=prod mix compile']);
    expect(c.compileCommands({ ...mixTools, skipMixClean: true }).map((s) => s.text)).toEqual(['MIX_ENV=prod mix compile']);
    expect(c.releaseCommands(mixTools).map((s) => s.text)).toEqual(['MIX_ENV=prod mix release --overwrite --quiet']);
    expect(c.releaseCommands({ ...mixTools, releaseName: 'web', verbose: true }).map((s) => s.text)).toEqual(['MIX_ENV=prod mix release web --overwrite']);
    expect(c.releaseDirFor(mixTools)).toBe('_build/prod/rel/demo');
    expect(c.releaseDirFor({ ...mixTools, mixEnv: 'staging', releaseName: 'web' })).toBe('_build/staging/rel/web');
  });
  it('quotes a hostile mix env', () => {
    expect(c.compileCommands({ ...mixTools, mixEnv: 'a b;rm' }).at(-1)?.text).toBe("MIX_ENV='a b;rm' mix compile");
  });
  it('rebar3 and other release tools', () => {
    expect(c.depsCommands(rebarTools).map((s) => s.text)).toEqual(['rebar3 as prod get-deps']);
    expect(c.compileCommands({ ...rebarTools, localRebar3: true }).map((s) => s.text)).toEqual(['./rebar3 as prod clean', './rebar3 as prod compile']);
    expect(c.releaseCommands(rebarTools).map((s) => s.text)).toEqual(['rebar3 as prod release -n demorel']);
    expect(c.releaseDirFor(rebarTools)).toBe('_build/prod/rel/demorel');
    const distillery = { ...mixTools, kind: detectProject(new Set(['mix.exs', 'rel/config.exs'])) };
    expect(c.releaseCommands(distillery)[0]?.text).toBe('MIX_ENV=prod mix distillery.release --env=prod --name=demo');
    const relx = { ...rebarTools, kind: detectProject(new Set(['relx.config'])) };
    expect(c.releaseCommands(relx)[0]?.text).toBe('relx release');
    expect(c.releaseDirFor(relx)).toBe('_rel/demorel');
  });
  it('parses the release inspection', () => {
    expect(c.parseInspectRelease('found 13.1.5 0.2.0\nversion 0.1.0\nversion 0.2.0\n')).toEqual({ exists: true, current: '0.2.0', versions: ['0.1.0', '0.2.0'], candidates: [] });
    expect(c.parseInspectRelease('candidate _build/prod/rel/a\ncandidate _build/prod/rel/b\n')).toMatchObject({ exists: false, candidates: ['_build/prod/rel/a', '_build/prod/rel/b'] });
  });
  it('inspect and pack really work on a release-shaped directory (no leading directory in the tarball)', () => {
    const dir = tmp('deliver-pack-');
    const rel = join(dir, '_build/prod/rel/demo');
    for (const d of ['bin', 'lib/demo-0.1.0/ebin', 'releases/0.1.0', 'erts-13.1.5/bin']) mkdirSync(join(rel, d), { recursive: true });
    writeFileSync(join(rel, 'bin/demo'), '#!/bin/sh\n');
    writeFileSync(join(rel, 'releases/start_erl.data'), '13.1.5 0.1.0');
    mkdirSync(join(dir, '_build/prod/rel/other/releases'), { recursive: true });
    const run = (s: string) => execFileSync('sh', ['-c', s], { cwd: dir, encoding: 'utf8' });
    expect(c.parseInspectRelease(run(c.inspectRelease('_build/prod/rel/demo').text))).toEqual({ exists: true, current: '0.1.0', versions: ['0.1.0'], candidates: [] });
    const missing = c.parseInspectRelease(run(c.inspectRelease('_build/prod/rel/nope').text));
    expect(missing.exists).toBe(false);
    expect(missing.candidates.sort()).toEqual(['_build/prod/rel/demo', '_build/prod/rel/other']);
    const tar = join(dir, '_build/deliver/demo_0.1.0.release.tar.gz');
    const size = Number(run(c.packRelease('_build/prod/rel/demo', tar).text).trim());
    expect(size).toBeGreaterThan(0);
    const entries = execFileSync('tar', ['-tzf', tar], { encoding: 'utf8' }).split('\n').filter((e) => e !== '');
    expect(entries).toContain('./bin/demo');
    expect(entries).toContain('./releases/start_erl.data');
    expect(entries.some((e) => e.startsWith('./demo/') || e.startsWith('demo/'))).toBe(false);
  });
  it('push arguments and URL', () => {
    expect(pushArgs('ssh://b@h:2222/srv/x', 'abc', 'main')).toEqual(['push', '--force', '--tags', '--quiet', '--', 'ssh://b@h:2222/srv/x', 'abc:refs/heads/main']);
    expect(pushUrl({ name: 'b@h', host: 'h', user: 'b', port: 22 }, '/srv/build')).toBe('ssh://b@h/srv/build');
    expect(pushUrl({ name: 'h', host: '127.0.3.1', port: 2222 }, '/srv/build')).toBe('ssh://127.0.3.1:2222/srv/build');
  });
});

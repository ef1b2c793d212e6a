// The hot upgrade's host command lines (exact text, and run by a real sh on a fake release layout), the installer's
// verdict, and the decisions made before any host changes (refusals, the version `deliver upgrade` starts from).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { layoutFor } from '../../src/deploy/layout.js';
import { restoreBootCommand, startCommand, versionCommand } from '../../src/deploy/node-commands.js';
import { parseHostState } from '../../src/deploy/state.js';
import * as c from '../../src/upgrade/install-commands.js';
import { statementLines } from '../../src/ssh/quote.js';
import { upgradeRefusals, type UpgradeFacts } from '../../src/upgrade/upgrade-host.js';
import { agreedVersion } from '../../src/upgrade/upgrade-env.js';

const l = layoutFor('/srv/app', 'demo');
const IN_RUNNING =
  '{ d=/srv/app/demo; s=$(cat /srv/app/.deliver/demo/started 2>/dev/null); if [ -n "$s" ] && [ -x /srv/app/.deliver/demo/releases/"$s"/bin/demo ]; then d=/srv/app/.deliver/demo/releases/"$s"; fi; cd "$d"; }';

describe('hot upgrade command lines', () => {
  it('the tarball goes where each release tool looks for it', () => {
    expect(c.upgradeTarballPath('mix', 'demo', '0.2.0')).toBe('releases/demo-0.2.0.tar.gz');
    expect(c.upgradeTarballPath('relx', 'demo', '0.2.0')).toBe('releases/demo-0.2.0.tar.gz');
    expect(c.upgradeTarballPath('distillery', 'demo', '0.2.0')).toBe('releases/0.2.0/demo.tar.gz');
    expect(() => c.upgradeTarballPath('mix', 'demo', '../x')).toThrow(/invalid release version/);
  });

  it('place, install (each kind), releases, keep, drop: exact text', () => {
    expect(c.placeUpgradeCommand(l, 'mix', '/srv/app/.deliver/demo/incoming/u.part-x1', '0.2.0').text).toBe(
      `${IN_RUNNING} && { if [ ! -d .deliver-boot ]; then rm -rf .deliver-boot.tmp && mkdir -p .deliver-boot.tmp/releases .deliver-boot.tmp/bin && for f in releases/start_erl.data releases/RELEASES bin/demo; do if [ -f "$f" ]; then cp -p "$f" .deliver-boot.tmp/"$f" || exit 1; fi; done && mv -T .deliver-boot.tmp .deliver-boot; fi; } && mkdir -p releases && mv -f /srv/app/.deliver/demo/incoming/u.part-x1 releases/demo-0.2.0.tar.gz`,
    );
    expect(c.installUpgradeCommand(l, 'relx', '0.2.0').text).toBe(`${IN_RUNNING} && bin/demo upgrade 0.2.0`);
    expect(c.installUpgradeCommand(l, 'distillery', '0.2.0').text).toBe(`${IN_RUNNING} && bin/demo upgrade 0.2.0`);
    const mix = c.installUpgradeCommand(l, 'mix', '0.2.0').text;
    expect(mix.startsWith(`${IN_RUNNING} && { bin/demo rpc 'v = ~c"0.2.0"; unpacked = if List.keyfind(:release_handler.which_releases(), v, 1), do: {:ok, v}, else: :release_handler.unpack_release(~c"demo-0.2.0"); `)).toBe(true);
    expect(mix).toContain('{:install, :release_handler.install_release(v)}, {:make_permanent, :ok} <- {:make_permanent, :release_handler.make_permanent(v)} do IO.puts("deliver-upgrade-ok 0.2.0") else {step, r} -> IO.puts("deliver-upgrade-error #{step}: ');
    expect(c.ensureReleasesCommand(l, 'relx', '0.1.0').text).toBe(
      `${IN_RUNNING} && { bin/demo eval 'R = code:root_dir(), D = filename:join(R, "releases"), case filelib:is_file(filename:join(D, "RELEASES")) of true -> ok; false -> release_handler:create_RELEASES(R, D, filename:join(D, "0.1.0/demo.rel"), []) end.'; }`,
    );
    expect(c.ensureReleasesCommand(l, 'mix', '0.1.0').text).toContain(`:ok = :release_handler.create_RELEASES(r, d, Path.join(d, "0.1.0/demo.rel"), [])`);
    expect(c.keepUpgradedCommand(l, 'mix', '0.2.0', 'x1').text).toBe(
      `${IN_RUNNING} && rm -f releases/demo-0.2.0.tar.gz && { if [ "$(cut -d' ' -f2 releases/start_erl.data)" != 0.2.0 ]; then erts=; read -r erts _ < releases/start_erl.data; printf '%s %s\\n' "$erts" 0.2.0 > releases/start_erl.data.tmp && mv -f releases/start_erl.data.tmp releases/start_erl.data; fi; } && { if [ ! -d /srv/app/.deliver/demo/releases/0.2.0 ]; then rm -rf /srv/app/.deliver/demo/releases/0.2.0.tmp-x1 && cp -a . /srv/app/.deliver/demo/releases/0.2.0.tmp-x1 && rm -rf /srv/app/.deliver/demo/releases/0.2.0.tmp-x1/.deliver-boot /srv/app/.deliver/demo/releases/0.2.0.tmp-x1/.deliver-sha256 && mv -T /srv/app/.deliver/demo/releases/0.2.0.tmp-x1 /srv/app/.deliver/demo/releases/0.2.0; fi; }`,
    );
    expect(c.dropTarballCommand(l, 'distillery', '0.2.0').text).toBe(`${IN_RUNNING} && rm -f releases/0.2.0/demo.tar.gz`);
  });

  it('what --verbose prints: place and keep one statement per line', () => {
    const inRunning = [
      '{',
      '  d=/srv/app/demo;',
      '  s=$(cat /srv/app/.deliver/demo/started 2>/dev/null);',
      '  if [ -n "$s" ] && [ -x /srv/app/.deliver/demo/releases/"$s"/bin/demo ]; then',
      '    d=/srv/app/.deliver/demo/releases/"$s";',
      '  fi;',
      '  cd "$d";',
      '} &&',
    ];
    expect(statementLines(c.placeUpgradeCommand(l, 'mix', '/srv/app/.deliver/demo/incoming/u.part-x1', '0.2.0'))).toEqual([
      ...inRunning,
      '{',
      '  if [ ! -d .deliver-boot ]; then',
      '    rm -rf .deliver-boot.tmp &&',
      '    mkdir -p .deliver-boot.tmp/releases .deliver-boot.tmp/bin &&',
      '    for f in releases/start_erl.data releases/RELEASES bin/demo; do',
      '      if [ -f "$f" ]; then',
      '        cp -p "$f" .deliver-boot.tmp/"$f" || exit 1;',
      '      fi;',
      '    done &&',
      '    mv -T .deliver-boot.tmp .deliver-boot;',
      '  fi;',
      '} &&',
      'mkdir -p releases &&',
      'mv -f /srv/app/.deliver/demo/incoming/u.part-x1 releases/demo-0.2.0.tar.gz',
    ]);
    const R = '/srv/app/.deliver/demo/releases';
    expect(statementLines(c.keepUpgradedCommand(l, 'mix', '0.2.0', 'x1'))).toEqual([
      ...inRunning,
      'rm -f releases/demo-0.2.0.tar.gz &&',
      '{',
      `  if [ "$(cut -d' ' -f2 releases/start_erl.data)" != 0.2.0 ]; then`,
      '    erts=;',
      '    read -r erts _ < releases/start_erl.data;',
      `    printf '%s %s\\n' "$erts" 0.2.0 > releases/start_erl.data.tmp &&`,
      '    mv -f releases/start_erl.data.tmp releases/start_erl.data;',
      '  fi;',
      '} &&',
      '{',
      `  if [ ! -d ${R}/0.2.0 ]; then`,
      `    rm -rf ${R}/0.2.0.tmp-x1 &&`,
      `    cp -a . ${R}/0.2.0.tmp-x1 &&`,
      `    rm -rf ${R}/0.2.0.tmp-x1/.deliver-boot ${R}/0.2.0.tmp-x1/.deliver-sha256 &&`,
      `    mv -T ${R}/0.2.0.tmp-x1 ${R}/0.2.0;`,
      '  fi;',
      '}',
    ]);
  });

  it('a start puts back the boot files a hot upgrade saved in the root it starts', () => {
    expect(restoreBootCommand('demo').text).toBe(
      'if [ -d .deliver-boot ]; then for f in releases/start_erl.data releases/RELEASES bin/demo; do if [ -f .deliver-boot/"$f" ]; then cp -p .deliver-boot/"$f" "$f" || exit 1; else rm -f "$f"; fi; done && rm -rf .deliver-boot; fi',
    );
    expect(startCommand(l, 'mix').text).toContain(`&& { ${restoreBootCommand('demo').text}; } && bin/demo daemon`);
  });

  it('`version` of a mix node asks release_handler what runs; no answer while it boots; RELEASE_VSN only without release_handler', () => {
    const v = versionCommand(l, 'mix').text;
    expect(v).toBe(
      `${IN_RUNNING} && { bin/demo rpc 'case :init.get_status() do {:started, _} -> v = if Process.whereis(:release_handler), do: (rs = :release_handler.which_releases(); {_, v, _, _} = List.keyfind(rs, :current, 3) || List.keyfind(rs, :permanent, 3); List.to_string(v)), else: System.get_env("RELEASE_VSN"); IO.puts(v); s -> raise "the node is still starting (#{inspect(s)})" end'; }`,
    );
  });
});

/** A deliver layout with release 0.1.0 started and active. */
function fakeHost(kind: 'mix' | 'relx' | 'distillery'): { dir: string; lay: ReturnType<typeof layoutFor>; root: string } {
  const dir = mkdtempSync(join(tmpdir(), 'deliver-upgrade-install-'));
  const lay = layoutFor(dir, 'demo');
  const root = join(lay.releases, '0.1.0');
  for (const d of ['bin', 'releases/0.1.0', 'lib/demo-0.1.0']) mkdirSync(join(root, d), { recursive: true });
  mkdirSync(lay.incoming, { recursive: true });
  writeFileSync(join(root, 'bin/demo'), '#!/bin/sh\necho "$1 $(cut -d" " -f2 releases/start_erl.data)"\n', { mode: 0o755 });
  writeFileSync(join(root, 'releases/start_erl.data'), '13.1 0.1.0\n');
  if (kind !== 'mix') writeFileSync(join(root, 'releases/RELEASES'), '[{release,"demo","0.1.0"}].\n');
  writeFileSync(join(root, '.deliver-sha256'), 'aaaa\n');
  writeFileSync(lay.started, '0.1.0\n');
  symlinkSync('.deliver/demo/releases/0.1.0', lay.root);
  return { dir, lay, root };
}

const run = (cmd: { text: string }) => execFileSync('sh', ['-c', cmd.text], { encoding: 'utf8' });

/** Upload, place and what release_handler's install does to the running root (Distillery 2.1: no start_erl.data). */
function upgradeOnce(lay: ReturnType<typeof layoutFor>, root: string, kind: 'mix' | 'relx' | 'distillery', to: string): void {
  const upload = join(lay.incoming, `demo_${to}.upgrade.tar.gz.part-x1`);
  writeFileSync(upload, 'tarball');
  run(c.placeUpgradeCommand(lay, kind, upload, to));
  expect(readFileSync(join(root, c.upgradeTarballPath(kind, 'demo', to)), 'utf8')).toBe('tarball');
  expect(existsSync(upload)).toBe(false);
  mkdirSync(join(root, `lib/demo-${to}`), { recursive: true });
  mkdirSync(join(root, `releases/${to}`), { recursive: true });
  if (kind !== 'distillery') writeFileSync(join(root, 'releases/start_erl.data'), `13.1 ${to}\n`);
  writeFileSync(join(root, 'releases/RELEASES'), `[{release,"demo","${to}",permanent}].\n`);
  run(c.keepUpgradedCommand(lay, kind, to, 'x1'));
}

describe('hot upgrade on a host layout (real sh)', () => {
  for (const kind of ['mix', 'relx', 'distillery'] as const) {
    it(`${kind}: the running root keeps release_handler's files (what the node runs, permanent); releases/V boots V; starting the old root again boots its own version`, () => {
      const { lay, root } = fakeHost(kind);
      upgradeOnce(lay, root, kind, '0.2.0');
      upgradeOnce(lay, root, kind, '0.3.0');
      // The running root says what the node runs: a restart by release_handler (or heart) boots 0.3.0.
      expect(readFileSync(join(root, 'releases/start_erl.data'), 'utf8')).toBe('13.1 0.3.0\n');
      expect(readFileSync(join(root, 'releases/RELEASES'), 'utf8')).toBe('[{release,"demo","0.3.0",permanent}].\n');
      expect(existsSync(join(root, c.upgradeTarballPath(kind, 'demo', '0.3.0')))).toBe(false);
      for (const v of ['0.2.0', '0.3.0']) {
        const kept = join(lay.releases, v);
        expect(readFileSync(join(kept, 'releases/start_erl.data'), 'utf8')).toBe(`13.1 ${v}\n`);
        expect(existsSync(join(kept, `lib/demo-${v}`))).toBe(true);
        for (const gone of ['.deliver-sha256', '.deliver-boot']) expect(existsSync(join(kept, gone))).toBe(false);
      }
      // `deliver restart` after activation: stop, then start from the link (now releases/0.3.0) boots 0.3.0.
      symlinkSync('.deliver/demo/releases/0.3.0', `${lay.root}.new`);
      run({ text: `mv -T ${lay.root}.new ${lay.root}` });
      expect(run(startCommand(lay, kind))).toBe(`${kind === 'distillery' ? 'start' : 'daemon'} 0.3.0\n`);
      // A rollback to 0.1.0 starts the old root: its own boot files come back first (the first upgrade's save).
      run({ text: `ln -sfn .deliver/demo/releases/0.1.0 ${lay.root}` });
      expect(run(startCommand(lay, kind))).toBe(`${kind === 'distillery' ? 'start' : 'daemon'} 0.1.0\n`);
      if (kind === 'mix') expect(existsSync(join(root, 'releases/RELEASES'))).toBe(false);
      else expect(readFileSync(join(root, 'releases/RELEASES'), 'utf8')).toBe('[{release,"demo","0.1.0"}].\n');
      expect(existsSync(join(root, '.deliver-boot'))).toBe(false);
      expect(readFileSync(lay.started, 'utf8')).toBe('0.1.0\n');
    });
  }

  it('keep leaves a release of that version already installed (a plain deploy) as it is', () => {
    const { lay, root } = fakeHost('mix');
    mkdirSync(join(lay.releases, '0.2.0/releases'), { recursive: true });
    writeFileSync(join(lay.releases, '0.2.0/releases/start_erl.data'), '13.1 0.2.0\n');
    writeFileSync(join(lay.releases, '0.2.0/.deliver-sha256'), 'bbbb\n');
    upgradeOnce(lay, root, 'mix', '0.2.0');
    expect(readFileSync(join(lay.releases, '0.2.0/.deliver-sha256'), 'utf8')).toBe('bbbb\n');
    expect(readFileSync(join(root, 'releases/start_erl.data'), 'utf8')).toBe('13.1 0.2.0\n');
  });
});

describe('the installer verdict', () => {
  it('mix: the ok line, the error line with the step, or the last lines when the node went away', () => {
    expect(c.parseInstallOutput('mix', 0, 'deliver-upgrade-ok 0.2.0\n')).toEqual({ ok: true });
    expect(c.parseInstallOutput('mix', 0, 'deliver-upgrade-error install: {:code_change_failed, [...]}\n')).toEqual({ ok: false, reason: 'install: {:code_change_failed, [...]}' });
    expect(c.parseInstallOutput('mix', 1, 'RPC failed with reason :noconnection\n')).toEqual({ ok: false, reason: 'RPC failed with reason :noconnection' });
    expect(c.parseInstallOutput('mix', 0, '')).toEqual({ ok: false, reason: 'exit 0' });
    const long = c.parseInstallOutput('mix', 0, `deliver-upgrade-error install: {:error, {:code_change_failed, ${'x'.repeat(500)}}}`);
    expect(long.ok === false && long.reason.length).toBe(301);
  });

  it('relx / Distillery: the exit status; the ERROR term over several lines becomes one line', () => {
    expect(c.parseInstallOutput('relx', 0, 'Release 0.2.0 not found, attempting to unpack\nInstalled Release: 0.2.0\n')).toEqual({ ok: true });
    const out = 'Release 0.3.0 not found\nERROR: release_handler:install_release failed: {code_change_failed,\n     [{uprel_counter,\n       {error, no_way}}]}\n';
    expect(c.parseInstallOutput('relx', 4, out)).toEqual({ ok: false, reason: 'release_handler:install_release failed: {code_change_failed, [{uprel_counter, {error, no_way}}]}' });
  });
});

const facts = (host: string, f: Partial<UpgradeFacts>): UpgradeFacts => ({ host, layout: l, state: parseHostState('link=.deliver/demo/releases/0.1.0\n'), kind: 'mix', running: true, pid: '42', steps: [], ...f });

describe('before any host changes', () => {
  it('refuses every host that does not run a version the upgrade goes from, saying what it runs', () => {
    const all = [
      facts('a', { version: '0.1.0' }),
      facts('b', { version: '0.2.0' }),
      facts('c', { running: false, pid: undefined }),
      facts('f', { running: false, version: undefined }),
      facts('d', { kind: undefined, running: false, state: parseHostState('link=\n') }),
      facts('e', { version: '0.1.0', state: parseHostState('link=<directory>\n') }),
    ];
    expect(upgradeRefusals(all, ['0.1.0'], '0.2.0')).toEqual([
      'b: runs 0.2.0; the upgrade to 0.2.0 goes from 0.1.0',
      'c: the node is not running (active release 0.1.0); the upgrade to 0.2.0 goes from 0.1.0',
      'f: the node (OS pid 42) does not say which version it runs (still starting?); the upgrade to 0.2.0 goes from 0.1.0',
      'd: no release deployed; the upgrade to 0.2.0 goes from 0.1.0',
      "e: /srv/app/demo is an edeliver-style directory, not deliver's link: deploy a release with deliver and restart once first",
    ]);
    expect(upgradeRefusals(all.slice(0, 1), ['0.0.9', '0.1.0'], '0.2.0')).toEqual([]);
  });

  it('deliver upgrade starts from the one version the running nodes agree on', () => {
    expect(agreedVersion([facts('a', { version: '0.1.0' }), facts('b', { running: false, pid: undefined })], 'prod')).toBe('0.1.0');
    expect(() => agreedVersion([facts('a', { version: '0.1.0' }), facts('b', { running: false })], 'prod')).toThrow(/1 node\(s\) run but do not say which version/);
    expect(() => agreedVersion([facts('a', { version: '0.1.0' }), facts('b', { version: '0.1.1' })], 'prod')).toThrow(/run different versions \(0\.1\.0, 0\.1\.1\)/);
    expect(() => agreedVersion([facts('a', { running: false, pid: undefined })], 'prod')).toThrow(/no node runs in prod/);
  });
});

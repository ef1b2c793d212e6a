import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { mixTools, rebarTools } from '../helpers/tool-settings.js';
import type { ToolSettings } from '../../src/build/commands.js';
import { detectProject } from '../../src/build/project.js';
import { UsageError } from '../../src/output/errors.js';
import { checkUpgradeSource } from '../../src/upgrade/build-upgrade.js';
import * as c from '../../src/upgrade/commands.js';
import { appupsFileName, parseAppupLines, upgradeFileName } from '../../src/upgrade/names.js';
import { describeRelup, parseRelup } from '../../src/upgrade/relup.js';
import { tarMember } from '../../src/upgrade/stored-relup.js';
import { statementLines } from '../../src/ssh/quote.js';

const distilleryTools: ToolSettings = { ...mixTools, kind: detectProject(new Set(['mix.exs', 'rel/config.exs'])) };
const p: c.UpgradePaths = { buildDir: '/srv/b', releaseDir: '/srv/b/_build/prod/rel/demo', name: 'demo', from: '0.1.0', to: '0.2.0' };
const W = '/srv/b/_build/deliver/upgrade';

describe('upgrade command lines', () => {
  it('scratch directory, old release, appups, relup', () => {
    expect(c.prepareWorkDir(p).text).toBe(`rm -rf ${W} && mkdir -p ${W}/old && cat > ${W}/deliver_upgrade.erl`);
    expect(c.unpackOld(p).text).toBe(`tar -xzf ${W}/old.tar.gz -C ${W}/old && rm -f ${W}/old.tar.gz && test -d ${W}/old/releases/0.1.0`);
    expect(c.generateAppups(p, { given: false, write: false }).text).toBe(
      `escript ${W}/deliver_upgrade.erl appups ${W}/old /srv/b/_build/prod/rel/demo demo 0.1.0 0.2.0 /srv/b - - -`,
    );
    expect(c.generateAppups(p, { buildLib: '/srv/b/_build/prod/lib', given: true, write: true }).text).toBe(
      `escript ${W}/deliver_upgrade.erl appups ${W}/old /srv/b/_build/prod/rel/demo demo 0.1.0 0.2.0 /srv/b /srv/b/_build/prod/lib ${W}/given.appups ${W}/written.appups`,
    );
    expect(c.makeRelup(p).text).toBe(`escript ${W}/deliver_upgrade.erl relup ${W}/old /srv/b/_build/prod/rel/demo demo 0.1.0 0.2.0`);
    expect(c.addOldRelease(p).text).toBe(
      `rm -rf /srv/b/_build/prod/rel/demo/releases/0.1.0 && cp -R ${W}/old/releases/0.1.0 /srv/b/_build/prod/rel/demo/releases/ && cp -Rn ${W}/old/lib/. /srv/b/_build/prod/rel/demo/lib/`,
    );
  });

  it('each release tool: relup and tarball', () => {
    expect(c.rebar3Upgrade(rebarTools, { ...p, name: 'demorel' }).map((s) => s.text)).toEqual([
      'rebar3 as prod relup --relname demorel --relvsn 0.2.0 --upfrom 0.1.0',
      'rebar3 as prod tar --relname demorel --relvsn 0.2.0',
    ]);
    expect(c.upgradeTarball(rebarTools, { ...p, name: 'demorel' })).toBe('/srv/b/_build/prod/rel/demo/demorel-0.2.0.tar.gz');
    expect(c.distilleryUpgrade(distilleryTools, p).map((s) => s.text)).toEqual(['MIX_ENV=prod mix distillery.release --env=prod --name=demo --upgrade --upfrom=0.1.0']);
    expect(c.upgradeTarball(distilleryTools, p)).toBe('/srv/b/_build/prod/rel/demo/releases/0.2.0/demo.tar.gz');
    expect(c.upgradeTarball(mixTools, p)).toBe(`${W}/demo-0.2.0.tar.gz`);
    expect(c.packMixUpgrade(p).text).toBe(
      'cp /srv/b/_build/prod/rel/demo/releases/0.2.0/demo.rel /srv/b/_build/prod/rel/demo/releases/demo-0.2.0.rel && ' +
        `tar -czf ${W}/demo-0.2.0.tar.gz -C /srv/b/_build/prod/rel/demo lib releases/0.2.0 releases/demo-0.2.0.rel && rm -f /srv/b/_build/prod/rel/demo/releases/demo-0.2.0.rel`,
    );
    expect(c.checkUpgrade(p, `${W}/demo-0.2.0.tar.gz`, '/srv/b/_build/deliver/demo_0.2.0.upgrade.tar.gz').text).toBe(
      `rm -rf ${W}/check && mkdir -p ${W}/check && tar -xzf ${W}/demo-0.2.0.tar.gz -C ${W}/check && ` +
        `escript ${W}/deliver_upgrade.erl check ${W}/check/releases/0.2.0/relup 0.1.0 0.2.0 && rm -rf ${W}/check && ` +
        `mv -f ${W}/demo-0.2.0.tar.gz /srv/b/_build/deliver/demo_0.2.0.upgrade.tar.gz && wc -c < /srv/b/_build/deliver/demo_0.2.0.upgrade.tar.gz`,
    );
  });

  it('what --verbose prints: each script one statement per line', () => {
    const R = '/srv/b/_build/prod/rel/demo';
    expect(statementLines(c.prepareWorkDir(p))).toEqual([`rm -rf ${W} &&`, `mkdir -p ${W}/old &&`, `cat > ${W}/deliver_upgrade.erl`]);
    expect(statementLines(c.unpackOld(p))).toEqual([`tar -xzf ${W}/old.tar.gz -C ${W}/old &&`, `rm -f ${W}/old.tar.gz &&`, `test -d ${W}/old/releases/0.1.0`]);
    expect(statementLines(c.addOldRelease(p))).toEqual([`rm -rf ${R}/releases/0.1.0 &&`, `cp -R ${W}/old/releases/0.1.0 ${R}/releases/ &&`, `cp -Rn ${W}/old/lib/. ${R}/lib/`]);
    expect(statementLines(c.packMixUpgrade(p))).toEqual([
      `cp ${R}/releases/0.2.0/demo.rel ${R}/releases/demo-0.2.0.rel &&`,
      `tar -czf ${W}/demo-0.2.0.tar.gz -C ${R} lib releases/0.2.0 releases/demo-0.2.0.rel &&`,
      `rm -f ${R}/releases/demo-0.2.0.rel`,
    ]);
    expect(statementLines(c.checkUpgrade(p, `${W}/demo-0.2.0.tar.gz`, '/srv/b/_build/deliver/demo_0.2.0.upgrade.tar.gz'))).toEqual([
      `rm -rf ${W}/check &&`,
      `mkdir -p ${W}/check &&`,
      `tar -xzf ${W}/demo-0.2.0.tar.gz -C ${W}/check &&`,
      `escript ${W}/deliver_upgrade.erl check ${W}/check/releases/0.2.0/relup 0.1.0 0.2.0 &&`,
      `rm -rf ${W}/check &&`,
      `mv -f ${W}/demo-0.2.0.tar.gz /srv/b/_build/deliver/demo_0.2.0.upgrade.tar.gz &&`,
      'wc -c < /srv/b/_build/deliver/demo_0.2.0.upgrade.tar.gz',
    ]);
    // One command each: one line.
    expect(statementLines(c.generateAppups(p, { given: false, write: false }))).toEqual([c.generateAppups(p, { given: false, write: false }).text]);
  });

  it('paths with spaces or quotes stay one word when a real sh runs the pack command', () => {
    const root = mkdtempSync(join(tmpdir(), "deliver up 'q' "));
    const rel = join(root, 'rel dir');
    mkdirSync(join(rel, 'releases/0.2.0'), { recursive: true });
    mkdirSync(join(rel, 'lib/demo-0.2.0/ebin'), { recursive: true });
    writeFileSync(join(rel, 'releases/0.2.0/demo.rel'), '{release, {"demo", "0.2.0"}, {erts, "13"}, []}.\n');
    writeFileSync(join(rel, 'lib/demo-0.2.0/ebin/demo.app'), '{application, demo, []}.\n');
    const q: c.UpgradePaths = { ...p, buildDir: root, releaseDir: rel };
    mkdirSync(c.workDir(root), { recursive: true });
    execFileSync('sh', ['-c', c.packMixUpgrade(q).text]);
    const entries = execFileSync('tar', ['-tzf', c.upgradeTarball(mixTools, q)], { encoding: 'utf8' }).split('\n').filter((e) => e);
    expect(entries).toEqual(expect.arrayContaining(['releases/demo-0.2.0.rel', 'releases/0.2.0/demo.rel', 'lib/demo-0.2.0/ebin/demo.app']));
  });
});

describe('upgrade names and flags', () => {
  it('store names', () => {
    expect(upgradeFileName('demo', '0.2.0')).toBe('demo_0.2.0.upgrade.tar.gz');
    expect(appupsFileName('demo', '0.1.0', '0.2.0+abc1234')).toBe('demo_0.1.0~0.2.0+abc1234.appups');
  });
  it('parses the escript appup lines', () => {
    expect(parseAppupLines('appup demo 0.1.0 0.2.0 generated\nnoise\nappup lib 1 2 src /b/src/lib.appup.src\n')).toEqual([
      { app: 'demo', from: '0.1.0', to: '0.2.0', source: 'generated' },
      { app: 'lib', from: '1', to: '2', source: 'src /b/src/lib.appup.src' },
    ]);
  });
  it('exactly one of --from / --with, with a hint', () => {
    expect(() => checkUpgradeSource({}, 'build upgrade')).toThrow(UsageError);
    expect(() => checkUpgradeSource({}, 'build upgrade')).toThrow('build upgrade needs the release to upgrade from');
    expect(() => checkUpgradeSource({ from: 'v1', with: '1.0.0' }, 'build upgrade')).toThrow('use either --from or --with');
    expect(() => checkUpgradeSource({ from: '--upload-pack=x' }, 'build upgrade')).toThrow('--from: invalid git ref');
    expect(() => checkUpgradeSource({ with: '1.0.0;rm' }, 'build upgrade')).toThrow('--with: invalid version');
    expect(() => checkUpgradeSource({ with: '1.0.0' }, 'build upgrade')).not.toThrow();
  });
});

const RELUP = `%% coding: utf-8
{"0.2.0",
 [{"0.1.0",[],
   [{load_object_code,{demo,"0.2.0",['Elixir.Demo.New','Elixir.Demo.Counter']}},
    point_of_no_return,
    {load,{'Elixir.Demo.New',brutal_purge,brutal_purge}},
    {suspend,['Elixir.Demo.Counter']},
    {load,{'Elixir.Demo.Counter',brutal_purge,brutal_purge}},
    {code_change,up,[{'Elixir.Demo.Counter',[]},{other,edited}]},
    {resume,['Elixir.Demo.Counter']},
    {apply,{application,start,[extra,permanent]}}]}],
 [{"0.1.0",[],
   [point_of_no_return,
    {remove,{'Elixir.Demo.New',brutal_purge,brutal_purge}},
    {purge,['Elixir.Demo.New']}]}]}.
`;

describe('relup reading', () => {
  it('one readable line per instruction, upgrades and downgrades', () => {
    const r = parseRelup(RELUP, 'test');
    expect(r.to).toBe('0.2.0');
    expect(r.up.map((s) => s.version)).toEqual(['0.1.0']);
    expect(describeRelup(r)).toEqual([
      '0.1.0 → 0.2.0 (upgrade, 8 instructions)',
      '  load object code of demo 0.2.0: Elixir.Demo.New, Elixir.Demo.Counter',
      '  point of no return',
      '  load Elixir.Demo.New',
      '  suspend Elixir.Demo.Counter',
      '  load Elixir.Demo.Counter',
      '  code_change up: Elixir.Demo.Counter, other (edited)',
      '  resume Elixir.Demo.Counter',
      '  apply application:start(extra, permanent)',
      '0.2.0 → 0.1.0 (downgrade, 3 instructions)',
      '  point of no return',
      '  remove Elixir.Demo.New',
      '  purge Elixir.Demo.New',
    ]);
  });
  it('refuses what is not a relup, naming the source', () => {
    expect(() => parseRelup('{"0.2.0", nope}.', 'store: x.relup')).toThrow('store: x.relup: not a relup');
    expect(() => parseRelup('{"0.2.0", [', 'x')).toThrow('x: not a relup');
  });
  it('finds releases/VSN/relup in a real tar archive, with or without ./', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deliver-tar-'));
    const out = mkdtempSync(join(tmpdir(), 'deliver-tar-out-'));
    mkdirSync(join(dir, 'releases/0.2.0'), { recursive: true });
    writeFileSync(join(dir, 'releases/0.2.0/relup'), RELUP);
    writeFileSync(join(dir, 'releases/0.2.0/other'), 'x'.repeat(700));
    for (const args of [['-C', dir, 'releases'], ['-C', dir, '.']]) {
      // Outside the archived directory: tar reading its own output fails with 'file changed as we read it'.
      const tgz = join(out, `t${args[2] === '.' ? 2 : 1}.tar.gz`);
      execFileSync('tar', ['-czf', tgz, ...args]);
      const got = tarMember(gunzipSync(readFileSync(tgz)), (n) => n.replace(/^\.\//, '') === 'releases/0.2.0/relup');
      expect(got?.toString('utf8')).toBe(RELUP);
    }
    expect(tarMember(Buffer.alloc(1024), () => true)).toBeUndefined();
    for (const d of [dir, out]) rmSync(d, { recursive: true, force: true });
  });
});

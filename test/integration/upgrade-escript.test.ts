// The Erlang program deliver sends to the build host, run here with the local escript on small releases made of
// real beams (erlc) and the real OTP libraries: every appup rule, the refusals, and the relup. No bed needed.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { UPGRADE_ESCRIPT } from '../../src/upgrade/escript.js';

let dir: string;
let script: string;
const otp: Record<string, string> = {};

const erl = (expr: string) => execFileSync('erl', ['-noshell', '-eval', `${expr}, halt().`], { encoding: 'utf8' }).trim();

function app(root: string, name: string, vsn: string, modules: Record<string, string>): void {
  const ebin = join(root, 'lib', `${name}-${vsn}`, 'ebin');
  mkdirSync(ebin, { recursive: true });
  const src = mkdtempSync(join(tmpdir(), 'deliver-erl-src-'));
  for (const [m, body] of Object.entries(modules)) {
    writeFileSync(join(src, `${m}.erl`), `-module(${m}).\n${body}\n`);
    execFileSync('erlc', ['-o', ebin, join(src, `${m}.erl`)]);
  }
  writeFileSync(join(ebin, `${name}.app`), `{application, ${name}, [{description, "${name}"}, {vsn, "${vsn}"}, {registered, []}, {modules, [${Object.keys(modules).join(', ')}]}, {applications, [kernel, stdlib]}]}.\n`);
}

/** A release root: releases/VSN/shop.rel and lib/ with the OTP libraries linked in. */
function release(name: string, vsn: string, apps: [string, string][], sasl = true): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'releases', vsn), { recursive: true });
  mkdirSync(join(root, 'lib'), { recursive: true });
  const base: [string, string][] = [['kernel', otp.kernel as string], ['stdlib', otp.stdlib as string], ...(sasl ? [['sasl', otp.sasl as string] as [string, string]] : [])];
  for (const [a, v] of base) symlinkSync(join(otp.root as string, 'lib', `${a}-${v}`), join(root, 'lib', `${a}-${v}`));
  const all = [...base, ...apps].map(([a, v]) => `{${a}, "${v}"}`).join(', ');
  writeFileSync(join(root, 'releases', vsn, 'shop.rel'), `{release, {"shop", "${vsn}"}, {erts, "${otp.erts}"}, [${all}]}.\n`);
  return root;
}

function run(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('escript', [script, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const SRV = (n: number) => `-behaviour(gen_server).\n-export([init/1, handle_call/3, handle_cast/2]).\ninit(_) -> {ok, ${n}}.\nhandle_call(_, _, S) -> {reply, S, S}.\nhandle_cast(_, S) -> {noreply, S}.`;
const SUP = (n: number) => `-behaviour(supervisor).\n-export([init/1]).\ninit(_) -> {ok, {#{intensity => ${n}}, []}}.`;
const PLAIN = (n: number) => `-export([f/0]).\nf() -> ${n}.`;

let v1: string;
let v2: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'deliver-escript-'));
  script = join(dir, 'deliver_upgrade.erl');
  writeFileSync(script, UPGRADE_ESCRIPT);
  otp.root = erl('io:format("~s", [code:root_dir()])');
  otp.erts = erl('io:format("~s", [erlang:system_info(version)])');
  for (const a of ['kernel', 'stdlib', 'sasl']) otp[a] = erl(`application:load(${a}), {ok, V} = application:get_key(${a}, vsn), io:format("~s", [V])`);
  v1 = release('v1', '1.0', [['shop', '1.0'], ['util', '1.0']]);
  app(v1, 'shop', '1.0', { shop_srv: SRV(1), shop_sup: SUP(1), shop_lib: PLAIN(1), shop_old: PLAIN(0), shop_same: PLAIN(7) });
  app(v1, 'util', '1.0', { util: PLAIN(1) });
  v2 = release('v2', '2.0', [['shop', '2.0'], ['util', '1.0']]);
  app(v2, 'shop', '2.0', { shop_srv: SRV(2), shop_sup: SUP(2), shop_lib: PLAIN(2), shop_new: PLAIN(0), shop_same: PLAIN(7) });
  app(v2, 'util', '1.0', { util: PLAIN(1) });
});

describe('deliver_upgrade.erl appups', () => {
  it('generates: add/delete_module, update for gen_server (advanced) and supervisor, load_module otherwise; down mirrored; unchanged apps get none', () => {
    const out = join(dir, 'out.appups');
    const r = run('appups', v1, v2, 'shop', '1.0', '2.0', join(dir, 'project'), '-', '-', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('appup shop 1.0 2.0 generated\n');
    expect(readFileSync(join(v2, 'lib/shop-2.0/ebin/shop.appup'), 'utf8')).toMatch(/^%% written by deliver build upgrade\/appups\n%% generated\n/);
    const expected =
      '{"2.0",[{"1.0",[{add_module,shop_new},{load_module,shop_lib},{update,shop_srv,{advanced,[]}},{update,shop_sup,supervisor},{delete_module,shop_old}]}],' +
      '[{"1.0",[{add_module,shop_old},{update,shop_sup,supervisor},{update,shop_srv,{advanced,[]}},{load_module,shop_lib},{delete_module,shop_new}]}]}';
    const flat = (s: string) => s.replace(/^%%.*$/gm, '').replace(/\s+/g, '');
    expect(flat(readFileSync(join(v2, 'lib/shop-2.0/ebin/shop.appup'), 'utf8'))).toBe(`${expected}.`);
    expect(flat(readFileSync(out, 'utf8'))).toBe(`{shop,${expected}}.`);
  });

  it("the project's src/APP.appup.src wins over a generated one; the store's wins over both", () => {
    const project = join(dir, 'project-own');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src/shop.appup.src'), '{"2.0", [{"1.0", [{load_module, shop_lib}]}], [{"1.0", []}]}.\n');
    let r = run('appups', v1, v2, 'shop', '1.0', '2.0', project, '-', '-', '-');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`appup shop 1.0 2.0 src ${project}/src/shop.appup.src\n`);
    expect(readFileSync(join(v2, 'lib/shop-2.0/ebin/shop.appup'), 'utf8')).toContain('load_module,shop_lib}]}]');

    const given = join(dir, 'given.appups');
    writeFileSync(given, '{shop, {"2.0", [{"1.0", [{update, shop_srv, {advanced, edited}}]}], [{"1.0", []}]}}.\n');
    r = run('appups', v1, v2, 'shop', '1.0', '2.0', project, '-', given, '-');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('appup shop 1.0 2.0 store\n');
    expect(readFileSync(join(v2, 'lib/shop-2.0/ebin/shop.appup'), 'utf8')).toContain('{advanced,edited}');
  });

  it('refuses an appup without instructions for the old version, naming where it came from', () => {
    const given = join(dir, 'wrong.appups');
    writeFileSync(given, '{shop, {"2.0", [{"0.9", []}], [{"0.9", []}]}}.\n');
    const r = run('appups', v1, v2, 'shop', '1.0', '2.0', join(dir, 'none'), '-', given, '-');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: the store appup of shop has no up and down instructions for 1.0\n');
  });

  it('refuses an application whose code changed while its version did not, naming it', () => {
    const v3 = release('v3', '3.0', [['shop', '2.0'], ['util', '1.0']]);
    app(v3, 'shop', '2.0', { shop_srv: SRV(3) });
    app(v3, 'util', '1.0', { util: PLAIN(2) });
    const r = run('appups', v2, v3, 'shop', '2.0', '3.0', join(dir, 'none'), '-', '-', '-');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: application(s) shop-2.0, util-1.0 changed their code but not their version (release_handler cannot upgrade them): bump their vsn\n');
  });
});

describe('deliver_upgrade.erl relup and check', () => {
  it('makes the relup with systools and checks it names the old version', () => {
    expect(run('appups', v1, v2, 'shop', '1.0', '2.0', join(dir, 'none'), '-', '-', '-').code).toBe(0);
    const r = run('relup', v1, v2, 'shop', '1.0', '2.0');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^relup 1\.0 2\.0 \d+\n$/);
    const relup = join(v2, 'releases/2.0/relup');
    expect(readFileSync(relup, 'utf8')).toContain('{code_change,up,[{shop_srv,[]}]}');
    expect(run('check', relup, '1.0', '2.0').code).toBe(0);
    const wrong = run('check', relup, '0.9', '2.0');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe(`error: ${relup} upgrades to 2.0 from 1.0, not from 0.9\n`);
  });

  it('refuses a release without sasl (appups and relup)', () => {
    const a = release('nosasl1', '1.0', [['shop', '1.0']], false);
    app(a, 'shop', '1.0', { shop_lib: PLAIN(1) });
    const b = release('nosasl2', '2.0', [['shop', '2.0']], false);
    app(b, 'shop', '2.0', { shop_lib: PLAIN(2) });
    for (const r of [run('appups', a, b, 'shop', '1.0', '2.0', join(dir, 'none'), '-', '-', '-'), run('relup', a, b, 'shop', '1.0', '2.0')]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('error: the release 1.0 has no sasl: release_handler cannot install upgrades on it\n');
    }
  });
});

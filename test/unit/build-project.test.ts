import { describe, expect, it } from 'vitest';
import {
  detectProject,
  findAppSrc,
  readAppSrcVersion,
  readMixVersion,
  readProjectVersion,
  readRelxVersion,
  rewriteAppSrcVersion,
  rewriteMixVersion,
  rewriteRelxVersion,
  versionEdits,
} from '../../src/build/project.js';
import { UsageError } from '../../src/output/errors.js';

const set = (...f: string[]) => new Set(f);

describe('release tool detection', () => {
  it('mix release without rel/config.exs, Distillery with it', () => {
    expect(detectProject(set('mix.exs', 'lib/demo.ex'))).toMatchObject({ buildTool: 'mix', releaseTool: 'mix-release' });
    expect(detectProject(set('mix.exs', 'rel/config.exs'))).toMatchObject({ buildTool: 'mix', releaseTool: 'distillery' });
    expect(detectProject(set('mix.exs', 'rel/config.exs'), { USING_DISTILLERY: 'false' })).toMatchObject({ releaseTool: 'mix-release' });
    expect(detectProject(set('mix.exs'), { USING_DISTILLERY: 'true' })).toMatchObject({ releaseTool: 'distillery' });
  });
  it('rebar3 and relx', () => {
    expect(detectProject(set('rebar.config', 'apps/x/src/x.app.src'))).toMatchObject({ buildTool: 'rebar3', releaseTool: 'rebar3' });
    expect(detectProject(set('rebar.config', 'relx.config'))).toMatchObject({ buildTool: 'rebar3', releaseTool: 'relx' });
    expect(detectProject(set('mix.exs'), { RELEASE_CMD: 'rebar3' })).toMatchObject({ buildTool: 'mix', releaseTool: 'rebar3' });
  });
  it('a project with no release tool is a clear error', () => {
    expect(() => detectProject(set('README.md', 'src/main.c'))).toThrow(/no release tool found/);
    expect(() => detectProject(set('mix.exs'), { RELEASE_CMD: 'make' })).toThrow(/RELEASE_CMD=make/);
    expect(() => detectProject(set('rebar.config'), { RELEASE_CMD: 'rebar' })).toThrow(UsageError);
  });
});

const MIX = `defmodule Demo.MixProject do
  use Mix.Project

  def project do
    [
      app: :demo,
      version: "0.1.0",
      elixir: "~> 1.14",
      deps: deps()
    ]
  end

  defp deps, do: [{:jason, "~> 1.0"}]
end
`;

const MIX_ATTR = `defmodule Demo.MixProject do
  use Mix.Project
  @version "1.4.2"
  def project, do: [app: :demo, version: @version, deps: [{:x, version: "9.9.9"}]]
end
`;

const REBAR = `{erl_opts, [debug_info]}.
{relx, [{release, {demorel, "0.1.0"},
         [demorel, sasl]},
        {mode, dev}]}.
`;

const APP_SRC = `{application, demorel,
 [{description, "An OTP application"},
  {vsn, "0.1.0"},
  {registered, []}]}.
`;

describe('version in project files', () => {
  it('mix.exs literal and attribute forms', () => {
    expect(readMixVersion(MIX)).toBe('0.1.0');
    expect(rewriteMixVersion(MIX, '0.2.0+abc1234')).toContain('version: "0.2.0+abc1234",');
    expect(rewriteMixVersion(MIX, '0.2.0')?.match(/version:/g)).toHaveLength(1);
    expect(readMixVersion(MIX_ATTR)).toBe('1.4.2');
    const r = rewriteMixVersion(MIX_ATTR, '2.0.0');
    expect(r).toContain('@version "2.0.0"');
    expect(r).toContain('version: "9.9.9"'); // a dependency's option is untouched
    expect(rewriteMixVersion('defmodule X do end', '1.0.0')).toBeUndefined();
  });
  it('rebar.config release vsn and .app.src vsn', () => {
    expect(readRelxVersion(REBAR, 'demorel')).toBe('0.1.0');
    expect(readRelxVersion(REBAR, 'other')).toBeUndefined();
    expect(rewriteRelxVersion(REBAR, 'demorel', '0.3.0')).toContain('{release, {demorel, "0.3.0"},');
    expect(rewriteRelxVersion(`{relx, [{release, {'demorel', semver}, [demorel]}]}.`, 'demorel', '1.0.0')).toContain(`{'demorel', "1.0.0"}`);
    expect(readAppSrcVersion(APP_SRC)).toBe('0.1.0');
    expect(rewriteAppSrcVersion(APP_SRC, '0.3.0')).toContain('{vsn, "0.3.0"}');
    expect(findAppSrc(set('apps/demorel/src/demorel.app.src'), 'demorel')).toBe('apps/demorel/src/demorel.app.src');
    expect(findAppSrc(set('src/demorel.app.src'), 'demorel')).toBe('src/demorel.app.src');
  });
  it('collects the edits for each tool', async () => {
    const files: Record<string, string> = { 'mix.exs': MIX, 'rebar.config': REBAR, 'apps/demorel/src/demorel.app.src': APP_SRC };
    const read = async (p: string) => files[p] ?? '';
    const mixKind = detectProject(set('mix.exs'));
    expect(await readProjectVersion(mixKind, set('mix.exs'), 'demo', read)).toEqual({ base: '0.1.0', source: 'mix.exs' });
    const mixEdits = await versionEdits(mixKind, set('mix.exs'), 'demo', '0.1.1', read);
    expect(mixEdits.map((e) => e.path)).toEqual(['mix.exs']);
    const rf = set('rebar.config', 'apps/demorel/src/demorel.app.src');
    const rk = detectProject(rf);
    expect(await readProjectVersion(rk, rf, 'demorel', read)).toEqual({ base: '0.1.0', source: 'rebar.config' });
    const edits = await versionEdits(rk, rf, 'demorel', '0.2.0', read);
    expect(edits.map((e) => e.path)).toEqual(['rebar.config', 'apps/demorel/src/demorel.app.src']);
    expect(edits[1]?.content).toContain('{vsn, "0.2.0"}');
    await expect(versionEdits(rk, rf, 'nope', '0.2.0', read)).rejects.toThrow(/has no \{release, \{nope/);
  });
});

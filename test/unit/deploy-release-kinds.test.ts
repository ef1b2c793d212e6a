// The release kind from a release's files, RELEASE_KIND when they cannot tell, and node control of Distillery, mix
// and relx releases: deliver's commands run by a real `sh` against on-disk layouts like the generators write.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/load.js';
import { configuredReleaseKind } from '../../src/config/resolve.js';
import { validateSettings } from '../../src/config/validate.js';
import { unpackCommand } from '../../src/deploy/commands.js';
import { layoutFor, stagingDir, type Layout } from '../../src/deploy/layout.js';
import { detectKindCommand, logTailCommand, parseKind, unknownScriptCommand, type ReleaseKind } from '../../src/deploy/node-commands.js';
import { detectKind, distilleryAnswer, runQuery, type NodeContext } from '../../src/deploy/node.js';
import type { NodeTarget } from '../../src/deploy/node-plan.js';
import { planNode, runNode } from '../../src/deploy/node-run.js';
import { ConfigError, RemoteError } from '../../src/output/errors.js';
import { localShellBackend } from '../helpers/local-shell.js';
import { writeReleaseLayout, type LayoutKind } from '../helpers/release-layouts.js';

const root = mkdtempSync(join(tmpdir(), 'deliver-kinds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const SET_KIND = "set RELEASE_KIND=mix, distillery or relx in .deliver/config (edeliver's USING_DISTILLERY=true means distillery)";
const run = (text: string) => spawnSync('sh', ['-c', text], { encoding: 'utf8' });

/** A deploy host with release 0.1.0 of `demo` of this kind installed and active. */
function host(kind: LayoutKind | 'bare'): Layout {
  const l = layoutFor(join(root, `h${++n}`), 'demo');
  const dir = join(l.releases, '0.1.0');
  if (kind === 'bare') {
    mkdirSync(join(dir, 'bin'), { recursive: true });
    writeFileSync(join(dir, 'bin', 'demo'), '#!/bin/sh\nexec erl "$@"\n');
    chmodSync(join(dir, 'bin', 'demo'), 0o755);
  } else writeReleaseLayout(kind, dir, 'demo', '0.1.0');
  symlinkSync('.deliver/demo/releases/0.1.0', l.root);
  return l;
}

const started: NodeContext[] = [];
function ctx(l: Layout, configuredKind?: ReleaseKind): NodeContext {
  const c: NodeContext = { backend: localShellBackend('h1'), layout: l, ...(configuredKind ? { configuredKind } : {}) };
  started.push(c);
  return c;
}
// Never leave a fake node (a sleep) behind, whatever a test did.
afterEach(() => {
  for (const c of started.splice(0)) run(`for f in ${c.layout.releases}/*/var/node.pid ${c.layout.releases}/*/tmp/node.pid ${c.layout.releases}/*/node.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done; true`);
});

/** start/stop/restart as the node commands run them (planNode, then runNode): the start's log tail, or whether a stop stopped. */
async function control(c: NodeContext, action: 'start' | 'stop' | 'restart', timeoutMs = 5000): Promise<{ out: string; stopped: boolean; steps: string[] }> {
  const t: NodeTarget = { layout: c.layout, timeoutMs, ...(c.envFile ? { envFile: c.envFile } : {}), ...(c.configuredKind ? { configuredKind: c.configuredKind } : {}) };
  const { plan, kind } = await planNode(c.backend, t, { action });
  const r = await runNode(c.backend, t, kind, plan);
  return { out: r.stdout.trimEnd(), stopped: plan.steps.some((s) => s.name === 'stop'), steps: plan.steps.map((s) => s.name) };
}
const startNode = async (c: NodeContext, timeoutMs?: number) => (await control(c, 'start', timeoutMs)).out;
const stopNode = async (c: NodeContext) => (await control(c, 'stop')).stopped;

async function failure(p: Promise<unknown>): Promise<RemoteError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(RemoteError);
  return err as RemoteError;
}

describe('release kind detection', () => {
  it('tells Distillery, mix and relx releases apart by their files', () => {
    for (const kind of ['distillery', 'mix', 'relx'] as const) {
      expect(parseKind(run(detectKindCommand(host(kind)).text).stdout), kind).toBe(kind);
    }
  });

  it('a Distillery 2.x release is Distillery although its bin/APP wrapper names neither distillery nor RELEASE_ROOT_DIR', () => {
    const l = host('distillery');
    expect(readFileSync(join(l.root, 'bin', 'demo'), 'utf8')).not.toMatch(/distillery|RELEASE_ROOT_DIR/i);
    expect(parseKind(run(detectKindCommand(l).text).stdout)).toBe('distillery');
  });

  it('answers unknown for a release no generator marks, none where nothing is deployed', () => {
    expect(run(detectKindCommand(host('bare')).text).stdout).toBe('unknown\n');
    expect(run(detectKindCommand(layoutFor(join(root, 'nothing'), 'demo')).text).stdout).toBe('none\n');
  });

  it('an unknown release fails with the setting to use; RELEASE_KIND decides then', async () => {
    const l = host('bare');
    const err = await failure(detectKind(ctx(l)));
    expect(err.message).toBe(`h1: cannot tell whether ${l.root}/bin/demo is a mix release, Distillery or relx release from its files: ${SET_KIND}`);
    expect(await detectKind(ctx(l, 'relx'))).toBe('relx');
  });

  it('RELEASE_KIND wins over the files, USING_DISTILLERY=true means distillery, a bad value names file and line', async () => {
    const dir = join(root, `cfg${++n}`);
    mkdirSync(join(dir, '.deliver'), { recursive: true });
    const settings = (config: string) => {
      writeFileSync(join(dir, '.deliver', 'config'), config);
      return loadSettings({ cwd: dir, env: { HOME: '/home/t', PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    };
    expect(configuredReleaseKind(await settings('APP=demo\n'))).toBeUndefined();
    expect(configuredReleaseKind(await settings('APP=demo\nUSING_DISTILLERY=true\n'))).toBe('distillery');
    expect(configuredReleaseKind(await settings('APP=demo\nUSING_DISTILLERY=true\nRELEASE_KIND=mix\n'))).toBe('mix');
    const bad = await settings('APP=demo\n\nRELEASE_KIND=elixir\n');
    expect(() => configuredReleaseKind(bad)).toThrow(ConfigError);
    expect(() => configuredReleaseKind(bad)).toThrow('RELEASE_KIND="elixir": expected mix, distillery or relx');
    expect(validateSettings(bad).errors.map((e) => `${e.file}:${e.line}`)).toEqual(['.deliver/config:3']);
    expect(await detectKind(ctx(host('distillery'), 'mix'))).toBe('mix');
  });

  it('recognises each script\'s answer to a command it does not have', () => {
    expect(unknownScriptCommand("'daemon' is not a valid command\nUSAGE\n  demo <task>")).toBe("'daemon' is not a valid command");
    expect(unknownScriptCommand('Usage: demo COMMAND [ARGS]\n\nERROR: Unknown command ping')).toBe('ERROR: Unknown command ping');
    expect(unknownScriptCommand('Usage: demo [COMMAND] [ARGS]\n\nCommands:')).toBe('Usage: demo [COMMAND] [ARGS]');
    expect(unknownScriptCommand("Node demo@127.0.0.1 is not running!\n--rpc-eval : RPC failed with reason :nodedown")).toBeUndefined();
  });
});

describe('node control per release kind', () => {
  it('Distillery: start (not daemon), the var/log tail, version and pid print only the value, rpc without its :ok, stop', async () => {
    const l = host('distillery');
    const c = ctx(l);
    const kind = await detectKind(c);
    expect(kind).toBe('distillery');
    const tail = await startNode(c);
    expect(tail).toBe('[notice] demo 0.1.0 booted, cookie none');
    expect(existsSync(join(l.root, 'var', 'log', 'erlang.log.1'))).toBe(true);
    expect((await runQuery(c, kind, { action: 'version' })).stdout).toBe('0.1.0');
    expect((await runQuery(c, kind, { action: 'pid' })).stdout).toMatch(/^\d+\n$/);
    expect((await runQuery(c, kind, { action: 'rpc', expr: 'IO.puts("hello")' })).stdout).toBe('hello\n');
    expect(await stopNode(c)).toBe(true);
    expect(await stopNode(c)).toBe(false);
  });

  it.each(['mix', 'relx'] as const)('%s: start, log tail, version, stop', async (k) => {
    const l = host(k);
    const c = ctx(l);
    const kind = await detectKind(c);
    expect(kind).toBe(k);
    expect(await startNode(c)).toBe('[notice] demo 0.1.0 booted, cookie none');
    expect((await runQuery(c, kind, { action: 'version' })).stdout.trim()).toBe('0.1.0');
    expect(await stopNode(c)).toBe(true);
  });

  it.each(['distillery', 'mix', 'relx'] as const)('%s: start and stop watch epmd, the release script answers once', async (k) => {
    const l = host(k);
    const calls = join(l.home, 'calls');
    const env = join(l.home, 'test.env');
    // The node takes a second to boot: a wait that asks the script would ask it ~4 times.
    writeFileSync(env, `FAKE_BOOT_S=1\nFAKE_CALLS=${calls}\n`);
    const c = { ...ctx(l), envFile: env };
    const start = await control(c, 'start');
    const ask = k === 'mix' ? 'pid' : 'ping';
    expect(readFileSync(calls, 'utf8')).toBe(`${k === 'distillery' ? 'start' : 'daemon'}\n${ask}\n`);
    expect(start.steps).toEqual(['detect', 'running?', 'start', 'registered', 'up', 'log']);
    writeFileSync(calls, '');
    expect((await control(c, 'stop')).steps).toEqual(['detect', 'running?', 'stop', 'stopped']);
    expect(readFileSync(calls, 'utf8')).toBe('stop\n');
  });

  it('the log tail reads Distillery\'s var/log', () => {
    const l = host('distillery');
    mkdirSync(join(l.root, 'var', 'log'), { recursive: true });
    writeFileSync(join(l.root, 'var', 'log', 'erlang.log.1'), 'one\ntwo\nthree\n');
    expect(run(logTailCommand(l, 2).text).stdout).toBe('two\nthree\n');
  });

  it('a Distillery release run as a mix release fails at start naming RELEASE_KIND, not with a timeout', async () => {
    const c = ctx(host('distillery'), 'mix');
    const t0 = Date.now();
    const err = await failure(startNode(c, 20_000));
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(err.message).toBe(`h1: bin/demo is not a mix release (as RELEASE_KIND/USING_DISTILLERY say): it answered "'daemon' is not a valid command"; ${SET_KIND}`);
    expect(err.step).toBe('start');
  });

  it('a mix release run as Distillery or relx fails at its first command naming RELEASE_KIND', async () => {
    const l = host('mix');
    const asDistillery = await failure(startNode(ctx(l, 'distillery')));
    expect(asDistillery.message).toBe('h1: bin/demo is not a distillery release (as RELEASE_KIND/USING_DISTILLERY say): it answered "ERROR: Unknown command start"; ' + SET_KIND);
    const asRelx = await failure(runQuery(ctx(l, 'relx'), 'relx', { action: 'ping' }));
    expect(asRelx.message).toBe('h1: bin/demo is not a relx release (as RELEASE_KIND/USING_DISTILLERY say): it answered "ERROR: Unknown command ping"; ' + SET_KIND);
  });

  it('a relx release run as a mix release fails naming RELEASE_KIND', async () => {
    const err = await failure(runQuery(ctx(host('relx'), 'mix'), 'mix', { action: 'version' }));
    expect(err.message).toBe('h1: bin/demo is not a mix release (as RELEASE_KIND/USING_DISTILLERY say): it answered "Usage: demo [COMMAND] [ARGS]"; ' + SET_KIND);
  });

  it('Distillery\'s rpc answers: the value alone for version, the output without the :ok for rpc', () => {
    expect(distilleryAnswer('\n"0.2.0"\n', 'version')).toBe('0.2.0');
    expect(distilleryAnswer('\nhello\nworld\n:ok\n', 'rpc')).toBe('hello\nworld\n');
    expect(distilleryAnswer(':ok\n', 'rpc')).toBe('');
    expect(distilleryAnswer('42\n', 'rpc')).toBe('42\n');
  });
});

describe('unpacking a Distillery release', () => {
  it('leaves out the release\'s own releases/VSN/APP.tar.gz and keeps everything else', () => {
    const src = join(root, `src${++n}`);
    writeReleaseLayout('distillery', src, 'demo', '0.1.0');
    const l = layoutFor(join(root, `u${n}`), 'demo');
    mkdirSync(l.incoming, { recursive: true });
    mkdirSync(l.releases, { recursive: true });
    const tar = join(l.incoming, 'demo_0.1.0.tar.gz');
    expect(run(`tar -czf ${tar} -C ${src} .`).status).toBe(0);
    const r = run(unpackCommand(l, tar, '0.1.0', 'x', 'a'.repeat(64)).text);
    expect(r.stderr).toBe('');
    const stage = stagingDir(l, '0.1.0', 'x');
    expect(existsSync(join(stage, 'releases', '0.1.0', 'demo.tar.gz'))).toBe(false);
    for (const f of ['bin/demo', 'bin/demo_rc_exec.sh', 'releases/0.1.0/demo.sh', 'releases/start_erl.data', 'releases/RELEASES']) {
      expect(existsSync(join(stage, f)), f).toBe(true);
    }
  });
});

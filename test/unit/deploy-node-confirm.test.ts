// The confirmation after a start (src/deploy/node-confirm.ts), run by a real sh against a release root whose
// erts-VSN/bin holds stand-ins for epmd and erl_call and whose bin/demo answers `pid` (each records its calls).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { confirmUpCommand, confirmUpDoes } from '../../src/deploy/node-confirm.js';
import { pingCommand } from '../../src/deploy/node-commands.js';
import { layoutFor } from '../../src/deploy/layout.js';

const tmp = mkdtempSync(join(tmpdir(), 'deliver-confirm-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const COOKIE = 'SECRET_cookie_42';

function write(root: string, path: string, text: string, mode = 0o644): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
}

/**
 * DELIVER_TO with the active release `demo` (0.1.0): epmd lists `demo` at port 40001; erl_call answers "4242" when
 * called with that port and $HOME/.erlang.cookie holding the release's cookie, and records its argv; bin/demo pid
 * prints 99. `erlCall: false` leaves erl_call out.
 */
function host(opts: { erlCall?: boolean; erlCallFails?: boolean } = {}) {
  const to = join(tmp, `h${++n}`);
  const root = join(to, '.deliver', 'demo', 'releases', '0.1.0');
  const calls = join(to, 'calls');
  write(root, 'releases/start_erl.data', '12.0 0.1.0\n');
  write(root, 'releases/COOKIE', COOKIE);
  write(root, 'erts-12.0/bin/epmd', `#!/bin/sh\necho 'epmd: up and running on port 4369 with data:'\necho 'name other at port 40000'\necho 'name demo at port 40001'\n`, 0o755);
  if (opts.erlCall !== false) {
    const ok = opts.erlCallFails ? 'exit 1' : `[ "$2" = 40001 ] && [ "$(cat "$HOME/.erlang.cookie")" = ${COOKIE} ] && printf '"4242"' && exit 0; exit 1`;
    write(root, 'erts-12.0/bin/erl_call', `#!/bin/sh\necho "erl_call $*" >> ${calls}\necho "$HOME" >> ${calls}.home\n${ok}\n`, 0o755);
  }
  write(root, 'bin/demo', `#!/bin/sh\necho "bin/demo $*" >> ${calls}\n[ "$1" = pid ] && echo 99\n`, 0o755);
  mkdirSync(join(to, '.deliver', 'demo'), { recursive: true });
  spawnSync('ln', ['-s', '.deliver/demo/releases/0.1.0', join(to, 'demo')]);
  const calledWith = () => (existsSync(calls) ? readFileSync(calls, 'utf8') : '');
  const homes = () => (existsSync(`${calls}.home`) ? readFileSync(`${calls}.home`, 'utf8').trim().split('\n') : []);
  return { to, calledWith, homes };
}

function run(to: string, env: Record<string, string> = {}) {
  const script = confirmUpCommand(layoutFor(to, 'demo'), 'mix').text;
  return spawnSync('sh', ['-c', script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8' });
}

describe('confirming a started mix node', () => {
  it('asks through erl_call (no VM): the pid, the cookie only in a private temp file that is gone afterwards', () => {
    const h = host();
    const r = run(h.to);
    expect([r.status, r.stdout]).toEqual([0, '4242\n']);
    expect(h.calledWith()).toBe("erl_call -address 40001 -timeout 10 -a os getpid []\n");
    expect(h.calledWith()).not.toContain(COOKIE);
    const [home] = h.homes();
    expect(home).toMatch(/^\/tmp\//);
    expect(existsSync(home!)).toBe(false);
  });

  it('falls back to bin/demo pid: no erl_call, erl_call failing, a cookie from the environment, a node epmd does not list', () => {
    const noErlCall = host({ erlCall: false });
    expect([run(noErlCall.to).stdout, noErlCall.calledWith()]).toEqual(['99\n', 'bin/demo pid\n']);
    const failing = host({ erlCallFails: true });
    expect(run(failing.to).stdout).toBe('99\n');
    expect(failing.calledWith()).toBe('erl_call -address 40001 -timeout 10 -a os getpid []\nbin/demo pid\n');
    const envCookie = host();
    expect(run(envCookie.to, { RELEASE_COOKIE: 'from-env' }).stdout).toBe('99\n');
    expect(envCookie.calledWith()).toBe('bin/demo pid\n');
    const otherName = host();
    expect(run(otherName.to, { RELEASE_NODE: 'web' }).stdout).toBe('99\n');
    expect(otherName.calledWith()).toBe('bin/demo pid\n');
  });

  it('leaves no temp dir behind when erl_call fails', () => {
    const h = host({ erlCallFails: true });
    run(h.to);
    const [home] = h.homes();
    expect(home).toMatch(/^\/tmp\//);
    expect(existsSync(home!)).toBe(false);
  });

  it('relx and Distillery keep their ping; the plan says what runs', () => {
    const l = layoutFor('/srv/app', 'demo');
    expect(confirmUpCommand(l, 'relx').text).toBe(pingCommand(l, 'relx').text);
    expect(confirmUpCommand(l, 'distillery').text).toBe(pingCommand(l, 'distillery').text);
    expect(confirmUpDoes('demo', 'mix')).toBe("erl_call to the node's distribution port, else bin/demo pid");
    expect(confirmUpDoes('demo', 'relx')).toBe('bin/demo ping');
  });
});

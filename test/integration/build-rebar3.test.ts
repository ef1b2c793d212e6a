// `deliver build release` with a stock `rebar3 new release demorel` app on the bed's real build host.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bed, createRebarFixture, deliver, onHost, spareEpmdPort, writeDeliverConfig, type Fixture } from '../helpers/fixtures.js';

let fx: Fixture;
const DIR = '/srv/build-rebar3-test';

function entries(file: string): string[] {
  return execFileSync('tar', ['-tzf', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).split('\n').filter((e) => e !== '');
}

function extract(file: string, member: string): string {
  return execFileSync('tar', ['-xzOf', file, member], { encoding: 'utf8' });
}

beforeAll(() => {
  bed();
  fx = createRebarFixture('demorel');
  writeDeliverConfig(fx, { app: 'demorel', buildHost: 'build', buildUser: 'root', buildAt: '/srv/builds/build-rebar3-test' });
});

afterAll(() => {
  try {
    const port = spareEpmdPort(2);
    onHost('host2', `cd ${DIR} 2>/dev/null && ERL_EPMD_PORT=${port} bin/demorel stop >/dev/null 2>&1; rm -rf ${DIR}; epmd -port ${port} -kill >/dev/null 2>&1; true`);
  } catch {
    // never started
  }
});

describe('build release (rebar3)', () => {
  it('builds a relx release whose tarball is a release root that starts, answers ping/rpc and stops', async () => {
    const r = await deliver(fx.dir, ['build', 'release', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { app: string; version: string; file: string; releaseTool: string };
    expect(res).toMatchObject({ app: 'demorel', version: '0.1.0', file: 'demorel_0.1.0.release.tar.gz', releaseTool: 'rebar3' });
    const file = join(fx.dir, '.deliver/releases', res.file);
    const list = entries(file);
    expect(list).toContain('./bin/demorel');
    expect(list).toContain('./releases/0.1.0/demorel.rel');
    expect(list.some((e) => /^\.\/erts-[\d.]+\/$/.test(e))).toBe(true); // prod profile: ERTS included
    expect(list.some((e) => e.startsWith('demorel/') || e.startsWith('./demorel/'))).toBe(false);

    const env = `ERL_EPMD_PORT=${spareEpmdPort(2)}`;
    onHost('host2', `rm -rf ${DIR} && mkdir -p ${DIR} && tar -xzf - -C ${DIR}`, readFileSync(file));
    onHost('host2', `cd ${DIR} && ${env} bin/demorel daemon`);
    let pong = '';
    for (let i = 0; i < 40 && pong !== 'pong'; i++) {
      pong = onHost('host2', `cd ${DIR} && ${env} bin/demorel ping 2>&1; true`).trim();
      if (pong !== 'pong') await new Promise((res) => setTimeout(res, 250));
    }
    expect(pong).toBe('pong');
    expect(onHost('host2', `cd ${DIR} && ${env} bin/demorel rpc application which_applications`)).toContain('demorel');
    expect(onHost('host2', `cd ${DIR} && ${env} bin/demorel versions`)).toMatch(/0\.1\.0\s+permanent/);
    onHost('host2', `cd ${DIR} && ${env} bin/demorel stop`);
    expect(onHost('host2', `cd ${DIR} && ${env} bin/demorel ping 2>&1; echo "exit=$?"`)).toMatch(/not (running|responding)[\s\S]*exit=1|exit=1/);
  });

  it('--increment-version=patch sets the relx release and app vsn: 0.1.1 in the name and inside', async () => {
    const r = await deliver(fx.dir, ['build', 'release', '--increment-version=patch']);
    expect(r.code, r.stderr).toBe(0);
    const file = join(fx.dir, '.deliver/releases/demorel_0.1.1.release.tar.gz');
    const list = entries(file);
    expect(list).toContain('./releases/0.1.1/demorel.rel');
    expect(list).toContain('./lib/demorel-0.1.1/');
    expect(extract(file, './releases/start_erl.data').trim()).toMatch(/^\S+ 0\.1\.1$/);
    expect(extract(file, './releases/0.1.1/demorel.rel')).toMatch(/\{release,\{"demorel","0\.1\.1"\}/);

    const show = await deliver(fx.dir, ['show', 'releases', '--json']);
    expect((JSON.parse(show.stdout) as { releases: { version: string }[] }).releases.map((x) => x.version)).toEqual(['0.1.0', '0.1.1']);
  });
});

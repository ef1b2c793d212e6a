// The on-host command lines, run for real by /bin/sh against a temp dir standing in for DELIVER_TO.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readlinkSync, writeFileSync, existsSync, readdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  activateCommand, auditCommand, cleanupCommand, EXIT_ACTIVE_DIFFERS, EXIT_BAD_RELEASE, EXIT_CHECKSUM, EXIT_UPLOAD, installCommand,
  homeCommand, linkConfigCommand, prepareCommand, pruneCommand, stateCommand, unpackCommand, verifyCommand,
} from '../../src/deploy/commands.js';
import { hostLayout } from '../../src/deploy/host-dir.js';
import { localShellBackend } from '../helpers/local-shell.js';
import { checkVersion, layoutFor, linkTarget, uploadPath, versionFromLink } from '../../src/deploy/layout.js';
import { parseHostState, previousVersion, pruneList } from '../../src/deploy/state.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

function run(cmd: { text: string }): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('sh', ['-c', cmd.text], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A tarball shaped like src/build's output: a release root (bin/APP, releases/VSN/). */
function makeRelease(dir: string, app: string, version: string, opts: { prefix?: boolean } = {}): { tar: string; sha: string } {
  const src = tmp('rel-');
  const root = opts.prefix ? join(src, app) : src;
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'releases', version), { recursive: true });
  writeFileSync(join(root, 'bin', app), `#!/bin/sh\necho ${app} ${version}\n`);
  chmodSync(join(root, 'bin', app), 0o755);
  writeFileSync(join(root, 'releases', version, 'vm.args'), '-name x\n');
  const tar = join(dir, `${app}_${version}.release.tar.gz`);
  execFileSync('tar', ['-czf', tar, '-C', src, '.']);
  const sha = createHash('sha256').update(readFileSync(tar)).digest('hex');
  return { tar, sha };
}

function deploy(l: ReturnType<typeof layoutFor>, dir: string, version: string, id = 'x1'): void {
  const { tar, sha } = makeRelease(dir, l.app, version);
  expect(run(prepareCommand(l, version)).code).toBe(0);
  const up = uploadPath(l, `demo_${version}.release.tar.gz`, id);
  execFileSync('cp', [tar, up]);
  expect(run(verifyCommand(up, sha)).code).toBe(0);
  expect(run(unpackCommand(l, up, version, id, sha))).toMatchObject({ code: 0 });
  expect(run(installCommand(l, version, id)).code).toBe(0);
  expect(run(activateCommand(l, version, id)).code).toBe(0);
}

describe('layout', () => {
  it('keeps $DELIVER_TO/$APP as the path users run bin/APP from', () => {
    const l = layoutFor('/srv/apps/', 'demo');
    expect(l.root).toBe('/srv/apps/demo');
    expect(l.releases).toBe('/srv/apps/.deliver/demo/releases');
    expect(linkTarget(l, '1.0.0')).toBe('.deliver/demo/releases/1.0.0');
    expect(versionFromLink('.deliver/demo/releases/1.0.0')).toBe('1.0.0');
    expect(versionFromLink('/elsewhere')).toBeUndefined();
  });
  it('~/ in DELIVER_TO or a node path is the login home on the host (asked there), never a directory named ~', async () => {
    const home = tmp('home-');
    const backend = localShellBackend();
    const saved = process.env.HOME;
    process.env.HOME = home; // the local "host" shell inherits it
    try {
      expect((await hostLayout(backend, '~/apps', 'demo')).root).toBe(`${home}/apps/demo`);
      expect((await hostLayout(backend, '/srv', 'demo', '~/node')).home).toBe(`${home}/node/.deliver/demo`);
      expect((await hostLayout(backend, '/srv', 'demo')).root).toBe('/srv/demo');
    } finally {
      process.env.HOME = saved;
    }
    expect(backend.commands).toEqual([homeCommand().text, homeCommand().text]);
  });

  it('rejects versions that could escape the releases dir', () => {
    expect(() => checkVersion('../x')).toThrow(/invalid release version/);
    expect(() => checkVersion('1.0 ; rm')).toThrow(/invalid release version/);
    expect(checkVersion('0.1.0+build.3')).toBe('0.1.0+build.3');
    expect(() => layoutFor('/srv', 'Bad-App')).toThrow(/invalid APP/);
  });
});

describe('deploy commands on a real shell', () => {
  it('unpacks, activates atomically, keeps history and returns state', () => {
    const dir = tmp('dt-');
    const l = layoutFor(join(dir, 'to'), 'demo');
    deploy(l, dir, '0.1.0', 'a');
    expect(readlinkSync(l.root)).toBe('.deliver/demo/releases/0.1.0');
    expect(execFileSync(join(l.root, 'bin', 'demo'), { encoding: 'utf8' })).toBe('demo 0.1.0\n');
    deploy(l, dir, '0.2.0', 'b');
    const st = parseHostState(run(stateCommand(l)).stdout);
    expect(st).toMatchObject({ active: '0.2.0', legacyDir: false, releases: ['0.1.0', '0.2.0'], history: ['0.1.0', '0.2.0'] });
    expect(previousVersion(st)).toBe('0.1.0');
    // no temp link, staging dir or upload left behind
    expect(readdirSync(join(dir, 'to')).sort()).toEqual(['.deliver', 'demo']);
    expect(readdirSync(l.incoming)).toEqual([]);
  });

  it('refuses a corrupted upload before unpacking and deletes it', () => {
    const dir = tmp('dt-');
    const l = layoutFor(join(dir, 'to'), 'demo');
    const { tar, sha } = makeRelease(dir, 'demo', '0.1.0');
    run(prepareCommand(l, '0.1.0'));
    const up = uploadPath(l, 'demo_0.1.0.release.tar.gz', 'c');
    const bytes = readFileSync(tar);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
    writeFileSync(up, bytes);
    const r = run(verifyCommand(up, sha));
    expect(r.code).toBe(EXIT_CHECKSUM);
    expect(r.stderr).toContain(`checksum mismatch: expected ${sha}`);
    expect(existsSync(up)).toBe(false);
    expect(existsSync(l.root)).toBe(false);
  });

  it('verifies with openssl, with sha256sum when openssl is missing or fails, and names a short upload', () => {
    const dir = tmp('dt-');
    const { tar, sha } = makeRelease(dir, 'demo', '0.1.0');
    const size = readFileSync(tar).length;
    // A PATH with sha256sum but no openssl.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    for (const tool of ['sha256sum', 'rm', 'wc']) execFileSync('ln', ['-s', execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool)]);
    const variants = [
      { name: 'openssl', cmd: (t: string, x: string) => verifyCommand(t, x, size).text },
      { name: 'no openssl', cmd: (t: string, x: string) => `PATH=${bin}; ${verifyCommand(t, x, size).text}` },
      { name: 'openssl fails', cmd: (t: string, x: string) => `openssl() { return 1; }; ${verifyCommand(t, x, size).text}` },
    ];
    for (const v of variants) {
      const good = join(dir, `good-${v.name.replace(/ /g, '-')}`);
      execFileSync('cp', [tar, good]);
      expect(spawnSync('/bin/sh', ['-c', v.cmd(good, sha)]).status, v.name).toBe(0);
      const bad = `${good}.bad`;
      const bytes = readFileSync(tar);
      bytes[5] = bytes[5]! ^ 0xff;
      writeFileSync(bad, bytes);
      const r = spawnSync('/bin/sh', ['-c', v.cmd(bad, sha)], { encoding: 'utf8' });
      expect([r.status, r.stderr], v.name).toEqual([EXIT_CHECKSUM, expect.stringContaining(`checksum mismatch: expected ${sha}, got `)]);
      expect(r.stderr).toMatch(/got [0-9a-f]{64}\n$/);
      const short = `${good}.short`;
      writeFileSync(short, readFileSync(tar).subarray(0, 100));
      const s2 = spawnSync('/bin/sh', ['-c', v.cmd(short, sha)], { encoding: 'utf8' });
      expect([s2.status, s2.stderr.trim()], v.name).toEqual([EXIT_UPLOAD, `upload incomplete: received 100 of ${size} bytes`]);
      expect(existsSync(short)).toBe(false);
    }
  });

  it('flattens an APP/-prefixed tarball and rejects one without the version', () => {
    const dir = tmp('dt-');
    const l = layoutFor(join(dir, 'to'), 'demo');
    run(prepareCommand(l, '0.3.0'));
    const p = makeRelease(dir, 'demo', '0.3.0', { prefix: true });
    const up = uploadPath(l, 'p.tar.gz', 'd');
    execFileSync('cp', [p.tar, up]);
    expect(run(unpackCommand(l, up, '0.3.0', 'd', p.sha)).code).toBe(0);
    expect(existsSync(`${l.releases}/0.3.0.tmp-d/bin/demo`)).toBe(true);
    const q = makeRelease(dir, 'demo', '0.4.0');
    execFileSync('cp', [q.tar, up]);
    const r = run(unpackCommand(l, up, '0.5.0', 'e', q.sha));
    expect(r.code).toBe(EXIT_BAD_RELEASE);
    expect(r.stderr).toContain('releases/0.5.0/ missing');
    run(cleanupCommand(l, '0.5.0', 'e', up));
    expect(existsSync(`${l.releases}/0.5.0.tmp-e`)).toBe(false);
  });

  it('links LINK_VM_ARGS into the staged release and fails naming a missing file', () => {
    const dir = tmp('dt-');
    const l = layoutFor(join(dir, 'to'), 'demo');
    const { tar, sha } = makeRelease(dir, 'demo', '0.1.0');
    run(prepareCommand(l, '0.1.0'));
    const up = uploadPath(l, 'a.tar.gz', 'f');
    execFileSync('cp', [tar, up]);
    run(unpackCommand(l, up, '0.1.0', 'f', sha));
    writeFileSync(join(dir, 'vm.args'), '-name prod\n');
    expect(run(linkConfigCommand(l, '0.1.0', 'f', { vmArgs: join(dir, 'vm.args') })!).code).toBe(0);
    expect(readlinkSync(`${l.releases}/0.1.0.tmp-f/releases/0.1.0/vm.args`)).toBe(join(dir, 'vm.args'));
    const r = run(linkConfigCommand(l, '0.1.0', 'f', { sysConfig: '/nonexistent/sys.config' })!);
    expect(r.code).toBe(EXIT_BAD_RELEASE);
    expect(r.stderr).toContain('/nonexistent/sys.config does not exist on this host (LINK_SYS_CONFIG)');
    expect(linkConfigCommand(l, '0.1.0', 'f', {})).toBeUndefined();
  });

  it('never replaces the files of the active release', () => {
    const dir = tmp('dt-');
    const l = layoutFor(join(dir, 'to'), 'demo');
    deploy(l, dir, '0.1.0', 'a');
    const { tar, sha } = makeRelease(dir, 'demo', '0.1.0');
    const up = uploadPath(l, 'x.tar.gz', 'g');
    execFileSync('cp', [tar, up]);
    run(unpackCommand(l, up, '0.1.0', 'g', sha));
    const r = run(installCommand(l, '0.1.0', 'g'));
    expect(r.code).toBe(EXIT_ACTIVE_DIFFERS);
    expect(existsSync(`${l.releases}/0.1.0.tmp-g`)).toBe(false);
  });

  it('moves an edeliver-style directory aside as edeliver-legacy', () => {
    const dir = tmp('dt-');
    const l = layoutFor(join(dir, 'to'), 'demo');
    mkdirSync(join(l.root, 'bin'), { recursive: true });
    writeFileSync(join(l.root, 'bin', 'demo'), 'old');
    deploy(l, dir, '0.2.0', 'h');
    const st = parseHostState(run(stateCommand(l)).stdout);
    expect(st.releases.sort()).toEqual(['0.2.0', 'edeliver-legacy']);
    expect(previousVersion(st)).toBe('edeliver-legacy');
    expect(readFileSync(`${l.releases}/edeliver-legacy/bin/demo`, 'utf8')).toBe('old');
  });

  it('refuses to activate a release that is not installed', () => {
    const dir = tmp('dt-');
    const l = layoutFor(join(dir, 'to'), 'demo');
    const r = run(activateCommand(l, '9.9.9', 'i'));
    expect(r.code).toBe(EXIT_BAD_RELEASE);
    expect(existsSync(l.root)).toBe(false);
  });

  it('prunes and appends audit lines with quoted JSON', () => {
    const dir = tmp('dt-');
    const l = layoutFor(join(dir, 'to'), 'demo');
    for (const v of ['0.1.0', '0.2.0', '0.3.0']) deploy(l, dir, v, v.replace(/\./g, ''));
    const st = parseHostState(run(stateCommand(l)).stdout);
    const del = pruneList(st, 2);
    expect(del).toEqual(['0.1.0']);
    expect(run(pruneCommand(l, del)!).code).toBe(0);
    expect(readdirSync(l.releases).sort()).toEqual(['0.2.0', '0.3.0']);
    expect(run(auditCommand(l, { msg: "it's $(rm -rf /) `x`" })).code).toBe(0);
    expect(JSON.parse(readFileSync(l.auditLog, 'utf8').trim())).toEqual({ msg: "it's $(rm -rf /) `x`" });
  });
});

describe('state decisions', () => {
  const base = { legacyDir: false };
  it('previous is the last other activated release still installed', () => {
    expect(previousVersion({ ...base, active: 'a', releases: ['a', 'b', 'c'], history: ['c', 'b', 'a'] })).toBe('b');
    // after a rollback a→b, rolling back again returns to a
    expect(previousVersion({ ...base, active: 'b', releases: ['a', 'b'], history: ['b', 'a', 'b'] })).toBe('a');
    expect(previousVersion({ ...base, active: 'a', releases: ['a', 'c'], history: ['c', 'b', 'a'] })).toBe('c');
    expect(previousVersion({ ...base, active: 'a', releases: ['a'], history: ['a'] })).toBeUndefined();
  });
  it('pruning keeps N including the active and the started release', () => {
    const st = { ...base, active: '5', started: '1', releases: ['1', '2', '3', '4', '5', '6'], history: ['1', '2', '3', '4', '5'] };
    expect(pruneList(st, 3).sort()).toEqual(['2', '3', '6']);
    expect(pruneList(st, 1).sort()).toEqual(['2', '3', '4', '6']);
    expect(pruneList({ ...base, active: '2', releases: ['1', '2'], history: ['2', '1', '2'] }, 1)).toEqual(['1']);
  });
  it('parses state output and ignores staging leftovers', () => {
    const st = parseHostState('link=.deliver/demo/releases/0.2.0\nstarted=0.1.0\n[releases]\n0.1.0\n0.2.0\n0.3.0.tmp-ab\n[history]\n0.1.0\n0.2.0\n');
    expect(st).toEqual({ active: '0.2.0', started: '0.1.0', legacyDir: false, releases: ['0.1.0', '0.2.0'], history: ['0.1.0', '0.2.0'] });
    expect(parseHostState('link=<directory>\nstarted=\n[releases]\n[history]\n')).toEqual({ legacyDir: true, releases: [], history: [] });
  });
});

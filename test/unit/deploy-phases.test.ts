// deployHost's phases (lock and inspect → transfer and install → activate and start → clean up on failure), run by
// a real local shell against a temporary DELIVER_TO: a plain deploy is one command; a failure injected at every
// step that can fail leaves no lock and no temp files, the old release active (or, after a failed start, running
// again) and a `failed` audit line naming the step.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { deployHost, deployTarget, planDeployHost, releaseRef, type DeployOptions } from '../../src/deploy/deploy-release.js';
import { homeCommand } from '../../src/deploy/commands.js';
import { hostDir, withDir } from '../../src/deploy/host-dir.js';
import { layoutFor } from '../../src/deploy/layout.js';
import type { ReleaseSource } from '../../src/deploy/source.js';
import { RemoteError } from '../../src/output/errors.js';
import { STEP_MARK } from '../../src/plan/session.js';
import type { Step } from '../../src/plan/plan.js';
import type { Backend, ExecOptions } from '../../src/ssh/types.js';
import { localShellBackend } from '../helpers/local-shell.js';
import { deployOptions } from '../helpers/deploy-options.js';

const APP = 'demo';
const root = mkdtempSync(join(tmpdir(), 'deliver-phases-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * A stand-in for a mix release script (detected as mix by RELEASE_DISTRIBUTION): `daemon` starts a sleeping
 * process and records its pid next to deliver's state, `pid` answers while it lives, `stop` ends it. Its
 * erts-0/bin/epmd lists the node (named demo, as a mix release without RELEASE_NODE is) while that process lives.
 */
const SCRIPT = `#!/bin/sh
# RELEASE_DISTRIBUTION
pidf="$(cd "$(dirname "$0")/.." && pwd -P)/../../node.pid"
case "$1" in
  daemon) nohup sleep 300 >/dev/null 2>&1 & echo $! > "$pidf";;
  pid) [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null && cat "$pidf";;
  stop) kill "$(cat "$pidf")" && rm -f "$pidf";;
  *) exit 1;;
esac
`;
const EPMD = `#!/bin/sh
pidf="$(cd "$(dirname "$0")/../.." && pwd -P)/../../node.pid"
[ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null && echo "name ${APP} at port 40000"
true
`;

function release(version: string): ReleaseSource {
  const src = mkdtempSync(join(root, 'rel-'));
  mkdirSync(join(src, 'bin'));
  mkdirSync(join(src, 'releases', version), { recursive: true });
  writeFileSync(join(src, 'bin', APP), SCRIPT);
  chmodSync(join(src, 'bin', APP), 0o755);
  mkdirSync(join(src, 'erts-0', 'bin'), { recursive: true });
  writeFileSync(join(src, 'erts-0', 'bin', 'epmd'), EPMD, { mode: 0o755 });
  const path = join(root, `${APP}_${version}-${Math.random().toString(36).slice(2)}.release.tar.gz`);
  execFileSync('tar', ['-czf', path, '-C', src, '.']);
  const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
  return { file: `${APP}_${version}.release.tar.gz`, path, sha256, size: statSync(path).size, open: () => createReadStream(path), dispose: async () => undefined };
}

const v1 = release('0.1.0');
const v2 = release('0.2.0');

function options(deliverTo: string, source: ReleaseSource, extra: Partial<DeployOptions> = {}): DeployOptions {
  return deployOptions(APP, deliverTo, source, source === v1 ? '0.1.0' : '0.2.0', extra);
}

const home = (to: string) => join(to, '.deliver', APP);
const active = (to: string) => (existsSync(join(to, APP)) ? readlinkSync(join(to, APP)).split('/').pop() : undefined);
const nodePid = (to: string) => (existsSync(join(home(to), 'node.pid')) ? Number(readFileSync(join(home(to), 'node.pid'), 'utf8')) : undefined);
const alive = (pid: number | undefined) => {
  try {
    return pid !== undefined && process.kill(pid, 0);
  } catch {
    return false;
  }
};

function leftovers(to: string): string[] {
  const list = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  return [
    ...(existsSync(join(home(to), 'lock')) ? ['lock'] : []),
    ...list(join(home(to), 'incoming')).map((f) => `incoming/${f}`),
    ...list(join(home(to), 'releases')).filter((f) => f.includes('.tmp-') || f.endsWith('.inner')).map((f) => `releases/${f}`),
    ...list(to).filter((f) => f.includes('.tmp-')),
  ];
}

function lastAudit(to: string): { result: string; step?: string; version: string } {
  const lines = readFileSync(join(home(to), 'deploys.jsonl'), 'utf8').trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as { result: string; step?: string; version: string };
}

/** `false` right after a step's mark in a continuation script (its byte count adjusted): that step fails. */
function failInScript(input: Readable, step: string): Readable {
  const out = new PassThrough();
  let head = Buffer.alloc(0);
  let done = false;
  input.on('data', (chunk: Buffer) => {
    if (done) return void out.write(chunk);
    head = Buffer.concat([head, Buffer.from(chunk)]);
    const nl = head.indexOf(10);
    const n = nl < 0 ? NaN : Number(head.subarray(0, nl).toString());
    if (Number.isNaN(n) || head.length < nl + 1 + n) return;
    done = true;
    const mark = `echo '${STEP_MARK} ${step}'`;
    const script = head.subarray(nl + 1, nl + 1 + n).toString().replace(mark, `${mark} && false`);
    out.write(`${Buffer.byteLength(script)}\n${script}`);
    out.write(head.subarray(nl + 1 + n));
  });
  input.on('end', () => out.end());
  input.on('error', (e) => out.destroy(e));
  return out;
}

/**
 * The local shell with `step` failing: in the lock's session by its mark, else the command run when the deploy
 * enters the step (with `poll`, every rerun of that same command too: a poll fails to the end).
 */
function failingAt(step: string, inSession: boolean, poll = false): { backend: Backend; onStep: (h: string, s: string) => void } {
  const b = localShellBackend('local');
  let armed = false;
  let failing: string | undefined;
  const fail = (cmd: string) => {
    if (armed && !/REFRESHED/.test(cmd)) {
      armed = false;
      failing = cmd;
    }
    const now = cmd === failing;
    if (!poll) failing = undefined;
    return now;
  };
  const refused = { code: 1, stdout: '', stderr: `injected failure at ${step}`, durationMs: 0 };
  const backend: Backend = {
    target: b.target,
    exec(cmd: string, opts: ExecOptions = {}) {
      if (inSession && opts.stdin && typeof opts.stdin === 'object' && !Buffer.isBuffer(opts.stdin)) return b.exec(cmd, { ...opts, stdin: failInScript(opts.stdin, step) });
      return fail(cmd) ? Promise.resolve(refused) : b.exec(cmd, opts);
    },
    async run(cmd: string, opts: ExecOptions & { step?: string } = {}) {
      if (fail(cmd)) throw new RemoteError('local', `${opts.step ?? 'command'} failed with exit code 1`, { ...(opts.step ? { step: opts.step } : {}) });
      return b.run(cmd, opts);
    },
    upload: b.upload,
    download: b.download,
  };
  return { backend, onStep: (_h, s) => void (!inSession && s === step && (armed = true)) };
}

/** The steps a real run of `o` would take here (the plan the dry run prints). */
async function planOf(o: DeployOptions): Promise<Step[]> {
  return (await planDeployHost(localShellBackend('local'), deployTarget(o, releaseRef(o.source), layoutFor(o.deliverTo, o.app), "local"))).steps;
}

const fresh = () => mkdtempSync(join(root, 'to-'));

afterEach(() => {
  for (const d of readdirSync(root).filter((f) => f.startsWith('to-'))) {
    const pid = nodePid(join(root, d));
    if (alive(pid)) process.kill(pid!);
  }
});

describe('deployHost phases on a local shell', () => {
  it('a plain deploy is one command: lock, state, upload, verify, unpack, install, activate, audit and unlock', async () => {
    const to = fresh();
    const b = localShellBackend('local');
    const r = await deployHost(b, options(to, v1));
    expect(r).toEqual({ version: '0.1.0', uploaded: true, started: false, transfer: 'full', receivedBytes: v1.size, fullReason: 'no release installed to build on' });
    expect(b.commands).toHaveLength(1);
    expect(active(to)).toBe('0.1.0');
    expect(leftovers(to)).toEqual([]);
    expect(lastAudit(to)).toMatchObject({ result: 'ok', version: '0.1.0' });
    // The same release again: nothing is sent, the lock's session is closed.
    const again = localShellBackend('local');
    expect(await deployHost(again, options(to, v1))).toMatchObject({ uploaded: false });
    expect(again.commands).toHaveLength(3);
  });

  it('DELIVER_TO=~/dir: one read-only home query, then the one deploy session on the expanded path; the dry run shows both', async () => {
    const h = fresh();
    const saved = process.env.HOME;
    process.env.HOME = h; // the local "host" shell inherits it
    try {
      const b = localShellBackend('local');
      await deployHost(b, options('~/apps', v1));
      expect(b.commands).toEqual([homeCommand().text, expect.stringContaining(`${h}/apps/.deliver/${APP}/lock`)]);
      expect(active(join(h, 'apps'))).toBe('0.1.0');
      const probe = localShellBackend('local');
      const dir = await hostDir(probe, '~/apps', APP);
      const plan = withDir(dir, await planDeployHost(probe, deployTarget(options('~/apps', v2), releaseRef(v2), dir.layout, "local")));
      expect(plan.facts[0]).toBe(`~/apps is ${h}/apps on this host`);
      expect(plan.steps.slice(0, 2).map((s) => [s.name, s.session, s.query])).toEqual([['home', 1, true], ['lock', 2, undefined]]);
      expect(plan.steps.map((s) => s.script.text).join('\n')).not.toContain('~');
    } finally {
      process.env.HOME = saved;
    }
  });

  it('a failure at each step of a plain deploy: the step named, the old release active, nothing left', async () => {
    const steps = await planOf(options(fresh(), v2));
    const failable = steps.filter((s) => !s.query && !s.bestEffort && s.name !== 'lock');
    expect(failable.map((s) => s.name)).toEqual(['upload', 'verify', 'unpack', 'install', 'activate']);
    for (const s of failable) {
      const to = fresh();
      await deployHost(localShellBackend('local'), options(to, v1));
      const f = failingAt(s.name, s.session === 1);
      const err = await deployHost(f.backend, { ...options(to, v2), events: { warn: () => undefined, step: f.onStep } }).catch((e: unknown) => e);
      expect(err, s.name).toBeInstanceOf(RemoteError);
      expect((err as RemoteError).step, s.name).toBe(s.name);
      expect(active(to), s.name).toBe('0.1.0');
      expect(leftovers(to), s.name).toEqual([]);
      expect(lastAudit(to), s.name).toMatchObject({ result: 'failed', step: s.name, version: '0.2.0' });
    }
  });

  it('a failure at each step of a deploy with an env file, a restart and a health check: the previous release runs again', async () => {
    const project = mkdtempSync(join(root, 'project-'));
    writeFileSync(join(project, 'production.env'), 'SECRET=x\n');
    const extra = { startDeploy: true, healthCheck: 'true', envFileLocal: join(project, 'production.env') };
    const probe = fresh();
    await deployHost(localShellBackend('local'), options(probe, v1, extra));
    const steps = await planOf(options(probe, v2, extra));
    process.kill(nodePid(probe)!);
    const failable = steps.filter((s) => !s.query && !s.bestEffort && s.name !== 'lock');
    expect(failable.map((s) => s.name)).toEqual(['upload', 'verify', 'unpack', 'install', 'env file', 'activate', 'stop', 'stopped', 'start', 'registered', 'up', 'health']);
    for (const s of failable) {
      const to = fresh();
      await deployHost(localShellBackend('local'), options(to, v1, extra));
      const first = nodePid(to);
      expect(alive(first), s.name).toBe(true);
      const f = failingAt(s.name, s.session === 1, s.poll !== undefined);
      const err = await deployHost(f.backend, { ...options(to, v2, extra), events: { warn: () => undefined, step: f.onStep } }).catch((e: unknown) => e);
      expect(err, s.name).toBeInstanceOf(RemoteError);
      expect((err as RemoteError).step, s.name).toBe(s.name);
      expect(active(to), s.name).toBe('0.1.0');
      expect(alive(nodePid(to)), `${s.name}: a node runs`).toBe(true);
      expect(leftovers(to), s.name).toEqual([]);
      expect(lastAudit(to), s.name).toMatchObject({ result: 'failed', step: s.name, version: '0.2.0' });
    }
    // And without a failure: the new release runs, the env file is in place with mode 0600.
    const to = fresh();
    await deployHost(localShellBackend('local'), options(to, v1, extra));
    expect(await deployHost(localShellBackend('local'), options(to, v2, extra))).toEqual({
      version: '0.2.0',
      previous: '0.1.0',
      uploaded: true,
      started: true,
      transfer: 'full',
      receivedBytes: v2.size,
      fullReason: 'the release was not read (its file list is unknown)',
    });
    expect(alive(nodePid(to))).toBe(true);
    expect(statSync(join(home(to), 'production.env')).mode & 0o777).toBe(0o600);
    expect(leftovers(to)).toEqual([]);
  }, 120_000);
});

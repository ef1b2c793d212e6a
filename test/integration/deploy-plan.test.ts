// The dry run is the plan a real run executes: for a deploy from a local, a remote and an S3 store, a rollback and
// a restart, what a real run sends to each host (every remote command and every continuation script, recorded by a
// wrapped Backend) equals, step for step, what the dry run printed for the same starting state. And a dry run
// changes nothing on any host (a snapshot of each host's deploy directory before and after), also via the CLI.
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDeployEnv, openReleaseStore } from '../../src/cli/deploy-env.js';
import { deployRelease, nodeCommand, rollback, type DeployEnv } from '../../src/deploy/run.js';
import { Output } from '../../src/output/output.js';
import { sentScripts } from '../../src/plan/session.js';
import type { Step } from '../../src/plan/plan.js';
import { raw } from '../../src/ssh/quote.js';
import { SshTransport } from '../../src/ssh/transport.js';
import type { Backend, ExecOptions, Transport } from '../../src/ssh/types.js';
import { S3Store, s3OptionsFrom } from '../../src/store/s3.js';
import { parseStoreSpec } from '../../src/store/spec.js';
import { createReadStream } from 'node:fs';
import { applyS3Env, startS3, type S3TestEnv } from '../helpers/s3.js';
import { APP, activeVersion, buildReleases, cli, ensureBed, hostPath, leftovers, makeProject, type Bed, type Project, type Releases } from './deploy-support.js';

let bed: Bed;
let rel: Releases;
let s3: S3TestEnv;
let restoreEnv: () => void;
let savedHome: string | undefined;
const run = `pl${Date.now().toString(36)}`;

beforeAll(() => {
  bed = ensureBed();
  rel = buildReleases();
  s3 = startS3();
  restoreEnv = applyS3Env(s3);
  // The in-process transport reads the bed's ssh config, key and known_hosts from HOME.
  savedHome = process.env.HOME;
  process.env.HOME = bed.home;
}, 600_000);

afterAll(() => {
  if (savedHome !== undefined) process.env.HOME = savedHome;
  restoreEnv?.();
  if (rel) rmSync(rel.dir, { recursive: true, force: true });
});

/** What one host was sent, in order: commands, and the script each continuation carried on stdin. */
type Sent = Map<string, string[]>;

/** Taps a continuation's stdin: `<bytes>\n<script>#deliver-end`, then the script's own input. */
function tapScript(input: Readable, record: (script: string) => void): Readable {
  const out = new PassThrough();
  let head = Buffer.alloc(0);
  let done = false;
  input.on('data', (chunk: Buffer) => {
    if (done) return;
    head = Buffer.concat([head, Buffer.from(chunk)]);
    const nl = head.indexOf(10);
    if (nl < 0) return;
    const n = Number(head.subarray(0, nl).toString());
    if (head.length < nl + 1 + n) return;
    done = true;
    record(head.subarray(nl + 1, nl + 1 + n).toString().replace(/\n#deliver-end$/, ''));
  });
  input.on('error', (e) => out.destroy(e));
  input.pipe(out);
  return out;
}

function recording(t: Transport, sent: Sent): Transport {
  return {
    async connect(target) {
      const b = await t.connect(target);
      const log = sent.get(target.name) ?? [];
      sent.set(target.name, log);
      // The lock's heartbeat runs beside the steps, on its own clock: not part of the plan.
      const note = (cmd: string) => void (/REFRESHED/.test(cmd) || log.push(cmd));
      const wrapped: Backend = {
        target: b.target,
        exec(cmd: string, opts: ExecOptions = {}) {
          note(cmd);
          const stdin = opts.stdin;
          if (stdin && typeof stdin === 'object' && !Buffer.isBuffer(stdin) && cmd.includes('#deliver-end')) {
            return b.exec(cmd, { ...opts, stdin: tapScript(stdin, (s) => log.push(s)) });
          }
          return b.exec(cmd, opts);
        },
        run(cmd: string, opts = {}) {
          note(cmd);
          return b.run(cmd, opts);
        },
        upload: (s, p, o) => b.upload(s, p, o),
        download: (p, o) => b.download(p, o),
      };
      return wrapped;
    },
    closeAll: () => t.closeAll(),
  };
}

function sink(): { out: Writable; text: () => string } {
  let text = '';
  return { out: new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) }), text: () => text };
}

/** A DeployEnv for the project, in-process, over a recording transport; --json output captured. */
async function envFor(p: Project, dryRun: boolean, sent: Sent): Promise<{ de: DeployEnv; stdout: () => string; stderr: () => string }> {
  const s = sink();
  const e = sink();
  const out = new Output({ json: dryRun, stdout: s.out, stderr: e.out, color: false });
  const ac = new AbortController();
  const de = await openDeployEnv({ out, opts: {}, signal: ac.signal, cwd: p.dir }, 'production', {});
  await de.transport.closeAll();
  const transport = recording(new SshTransport({ sshConfigFile: join(bed.home, '.ssh', 'config') }), sent);
  return { de: { ...de, transport, dryRun }, stdout: s.text, stderr: e.text };
}

interface PlanJson {
  hosts: { host: string; steps: { name: string; session: number; script: string; readOnly?: boolean }[] }[];
}

/** Each host's planned scripts as a real run sends them (the dry run's read-only queries included, in place). */
function planned(json: string): Map<string, string[]> {
  const plan = JSON.parse(json) as PlanJson;
  return new Map(plan.hosts.map((h) => [h.host, sentScripts(h.steps.map((s) => ({ ...s, does: '', input: { kind: 'none' }, script: raw(s.script) }) as Step))]));
}

/** Ids, times and pids differ between two runs; everything else must not. Repeated polls count once. */
function normalize(scripts: string[]): string[] {
  const text = scripts.join('\n\u0000\n');
  const ids = new Set<string>();
  for (const m of text.matchAll(/"id":"([0-9a-z]+)"|\.(?:part|tmp)-([0-9a-z]+)/g)) ids.add((m[1] ?? m[2])!);
  let t = text.replace(/"at":"[^"]*"/g, '"at":"AT"').replace(/"pid":\d+/g, '"pid":0');
  for (const id of ids) t = t.split(id).join('ID');
  return t.split('\n\u0000\n').filter((s, i, all) => i === 0 || s !== all[i - 1]);
}

/** Every file under a host's deploy directory with its size and mtime: a dry run must not change one. */
function snapshot(p: Project): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const f = join(dir, n);
      const st = statSync(f, { throwIfNoEntry: false });
      if (!st) continue;
      out.push(`${f} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(f);
    }
  };
  for (const h of p.hosts) walk(hostPath(p, h));
  return out;
}

async function dryThenReal(p: Project, act: (de: DeployEnv) => Promise<unknown>): Promise<{ dry: Map<string, string[]>; real: Sent }> {
  const before = snapshot(p);
  const d = await envFor(p, true, new Map());
  await act(d.de).catch((err) => {
    throw new Error(`dry run: ${(err as Error).message}\n${d.stderr()}`);
  });
  await d.de.transport.closeAll();
  expect(snapshot(p)).toEqual(before);
  const dry = planned(d.stdout());
  const real: Sent = new Map();
  const r = await envFor(p, false, real);
  try {
    await act(r.de);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${r.stderr()}`);
  } finally {
    await r.de.transport.closeAll();
  }
  return { dry, real };
}

/** '' when equal, else where the two texts part (a 2,000-character script reads badly in a plain diff). */
function firstDifference(a: string, b: string): string {
  if (a === b) return '';
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `at ${i}: sent …${a.slice(Math.max(0, i - 80), i + 80)}… planned …${b.slice(Math.max(0, i - 80), i + 80)}…`;
}

function expectSame(dry: Map<string, string[]>, real: Sent, p: Project): void {
  // A remote store's host is read too (listing, the release's bytes): not a deploy host, not in the plan.
  expect(p.hosts.map((h) => `root@${h.name}`).sort()).toEqual([...dry.keys()].sort());
  for (const [host, scripts] of dry) {
    const got = normalize(real.get(host)!);
    const want = normalize(scripts);
    // Step for step: the same number of remote commands, each the same text.
    expect(got.length, `${host}: ${got.length} scripts sent, ${want.length} planned`).toBe(want.length);
    got.forEach((s, i) => expect(firstDifference(s, want[i]!), `${host}, script ${i + 1}`).toBe(''));
  }
  for (const h of p.hosts) expect(leftovers(p, h)).toEqual([]);
}

describe('a dry run prints what the real run sends', () => {
  const hs = () => bed.hosts.slice(37, 39);

  it('deploy from a local store (nothing there yet), then restart and rollback', async () => {
    const p = makeProject(bed, hs(), rel.store);
    try {
      const dep = await dryThenReal(p, async (de) => deployRelease(de, openReleaseStore(de, p.dir), { version: '0.1.0', startDeploy: true }));
      expectSame(dep.dry, dep.real, p);
      for (const h of p.hosts) expect(activeVersion(p, h)).toBe('0.1.0');

      const next = await dryThenReal(p, async (de) => deployRelease(de, openReleaseStore(de, p.dir), { version: '0.2.0', startDeploy: true }));
      expectSame(next.dry, next.real, p);

      const restart = await dryThenReal(p, (de) => nodeCommand(de, { action: 'restart' }));
      expectSame(restart.dry, restart.real, p);

      const back = await dryThenReal(p, (de) => rollback(de, {}));
      expectSame(back.dry, back.real, p);
      for (const h of p.hosts) expect(activeVersion(p, h)).toBe('0.1.0');
    } finally {
      // Nodes of this project must not outlive it (a later test's node of the same name would not start).
      await cli(bed, p, 'stop', 'production');
    }
  }, 600_000);

  it('deploy from a remote store (user@host:/path): the dry run lists it for real and exits 0', async () => {
    const store = bed.hosts[39]!;
    const dir = `/srv/${run}-store`;
    mkdirSync(join(store.root, dir.replace(/^\/srv\//, '')), { recursive: true });
    for (const v of ['0.1.0', '0.2.0']) {
      for (const f of [`${APP}_${v}.release.tar.gz`, `${APP}_${v}.release.tar.gz.sha256`]) copyFileSync(join(rel.store, f), join(store.root, dir.replace(/^\/srv\//, ''), f));
    }
    const p = makeProject(bed, hs(), `root@${store.name}:${dir}`);
    const before = snapshot(p);
    const dryCli = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.2.0', '--dry-run');
    expect(dryCli.stderr).toBe('');
    expect(dryCli.code).toBe(0);
    expect(dryCli.stdout).toContain('Dry run: nothing was changed on any host.');
    expect(snapshot(p)).toEqual(before);
    const a = await dryThenReal(p, async (de) => deployRelease(de, openReleaseStore(de, p.dir), { version: '0.1.0' }));
    expectSame(a.dry, a.real, p);
    const b = await dryThenReal(p, async (de) => deployRelease(de, openReleaseStore(de, p.dir), { version: '0.2.0', cleanDeploy: true }));
    expectSame(b.dry, b.real, p);
    // The same release again: nothing is sent (the plan says so, the real run does so).
    const c = await dryThenReal(p, async (de) => deployRelease(de, openReleaseStore(de, p.dir), { version: '0.2.0' }));
    expectSame(c.dry, c.real, p);
    for (const scripts of c.dry.values()) expect(scripts.some((s) => s.includes('cat >'))).toBe(false);
  }, 600_000);

  it('deploy from an S3 store, streamed and pulled by the hosts: the dry run exits 0 and changes nothing', async () => {
    const spec = `s3://${s3.bucket}/deploy-plan/${run}`;
    const store = new S3Store(s3OptionsFrom(parseStoreSpec(spec) as Extract<ReturnType<typeof parseStoreSpec>, { kind: 's3' }>));
    for (const v of ['0.1.0', '0.2.0']) {
      const f = `${APP}_${v}.release.tar.gz`;
      await store.put(f, createReadStream(join(rel.store, f)), { sha256: rel.sha[v]! });
    }
    const p = makeProject(bed, hs(), spec);
    const before = snapshot(p);
    const dryCli = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.1.0', '--dry-run');
    expect(dryCli.stderr).toBe('');
    expect(dryCli.code).toBe(0);
    expect(snapshot(p)).toEqual(before);
    const a = await dryThenReal(p, async (de) => deployRelease(de, openReleaseStore(de, p.dir), { version: '0.1.0' }));
    expectSame(a.dry, a.real, p);
    const b = await dryThenReal(p, async (de) => deployRelease(de, openReleaseStore(de, p.dir), { version: '0.2.0', pull: true }));
    expectSame(b.dry, b.real, p);
    for (const h of p.hosts) expect(activeVersion(p, h)).toBe('0.2.0');
  }, 600_000);
});

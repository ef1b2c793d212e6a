// Delta deploys on the bed, with real `mix release` tarballs: hosts running 0.1.0 get 0.2.0 (one module changed) as
// a delta, and every file on every host equals a full unpack of 0.2.0; the dry run says so per host first. A file
// changed in place on one host sends that host the full tarball (the others still get deltas); --no-delta sends
// every host the full tarball; a remote store (`root@host:/path`) gives deltas too.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTestbed, sshExec } from '../helpers/testbed.js';
import { treeOf } from '../helpers/tree.js';
import { APP, activeVersion, cli, ensureBed, hostPath, json, leftovers, makeProject, type Bed, type BedHost, type Project } from './deploy-support.js';

let bed: Bed;
let work: string;
let store: string;
/** Full unpacks of each version, what every host's release root must equal. */
const full: Record<string, string> = {};
const size: Record<string, number> = {};

interface DeployJson {
  hosts: { host: string; status: string; value?: { version: string; transfer: string; receivedBytes: number; fullReason?: string } }[];
}

/** 0.1.0 and 0.2.0 of a `mix new --sup` app; 0.2.0 changes one module. */
function buildTwo(): void {
  execFileSync('mix', ['new', APP, '--sup'], { cwd: work, stdio: 'ignore', env: { ...process.env, MIX_ENV: 'dev' } });
  const dir = join(work, APP);
  const mixExs = join(dir, 'mix.exs');
  for (const v of ['0.1.0', '0.2.0']) {
    writeFileSync(mixExs, readFileSync(mixExs, 'utf8').replace(/version: "[^"]*"/, `version: "${v}"`));
    writeFileSync(join(dir, 'lib', `${APP}.ex`), `defmodule Dtest do\n  def hello, do: ${JSON.stringify(`world ${v}`)}\nend\n`);
    execFileSync('mix', ['release', '--overwrite', '--quiet'], { cwd: dir, stdio: 'ignore', env: { ...process.env, MIX_ENV: 'prod' } });
    const file = `${APP}_${v}.release.tar.gz`;
    execFileSync('tar', ['-czf', join(store, file), '-C', join(dir, '_build', 'prod', 'rel', APP), '.']);
    const sha = createHash('sha256').update(readFileSync(join(store, file))).digest('hex');
    writeFileSync(join(store, `${file}.sha256`), `${sha}  ${file}\n`);
    size[v] = statSync(join(store, file)).size;
    full[v] = join(work, `full-${v}`);
    mkdirSync(full[v]!);
    execFileSync('tar', ['-xzf', join(store, file), '-C', full[v]!]);
  }
}

beforeAll(() => {
  bed = ensureBed();
  work = mkdtempSync(join(tmpdir(), 'deliver-delta-it-'));
  store = join(work, 'store');
  mkdirSync(store);
  buildTwo();
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const deploy = async (p: Project, version: string, ...args: string[]) => {
  const r = await cli(bed, p, 'deploy', 'release', 'production', `--version=${version}`, '--json', ...args);
  expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0); // stdout: the --json hosts with their errors
  return json<DeployJson>(r).hosts;
};

/** Every host runs `version` and its release root equals a full unpack of it, file for file. */
function expectFullEquivalent(p: Project, version: string): void {
  const want = treeOf(full[version]!);
  for (const h of p.hosts) {
    expect(activeVersion(p, h)).toBe(version);
    expect(treeOf(hostPath(p, h, '.deliver', APP, 'releases', version)), h.name).toEqual(want);
    expect(leftovers(p, h)).toEqual([]);
  }
}

const four = (from: number): BedHost[] => bed.hosts.slice(from, from + 4);

describe('delta deploys', () => {
  it('hosts running 0.1.0 get 0.2.0 as a delta (the dry run says so first), identical to a full unpack', async () => {
    const p = makeProject(bed, four(0), store);
    expect((await deploy(p, '0.1.0')).map((h) => h.value?.transfer)).toEqual(['full', 'full', 'full', 'full']);
    const dry = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.2.0', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    for (const h of json<{ hosts: { facts: string[]; steps: { name: string; input: { kind: string } }[] }[] }>(dry).hosts) {
      expect(h.facts.join('\n')).toMatch(/delta against 0\.1\.0: \d+ files hard-linked, \d+ files sent in \d+ bytes/);
      expect(h.steps.find((s) => s.name === 'upload')?.input.kind).toBe('delta');
    }
    const hosts = await deploy(p, '0.2.0');
    for (const h of hosts) {
      expect(h.value).toMatchObject({ version: '0.2.0', transfer: 'delta' });
      expect(h.value!.receivedBytes).toBeLessThan(size['0.2.0']! / 5);
    }
    expectFullEquivalent(p, '0.2.0');
    // The delta-built release boots and runs the new code.
    const out = await sshExec(loadTestbed(), p.hosts[0]!.name, `${p.deliverTo}/${APP}/bin/${APP} eval 'IO.puts(Dtest.hello())'`);
    expect(out.stdout.trim(), out.stderr).toBe('world 0.2.0');
  });

  it('a file changed in place on one host: that host gets the full tarball, saying so; the others a delta', async () => {
    const p = makeProject(bed, four(4), store);
    await deploy(p, '0.1.0');
    const beam = execFileSync('sh', ['-c', 'ls lib/kernel-*/ebin/kernel.beam'], { cwd: hostPath(p, p.hosts[0]!, '.deliver', APP, 'releases', '0.1.0'), encoding: 'utf8' }).trim();
    writeFileSync(hostPath(p, p.hosts[0]!, '.deliver', APP, 'releases', '0.1.0', beam), 'edited on the host');
    const hosts = await deploy(p, '0.2.0');
    expect(hosts[0]!.value).toMatchObject({ transfer: 'full' });
    expect(hosts[0]!.value!.fullReason).toContain(`changed in place on this host?): ${beam}: FAILED`);
    expect(hosts[0]!.value!.receivedBytes).toBeGreaterThan(size['0.2.0']!);
    expect(hosts.slice(1).map((h) => h.value?.transfer)).toEqual(['delta', 'delta', 'delta']);
    expectFullEquivalent(p, '0.2.0');
  });

  it('--no-delta sends every host the full tarball; the human summary says what each host received', async () => {
    const p = makeProject(bed, four(8), store);
    await deploy(p, '0.1.0');
    const r = await cli(bed, p, 'deploy', 'release', 'production', '--version=0.2.0', '--no-delta');
    expect(r.code, r.stderr).toBe(0);
    const mib = (size['0.2.0']! / 1024 / 1024).toFixed(1);
    for (const h of p.hosts) expect(r.stdout).toMatch(new RegExp(`${h.name}\\s+ok\\s+0\\.1\\.0\\s+full ${mib} MiB`));
    expectFullEquivalent(p, '0.2.0');
  });

  it('from a remote store (root@host:/path): deltas too', async () => {
    const storeHost = bed.hosts[39]!;
    const remote = `/srv/delta-store-${Date.now().toString(36)}`;
    cpSync(store, join(storeHost.root, remote.replace(/^\/srv\//, '')), { recursive: true });
    const p = makeProject(bed, four(12), `root@${storeHost.name}:${remote}`);
    await deploy(p, '0.1.0');
    expect((await deploy(p, '0.2.0')).map((h) => h.value?.transfer)).toEqual(['delta', 'delta', 'delta', 'delta']);
    expectFullEquivalent(p, '0.2.0');
  });
});

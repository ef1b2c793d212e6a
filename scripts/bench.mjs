#!/usr/bin/env node
// `npm run bench`: deliver's deploy benchmarks on the real test bed (sshd hosts on loopback, real `mix release`
// tarballs, real S3). Prints a Markdown report (docs/BENCHMARKS.md records one) and writes the raw numbers as JSON.
//
//   1. wall time: 5 MB release to N hosts, deliver vs a plain OpenSSH script (scp + ssh tar per host, all parallel)
//   2. peak RSS of deliver while deploying a 200 MB release to N hosts
//   3. 50 MB release from S3 to N hosts: push-through vs --pull (wall time, bytes written by the orchestrator)
//   4. delta deploys and how cost grows with hosts: for each of BENCH_GROWTH (4,8,16,32,40) hosts, a first deploy
//      (deliver vs the script) and a redeploy of a one-module change to hosts running the previous version
//      (deliver's delta vs the script's full deploy of the same tarball); bytes each host received
//   nodes: start/restart of 8 mix nodes, deliver vs ssh + epmd poll (BENCH_ONLY=nodes; BENCH_NODE_HOSTS, BENCH_NODE_ROUNDS)
//
// Env: BENCH_ROUNDS (5), BENCH_MEM_RUNS (3), BENCH_S3_ROUNDS (3), BENCH_HOSTS (16), BENCH_ONLY (e.g. "1,3"), BENCH_OUT (JSON file, default
// bench-results.json in the work dir), BENCH_KEEP=1 keeps the work dir. The bed and S3 server use TESTBED_NET
// (127.0.7), TESTBED_DIR (<repo>/.testbed-bench), S3_PORT (7487), S3_DIR (/tmp/deliver-s3-bench); the ones this
// script started are stopped at the end. Needs root (the test bed), mix, tar, scp, ssh, /usr/bin/time.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg, totalmem, release as osRelease } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(REPO, 'bin', 'deliver');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const MEM_RUNS = Number(process.env.BENCH_MEM_RUNS ?? 3);
const S3_ROUNDS = Number(process.env.BENCH_S3_ROUNDS ?? 3);
const NHOSTS = Number(process.env.BENCH_HOSTS ?? 16);
const ONLY = new Set((process.env.BENCH_ONLY ?? '1,2,3,4').split(',').map((s) => s.trim()));
const GROWTH = (process.env.BENCH_GROWTH ?? '4,8,16,32,40').split(',').map(Number);
const DELTA_ROUNDS = Number(process.env.BENCH_DELTA_ROUNDS ?? 3);
const APP = 'demo';
const bedEnv = {
  ...process.env,
  TESTBED_NET: process.env.TESTBED_NET ?? '127.0.7',
  TESTBED_DIR: process.env.TESTBED_DIR ?? join(REPO, '.testbed-bench'),
  TESTBED_HOSTS: process.env.TESTBED_HOSTS ?? String(NHOSTS),
};
const s3Env = { ...process.env, S3_PORT: process.env.S3_PORT ?? '7487', S3_DIR: process.env.S3_DIR ?? '/tmp/deliver-s3-bench' };

const log = (m) => process.stderr.write(`bench: ${m}\n`);
function die(m) {
  process.stderr.write(`bench: ${m}\n`);
  process.exit(1);
}
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
const has = (bin) => {
  try {
    sh('sh', ['-c', `command -v ${bin}`]);
    return true;
  } catch {
    return false;
  }
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const sec = (ms) => (ms / 1000).toFixed(2);
const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);

/** CPU time of the whole machine so far (user, nice, system, irq, softirq), in ms: the hosts share its CPUs. */
function machineCpuMs() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return ((f[1] + f[2] + f[3] + f[6] + f[7]) * 1000) / 100;
}

/**
 * Runs a command, resolving with its exit code, wall time, the machine's CPU time meanwhile (`cpuMs`: every host's
 * and the tool's processes, and anything else running) and output; a non-zero exit fails the benchmark.
 */
function timed(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const c0 = machineCpuMs();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const cpuMs = machineCpuMs() - c0;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${(err + out).trim().split('\n').slice(-15).join('\n')}`));
      else resolve({ ms, cpuMs, stdout: out, stderr: err });
    });
  });
}

// ---------------------------------------------------------------------------------------------------- set-up

function ensureBuilt() {
  // `npm ci` runs `prepare` (the build), but a stale dist after a source change would bench old code: build every
  // time, as `npm run build` does (tsc, then the bundle bin/deliver runs).
  log('building (tsc + bundle)');
  try {
    sh(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO, 'tsconfig.json')], { cwd: REPO });
    sh(process.execPath, [join(REPO, 'scripts', 'bundle.mjs')], { cwd: REPO });
  } catch (e) {
    die(`the build failed (run npm ci first?):\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

/**
 * `scripts/<script> start` unless its `status` says it is already up; true when this run started it (and so must
 * stop it at the end).
 */
function startService(script, env, what, opts = {}) {
  const path = join(REPO, 'scripts', script);
  let wasUp = true;
  try {
    sh('bash', [path, 'status'], { env });
  } catch {
    wasUp = false;
  }
  try {
    sh('bash', [path, 'start'], { env, ...opts });
  } catch (e) {
    die(`${what} could not be started (scripts/${script} start): ${e.stderr ?? e.message}`);
  }
  return !wasUp;
}

let bedStarted = false;
function startBed() {
  bedStarted = startService('testbed.sh', bedEnv, 'the test bed (needs root)');
  const j = JSON.parse(readFileSync(join(bedEnv.TESTBED_DIR, 'testbed.json'), 'utf8'));
  const hosts = j.hosts.filter((h) => /^host\d+$/.test(h.name)).slice(0, NHOSTS);
  if (hosts.length < NHOSTS) die(`need ${NHOSTS} bed hosts, testbed.json lists ${hosts.length} (TESTBED_HOSTS)`);
  const bed = { home: j.home, sshConfig: j.sshConfig, hosts };
  checkSessionHome(bed);
  return bed;
}

/**
 * A bed that was already running keeps the HOME its sessions got when it started: one started by an older
 * scripts/testbed.sh gives them this machine's /root, whose shell start-up files (a `pyenv init` here costs each SSH
 * session ~0.3 s of CPU) would be measured instead of the tools.
 */
function checkSessionHome(bed) {
  const want = '/srv/home';
  let got;
  try {
    got = sh('ssh', ['-F', bed.sshConfig, bed.hosts[0].name, 'echo "$HOME"'], { env: { ...process.env, HOME: bed.home } }).trim();
  } catch (e) {
    die(`cannot reach bed host ${bed.hosts[0].name} over ssh: ${e.stderr ?? e.message}`);
  }
  if (got !== want) {
    die(`the running test bed gives sessions HOME=${got}, not ${want}: restart it (scripts/testbed.sh stop) so the bench starts it anew`);
  }
}

/** A `mix new demo --sup` release of `version`, tarred like `deliver build` does, plus an optional random blob. */
function buildRelease(work, version, blobMB = 0) {
  const parent = join(work, `src-${version}`);
  mkdirSync(parent, { recursive: true });
  sh('mix', ['new', APP, '--sup'], { cwd: parent, env: { ...process.env, MIX_ENV: 'dev' } });
  const dir = join(parent, APP);
  const mixExs = join(dir, 'mix.exs');
  writeFileSync(mixExs, readFileSync(mixExs, 'utf8').replace(/version: "[^"]*"/, `version: "${version}"`));
  sh('mix', ['release', '--overwrite', '--quiet'], { cwd: dir, env: { ...process.env, MIX_ENV: 'prod' } });
  const root = join(dir, '_build', 'prod', 'rel', APP);
  if (blobMB > 0) {
    // Incompressible data under lib/: the tarball stays a valid release root of (about) that size.
    const blobDir = join(root, 'lib', 'blob-1.0.0', 'priv');
    mkdirSync(blobDir, { recursive: true });
    // Written with backpressure, so this process does not hold the whole blob (its RSS would skew benchmark 3).
    return pipeline(
      Readable.from((function* () {
        for (let i = 0; i < blobMB; i++) yield randomBytes(1024 * 1024);
      })()),
      createWriteStream(join(blobDir, 'blob.bin')),
    ).then(() => tarRelease(work, root, version));
  }
  return Promise.resolve(tarRelease(work, root, version));
}

function tarRelease(work, root, version) {
  const store = join(work, 'store');
  mkdirSync(store, { recursive: true });
  const file = `${APP}_${version}.release.tar.gz`;
  const path = join(store, file);
  sh('tar', ['-czf', path, '-C', root, '.']);
  const sha = sh('sha256sum', [path]).slice(0, 64);
  writeFileSync(`${path}.sha256`, `${sha}  ${file}\n`);
  const size = Number(sh('stat', ['-c', '%s', path]).trim());
  log(`release ${file}: ${mb(size)} MB`);
  return { file, path, sha, size, version, store };
}

function makeProject(work, name, bed, store, extra = []) {
  const dir = join(work, `project-${name}`);
  mkdirSync(join(dir, '.deliver'), { recursive: true });
  const deliverTo = `/srv/bench-${name}`;
  writeFileSync(
    join(dir, '.deliver', 'config'),
    [`APP="${APP}"`, `PRODUCTION_HOSTS="${bed.hosts.map((h) => h.name).join(' ')}"`, 'PRODUCTION_USER="root"', `DELIVER_TO="${deliverTo}"`, `RELEASE_STORE="${store}"`, ...extra].join('\n') + '\n',
  );
  return { dir, deliverTo, name };
}

/** Removes what a deploy left on every host (untimed, between rounds), so each round uploads and unpacks again. */
/** Where a host's `/srv/...` path is on this machine (each bed host sees its own directory as /srv). */
const onHost = (h, srvPath, ...rest) => join(h.root, srvPath.replace(/^\/srv\/?/, ''), ...rest);

/** A bash script that runs every line (each a backgrounded `( … ) &`) at once and fails if any of them fails. */
function allAtOnce(lines) {
  return `set -e\npids=""\n${lines.map((l) => `${l}\npids="$pids $!"`).join('\n')}\nfor p in $pids; do wait $p; done\n`;
}

function wipeHosts(bed, deliverTo) {
  for (const h of bed.hosts) rmSync(onHost(h, deliverTo), { recursive: true, force: true });
}

/**
 * Benchmark 1 clears hosts by moving their directories aside, and deletes them only after its last round. Deleting
 * thousands of files right before a timed round makes the next round's file creations slow on this machine's
 * journal-less ext4: ext4_create skips inodes freed in the last 30+ s (recently_deleted), and `perf` showed that
 * scan as up to 40 % of all CPU during a round, landing on whichever command ran next. Real deploy hosts do not
 * delete a release's worth of files seconds before every deploy.
 */
function setAside(bed, deliverTo, trash) {
  for (const h of bed.hosts) {
    const dir = onHost(h, deliverTo);
    if (!existsSync(dir)) continue;
    mkdirSync(join(h.root, trash), { recursive: true });
    renameSync(dir, join(h.root, trash, `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`));
  }
}

function emptyTrash(bed, trash) {
  for (const h of bed.hosts) rmSync(join(h.root, trash), { recursive: true, force: true });
}

const cliEnv = (bed, extra = {}) => {
  const env = { ...process.env, HOME: bed.home, NO_COLOR: '1', ...extra };
  for (const k of ['SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'FORCE_COLOR', 'CLICOLOR_FORCE', 'APP_CONFIG']) delete env[k];
  return env;
};

/** A preload that records the deliver process's own /proc/self/io when it exits. */
function ioProbe(work) {
  const probe = join(work, 'io-probe.cjs');
  writeFileSync(
    probe,
    "const fs=require('fs');process.on('exit',()=>{try{fs.writeFileSync(process.env.BENCH_IO_FILE,JSON.stringify({io:fs.readFileSync('/proc/self/io','utf8')}))}catch{}});\n",
  );
  return probe;
}

function readIo(file) {
  const j = JSON.parse(readFileSync(file, 'utf8'));
  const io = Object.fromEntries(j.io.trim().split('\n').map((l) => l.split(': ')).map(([k, v]) => [k, Number(v)]));
  return io;
}

/** `Maximum resident set size` from a `/usr/bin/time -v -o file` report. */
function peakRssKB(file) {
  const text = readFileSync(file, 'utf8');
  const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1]);
  if (!kb) die(`no peak RSS in /usr/bin/time -v output:\n${text}`);
  return kb;
}

function deliverDeploy(bed, project, version, extraArgs = [], opts = {}) {
  const args = [CLI, 'deploy', 'release', 'to', 'production', `--version=${version}`, ...extraArgs];
  const cmd = opts.timeV ? '/usr/bin/time' : process.execPath;
  const full = opts.timeV ? ['-v', '-o', opts.timeV, process.execPath, ...args] : args;
  return timed(cmd, full, { cwd: project.dir, env: cliEnv(bed, opts.env) });
}

/** The plain-OpenSSH baseline: per host, in parallel, `scp` the tarball then `ssh` to unpack it. Nothing else. */
function scriptDeploy(bed, rel, deliverTo) {
  const cfg = bed.sshConfig;
  const dest = `${deliverTo}/${rel.version}`;
  const perHost = bed.hosts.map(
    (h) =>
      `( scp -q -F ${cfg} ${rel.path} ${h.name}:${deliverTo}.tar.gz && ssh -F ${cfg} ${h.name} 'mkdir -p ${dest} && tar -xzf ${deliverTo}.tar.gz -C ${dest} && rm -f ${deliverTo}.tar.gz' ) &`,
  );
  return timed('bash', ['-c', allAtOnce(perHost)], { env: { ...process.env, HOME: bed.home } });
}

/** Copies the tarball next to where floorUnpack unpacks it, on every host (untimed). */
function placeTarball(bed, rel, to) {
  for (const h of bed.hosts) {
    const dir = onHost(h, to);
    mkdirSync(dir, { recursive: true });
    sh('cp', [rel.path, join(dir, 'release.tar.gz')]);
  }
}

/** The unpack alone, on all hosts' directories at once, without SSH: the floor for any tool (see bench1). */
function floorUnpack(bed, rel, to) {
  const perHost = bed.hosts.map((h) => {
    const dir = onHost(h, to);
    return `( mkdir -p ${dir}/${rel.version} && tar -xzf ${dir}/release.tar.gz -C ${dir}/${rel.version} && rm -f ${dir}/release.tar.gz ) &`;
  });
  return timed('bash', ['-c', allAtOnce(perHost)]);
}

// ---------------------------------------------------------------------------------------------------- benchmarks

async function bench1(work, bed) {
  log(`1: 5 MB release to ${bed.hosts.length} hosts, ${ROUNDS} rounds rotating deliver, deliver --concurrency=10, the OpenSSH script and the unpack alone`);
  const rel = await buildRelease(work, '0.1.0');
  const project = makeProject(work, 'b1', bed, rel.store);
  const scriptTo = '/srv/bench-script';
  const floorTo = '/srv/bench-floor';
  const TRASH = 'bench-trash';
  emptyTrash(bed, TRASH);
  const variants = {
    deliver: () => deliverDeploy(bed, project, rel.version),
    // The script works on every host at once, and so does deliver's default (32); 10 (the default before commit
    // 3d6b433) works in two waves.
    deliver10: () => deliverDeploy(bed, project, rel.version, ['--concurrency=10']),
    script: () => scriptDeploy(bed, rel, scriptTo),
    // Not a contender: the unpack alone (16 × `tar -xzf` at once, run directly on the hosts' directories, no SSH,
    // the tarball copied there untimed). No tool that unpacks on the hosts can be faster on this machine.
    floor: () => floorUnpack(bed, rel, floorTo),
  };
  const names = Object.keys(variants);
  const ms = Object.fromEntries(names.map((n) => [n, []]));
  // Round 0 is a warm-up (page cache, first-run compilation), not counted.
  for (let round = 0; round <= ROUNDS; round++) {
    // Rotate the order so no variant always runs on a machine another one just warmed.
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const which of order) {
      setAside(bed, project.deliverTo, TRASH);
      setAside(bed, scriptTo, TRASH);
      setAside(bed, floorTo, TRASH);
      if (which === 'floor') placeTarball(bed, rel, floorTo);
      const r = await variants[which]();
      if (round > 0) ms[which].push(r.ms);
      // Each really installed the release everywhere (a benchmark of a broken deploy is worthless).
      for (const h of bed.hosts) {
        const dir = which === 'script' ? onHost(h, scriptTo, rel.version) : which === 'floor' ? onHost(h, floorTo, rel.version) : onHost(h, project.deliverTo, APP);
        if (!existsSync(join(dir, 'bin', APP))) die(`1: ${which} did not install ${APP} on ${h.name}`);
      }
    }
    if (round > 0) log(`  round ${round}: ${names.map((n) => `${n} ${sec(ms[n].at(-1))} s`).join(', ')}`);
  }
  wipeHosts(bed, project.deliverTo);
  wipeHosts(bed, scriptTo);
  wipeHosts(bed, floorTo);
  emptyTrash(bed, TRASH);
  const med = Object.fromEntries(names.map((n) => [n, median(ms[n])]));
  const ratio = med.deliver / med.script;
  const ratio10 = med.deliver10 / med.script;
  const floorRatio = med.floor / med.script;
  return { sizeBytes: rel.size, ms, median: med, ratio, ratio10, floorRatio, target: 0.6, met: ratio <= 0.6 };
}

async function bench2(work, bed) {
  log(`2: peak RSS deploying a 200 MB release to ${bed.hosts.length} hosts`);
  const rel = await buildRelease(work, '0.2.0', 200);
  const project = makeProject(work, 'b2', bed, rel.store);
  wipeHosts(bed, project.deliverTo);
  // Peak RSS depends on when V8 collects garbage Buffers, so it varies between runs: report every run and the worst.
  const runs = [];
  for (let i = 0; i < MEM_RUNS; i++) {
    wipeHosts(bed, project.deliverTo);
    const tv = join(work, 'time-v.txt');
    const r = await deliverDeploy(bed, project, rel.version, [], { timeV: tv });
    const kb = peakRssKB(tv);
    for (const h of bed.hosts) {
      if (!existsSync(onHost(h, project.deliverTo, APP, 'lib', 'blob-1.0.0', 'priv', 'blob.bin'))) die(`2: release not installed on ${h.name}`);
    }
    runs.push({ wallMs: r.ms, peakRssMB: kb / 1024 });
    log(`  run ${i + 1}: peak RSS ${(kb / 1024).toFixed(1)} MB, wall ${sec(r.ms)} s`);
  }
  wipeHosts(bed, project.deliverTo);
  rmSync(rel.path, { force: true });
  const worst = Math.max(...runs.map((r) => r.peakRssMB));
  return { sizeBytes: rel.size, runs, worstPeakRssMB: worst, medianPeakRssMB: median(runs.map((r) => r.peakRssMB)), targetMB: 150, met: worst <= 150 };
}

/** Two versions of one `mix new demo --sup` project, 0.2.0 changing one module: the redeploy a delta is for. */
function buildPair(work) {
  const parent = join(work, 'src-pair');
  mkdirSync(parent, { recursive: true });
  sh('mix', ['new', APP, '--sup'], { cwd: parent, env: { ...process.env, MIX_ENV: 'dev' } });
  const dir = join(parent, APP);
  const mixExs = join(dir, 'mix.exs');
  const out = {};
  for (const v of ['1.0.0', '1.1.0']) {
    writeFileSync(mixExs, readFileSync(mixExs, 'utf8').replace(/version: "[^"]*"/, `version: "${v}"`));
    writeFileSync(join(dir, 'lib', `${APP}.ex`), `defmodule Demo do\n  def hello, do: ${JSON.stringify(`world ${v}`)}\nend\n`);
    sh('mix', ['release', '--overwrite', '--quiet'], { cwd: dir, env: { ...process.env, MIX_ENV: 'prod' } });
    out[v] = tarRelease(work, join(dir, '_build', 'prod', 'rel', APP), v);
    // What the changed module must be on every host after a deploy of this version.
    out[v].beam = sh('sha256sum', [join(dir, '_build', 'prod', 'rel', APP, 'lib', `${APP}-${v}`, 'ebin', 'Elixir.Demo.beam')]).slice(0, 64);
  }
  return out;
}

const sha256Of = (path) => sh('sha256sum', [path]).slice(0, 64);

/** Every host has `rel` active and its changed module is that version's (the release really is the new one). */
function checkRelease(hosts, dirOf, rel, what) {
  for (const h of hosts) {
    const dir = dirOf(h);
    const beam = join(dir, 'lib', `${APP}-${rel.version}`, 'ebin', 'Elixir.Demo.beam');
    if (!existsSync(join(dir, 'bin', APP)) || !existsSync(beam) || sha256Of(beam) !== rel.beam) die(`4: ${what} did not install ${rel.version} on ${h.name}`);
  }
}

/** Puts deliver's hosts back on `from` (untimed): `to`'s root moved aside, the symlink pointed at `from` again. */
function backTo(hosts, deliverTo, from, to, trash) {
  for (const h of hosts) {
    const releases = onHost(h, deliverTo, '.deliver', APP, 'releases');
    if (existsSync(join(releases, to))) {
      mkdirSync(join(h.root, trash), { recursive: true });
      renameSync(join(releases, to), join(h.root, trash, `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`));
    }
    const link = onHost(h, deliverTo, APP);
    rmSync(`${link}.bench`, { force: true });
    symlinkSync(`.deliver/${APP}/releases/${from}`, `${link}.bench`);
    renameSync(`${link}.bench`, link);
  }
}

/**
 * 4: per host count, four variants alternating (rotated each round, one warm-up round): deliver's first deploy,
 * the script's, deliver's redeploy of a one-module change to hosts running the previous version (a delta), and
 * the script's full deploy of that same new tarball.
 */
async function bench4(work, bed) {
  const pair = buildPair(work);
  const [v1, v2] = [pair['1.0.0'], pair['1.1.0']];
  const TRASH = 'bench-trash-4';
  emptyTrash(bed, TRASH);
  const rows = [];
  for (const n of GROWTH) {
    if (n > bed.hosts.length) die(`4: ${n} hosts asked for, the bed has ${bed.hosts.length} (BENCH_HOSTS)`);
    const sub = { ...bed, hosts: bed.hosts.slice(0, n) };
    log(`4: ${n} hosts, ${DELTA_ROUNDS} rounds (+1 warm-up): first deploy and one-module redeploy, deliver vs script`);
    const first = makeProject(work, `g${n}f`, sub, v1.store);
    const delta = makeProject(work, `g${n}d`, sub, v1.store);
    const scriptTo = `/srv/bench-g${n}-script`;
    // deliver's delta hosts run 1.0.0 (deployed whole, untimed; it leaves the manifest a delta builds on).
    await deliverDeploy(sub, delta, v1.version);
    const received = [];
    const variants = {
      first: async () => {
        setAside(sub, first.deliverTo, TRASH);
        const r = await deliverDeploy(sub, first, v1.version);
        checkRelease(sub.hosts, (h) => onHost(h, first.deliverTo, APP), v1, 'deliver (first deploy)');
        return r;
      },
      scriptFirst: async () => {
        setAside(sub, scriptTo, TRASH);
        const r = await scriptDeploy(sub, v1, scriptTo);
        checkRelease(sub.hosts, (h) => onHost(h, scriptTo, v1.version), v1, 'the script (first deploy)');
        return r;
      },
      delta: async () => {
        backTo(sub.hosts, delta.deliverTo, v1.version, v2.version, TRASH);
        const r = await deliverDeploy(sub, delta, v2.version, ['--json']);
        const hosts = JSON.parse(r.stdout).hosts;
        const full = hosts.filter((x) => x.value?.transfer !== 'delta');
        if (full.length) die(`4: ${full.length} host(s) got no delta: ${full.map((x) => `${x.host} ${x.value?.fullReason ?? x.error}`).join('; ')}`);
        received.push(median(hosts.map((x) => x.value.receivedBytes)));
        checkRelease(sub.hosts, (h) => onHost(h, delta.deliverTo, APP), v2, 'deliver (delta)');
        return r;
      },
      scriptFull: async () => {
        setAside(sub, scriptTo, TRASH);
        const r = await scriptDeploy(sub, v2, scriptTo);
        checkRelease(sub.hosts, (h) => onHost(h, scriptTo, v2.version), v2, 'the script (full redeploy)');
        return r;
      },
    };
    const names = Object.keys(variants);
    const ms = Object.fromEntries(names.map((k) => [k, []]));
    const cpu = Object.fromEntries(names.map((k) => [k, []]));
    for (let round = 0; round <= DELTA_ROUNDS; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const which of order) {
        const r = await variants[which]();
        if (round > 0) ms[which].push(r.ms);
        if (round > 0) cpu[which].push(r.cpuMs);
      }
      if (round > 0) log(`  round ${round}: ${names.map((k) => `${k} ${sec(ms[k].at(-1))} s`).join(', ')}`);
    }
    for (const to of [first.deliverTo, delta.deliverTo, scriptTo]) setAside(sub, to, TRASH);
    const med = Object.fromEntries(names.map((k) => [k, median(ms[k])]));
    const cpuMed = Object.fromEntries(names.map((k) => [k, median(cpu[k])]));
    rows.push({ hosts: n, ms, cpu, median: med, cpuMedian: cpuMed, firstRatio: med.first / med.scriptFirst, deltaRatio: med.delta / med.scriptFull, deltaBytesPerHost: median(received), fullBytes: v2.size });
  }
  emptyTrash(bed, TRASH);
  return { sizeBytes: v2.size, rows, load: uptime(), targets: { first16: 0.45, delta16: 0.2 } };
}

function uptime() {
  return spawnSync('uptime', [], { encoding: 'utf8' }).stdout.trim();
}

let s3Started = false;
function s3Vars() {
  s3Started = startService('s3-server.sh', s3Env, 'the S3 server', { timeout: 180_000 });
  const vars = {};
  for (const line of sh('bash', [join(REPO, 'scripts', 's3-server.sh'), 'env'], { env: s3Env }).split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  }
  return vars;
}

async function bench3(work, bed) {
  const help = sh(process.execPath, [CLI, 'deploy', 'release', '--help']);
  if (!/--pull\b/.test(help)) return { skipped: '`deliver deploy` has no --pull option in this build' };
  log(`3: 50 MB release from S3 to ${bed.hosts.length} hosts, push-through vs --pull, ${S3_ROUNDS} rounds`);
  const vars = s3Vars();
  const rel = await buildRelease(work, '0.3.0', 48);
  const s3 = `s3://${vars.S3_BUCKET}/bench-${process.pid}`;
  const project = makeProject(work, 'b3', bed, s3, [`LOCAL_RELEASE_STORE="${rel.store}"`]);
  const env = { ...vars };
  await timed(process.execPath, [CLI, 'upload', 'release', rel.version, '--force'], { cwd: project.dir, env: cliEnv(bed, env) });
  const probe = ioProbe(work);
  const ioFile = join(work, 'io.json');
  const runs = { push: [], pull: [] };
  for (let round = 0; round <= S3_ROUNDS; round++) {
    const order = round % 2 ? ['pull', 'push'] : ['push', 'pull'];
    for (const mode of order) {
      wipeHosts(bed, project.deliverTo);
      rmSync(ioFile, { force: true });
      // Peak RSS from /usr/bin/time, as in benchmark 2: getrusage's maxRSS of a process spawned by this one starts
      // at this (large) process's RSS, because Linux keeps the high-water mark across fork and exec.
      const tv = join(work, 'time-v-3.txt');
      const r = await deliverDeploy(bed, project, rel.version, mode === 'pull' ? ['--pull'] : [], {
        env: { ...env, BENCH_IO_FILE: ioFile, NODE_OPTIONS: `--require ${probe}` },
        timeV: tv,
      });
      const io = readIo(ioFile);
      if (round > 0) runs[mode].push({ ms: r.ms, wchar: io.wchar, rchar: io.rchar, maxRssKB: peakRssKB(tv) });
    }
    if (round > 0) log(`  round ${round}: push ${sec(runs.push.at(-1).ms)} s / ${mb(runs.push.at(-1).wchar)} MB written, pull ${sec(runs.pull.at(-1).ms)} s / ${mb(runs.pull.at(-1).wchar)} MB written`);
  }
  for (const h of bed.hosts) {
    if (!existsSync(onHost(h, project.deliverTo, APP, 'bin', APP))) die(`3: release not installed on ${h.name}`);
  }
  wipeHosts(bed, project.deliverTo);
  const sum = (mode) => ({
    medianMs: median(runs[mode].map((x) => x.ms)),
    medianWchar: median(runs[mode].map((x) => x.wchar)),
    medianMaxRssMB: median(runs[mode].map((x) => x.maxRssKB / 1024)),
  });
  return { sizeBytes: rel.size, runs, push: sum('push'), pull: sum('pull') };
}

// ---------------------------------------------------------------------------------------------------- nodes: start

/**
 * The node start benchmark (issue 13, BENCH_ONLY=nodes): `deliver start` and `deliver restart` of BENCH_NODE_HOSTS (8) mix nodes against starting
 * the same release over ssh, all hosts at once, and polling each node's registration with the release's own epmd.
 * The script's restart stops with the release's own `bin/demo stop` (as deliver does) and waits for the name to leave
 * epmd. Every timed command is followed (untimed) by `deliver version`: each host must report the release.
 */
async function benchNodes(work, bed) {
  const n = Number(process.env.BENCH_NODE_HOSTS ?? 8);
  const rounds = Number(process.env.BENCH_NODE_ROUNDS ?? 3);
  const hosts = bed.hosts.slice(0, n);
  log(`nodes: start/restart of ${hosts.length} mix nodes, deliver vs ssh + epmd poll, ${rounds} rounds (+1 warm-up)`);
  const rel = await buildRelease(work, '0.4.0');
  const project = makeProject(work, 'nodes', { ...bed, hosts }, rel.store);
  wipeHosts(bed, project.deliverTo);
  const cli = (...args) => timed(process.execPath, [CLI, ...args], { cwd: project.dir, env: cliEnv(bed) });
  await cli('deploy', 'release', 'to', 'production', `--version=${rel.version}`);
  const root = `${project.deliverTo}/${APP}`;
  const registered = `${root}/erts-*/bin/epmd -names 2>/dev/null | grep -q '^name ${APP} at port '`;
  const wait = (cond) => `i=0; until ${cond}; do i=$((i+1)); [ $i -le 300 ] || exit 1; sleep 0.2; done`;
  const start = `cd ${root} && bin/${APP} daemon && ${wait(registered)}`;
  const stop = `cd ${root} && bin/${APP} stop >/dev/null && ${wait(`! ${registered}`)}`;
  const overSsh = (remote) =>
    timed('bash', ['-c', allAtOnce(hosts.map((h) => `( ssh -F ${bed.sshConfig} ${h.name} '${remote.replace(/'/g, `'\\''`)}' ) &`))], { env: { ...process.env, HOME: bed.home } });
  const variants = {
    deliver: { start: () => cli('start', 'production'), restart: () => cli('restart', 'production') },
    script: { start: () => overSsh(start), restart: () => overSsh(`${stop} && ${start}`) },
  };
  const checkRunning = async (what) => {
    const v = JSON.parse((await cli('version', 'production', '--json')).stdout);
    const bad = v.hosts.filter((h) => h.status !== 'ok' || h.value?.output !== rel.version);
    if (bad.length || v.hosts.length !== hosts.length) die(`nodes: after ${what}, not every host runs ${rel.version}: ${JSON.stringify(v.hosts)}`);
  };
  const ms = { deliver: { start: [], restart: [] }, script: { start: [], restart: [] } };
  const cpu = { deliver: { start: [], restart: [] }, script: { start: [], restart: [] } };
  await cli('stop', 'production');
  for (let round = 0; round <= rounds; round++) {
    for (const which of round % 2 ? ['script', 'deliver'] : ['deliver', 'script']) {
      for (const action of ['start', 'restart']) {
        const r = await variants[which][action]();
        await checkRunning(`${which} ${action}`);
        if (round > 0) ms[which][action].push(r.ms);
        if (round > 0) cpu[which][action].push(r.cpuMs);
      }
      await cli('stop', 'production');
    }
    if (round > 0) log(`  round ${round}: ${['start', 'restart'].map((a) => `${a}: deliver ${sec(ms.deliver[a].at(-1))} s, script ${sec(ms.script[a].at(-1))} s`).join('; ')}`);
  }
  wipeHosts(bed, project.deliverTo);
  const med = (which, action) => median(ms[which][action]);
  const ratio = { start: med('deliver', 'start') / med('script', 'start'), restart: med('deliver', 'restart') / med('script', 'restart') };
  const cpuRatio = { start: median(cpu.deliver.start) / median(cpu.script.start), restart: median(cpu.deliver.restart) / median(cpu.script.restart) };
  return { hosts: hosts.length, rounds, ms, cpu, cpuRatio, ratio, target: 1.15, met: ratio.start <= 1.15 && ratio.restart <= 1.15, load: loadavg() };
}

function reportNodes(b) {
  const L = ['', `## Node start: start/restart of ${b.hosts} mix nodes: deliver vs ssh + epmd poll`, ''];
  L.push('| round | deliver start (s) | script start (s) | deliver restart (s) | script restart (s) |', '|---|---|---|---|---|');
  b.ms.deliver.start.forEach((_, i) => L.push(`| ${i + 1} | ${sec(b.ms.deliver.start[i])} | ${sec(b.ms.script.start[i])} | ${sec(b.ms.deliver.restart[i])} | ${sec(b.ms.script.restart[i])} |`));
  const m = (w, a) => sec(median(b.ms[w][a]));
  L.push(`| **median** | **${m('deliver', 'start')}** | **${m('script', 'start')}** | **${m('deliver', 'restart')}** | **${m('script', 'restart')}** |`, '');
  L.push(`Ratio deliver / script: start **${b.ratio.start.toFixed(2)}**, restart **${b.ratio.restart.toFixed(2)}**; target ≤ ${b.target}: ${b.met ? 'met' : 'MISSED'} (load average at the end: ${b.load.map((x) => x.toFixed(1)).join(', ')})`);
  L.push('', `The machine's CPU time (median): start deliver ${sec(median(b.cpu.deliver.start))} s, script ${sec(median(b.cpu.script.start))} s (ratio ${b.cpuRatio.start.toFixed(2)}); restart deliver ${sec(median(b.cpu.deliver.restart))} s, script ${sec(median(b.cpu.script.restart))} s (ratio ${b.cpuRatio.restart.toFixed(2)})`);
  return L;
}

// ---------------------------------------------------------------------------------------------------- report

function machine() {
  const ver = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || 'unknown';
  };
  return {
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    memGB: (totalmem() / 2 ** 30).toFixed(1),
    kernel: osRelease(),
    node: process.version,
    openssh: ver('ssh', ['-V']),
    date: new Date().toISOString(),
    commit: ver('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']),
    // Where the hosts' files live matters: on a journal-less ext4 (this kind of VM) creating files right after many
    // were deleted is slow (ext4 skips recently freed inodes), which makes every unpack costlier.
    hostsFs: `${ver('stat', ['-f', '-c', '%T', bedEnv.TESTBED_DIR])} (${bedEnv.TESTBED_DIR})`,
  };
}

function report(m, res) {
  const L = [];
  L.push(`Machine: ${m.cpus}, ${m.memGB} GB RAM, Linux ${m.kernel}, Node ${m.node}, ${m.openssh}; commit ${m.commit}, ${m.date}`);
  L.push(`Hosts: ${NHOSTS} OpenSSH sshd on loopback (scripts/testbed.sh), their files on ${m.hostsFs}; rounds: ${ROUNDS} for 1, ${MEM_RUNS} runs for 2, ${S3_ROUNDS} for 3 (each +1 uncounted warm-up except 2)`);
  if (res.b1) {
    const b = res.b1;
    L.push('', `## 1. ${mb(b.sizeBytes)} MB release to ${NHOSTS} hosts: deliver vs plain OpenSSH script`, '');
    L.push(`| round | deliver (s) | deliver --concurrency=10 (s) | script (s) | unpack alone, no SSH (s) |`, '|---|---|---|---|---|');
    b.ms.deliver.forEach((d, i) => L.push(`| ${i + 1} | ${sec(d)} | ${sec(b.ms.deliver10[i])} | ${sec(b.ms.script[i])} | ${sec(b.ms.floor[i])} |`));
    L.push(`| **median** | **${sec(b.median.deliver)}** | **${sec(b.median.deliver10)}** | **${sec(b.median.script)}** | **${sec(b.median.floor)}** |`, '');
    L.push(`Ratio deliver / script: **${b.ratio.toFixed(2)}** (default concurrency), **${b.ratio10.toFixed(2)}** (--concurrency=10); target ≤ ${b.target}: ${b.met ? 'met' : 'MISSED'}`);
    L.push(`Unpack alone / script: **${b.floorRatio.toFixed(2)}** (the best ratio any tool that unpacks on the hosts could reach here)`);
  }
  if (res.b2) {
    const b = res.b2;
    L.push('', `## 2. Peak memory deploying a ${mb(b.sizeBytes)} MB release to ${NHOSTS} hosts`, '');
    L.push('| run | peak RSS (MB) | wall (s) |', '|---|---|---|');
    b.runs.forEach((r, i) => L.push(`| ${i + 1} | ${r.peakRssMB.toFixed(1)} | ${sec(r.wallMs)} |`));
    L.push('', `Worst peak RSS (/usr/bin/time -v): **${b.worstPeakRssMB.toFixed(1)} MB**, median ${b.medianPeakRssMB.toFixed(1)} MB (target ≤ ${b.targetMB} MB: ${b.met ? 'met' : 'MISSED'})`);
  }
  if (res.b3) {
    const b = res.b3;
    L.push('', `## 3. ${mb(b.sizeBytes ?? 0)} MB release from S3 to ${NHOSTS} hosts: push-through vs --pull`, '');
    if (b.skipped) L.push(`Not run: ${b.skipped}.`);
    else {
      L.push('| round | push (s) | push written (MB) | pull (s) | pull written (MB) |', '|---|---|---|---|---|');
      b.runs.push.forEach((p, i) => L.push(`| ${i + 1} | ${sec(p.ms)} | ${mb(p.wchar)} | ${sec(b.runs.pull[i].ms)} | ${mb(b.runs.pull[i].wchar)} |`));
      L.push(`| **median** | **${sec(b.push.medianMs)}** | **${mb(b.push.medianWchar)}** | **${sec(b.pull.medianMs)}** | **${mb(b.pull.medianWchar)}** |`, '');
      L.push(`Ratio pull / push: wall **${(b.pull.medianMs / b.push.medianMs).toFixed(2)}**, bytes written by the orchestrator **${(b.pull.medianWchar / b.push.medianWchar).toFixed(3)}**; peak RSS push ${b.push.medianMaxRssMB.toFixed(0)} MB, pull ${b.pull.medianMaxRssMB.toFixed(0)} MB`);
    }
  }
  if (res.b4) reportGrowth(L, res.loadBefore4, res.b4);
  if (res.nodes) L.push(...reportNodes(res.nodes));
  return L.join('\n') + '\n';
}

function reportGrowth(L, loadBefore, b) {
  L.push('', `## 4. Delta deploys and growth: ${mb(b.sizeBytes)} MB release, first deploy and a one-module redeploy, deliver vs plain OpenSSH script`, '');
  L.push(`Load (uptime) before: ${loadBefore}; after: ${b.load}`, '');
  L.push('| hosts | first: deliver (s) | first: script (s) | ratio | redeploy: deliver delta (s) | redeploy: script full (s) | ratio | bytes per host: delta / full |', '|---|---|---|---|---|---|---|---|');
  for (const r of b.rows) {
    L.push(`| ${r.hosts} | ${sec(r.median.first)} | ${sec(r.median.scriptFirst)} | **${r.firstRatio.toFixed(2)}** | ${sec(r.median.delta)} | ${sec(r.median.scriptFull)} | **${r.deltaRatio.toFixed(2)}** | ${r.deltaBytesPerHost} / ${r.fullBytes} |`);
  }
  const r16 = b.rows.find((r) => r.hosts === 16);
  if (r16) {
    L.push('', `16 hosts: first deploy **${r16.firstRatio.toFixed(2)}** of the script (target ≤ ${b.targets.first16}: ${r16.firstRatio <= b.targets.first16 ? 'met' : 'MISSED'}); one-module redeploy **${r16.deltaRatio.toFixed(2)}** (target ≤ ${b.targets.delta16}: ${r16.deltaRatio <= b.targets.delta16 ? 'met' : 'MISSED'}), each host receiving ${r16.deltaBytesPerHost} bytes instead of ${r16.fullBytes}`);
  }
  L.push('', "The machine's CPU time per run (median, s; the hosts share its 2 CPUs, so at saturation wall time follows it):", '');
  L.push('| hosts | first: deliver | first: script | ratio | delta: deliver | full: script | ratio |', '|---|---|---|---|---|---|---|');
  for (const r of b.rows) {
    const c = r.cpuMedian;
    L.push(`| ${r.hosts} | ${sec(c.first)} | ${sec(c.scriptFirst)} | ${(c.first / c.scriptFirst).toFixed(2)} | ${sec(c.delta)} | ${sec(c.scriptFull)} | ${(c.delta / c.scriptFull).toFixed(2)} |`);
  }
  L.push('', 'Rounds (s), per host count:', '');
  for (const r of b.rows) L.push(`- ${r.hosts}: ${Object.entries(r.ms).map(([k, v]) => `${k} ${v.map(sec).join('/')}`).join('; ')}`);
}

// ---------------------------------------------------------------------------------------------------- main

for (const bin of ['mix', 'tar', 'sha256sum', 'scp', 'ssh']) if (!has(bin)) die(`prerequisite missing: ${bin}`);
if (ONLY.has('2') && !existsSync('/usr/bin/time')) die('prerequisite missing: /usr/bin/time (apt-get install -y time)');
if (process.getuid?.() !== 0) die('the test bed needs root (sshd on port 22, mount namespaces)');
ensureBuilt();
const work = mkdtempSync(join(tmpdir(), 'deliver-bench-'));
const bed = startBed();
const results = {};
let failed;
try {
  if (ONLY.has('1')) results.b1 = await bench1(work, bed);
  if (ONLY.has('2')) results.b2 = await bench2(work, bed);
  if (ONLY.has('3')) results.b3 = await bench3(work, bed);
  if (ONLY.has('4')) {
    results.loadBefore4 = uptime();
    results.b4 = await bench4(work, bed);
  }
  // The node start benchmark has its own key (BENCH_ONLY=nodes) and runs by default.
  if (ONLY.has('nodes') || !process.env.BENCH_ONLY) results.nodes = await benchNodes(work, bed);
} catch (e) {
  failed = e;
} finally {
  if (s3Started) sh('bash', [join(REPO, 'scripts', 's3-server.sh'), 'stop'], { env: s3Env });
  if (bedStarted) sh('bash', [join(REPO, 'scripts', 'testbed.sh'), 'stop'], { env: bedEnv });
}
if (failed) {
  if (!process.env.BENCH_KEEP) rmSync(work, { recursive: true, force: true });
  die(failed.message);
}
const m = machine();
const out = process.env.BENCH_OUT ?? join(tmpdir(), 'deliver-bench-results.json');
writeFileSync(out, JSON.stringify({ machine: m, hosts: NHOSTS, rounds: ROUNDS, ...results }, null, 2) + '\n');
process.stdout.write(report(m, results));
log(`raw numbers: ${out}`);
if (!process.env.BENCH_KEEP) rmSync(work, { recursive: true, force: true });

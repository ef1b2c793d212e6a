// Delta deploys: the manifest computed from a tarball (tar-stream), the decision, the host commands as exact text
// and run by a real sh, and whole deploys on a local shell: a delta gives the same tree as a full unpack, and every
// unexpected case (a file changed in place, hard links impossible, --no-delta) sends the full tarball.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { deltaDeploys } from '../../src/config/resolve.js';
import { loadSettings } from '../../src/config/load.js';
import { decideDelta, unshared } from '../../src/deploy/delta.js';
import { baseManifestCommand, baseOfOutput, deltaUnpackCommand, EXIT_DELTA, recomputeManifestCommand, treeCheckCommand, writeManifestCommand } from '../../src/deploy/delta-commands.js';
import { DeltaSource } from '../../src/deploy/delta-source.js';
import { deltaOffReason } from '../../src/deploy/deploy-plan.js';
import { deployHost, deployTarget, planDeployHost, releaseRef, type DeployOptions } from '../../src/deploy/deploy-release.js';
import { countBytes } from '../../src/ssh/count-bytes.js';
import { layoutFor } from '../../src/deploy/layout.js';
import { formatManifest, manifestOfTarball, parseManifest, type Manifest } from '../../src/deploy/manifest.js';
import type { ReleaseSource } from '../../src/deploy/source.js';
import { localShellBackend } from '../helpers/local-shell.js';
import { treeOf } from '../helpers/tree.js';
import { deployOptions } from '../helpers/deploy-options.js';

const APP = 'demo';
const root = mkdtempSync(join(tmpdir(), 'deliver-delta-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A release root: start script, releases/VSN, a few libs (one of them changes with `beam`), a symlink. */
function releaseTree(version: string, beam: string, opts: { prefix?: boolean } = {}): string {
  const top = mkdtempSync(join(root, 'tree-'));
  const src = opts.prefix ? join(top, APP) : top;
  const w = (p: string, text: string, mode = 0o644) => {
    mkdirSync(join(src, p, '..'), { recursive: true });
    writeFileSync(join(src, p), text);
    chmodSync(join(src, p), mode);
  };
  w(`bin/${APP}`, '#!/bin/sh\n# RELEASE_DISTRIBUTION\nexit 0\n', 0o755);
  w(`releases/${version}/start.boot`, `boot ${version}`);
  w(`releases/${version}/vm.args`, '-name demo');
  w('releases/start_erl.data', `14.0 ${version}`);
  w(`releases/${version}/${APP}.tar.gz`, 'the release packed again (dropped on unpack)');
  w('lib/demo-1/ebin/Elixir.Demo.beam', beam);
  w('lib/kernel-9/ebin/kernel.beam', 'kernel '.repeat(2000));
  w('lib/kernel-9/priv/x.so', 'native', 0o755);
  w('erts-14/bin/beam.smp', 'vm '.repeat(5000), 0o755);
  w('erts-14/bin/erl', '#!/bin/sh\nROOTDIR=x\n', 0o755);
  symlinkSync('kernel-9', join(src, 'lib', 'kernel'));
  return top;
}

let n = 0;
function tarball(version: string, beam: string, opts: { prefix?: boolean } = {}): ReleaseSource {
  const top = releaseTree(version, beam, opts);
  const path = join(root, `${APP}_${version}-${++n}.release.tar.gz`);
  // Member names as `mix release` tars them (no `./` entry), so some directories are only implied.
  const names = readdirSync(top);
  execFileSync('tar', ['-czf', path, '-C', top, ...names]);
  const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
  return { file: `${APP}_${version}.release.tar.gz`, path, sha256, size: statSync(path).size, open: () => createReadStream(path), dispose: async () => undefined };
}

const sh = (script: string) => {
  try {
    return { code: 0, out: execFileSync('sh', ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), err: '' };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { code: x.status, out: x.stdout, err: x.stderr };
  }
};

/** What a full unpack of `src` leaves (tar, the APP/ prefix flattened, the release's own tarball dropped). */
function fullUnpack(src: ReleaseSource, version: string): string {
  const dir = mkdtempSync(join(root, 'full-'));
  execFileSync('tar', ['-xzf', src.path, '-C', dir]);
  rmSync(join(dir, 'releases', version, `${APP}.tar.gz`), { force: true });
  return dir;
}

describe('manifest of a release tarball', () => {
  it('lists every entry with type, mode, size and sha256, implied directories added, the release tarball dropped', async () => {
    const m = await manifestOfTarball(tarball('0.1.0', 'beam one').path, APP, '0.1.0');
    expect(m.unsupported).toBeUndefined();
    const by = new Map(m.entries.map((e) => [e.path, e]));
    expect(by.get(`bin/${APP}`)).toMatchObject({ type: 'f', mode: 0o755 });
    expect(by.get('lib/demo-1/ebin/Elixir.Demo.beam')).toEqual({
      path: 'lib/demo-1/ebin/Elixir.Demo.beam',
      type: 'f',
      mode: 0o644,
      size: 8,
      sha256: createHash('sha256').update('beam one').digest('hex'),
    });
    expect(by.get('lib/kernel')).toMatchObject({ type: 'l', target: 'kernel-9' });
    expect(by.get('lib')).toMatchObject({ type: 'd' });
    expect(by.has(`releases/0.1.0/${APP}.tar.gz`)).toBe(false);
    // Sorted bytewise, and what the hosts keep parses back to the same entries.
    expect(m.entries.map((e) => e.path)).toEqual([...m.entries.map((e) => e.path)].sort());
    expect(parseManifest(formatManifest(m))).toEqual({ entries: m.entries });
  });

  it('flattens an APP/ prefix like the unpack does', async () => {
    const plain = await manifestOfTarball(tarball('0.1.0', 'x').path, APP, '0.1.0');
    const prefixed = await manifestOfTarball(tarball('0.1.0', 'x', { prefix: true }).path, APP, '0.1.0');
    expect(prefixed.prefix).toBe(`${APP}/`);
    expect(prefixed.entries.map((e) => [e.path, e.type, e.sha256])).toEqual(plain.entries.map((e) => [e.path, e.type, e.sha256]));
  });

  it('recomputed on a host from the unpacked files (find + sha256sum), it has the same entries', async () => {
    const src = tarball('0.1.0', 'beam one');
    const dir = fullUnpack(src, '0.1.0');
    expect(sh(recomputeManifestCommand(dir).text).code).toBe(0);
    const host = parseManifest(readFileSync(join(dir, '.deliver-manifest'), 'utf8'));
    const ours = await manifestOfTarball(src.path, APP, '0.1.0');
    const strip = (m: Manifest) => m.entries.map((e) => ({ ...e, mode: e.type === 'd' ? 0 : e.mode, size: e.type === 'f' ? e.size : 0 }));
    expect(host.unsupported).toBeUndefined();
    expect(strip(host)).toEqual(strip(ours));
  });

  it('marks what it cannot link: odd names, unparsable lines, files without a digest', () => {
    expect(parseManifest('[entries]\nf 644 3 a b\n[sha256]\n').unsupported).toMatch(/manifest line/);
    expect(parseManifest('[entries]\nf 644 3 a\n[sha256]\n').unsupported).toBe('no sha256 for a');
    expect(parseManifest('').unsupported).toBe('an empty manifest');
  });
});

describe('an upload stream', () => {
  it('loses nothing when its consumer starts late (a fallback opens a new channel first), and counts every byte', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'deliver-count-')), 'big');
    writeFileSync(file, Buffer.alloc(1_000_000, 7));
    let counted = 0;
    const stream = countBytes(createReadStream(file), (n) => (counted += n));
    await new Promise((r) => setTimeout(r, 200));
    let got = 0;
    for await (const chunk of stream) got += (chunk as Buffer).length;
    expect([got, counted]).toEqual([1_000_000, 1_000_000]);
    rmSync(join(file, '..'), { recursive: true, force: true });
  });
});

describe('the delta decision', () => {
  const m = (entries: [string, string][]): Manifest => ({ entries: entries.map(([path, sha256]) => ({ path, type: 'f' as const, mode: 0o644, size: 1, sha256 })) });
  const next = m([['bin/demo', 'a'], ['lib/a.beam', 'b'], ['lib/b.beam', 'c'], ['releases/RELEASES', 'd']]);

  it('links the unchanged files except the ones written in place, sends the rest', () => {
    const d = decideDelta({ next, base: { version: '0.1.0', manifest: m([['bin/demo', 'a'], ['lib/a.beam', 'b'], ['lib/b.beam', 'OLD'], ['releases/RELEASES', 'd']]) }, version: '0.2.0' });
    expect(d.delta?.link).toEqual(['lib/a.beam']);
    expect(d.delta?.send.map((e) => e.path)).toEqual(['bin/demo', 'lib/b.beam', 'releases/RELEASES']);
  });

  it('says why a host gets the full tarball', () => {
    const base = { version: '0.1.0', manifest: next };
    expect(decideDelta({ next, base, version: '0.2.0', off: 'delta off (--no-delta)' }).full).toBe('delta off (--no-delta)');
    expect(decideDelta({ next, version: '0.2.0' }).full).toBe('no release installed to build on');
    expect(decideDelta({ next, base: { version: '0.1.0' }, version: '0.2.0' }).full).toBe('no manifest of 0.1.0 on the host');
    expect(decideDelta({ base, version: '0.2.0' }).full).toBe('the release was not read (its file list is unknown)');
    expect(decideDelta({ next: { ...next, unsupported: 'a fifo entry (x)' }, base, version: '0.2.0' }).full).toBe('the new release has a fifo entry (x)');
    expect(decideDelta({ next, base: { version: '0.1.0', manifest: m([['lib/a.beam', 'zz']]) }, version: '0.2.0' }).full).toBe('nothing in common with 0.1.0');
    expect(decideDelta({ next, base, version: '0.1.0' }).full).toBe('0.1.0 itself is the installed release');
  });

  it('keeps the files some program writes in place unshared', () => {
    for (const p of ['bin/demo', 'releases/RELEASES', 'releases/start_erl.data', 'releases/0.2.0/vm.args', 'releases/0.2.0/sys.config', 'erts-14.2/bin/erl', 'erts-14.2/bin/start']) expect(unshared(p)).toBe(true);
    for (const p of ['lib/demo-1/ebin/x.beam', 'erts-14.2/bin/beam.smp', 'lib/x/bin/tool']) expect(unshared(p)).toBe(false);
  });
});

describe('DELTA_DEPLOY', () => {
  const settings = async (line: string) => {
    const dir = mkdtempSync(join(root, 'project-'));
    mkdirSync(join(dir, '.deliver'));
    writeFileSync(join(dir, '.deliver', 'config'), `APP="demo"\n${line}\n`);
    return loadSettings({ cwd: dir, env: { PATH: process.env.PATH ?? '' } });
  };

  it('defaults to true; false/no/0/off turn deltas off; the flag wins; anything else is an error at its line', async () => {
    expect(deltaDeploys(await settings(''))).toBe(true);
    for (const v of ['false', 'no', '0', 'off']) expect(deltaDeploys(await settings(`DELTA_DEPLOY="${v}"`))).toBe(false);
    expect(deltaDeploys(await settings('DELTA_DEPLOY=true'), false)).toBe(false);
    await expect(async () => deltaDeploys(await settings('DELTA_DEPLOY=sometimes'))).rejects.toThrow(/config:2.*DELTA_DEPLOY="sometimes": expected true or false/);
  });
});

describe('delta commands', () => {
  const l = layoutFor('/srv/app', APP);

  it('exact text: the base manifest, recomputed when missing; the write; the unpack from links and the delta tarball', () => {
    expect(recomputeManifestCommand('/r').text).toBe(
      "( cd /r && { echo '[entries]'; find . -mindepth 1 -path './.deliver-*' -prune -o \\( -type f -printf 'f %m %s %P\\n' -o -type d -printf 'd %m %P\\n' -o -type l -printf 'l %m %P -> %l\\n' -o -printf '? %m %P\\n' \\) | LC_ALL=C sort; echo '[sha256]'; find . -mindepth 1 -path './.deliver-*' -prune -o -type f -printf '%P\\0' | xargs -0 -r sha256sum; } > .deliver-manifest.tmp && mv -f .deliver-manifest.tmp .deliver-manifest ) || rm -f /r/.deliver-manifest.tmp",
    );
    expect(baseManifestCommand(l, false).text).toBe(
      "b=$(readlink /srv/app/demo 2>/dev/null) || b=; case \"$b\" in .deliver/demo/releases/*/*|.deliver/demo/releases/*.tmp-*) b= ;; .deliver/demo/releases/?*) ;; *) b= ;; esac; if [ -n \"$b\" ] && [ -d /srv/app/\"$b\" ]; then d=/srv/app/\"$b\"; printf '%s %s\\n' '[base]' \"${b##*/}\"; [ ! -f \"$d\"/.deliver-manifest ] || cat \"$d\"/.deliver-manifest; fi; echo '[base-end]'",
    );
    expect(baseManifestCommand(l, true).text).toContain('[ -f "$d"/.deliver-manifest ] || ( cd "$d" && ');
    expect(writeManifestCommand('/s', '[entries]\nd 755 lib\n').text).toBe("printf '%s' '[entries]\nd 755 lib\n' > /s/.deliver-manifest");
    const stage = '/srv/app/.deliver/demo/releases/0.2.0.tmp-1';
    const fail = (why: string) => `{ rm -rf ${stage}; echo 'delta: ${why}' >&2; exit 9; }`;
    expect(deltaUnpackCommand(l, '/in/t.part-1', '0.2.0', '1', '0.1.0', ['lib/a.beam', 'lib/b.beam'], 'M').text).toBe(
      [
        `{ [ ! -e ${stage} ] || rm -rf ${stage}; }`,
        `mkdir -p ${stage}`,
        `{ tar -xzf /in/t.part-1 -C ${stage} || ${fail('the delta tarball did not unpack')}; }`,
        `{ { cd /srv/app/.deliver/demo/releases/0.1.0 && cp -al --parents -t ${stage} -- lib/a.beam lib/b.beam; } || ${fail('cannot hard-link the unchanged files of 0.1.0')}; }`,
        `printf '%s' M > ${stage}/.deliver-manifest`,
        `{ ${treeCheckCommand(stage).text}; }`,
      ].join(' && '),
    );
    // Many files: the paths go through xargs (cp's argument list has a limit).
    const many = Array.from({ length: 2000 }, (_, i) => `lib/app-1.0.0/ebin/module_with_a_long_name_${i}.beam`);
    expect(deltaUnpackCommand(l, '/in/t.part-1', '0.2.0', '1', '0.1.0', many, 'M').text).toContain(`| xargs cp -al --parents -t ${stage} --; } ||`);
    expect(treeCheckCommand(stage).text).toBe(
      [
        `cd ${stage}`,
        `{ bad=$(sha256sum -c --quiet .deliver-manifest 2>/dev/null) || { rm -rf ${stage}; printf 'delta: a file differs from the manifest (changed in place on this host?): %s\\n' "$(printf '%s\\n' "$bad" | head -n 3 | tr '\\n' ' ')" >&2; exit 9; }; }`,
        `{ find . -mindepth 1 -path './.deliver-*' -prune -o \\( -type l -printf 'l %P -> %l\\n' -o -printf '%y %P\\n' \\) | awk 'NR == FNR { if ($0 == "[entries]") { s = 1; next } if ($0 ~ /^\\[/) { s = 0; next } if (!s) next; k = $1 == "f" ? "f " $4 : $1 == "d" ? "d " $3 : $1 == "l" ? "l " $3 " -> " $5 : $0; e[k] = 1; n++; next } { if (!($0 in e)) bad = 1; m++ } END { exit bad || m != n }' .deliver-manifest - || ${fail('the staged entries differ from the manifest')}; }`,
        'cd /',
      ].join(' && '),
    );
    expect(() => deltaUnpackCommand(l, '/t', '0.2.0', '1', '0.1.0', ['a b'], 'M')).toThrow(/unsafe path/);
  });

  it('the base section of the lock step output parses back', () => {
    expect(baseOfOutput('link=x\n[base] 0.1.0\n[entries]\nd 755 lib\n[base-end]\n')).toEqual({ version: '0.1.0', text: '[entries]\nd 755 lib' });
    expect(baseOfOutput('link=\n[base-end]\n')).toBeUndefined();
  });
});

describe('delta deploys on a local shell', () => {
  const v1 = tarball('0.1.0', 'beam one');
  const v2 = tarball('0.2.0', 'beam two, longer');
  const sources: DeltaSource[] = [];
  afterEach(async () => {
    for (const s of sources.splice(0)) await s.dispose();
    delete process.env.PATH_BEFORE_DELTA_TEST;
  });
  const deltaOf = (src: ReleaseSource, version: string) => {
    const d = new DeltaSource(src.path, APP, version);
    sources.push(d);
    return d;
  };
  const options = (to: string, source: ReleaseSource, version: string, extra: Partial<DeployOptions> = {}): DeployOptions =>
    deployOptions(APP, to, source, version, { delta: deltaOf(source, version), ...extra });
  const rel = (to: string, v: string) => join(to, '.deliver', APP, 'releases', v);
  const onV1 = async () => {
    const to = mkdtempSync(join(root, 'to-'));
    expect(await deployHost(localShellBackend(), options(to, v1, '0.1.0'))).toMatchObject({ transfer: 'full', receivedBytes: v1.size });
    return to;
  };

  it('the second release arrives as a delta: the same tree as a full unpack, unchanged files shared, the rest not', async () => {
    const to = await onV1();
    const b = localShellBackend();
    const r = await deployHost(b, options(to, v2, '0.2.0'));
    expect(r).toMatchObject({ transfer: 'delta', previous: '0.1.0' });
    expect(r.receivedBytes).toBeLessThan(v2.size);
    expect(b.commands).toHaveLength(1);
    expect(treeOf(rel(to, '0.2.0'))).toEqual(treeOf(fullUnpack(v2, '0.2.0')));
    const ino = (v: string, p: string) => statSync(join(rel(to, v), p)).ino;
    expect(ino('0.2.0', 'lib/kernel-9/ebin/kernel.beam')).toBe(ino('0.1.0', 'lib/kernel-9/ebin/kernel.beam'));
    expect(ino('0.2.0', 'erts-14/bin/beam.smp')).toBe(ino('0.1.0', 'erts-14/bin/beam.smp'));
    for (const p of [`bin/${APP}`, 'releases/start_erl.data', 'erts-14/bin/erl', 'lib/demo-1/ebin/Elixir.Demo.beam']) expect(ino('0.2.0', p)).not.toBe(ino('0.1.0', p));
    // The new root keeps its manifest: the next deploy can build on it.
    expect(parseManifest(readFileSync(join(rel(to, '0.2.0'), '.deliver-manifest'), 'utf8')).entries).toEqual((await manifestOfTarball(v2.path, APP, '0.2.0')).entries);
    expect(readdirSync(join(to, '.deliver', APP, 'incoming'))).toEqual([]);
  });

  it('a file changed in place in the installed release: the delta fails its check and the full tarball follows', async () => {
    const to = await onV1();
    writeFileSync(join(rel(to, '0.1.0'), 'lib/kernel-9/ebin/kernel.beam'), 'edited on the host');
    const warnings: string[] = [];
    const r = await deployHost(localShellBackend(), options(to, v2, '0.2.0', { events: { warn: (m) => warnings.push(m) } }));
    expect(r).toMatchObject({ transfer: 'full' });
    expect(r.fullReason).toMatch(/^the delta failed \(a file differs from the manifest \(changed in place on this host\?\): lib\/kernel-9\/ebin\/kernel.beam: FAILED/);
    expect(r.receivedBytes).toBeGreaterThan(v2.size);
    expect(warnings.join('\n')).toMatch(/sending the full tarball instead/);
    expect(treeOf(rel(to, '0.2.0'))).toEqual(treeOf(fullUnpack(v2, '0.2.0')));
    expect(readdirSync(join(to, '.deliver', APP, 'releases')).sort()).toEqual(['0.1.0', '0.2.0']);
  });

  /** Runs `run` with a stand-in for the host command `cmd` first on PATH (`script` gets the stand-in's directory). */
  async function withStandIn<T>(cmd: string, script: (dir: string) => string, run: () => Promise<T>): Promise<T> {
    const dir = mkdtempSync(join(root, 'bin-'));
    writeFileSync(join(dir, cmd), script(dir));
    chmodSync(join(dir, cmd), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${dir}:${path}`;
    try {
      return await run();
    } finally {
      process.env.PATH = path;
    }
  }

  it('a delta damaged on the way (one byte changed): it does not unpack, and the full tarball, which is verified, follows', async () => {
    const to = await onV1();
    // The host's receiving `cat` (no arguments) changes byte 100 of the gzip data, once.
    const real = execFileSync('sh', ['-c', 'command -v cat'], { encoding: 'utf8' }).trim();
    let once = '';
    const damaging = (dir: string) => {
      once = join(dir, 'done');
      return `#!/bin/sh\nif [ $# -eq 0 ] && [ ! -e ${once} ]; then ${real} > ${once}; printf x | dd of=${once} bs=1 seek=100 conv=notrunc 2>/dev/null; exec ${real} ${once}; fi\nexec ${real} "$@"\n`;
    };
    const r = await withStandIn('cat', damaging, () => deployHost(localShellBackend(), options(to, v2, '0.2.0')));
    expect(r).toMatchObject({ transfer: 'full', fullReason: 'the delta failed (the delta tarball did not unpack)' });
    expect(existsSync(once)).toBe(true);
    expect(treeOf(rel(to, '0.2.0'))).toEqual(treeOf(fullUnpack(v2, '0.2.0')));
  });

  it('hard links impossible (cp fails, as across file systems): the full tarball', async () => {
    const to = await onV1();
    const failing = () => '#!/bin/sh\necho "cp: cannot create hard link: Invalid cross-device link" >&2\nexit 1\n';
    const r = await withStandIn('cp', failing, () => deployHost(localShellBackend(), options(to, v2, '0.2.0')));
    expect(r).toMatchObject({ transfer: 'full', fullReason: 'the delta failed (cannot hard-link the unchanged files of 0.1.0)' });
    expect(treeOf(rel(to, '0.2.0'))).toEqual(treeOf(fullUnpack(v2, '0.2.0')));
  });

  it('--no-delta: the full tarball; a release installed without a manifest gets one computed under the lock', async () => {
    const to = await onV1();
    expect(await deployHost(localShellBackend(), options(to, v2, '0.2.0', { deltaOff: 'delta off (--no-delta)' }))).toMatchObject({
      transfer: 'full',
      receivedBytes: v2.size,
      fullReason: 'delta off (--no-delta)',
    });
    const to2 = await onV1();
    rmSync(join(rel(to2, '0.1.0'), '.deliver-manifest'));
    expect(await deployHost(localShellBackend(), options(to2, v2, '0.2.0'))).toMatchObject({ transfer: 'delta' });
    expect(existsSync(join(rel(to2, '0.1.0'), '.deliver-manifest'))).toBe(true);
    expect(treeOf(rel(to2, '0.2.0'))).toEqual(treeOf(fullUnpack(v2, '0.2.0')));
  });

  it('the dry run shows the delta per host (the look is read-only: a missing manifest is not computed)', async () => {
    const to = await onV1();
    const o = options(to, v2, '0.2.0');
    const plan = await planDeployHost(localShellBackend(), deployTarget(o, releaseRef(v2), layoutFor(to, APP), "local"), undefined, o.delta);
    expect(plan.facts[1]).toMatch(/^delta against 0\.1\.0: \d+ files hard-linked, \d+ files sent in \d+ bytes \(the full tarball: \d+\)$/);
    expect(plan.steps.map((s) => [s.name, s.input.kind])).toContainEqual(['upload', 'delta']);
    rmSync(join(rel(to, '0.1.0'), '.deliver-manifest'));
    const again = await planDeployHost(localShellBackend(), deployTarget(o, releaseRef(v2), layoutFor(to, APP), "local"), undefined, o.delta);
    expect(again.facts[1]).toBe(`upload: ${v2.file} (${v2.size} bytes), full tarball: no manifest of 0.1.0 on the host (the real run computes it on the host first, then decides)`);
    expect(existsSync(join(rel(to, '0.1.0'), '.deliver-manifest'))).toBe(false);
  });

  it('extract hooks turn deltas off (they change the unpacked files, which a delta shares)', () => {
    const o = options(root, v2, '0.2.0');
    expect(deltaOffReason(o)).toBeUndefined();
    expect(deltaOffReason({ ...o, hooks: new Map([['post_extract_release_archive', { name: 'post_extract_release_archive', body: 'true' } as never]]) })).toBe(
      'extract hooks may change the unpacked files in place',
    );
  });

  it('the tree check refuses an extra file (exit 9, the staging dir removed)', () => {
    const dir = fullUnpack(v2, '0.2.0');
    const stage = join(root, `stage-${++n}`);
    execFileSync('cp', ['-a', dir, stage]);
    return manifestOfTarball(v2.path, APP, '0.2.0').then((m) => {
      writeFileSync(join(stage, '.deliver-manifest'), formatManifest(m));
      expect(sh(treeCheckCommand(stage).text).code).toBe(0);
      writeFileSync(join(stage, 'lib', 'extra'), 'x');
      const r = sh(treeCheckCommand(stage).text);
      expect(r.code).toBe(EXIT_DELTA);
      expect(r.err).toBe('delta: the staged entries differ from the manifest\n');
      expect(existsSync(stage)).toBe(false);
    });
  });

  it('the tree check refuses a missing file, an empty directory too many and a changed file, naming the file', () => {
    const dir = fullUnpack(v2, '0.2.0');
    return manifestOfTarball(v2.path, APP, '0.2.0').then((m) => {
      const staged = (change: (stage: string) => void) => {
        const stage = join(root, `stage-${++n}`);
        execFileSync('cp', ['-a', dir, stage]);
        writeFileSync(join(stage, '.deliver-manifest'), formatManifest(m));
        change(stage);
        const r = sh(treeCheckCommand(stage).text);
        expect(existsSync(stage)).toBe(false);
        return r;
      };
      const file = m.entries.find((e) => e.type === 'f' && e.path.startsWith('lib/'))!.path;
      const gone = staged((s) => rmSync(join(s, file)));
      expect(gone.code).toBe(EXIT_DELTA);
      expect(gone.err).toContain(`a file differs from the manifest (changed in place on this host?): ${file}: FAILED open or read`);
      const changed = staged((s) => writeFileSync(join(s, file), 'other bytes'));
      expect(changed.err).toContain(`${file}: FAILED`);
      const extraDir = staged((s) => mkdirSync(join(s, 'lib', 'empty')));
      expect([extraDir.code, extraDir.err]).toEqual([EXIT_DELTA, 'delta: the staged entries differ from the manifest\n']);
    });
  });
});

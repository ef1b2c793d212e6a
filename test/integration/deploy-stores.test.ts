// Stores meet deploys, for real: `deliver update` builds a mix release on the bed's build host, streams it into a
// local, a remote (`root@host40:/srv/…`) and an S3 store (Ceph radosgw), and deploys it from there. Then `--pull`:
// eight hosts download the release from S3 themselves while the deliver process writes less than one release's
// worth of bytes (/proc/<pid>/io, with a streamed deploy as the control that the measure sees uploads); a corrupted
// S3 object is refused on the hosts before unpacking; hosts that cannot fetch get a one-line error per host naming
// the HTTP status or curl's error, never the URL; and the download script falls back to wget.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pullCommand } from '../../src/deploy/pull.js';
import { S3Store, s3OptionsFrom } from '../../src/store/s3.js';
import { parseStoreSpec } from '../../src/store/spec.js';
import { createMixFixture, deliver, onHost, writeDeliverConfig, type Fixture } from '../helpers/fixtures.js';
import { applyS3Env, rawS3Client, startS3, type S3TestEnv } from '../helpers/s3.js';
import { readAll } from '../helpers/store-contract.js';
import {
  APP, activeVersion, ensureBed, hostPath, installed, json, leftovers, startCli, waitCli, type Bed, type BedHost, type HostJson, type Project,
} from './deploy-support.js';

const VERSION = '0.1.0';
const FILE = `${APP}_${VERSION}.release.tar.gz`;
const run = `ds${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;

let bed: Bed;
let fx: Fixture;
let s3: S3TestEnv;
let restoreEnv: () => void;
let raw: S3Client;
const S3_PREFIX = `deploy-stores/${run}`;
const S3_SPEC = () => `s3://${s3.bucket}/${S3_PREFIX}`;
const REMOTE_DIR = `/srv/stores-${run}`;
let releaseSize = 0;
let releaseSha = '';

const hosts = (from: number, to: number): BedHost[] => bed.hosts.slice(from - 1, to);

/** The fixture's config with `hosts` as production and its own DELIVER_TO; the project object the helpers take. */
function project(name: string, hs: BedHost[], extra = ''): Project {
  const deliverTo = `/srv/${run}-${name}`;
  writeDeliverConfig(fx, {
    app: APP,
    buildHost: 'build',
    buildUser: 'root',
    buildAt: `/srv/${run}-build`,
    extra: [`PRODUCTION_HOSTS="${hs.map((h) => h.name).join(' ')}"`, 'PRODUCTION_USER="root"', `DELIVER_TO="${deliverTo}"`, extra].join('\n'),
  });
  return { dir: fx.dir, deliverTo, hosts: hs };
}

/** Runs the CLI and samples its /proc/<pid>/io until it exits: the largest wchar seen (bytes it wrote anywhere). */
async function cliMeasured(p: Project, args: string[]): Promise<{ code: number; stdout: string; stderr: string; wchar: number }> {
  const child = startCli(bed, p, args);
  let wchar = 0;
  const timer = setInterval(() => {
    try {
      const m = /^wchar: (\d+)$/m.exec(readFileSync(`/proc/${child.pid}/io`, 'utf8'));
      if (m) wchar = Math.max(wchar, Number(m[1]));
    } catch {
      // exited between samples
    }
  }, 10);
  const r = await waitCli(child);
  clearInterval(timer);
  return { ...r, wchar };
}

function s3Store(): S3Store {
  return new S3Store(s3OptionsFrom(parseStoreSpec(S3_SPEC()) as Extract<ReturnType<typeof parseStoreSpec>, { kind: 's3' }>));
}

beforeAll(() => {
  bed = ensureBed();
  s3 = startS3();
  restoreEnv = applyS3Env(s3);
  raw = rawS3Client(s3);
  fx = createMixFixture(APP);
  onHost('host40', `mkdir -p ${REMOTE_DIR}`);
}, 300_000);

afterAll(() => {
  restoreEnv?.();
  raw?.destroy();
  if (fx) rmSync(join(fx.dir, '..'), { recursive: true, force: true });
});

describe('build → store → deploy', () => {
  it('local store: update builds into .deliver/releases and deploys from it', async () => {
    const p = project('local', hosts(1, 2));
    const r = await deliver(fx.dir, ['update', 'production'], { RELEASE_STORE: '.deliver/releases' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const file = join(fx.dir, '.deliver', 'releases', FILE);
    expect(existsSync(file)).toBe(true);
    releaseSize = readFileSync(file).length;
    releaseSha = createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(readFileSync(`${file}.sha256`, 'utf8')).toBe(`${releaseSha}  ${FILE}\n`);
    for (const h of p.hosts) {
      expect(activeVersion(p, h)).toBe(VERSION);
      expect(readFileSync(hostPath(p, h, '.deliver', APP, 'releases', VERSION, '.deliver-sha256'), 'utf8').trim()).toBe(releaseSha);
      expect(leftovers(p, h)).toEqual([]);
    }
  });

  it('remote store (root@host40:/srv/…): the build streams into it and hosts are sent the copy read once from it', async () => {
    const p = project('remote', hosts(3, 4), 'SKIP_GIT_CLEAN=true\nSKIP_MIX_CLEAN=true');
    const r = await deliver(fx.dir, ['update', 'production'], { RELEASE_STORE: `root@host40:${REMOTE_DIR}` });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const stored = join(bed.hosts[39]!.root, REMOTE_DIR.replace(/^\/srv\//, ''), FILE);
    expect(existsSync(stored)).toBe(true);
    const sha = createHash('sha256').update(readFileSync(stored)).digest('hex');
    for (const h of p.hosts) {
      expect(activeVersion(p, h)).toBe(VERSION);
      expect(readFileSync(hostPath(p, h, '.deliver', APP, 'releases', VERSION, '.deliver-sha256'), 'utf8').trim()).toBe(sha);
      expect(existsSync(hostPath(p, h, APP, 'bin', APP))).toBe(true);
      expect(leftovers(p, h)).toEqual([]);
    }
  });

  it('S3 store: the build streams into the bucket and hosts are sent the copy read once from it', async () => {
    const p = project('s3', hosts(5, 6), 'SKIP_GIT_CLEAN=true\nSKIP_MIX_CLEAN=true');
    const r = await deliver(fx.dir, ['update', 'production'], { RELEASE_STORE: S3_SPEC() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const obj = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${S3_PREFIX}/${FILE}` }));
    const bytes = await readAll(obj.Body as AsyncIterable<Uint8Array>);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const shaObj = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${S3_PREFIX}/${FILE}.sha256` }));
    expect((await readAll(shaObj.Body as AsyncIterable<Uint8Array>)).toString()).toBe(`${sha}  ${FILE}\n`);
    releaseSize = bytes.length;
    releaseSha = sha;
    for (const h of p.hosts) {
      expect(activeVersion(p, h)).toBe(VERSION);
      expect(readFileSync(hostPath(p, h, '.deliver', APP, 'releases', VERSION, '.deliver-sha256'), 'utf8').trim()).toBe(sha);
      expect(leftovers(p, h)).toEqual([]);
    }
  });
});

describe('--pull from S3', () => {
  it('a non-S3 store is a usage error naming the store (exit 2), before any host is touched', async () => {
    const p = project('pull-local', hosts(7, 7), 'RELEASE_STORE=".deliver/releases"');
    const r = await deliver(fx.dir, ['deploy', 'release', 'production', '--version', VERSION, '--pull']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--pull needs an S3 release store');
    expect(r.stderr).toContain('.deliver/releases is a local store');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const remote = await deliver(fx.dir, ['deploy', 'release', 'production', '--version', VERSION], { RELEASE_STORE: `root@host40:${REMOTE_DIR}`, RELEASE_PULL: 'true' });
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain(`--pull needs an S3 release store; root@host40:${REMOTE_DIR} is a remote store`);
    expect(existsSync(hostPath(p, p.hosts[0]!))).toBe(false);
  });

  it('8 hosts download the release themselves: the deliver process writes less than one release (a streamed deploy writes every copy)', async () => {
    expect(releaseSize, 'the S3 build test stores the release first').toBeGreaterThan(1_000_000);
    // Control: the same measure sees a streamed deploy's bytes (the temp copy plus one upload per host).
    const c = project('stream', hosts(15, 16), `RELEASE_STORE="${S3_SPEC()}"`);
    const streamed = await cliMeasured(c, ['deploy', 'release', 'production', '--version', VERSION]);
    expect(streamed.code, streamed.stderr).toBe(0);
    expect(streamed.wchar).toBeGreaterThan(3 * releaseSize);

    const p = project('pull', hosts(7, 14), `RELEASE_STORE="${S3_SPEC()}"`);
    const r = await cliMeasured(p, ['deploy', 'release', 'production', '--version', VERSION, '--pull', '--json', '--verbose']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.wchar).toBeLessThan(releaseSize / 2);
    const res = json<{ hosts: HostJson[] }>(r);
    expect(res.hosts.map((h) => h.status)).toEqual(Array(8).fill('ok'));
    for (const h of p.hosts) {
      expect(activeVersion(p, h)).toBe(VERSION);
      expect(readFileSync(hostPath(p, h, '.deliver', APP, 'releases', VERSION, '.deliver-sha256'), 'utf8').trim()).toBe(releaseSha);
      expect(existsSync(hostPath(p, h, APP, 'bin', APP))).toBe(true);
      expect(leftovers(p, h)).toEqual([]);
    }
    // The presigned URL never shows, not even in --verbose output.
    expect(`${r.stdout}${r.stderr}`).not.toContain('X-Amz-Signature');
    expect(`${r.stdout}${r.stderr}`).not.toContain('X-Amz-Credential');
  });

  it('RELEASE_PULL=true pulls too; a corrupted object is refused on the host before unpacking, the old release stays active', async () => {
    const p = project('pull', hosts(7, 8), `RELEASE_STORE="${S3_SPEC()}"\nRELEASE_PULL=true`);
    // 0.2.0 is stored with its true digest, then one byte of the object is flipped behind the store's back.
    const store = s3Store();
    const good = await readAll((await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${S3_PREFIX}/${FILE}` }))).Body as AsyncIterable<Uint8Array>);
    const file2 = `${APP}_0.2.0.release.tar.gz`;
    await store.put(file2, Readable.from([good]));
    const bad = Buffer.from(good);
    const mid = Math.floor(bad.length / 2);
    bad[mid] = bad[mid]! ^ 0xff;
    const head = await store.stat(file2);
    await raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${S3_PREFIX}/${file2}`, Body: bad, Metadata: { sha256: head!.sha256! } }));
    expect((await store.stat(file2))?.sha256).toBe(createHash('sha256').update(good).digest('hex'));

    const r = await deliver(fx.dir, ['deploy', 'release', 'production', '--version', '0.2.0', '--json']);
    expect(r.code).toBe(1);
    const res = json<{ hosts: HostJson[] }>(r);
    for (const h of res.hosts) {
      expect(h.status).toBe('failed');
      expect(h.step).toBe('verify');
      expect(h.error).toContain('checksum mismatch');
    }
    for (const h of p.hosts) {
      expect(activeVersion(p, h)).toBe(VERSION);
      expect(installed(p, h)).toEqual([VERSION]);
      expect(leftovers(p, h)).toEqual([]);
    }
  });

  describe('hosts that cannot fetch from S3', () => {
    let proxy: Server;
    let mode: 'reset' | 'deny' = 'reset';
    let proxyPort = 0;

    beforeAll(async () => {
      // Between the hosts and radosgw: the orchestrator's signed API calls pass; presigned downloads (what the
      // hosts send) are reset like a firewall would, or denied with S3's own 403 answer.
      const target = new URL(s3.endpoint);
      proxy = createServer((sock: Socket) => {
        sock.once('data', (first: Buffer) => {
          if (first.toString('latin1').split('\r\n')[0]!.includes('X-Amz-Signature=')) {
            if (mode === 'reset') return void sock.resetAndDestroy();
            const body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message></Message></Error>';
            return void sock.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
          }
          const up = tcpConnect(Number(target.port), target.hostname, () => {
            up.write(first);
            sock.pipe(up).pipe(sock);
          });
          up.on('error', () => sock.destroy());
          sock.on('error', () => up.destroy());
        });
      });
      await new Promise<void>((res) => proxy.listen(0, '127.0.0.1', res));
      proxyPort = (proxy.address() as { port: number }).port;
    });

    afterAll(() => proxy?.close());

    it('each host fails at download with curl\'s error or the HTTP status and S3 code, never the URL; nothing changes', async () => {
      const p = project('pull', hosts(9, 10), `RELEASE_STORE="${S3_SPEC()}"`);
      const endpoint = { S3_ENDPOINT: `http://127.0.0.1:${proxyPort}` };
      const file3 = `${APP}_0.3.0.release.tar.gz`;
      const good = await readAll((await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${S3_PREFIX}/${FILE}` }))).Body as AsyncIterable<Uint8Array>);
        await s3Store().put(file3, Readable.from([good]), { force: true });

      mode = 'reset';
      const a = await deliver(fx.dir, ['deploy', 'release', 'production', '--version', '0.3.0', '--pull', '--verbose'], endpoint);
      expect(a.code).toBe(1);
      for (const h of p.hosts) expect(a.stderr).toMatch(new RegExp(`${h.name}.*download.*download failed \\(curl\\): curl: \\(56\\) Recv failure: Connection reset by peer`));

      mode = 'deny';
      const b = await deliver(fx.dir, ['deploy', 'release', 'production', '--version', '0.3.0', '--pull', '--json'], endpoint);
      expect(b.code).toBe(1);
      for (const h of json<{ hosts: HostJson[] }>(b).hosts) {
        expect(h).toMatchObject({ status: 'failed', step: 'download' });
        expect(h.error).toBe(`${h.host}: download failed (curl): HTTP 403 AccessDenied`);
      }
      for (const out of [a.stdout, a.stderr, b.stdout, b.stderr]) {
        expect(out).not.toContain('X-Amz-Signature');
        expect(out).not.toContain(`127.0.0.1:${proxyPort}/`);
      }
      for (const h of p.hosts) {
        expect(activeVersion(p, h)).toBe(VERSION);
        expect(installed(p, h)).toEqual([VERSION]);
        expect(leftovers(p, h)).toEqual([]);
      }
    });
  });

  it('the download script falls back to wget on a host without curl (real wget against the real S3)', async () => {
    // A PATH with wget and the tools the script needs, but no curl.
    const bin = mkdtempSync(join(tmpdir(), 'deliver-nocurl-'));
    for (const tool of ['wget', 'sed', 'grep', 'head', 'tail', 'rm']) {
      const path = ['/usr/bin', '/bin'].map((d) => join(d, tool)).find((f) => existsSync(f));
      if (!path) throw new Error(`prerequisite missing on this machine: ${tool}`);
      symlinkSync(path, join(bin, tool));
    }
    chmodSync(bin, 0o755);
    try {
      const dir = `/srv/${run}-wget`;
      const store = s3Store();
      const ok = onHost('host11', `mkdir -p ${dir} && (PATH=${bin}; export PATH; ${pullCommand(`${dir}/r.tgz`).text}); echo "exit=$?"`, Buffer.from(`${await store.presignedGetUrl(FILE, 60)}\n`));
      expect(ok.trim()).toBe('exit=0');
      const got = readFileSync(join(bed.hosts[10]!.root, `${run}-wget`, 'r.tgz'));
      expect(createHash('sha256').update(got).digest('hex')).toBe(releaseSha);

      const missing = onHost('host11', `(PATH=${bin}; export PATH; ${pullCommand(`${dir}/m.tgz`).text}) 2>&1; echo "exit=$?"`, Buffer.from(`${await store.presignedGetUrl(`${APP}_9.9.9.release.tar.gz`, 60)}\n`));
      expect(missing.trim().split('\n')).toEqual(['download failed (wget): HTTP 404 NoSuchKey', 'exit=6']);
      expect(existsSync(join(bed.hosts[10]!.root, `${run}-wget`, 'm.tgz'))).toBe(false);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

// --pull: the setting, the store check, the URL handed over on stdin (masked everywhere) and the download script.
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { deployFlags, withDeployOptions, type DeployCliFlags } from '../../src/cli/deploy-env.js';
import { EXIT_DOWNLOAD, assertPullable, pullCommand, pullFailure, pullInput } from '../../src/deploy/pull.js';
import { statementLines } from '../../src/ssh/quote.js';
import { configOf } from '../../src/config/config.js';
import { stubSettings } from '../helpers/settings.js';
import { prepareSource } from '../../src/deploy/source.js';
import { ConfigError, DeliverError, UsageError } from '../../src/output/errors.js';
import { clearSecretsForTests, redact } from '../../src/output/redact.js';
import type { ReleaseStore, StoredRelease } from '../../src/store/types.js';

const sha = 'a'.repeat(64);
const rel: StoredRelease = { app: 'demo', version: '1.0.0', type: 'release', file: 'demo_1.0.0.release.tar.gz', size: 10, modified: new Date(0), sha256: sha };
const URL = 'https://s3.example.com/b/demo_1.0.0.release.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101&X-Amz-Signature=0123abcdef9876&X-Amz-SignedHeaders=host';

function s3Like(extra: Partial<ReleaseStore> = {}): ReleaseStore & { gets: number; signed: string[] } {
  const s = {
    kind: 's3' as const,
    description: 's3://bucket/prefix',
    gets: 0,
    signed: [] as string[],
    list: async () => [rel],
    stat: async () => rel,
    put: async () => rel,
    delete: async () => undefined,
    get: async () => {
      s.gets++;
      return { stream: Readable.from([]), sha256: sha, size: 0 };
    },
    presignedGetUrl: async (file: string, ttl: number) => {
      s.signed.push(`${file}@${ttl}`);
      return URL;
    },
    ...extra,
  };
  return s;
}

afterEach(() => clearSecretsForTests());

describe('RELEASE_PULL', () => {
  const pull = (value: string | undefined, s = stubSettings(value === undefined ? {} : { RELEASE_PULL: value }, { line: 7 })) => configOf(s).deploy.pull;
  it('accepts the usual booleans and refuses anything else, at its file:line when it comes from a file', () => {
    expect(pull(undefined)).toBe(false);
    expect(pull('true')).toBe(true);
    expect(pull('YES')).toBe(true);
    expect(pull('0')).toBe(false);
    const fromEnv = { ...stubSettings({ RELEASE_PULL: 'sometimes' }), lookup: (n: string) => (n === 'RELEASE_PULL' ? { name: n, value: 'sometimes', source: 'env' as const } : undefined) };
    expect(() => pull('sometimes', fromEnv)).toThrow(UsageError);
    expect(() => pull('sometimes', fromEnv)).toThrow('RELEASE_PULL: expected true or false, got "sometimes"');
    expect(() => pull('sometimes')).toThrow(ConfigError);
    expect(() => pull('sometimes')).toThrow('.deliver/config:7: RELEASE_PULL: expected true or false');
  });
});

describe('--pull / --no-pull', () => {
  const parse = (...args: string[]): DeployCliFlags => {
    const cmd = withDeployOptions(new Command('deploy').exitOverride());
    cmd.parse(args, { from: 'user' });
    return cmd.opts<DeployCliFlags>();
  };
  it('reach the deploy flags; without either, RELEASE_PULL decides (pull stays undefined)', () => {
    expect(deployFlags(parse('--pull')).pull).toBe(true);
    expect(deployFlags(parse('--no-pull')).pull).toBe(false);
    expect('pull' in deployFlags(parse())).toBe(false);
  });
});

describe('assertPullable', () => {
  it('refuses local and remote stores with a usage error naming the store', () => {
    const local = { ...s3Like(), kind: 'local' as const, description: 'local .deliver/releases', presignedGetUrl: undefined } as unknown as ReleaseStore;
    const remote = { ...s3Like(), kind: 'remote' as const, description: 'root@store:/srv/store', presignedGetUrl: undefined } as unknown as ReleaseStore;
    expect(() => assertPullable(local)).toThrow(UsageError);
    expect(() => assertPullable(local)).toThrow('--pull needs an S3 release store; local .deliver/releases is a local store');
    expect(() => assertPullable(remote)).toThrow('root@store:/srv/store is a remote store');
    expect(() => assertPullable(s3Like())).not.toThrow();
  });
});

describe('pullInput', () => {
  it('is the URL and a newline; the URL and its signature are masked in any output from now on', () => {
    expect(redact(`curl ${URL}`)).toContain('X-Amz-Signature=0123abcdef9876');
    expect(pullInput(URL)).toBe(`${URL}\n`);
    expect(redact(`got ${URL} here`)).toBe('got *** here');
    expect(redact('sig 0123abcdef9876 leaked')).toBe('sig *** leaked');
  });

  it('refuses URLs that would break out of curl\'s quoted config value', () => {
    expect(() => pullInput('https://x/a"b')).toThrow(DeliverError);
    expect(() => pullInput('https://x/a b')).toThrow(DeliverError);
    expect(() => pullInput('https://x/a\nurl = "http://evil"')).toThrow(DeliverError);
    expect(() => pullInput('file:///etc/passwd')).toThrow(DeliverError);
  });
});

describe('pullCommand', () => {
  const cmd = pullCommand("/srv/app/.deliver/demo/incoming/demo_1.0.0.release.tar.gz.part-x'1").text;

  it('is a list of statements: curl, else wget, else a clear error', () => {
    const lines = statementLines(pullCommand('/t'));
    expect(lines.slice(0, 7)).toEqual(['IFS= read -r u ||', '{', "  echo 'no download URL on stdin' >&2;", `  exit ${EXIT_DOWNLOAD};`, '};', 't=/t;', 'if command -v curl >/dev/null 2>&1; then']);
    expect(lines.filter((l) => /^ *(if|else|fi)\b/.test(l)).map((l) => l.trim())).toEqual([
      'if command -v curl >/dev/null 2>&1; then', 'else', 'if command -v wget >/dev/null 2>&1; then', 'else', 'fi;', 'fi;',
    ]);
    expect(lines.slice(-3)).toEqual(['rm -f "$t";', 'echo "download failed ($via): $m" >&2;', `exit ${EXIT_DOWNLOAD}`]);
  });

  it('reads the URL from stdin and never names it; feeds it to curl/wget through builtins, not argv', () => {
    expect(cmd.startsWith('IFS= read -r u ||')).toBe(true);
    expect(cmd).not.toContain('http://');
    expect(cmd).not.toContain('https://');
    expect(cmd).toContain(`printf 'url = "%s"\\n' "$u" | curl -sS -K -`);
    expect(cmd).toContain(`printf '%s\\n' "$u" | wget -nv -S --content-on-error`);
    expect(cmd).not.toMatch(/curl[^|;]*"\$u"/);
    expect(cmd).not.toMatch(/wget[^|;]*"\$u"/);
    // The path is quoted (it holds a quote here).
    expect(cmd).toContain(`t='/srv/app/.deliver/demo/incoming/demo_1.0.0.release.tar.gz.part-x'\\''1'`);
    expect(cmd).toContain(`exit ${EXIT_DOWNLOAD}`);
  });

  it('is valid POSIX sh (dash) and bash', () => {
    for (const shell of ['dash', 'bash']) expect(() => execFileSync(shell, ['-n', '-c', cmd])).not.toThrow();
  });

  it('fails with its one-line reason when neither curl nor wget exists (no tool runs)', () => {
    let err: { status?: number; stderr?: string } = {};
    try {
      execFileSync('/bin/sh', ['-c', cmd], { input: 'https://x/y\n', env: { PATH: '/nonexistent' }, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.status).toBe(EXIT_DOWNLOAD);
    expect(pullFailure(err.stderr ?? '', err.status ?? 0)).toBe('cannot download the release: neither curl nor wget is installed on this host');
  });

  it('pullFailure takes the last non-empty line, or names the exit status', () => {
    expect(pullFailure('noise\ndownload failed (curl): HTTP 403 AccessDenied\n\n', 6)).toBe('download failed (curl): HTTP 403 AccessDenied');
    expect(pullFailure('', 255)).toBe('download failed (exit 255)');
  });
});

describe('prepareSource with pull', () => {
  it('reads nothing from the store and signs a fresh short-lived URL per call', async () => {
    const store = s3Like();
    const src = await prepareSource(store, rel, undefined, { pull: true });
    expect(store.gets).toBe(0);
    expect(src.sha256).toBe(sha);
    expect(() => src.open()).toThrow('pulled by the hosts');
    expect(await src.pull!.url()).toBe(URL);
    await src.pull!.url();
    expect(store.signed).toEqual([`${rel.file}@300`, `${rel.file}@300`]);
  });

  it('is a usage error for a store that is not S3, before anything is read', async () => {
    const store = { ...s3Like(), kind: 'remote' as const, description: 'root@h:/srv/store' } as ReleaseStore;
    await expect(prepareSource(store, rel, undefined, { pull: true })).rejects.toThrow(UsageError);
  });

  it('refuses an S3 object without a digest (hosts could not verify it)', async () => {
    const bare = { ...rel, sha256: undefined } as unknown as StoredRelease;
    const store = s3Like({ stat: async () => bare });
    await expect(prepareSource(store, bare, undefined, { pull: true })).rejects.toThrow('s3://bucket/prefix: demo_1.0.0.release.tar.gz has no stored sha256');
  });
});

import { describe, expect, it } from 'vitest';
import { compareBuilds, comparePrecedence, compareVersions, isReleaseFileOf, latestVersion, parseReleaseFileName, sortReleases } from '../../src/store/versions.js';

describe('parseReleaseFileName', () => {
  it('splits plain names', () => {
    expect(parseReleaseFileName('demo_1.0.0.release.tar.gz')).toEqual({ app: 'demo', version: '1.0.0', type: 'release' });
    expect(parseReleaseFileName('demo_1.0.1.upgrade.tar.gz')).toEqual({ app: 'demo', version: '1.0.1', type: 'upgrade' });
  });

  it('keeps underscores and digits in app names', () => {
    expect(parseReleaseFileName('my_app_0.2.0.release.tar.gz')).toEqual({ app: 'my_app', version: '0.2.0', type: 'release' });
    expect(parseReleaseFileName('auth_2fa_1.0.0.release.tar.gz')).toEqual({ app: 'auth_2fa', version: '1.0.0', type: 'release' });
    expect(parseReleaseFileName('app_2_1.0.0.release.tar.gz')).toEqual({ app: 'app_2', version: '1.0.0', type: 'release' });
    expect(parseReleaseFileName('app_v2_3.release.tar.gz')).toEqual({ app: 'app_v2', version: '3', type: 'release' });
  });

  it('keeps underscores in pre-release and build parts of the version', () => {
    expect(parseReleaseFileName('my_app_1.0.0+build_7.release.tar.gz')).toEqual({ app: 'my_app', version: '1.0.0+build_7', type: 'release' });
    expect(parseReleaseFileName('app_1.0.0-rc_1.upgrade.tar.gz')).toEqual({ app: 'app', version: '1.0.0-rc_1', type: 'upgrade' });
    expect(parseReleaseFileName('web_ui_2.3.4+82-feature_x_y.release.tar.gz')).toEqual({
      app: 'web_ui',
      version: '2.3.4+82-feature_x_y',
      type: 'release',
    });
  });

  it('accepts a path and ignores everything that is not a release archive', () => {
    expect(parseReleaseFileName('/x/.deliver/releases/demo_1.0.0.release.tar.gz')?.app).toBe('demo');
    expect(parseReleaseFileName('demo_1.0.0.release.tar.gz.sha256')).toBeUndefined();
    expect(parseReleaseFileName('demo_1.0.0.tar.gz')).toBeUndefined();
    expect(parseReleaseFileName('demo.release.tar.gz')).toBeUndefined();
    expect(parseReleaseFileName('demo_abc.release.tar.gz')).toBeUndefined();
    expect(parseReleaseFileName('_1.0.0.release.tar.gz')).toBeUndefined();
  });

  it('falls back to the last _digit split for names outside the app grammar', () => {
    expect(parseReleaseFileName('my-app_1.0.0.release.tar.gz')).toEqual({ app: 'my-app', version: '1.0.0', type: 'release' });
  });
});

describe('isReleaseFileOf', () => {
  it('matches the exact app only', () => {
    expect(isReleaseFileOf('demo_1.0.0.release.tar.gz', 'demo')).toBe(true);
    expect(isReleaseFileOf('demo_web_1.0.0.release.tar.gz', 'demo')).toBe(false);
    expect(isReleaseFileOf('demo_web_1.0.0.release.tar.gz', 'demo_web')).toBe(true);
    expect(isReleaseFileOf('demo_1.0.0.upgrade.tar.gz', 'demo', 'release')).toBe(false);
    expect(isReleaseFileOf('x_1.release.tar.gz', '*')).toBe(true);
    expect(isReleaseFileOf('notes.txt', '*')).toBe(false);
  });
});

describe('compareVersions', () => {
  const sorted = (vs: string[]) => [...vs].sort(compareVersions);

  it('orders numeric parts numerically (1.10.0 after 1.9.0, majors too)', () => {
    expect(compareVersions('1.10.0', '1.9.0')).toBeGreaterThan(0);
    expect(compareVersions('10.0.0', '9.9.9')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0);
    expect(compareVersions('1.0.0.1', '1.0.0')).toBeGreaterThan(0);
    expect(compareVersions('1.0', '1.0.1')).toBeLessThan(0);
  });

  it('follows the SemVer precedence example', () => {
    const spec = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0'];
    expect(sorted([...spec].reverse())).toEqual(spec);
    expect(sorted(['1.0.0', '0.9.0', '1.0.0-rc.1'])).toEqual(['0.9.0', '1.0.0-rc.1', '1.0.0']);
  });

  it('orders alphanumeric identifiers naturally (rc9 < rc10)', () => {
    expect(compareVersions('1.0.0-rc10', '1.0.0-rc9')).toBeGreaterThan(0);
  });

  it('uses +build metadata only as a tie-breaker, numerically', () => {
    expect(compareVersions('1.0.0+10', '1.0.0+9')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0+82-abc', '1.0.0+100-abc')).toBeLessThan(0);
    expect(compareVersions('1.0.0', '1.0.0+1')).toBeLessThan(0);
    expect(compareVersions('1.0.1', '1.0.0+999')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0-rc.1+5', '1.0.0')).toBeLessThan(0);
  });

  it('is a total order (antisymmetric, consistent)', () => {
    const vs = ['1.0', '1.0.0', '1.0.0+1', '1.0.0-rc.1', '2.0.0', '1.10.0', '1.9.0', '01.0.0'];
    for (const a of vs) {
      for (const b of vs) {
        expect(Math.sign(compareVersions(a, b)) + Math.sign(compareVersions(b, a))).toBe(0);
        expect(compareVersions(a, b) === 0).toBe(a === b);
      }
    }
  });
});

describe('sortReleases / latestVersion', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000);
  it('sorts oldest first with releases before upgrades', () => {
    const items = [
      { version: '1.10.0', type: 'release' as const, modified: at(0) },
      { version: '1.9.0', type: 'upgrade' as const, modified: at(5) },
      { version: '1.9.0', type: 'release' as const, modified: at(6) },
    ];
    expect(sortReleases(items).map((i) => `${i.version}/${i.type}`)).toEqual(['1.9.0/release', '1.9.0/upgrade', '1.10.0/release']);
    expect(latestVersion(['1.9.0', '1.10.0', '1.10.0-rc.1'])).toBe('1.10.0');
    expect(latestVersion([])).toBeUndefined();
  });

  it('among versions of equal precedence, the one built (stored) last is the newest, whatever its build metadata', () => {
    // AUTO_VERSION=git-revision: both builds are 0.1.0+<revision>; the revision hash says nothing about age.
    const items = [
      { version: '0.1.0+ffe1d2a', type: 'release' as const, modified: at(10) },
      { version: '0.1.0+0a1b2c3', type: 'release' as const, modified: at(20) },
      { version: '0.1.0+0a1b2c3', type: 'upgrade' as const, modified: at(19) },
      { version: '0.1.0', type: 'release' as const, modified: at(30) },
      { version: '0.1.0-rc.1+zzz', type: 'release' as const, modified: at(99) },
      { version: '0.0.9+9', type: 'release' as const, modified: at(100) },
      { version: '0.2.0+000', type: 'release' as const, modified: at(1) },
    ];
    expect(sortReleases(items).map((i) => `${i.version}/${i.type}`)).toEqual([
      '0.0.9+9/release',
      '0.1.0-rc.1+zzz/release',
      '0.1.0+ffe1d2a/release',
      '0.1.0+0a1b2c3/release',
      '0.1.0+0a1b2c3/upgrade',
      '0.1.0/release',
      '0.2.0+000/release',
    ]);
  });

  it('compareBuilds: precedence first, then the time stored, then the version text', () => {
    expect(comparePrecedence('1.0.0+b', '1.0.0+a')).toBe(0);
    expect(comparePrecedence('1.0.0-rc.1', '1.0.0')).toBeLessThan(0);
    expect(comparePrecedence('1.10.0', '1.9.0+zz')).toBeGreaterThan(0);
    expect(compareBuilds({ version: '1.0.0+b', modified: at(2) }, { version: '1.0.0+a', modified: at(1) })).toBeGreaterThan(0);
    expect(compareBuilds({ version: '1.0.0+b', modified: at(1) }, { version: '1.0.0+a', modified: at(2) })).toBeLessThan(0);
    expect(compareBuilds({ version: '1.0.1+a', modified: at(1) }, { version: '1.0.0+b', modified: at(2) })).toBeGreaterThan(0);
    // Same second (a bulk copy): the textual order keeps sorting total and stable.
    expect(compareBuilds({ version: '1.0.0+83', modified: at(1) }, { version: '1.0.0+82', modified: at(1) })).toBeGreaterThan(0);
  });
});

import { describe, expect, it } from 'vitest';
import {
  computeVersion,
  incrementVersion,
  metadataValue,
  parseAutoVersion,
  parseIncrement,
  revisionFromVersion,
  sanitizeBranch,
  validateVersion,
  type VersionFacts,
} from '../../src/build/version.js';
import { UsageError } from '../../src/output/errors.js';

const facts: VersionFacts = {
  sha: '82a5834c0ffee1234567890abcdef1234567890a',
  commitCountAll: 3027,
  commitCountBranch: 42,
  branch: 'feature/new_ui',
  mixEnv: 'prod',
  now: new Date(Date.UTC(2026, 0, 5, 7, 8, 9)),
};

describe('auto-version parsing', () => {
  it('accepts edeliver items with prefixes and aliases', () => {
    expect(parseAutoVersion('git-revision+commit-count+branch-unless-master', 'x')).toEqual(['revision', 'commit-count', 'branch-unless-master']);
    expect(parseAutoVersion('append-build-date,time mix-env', 'x')).toEqual(['date', 'time', 'mix-env']);
    expect(parseAutoVersion('commit-count-all-branches+commit-count-branch', 'x')).toEqual(['commit-count', 'commit-count-branch']);
  });
  it('rejects unknown items naming the source', () => {
    expect(() => parseAutoVersion('revision+bogus', '.deliver/config:3')).toThrow(/\.deliver\/config:3: unknown auto-version item "bogus"/);
    expect(() => parseAutoVersion('patch', '--auto-version')).toThrow(UsageError);
  });
  it('parses increments', () => {
    expect(parseIncrement('MINOR')).toBe('minor');
    expect(() => parseIncrement('micro')).toThrow(/patch, minor or major/);
  });
});

describe('version arithmetic', () => {
  it('increments like edeliver', () => {
    expect(incrementVersion('1.2.3', 'patch')).toBe('1.2.4');
    expect(incrementVersion('1.2.3', 'minor')).toBe('1.3.0');
    expect(incrementVersion('1.2.3', 'major')).toBe('2.0.0');
    expect(incrementVersion('1', 'patch')).toBe('1.0.1');
    expect(incrementVersion('1.9.9+abc', 'minor')).toBe('1.10.0');
  });
  it('joins the first metadata item with + and the rest with -', () => {
    expect(computeVersion('1.2.3', { metadata: ['commit-count', 'revision', 'branch'] }, facts)).toBe('1.2.3+3027-82a5834-feature-new_ui'.replace('_', '-'));
    expect(computeVersion('0.1.0', { increment: 'patch', metadata: ['revision'] }, facts)).toBe('0.1.1+82a5834');
    expect(computeVersion('0.1.0', { set: '2.0.0', metadata: [] }, facts)).toBe('2.0.0');
    expect(computeVersion('0.1.0', { set: '2.0.0', increment: 'minor', metadata: ['date', 'time'] }, facts)).toBe('2.1.0+20260105-070809');
  });
  it('branch-unless-master leaves master and main out', () => {
    expect(metadataValue('branch-unless-master', { ...facts, branch: 'master' })).toBeUndefined();
    expect(metadataValue('branch-unless-master', { ...facts, branch: 'main' })).toBeUndefined();
    expect(metadataValue('branch-unless-master', { ...facts, branch: 'dev' })).toBe('dev');
    expect(computeVersion('1.0.0', { metadata: ['branch-unless-master', 'revision'] }, { ...facts, branch: 'main' })).toBe('1.0.0+82a5834');
  });
  it('adds to existing build metadata with -', () => {
    expect(computeVersion('1.0.0+build', { metadata: ['mix-env'] }, facts)).toBe('1.0.0+build-prod');
  });
  it('sanitises branches and validates versions', () => {
    expect(sanitizeBranch('feat/ä x')).toBe('feat-x');
    expect(validateVersion('1.0.0+abc-def', 'v')).toBe('1.0.0+abc-def');
    expect(() => validateVersion('1.0; rm -rf /', '--set-version')).toThrow(/--set-version: invalid version/);
    expect(() => validateVersion('../1', '--set-version')).toThrow(UsageError);
  });
  it('finds the git revision in a version', () => {
    expect(revisionFromVersion('1.0.0+3027-82a5834-main')).toBe('82a5834');
    expect(revisionFromVersion('1.0.0+82a5834')).toBe('82a5834');
    expect(revisionFromVersion('1.0.0+20260105-070809')).toBeUndefined();
    expect(revisionFromVersion('1.0.0')).toBeUndefined();
    expect(revisionFromVersion('1.0.0+1234567')).toBe('1234567');
    expect(revisionFromVersion('1.0.0+3027')).toBeUndefined();
  });
});

describe('show releases rows', async () => {
  const { releaseRows, releaseCells } = await import('../../src/build/show-releases.js');
  const mk = (version: string, type: 'release' | 'upgrade' = 'release') => ({
    app: 'demo', version, type, file: `demo_${version}.${type}.tar.gz`, size: 5 * 1024 * 1024, modified: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 600)),
  });
  it('sorts versions numerically and shows the revision from the metadata', () => {
    const rows = releaseRows([mk('1.10.0'), mk('1.9.0'), mk('1.9.0+82a5834-main'), mk('0.2.0', 'upgrade'), mk('0.2.0')]);
    expect(rows.map((r) => `${r.version}/${r.type}`)).toEqual(['0.2.0/release', '0.2.0/upgrade', '1.9.0/release', '1.9.0+82a5834-main/release', '1.10.0/release']);
    expect(rows[3]?.revision).toBe('82a5834');
    expect(releaseCells(rows)[0]).toEqual(['demo', '0.2.0', '-', 'release', '5.0 MiB', '2026-01-02 03:04:05Z']);
  });
  it('lists builds that differ only in metadata in the order they were stored, as --version=latest picks', () => {
    const later = { ...mk('0.1.0+0a1b2c3'), modified: new Date(Date.UTC(2026, 0, 2, 4)) };
    const rows = releaseRows([later, mk('0.1.0+ffe1d2a')]);
    expect(rows.map((r) => r.version)).toEqual(['0.1.0+ffe1d2a', '0.1.0+0a1b2c3']);
  });
});

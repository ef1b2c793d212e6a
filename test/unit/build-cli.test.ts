import { describe, expect, it } from 'vitest';
import { versionRequest } from '../../src/build/options.js';
import { UsageError } from '../../src/output/errors.js';
import { stubSettings } from '../helpers/settings.js';
import { configOf } from '../../src/config/config.js';

const settings = (vars: Record<string, string>) => configOf(stubSettings(vars, { file: '/p/.deliver/config', line: 4 })).build;

describe('build release version options', () => {
  it('AUTO_VERSION from the config applies when --auto-version is not given', () => {
    expect(versionRequest({}, settings({ AUTO_VERSION: 'commit-count+git-revision' }))).toEqual({ metadata: ['commit-count', 'revision'] });
  });
  it('--auto-version replaces AUTO_VERSION; increment and set combine', () => {
    expect(versionRequest({ autoVersion: 'branch', incrementVersion: 'major', setVersion: '1.2.3' }, settings({ AUTO_VERSION: 'revision' }))).toEqual({
      metadata: ['branch'],
      increment: 'major',
      set: '1.2.3',
    });
  });
  it('a bad AUTO_VERSION names the config line', () => {
    expect(() => versionRequest({}, settings({ AUTO_VERSION: 'revision+minor' }))).toThrow(UsageError);
    expect(() => versionRequest({}, settings({ AUTO_VERSION: 'bogus' }))).toThrow(/AUTO_VERSION \(\.deliver\/config:4\): unknown auto-version item "bogus"/);
  });
});

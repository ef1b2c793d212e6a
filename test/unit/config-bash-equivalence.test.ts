// Property-style proof that the loader resolves every fixture exactly as `source .deliver/config` in bash does:
// for each fixture and several environments, both evaluators (native, when the file allows it, and the controlled
// bash subprocess) are compared with real bash on EVERY variable either side sets; and with protected (environment-
// overridden) names both evaluators agree with each other, including the line each value came from.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateWithBash } from '../../src/config/bash-eval.js';
import { evaluateNative } from '../../src/config/expand.js';
import { scanShell } from '../../src/config/shell-scan.js';
import { readFileSync } from 'node:fs';
import { sourceWithBash } from '../fixtures/configs/source-with-bash.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'configs');
const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.config')).sort();

const ENVS: Record<string, string>[] = [
  {},
  { DEPLOY_ENVIRONMENT: 'production', TARGET_MIX_ENV: 'prod' },
  { DEPLOY_ENVIRONMENT: 'staging', TARGET_MIX_ENV: 'dev', BUILD_USER: 'env-builder', EXTRA_HOST: 'prod3', STAGING_HOSTS: 'env-stage', APP: '' },
];

function baseEnv(extra: Record<string, string>): Record<string, string> {
  return { HOME: '/home/tester', PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra };
}

function values(vars: Map<string, { value: string }>): Record<string, string> {
  return Object.fromEntries([...vars].map(([k, v]) => [k, v.value]));
}

describe('every fixture resolves as bash resolves it', () => {
  it('has fixtures, some native and some needing bash', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
    const kinds = files.map((f) => scanShell(readFileSync(join(FIXTURES, f), 'utf8')).unsupported.length === 0);
    expect(kinds).toContain(true);
    expect(kinds).toContain(false);
  });

  for (const f of files) {
    ENVS.forEach((extra, i) => {
      it(`${f} in environment #${i}`, async () => {
        const file = join(FIXTURES, f);
        const env = baseEnv(extra);
        const truth = sourceWithBash(file, env);
        expect(truth.changed.size, "bash must set variables from the fixture").toBeGreaterThan(1);
        const compare = (got: Record<string, string>, label: string) => {
          for (const [k, v] of Object.entries(got)) expect(v, `${label}: ${k}`).toBe(truth.all.get(k));
          for (const k of truth.changed) expect(got[k], `${label} misses ${k}`).toBe(truth.all.get(k));
        };

        const viaBash = await evaluateWithBash({ file, displayName: f, cwd: FIXTURES, env, protect: new Set() });
        compare(values(viaBash.vars), 'bash mode');

        const scan = scanShell(readFileSync(file, 'utf8'));
        if (scan.unsupported.length === 0) compare(values(evaluateNative(scan.statements, env, new Set()).vars), 'native');
      });
    });
  }
});

describe('with environment overrides, native and bash evaluation agree', () => {
  const protect = new Set(['BUILD_USER', 'STAGING_HOSTS', 'DELIVER_TO']);
  const env = baseEnv({ BUILD_USER: 'env-builder', STAGING_HOSTS: 'env-stage', DELIVER_TO: '/env/deliver' });
  for (const f of files) {
    const scan = scanShell(readFileSync(join(FIXTURES, f), 'utf8'));
    if (scan.unsupported.length > 0) continue;
    it(f, async () => {
      const native = evaluateNative(scan.statements, env, protect);
      const bash = await evaluateWithBash({ file: join(FIXTURES, f), displayName: f, cwd: FIXTURES, env, protect });
      expect(values(bash.vars)).toEqual(values(native.vars));
      expect(Object.fromEntries(bash.shadowed)).toEqual(Object.fromEntries(native.shadowed));
      // Lines: bash's own LINENO for each assignment matches the native scan.
      expect(Object.fromEntries([...bash.vars].map(([k, v]) => [k, v.line]))).toEqual(Object.fromEntries([...native.vars].map(([k, v]) => [k, v.line])));
      for (const name of protect) expect(native.vars.has(name)).toBe(false);
    });
  }
});

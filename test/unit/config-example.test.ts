// .deliver.example and the `deliver init` template: they document every variable deliver reads, and they load.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/load.js';
import { configTemplate } from '../../src/config/template.js';
import { requirementsFor, validateSettings } from '../../src/config/validate.js';
import { VARIABLES } from '../../src/config/variables.js';

const REPO = resolve(import.meta.dirname, '..', '..');
const EXAMPLE = join(REPO, '.deliver.example');
const root = mkdtempSync(join(tmpdir(), 'deliver-example-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const ENV = { HOME: '/home/tester', PATH: process.env.PATH ?? '/usr/bin:/bin' };

describe('.deliver.example', () => {
  it('mentions every variable of the registry', () => {
    const text = readFileSync(EXAMPLE, 'utf8');
    const missing = Object.entries(VARIABLES)
      .filter(([name, info]) => info.group !== 'legacy' && !new RegExp(`\\b${name}\\b`).test(text))
      .map(([name]) => name);
    expect(missing).toEqual([]);
  });

  it('loads natively, with its hooks, and is a complete valid config', async () => {
    const dir = join(root, 'example');
    mkdirSync(join(dir, '.deliver'), { recursive: true });
    copyFileSync(EXAMPLE, join(dir, '.deliver', 'config'));
    const s = await loadSettings({ cwd: dir, env: ENV });
    expect(s.evaluation).toEqual({ mode: 'native' });
    expect([...s.hooks.keys()]).toEqual(['pre_erlang_get_and_update_deps', 'pre_erlang_clean_compile']);
    expect(validateSettings(s)).toEqual({ errors: [], warnings: [] });
    for (const [cmd, env] of [['build', undefined], ['deploy', 'staging'], ['deploy', 'production']] as const) {
      expect(requirementsFor(s, cmd, env).satisfied, `${cmd} ${env ?? ''}`).toBe(true);
    }
  });
});

describe('docs/CONFIG.md', () => {
  it('has a row for every variable with its registry description', () => {
    const rows = readFileSync(join(REPO, 'docs', 'CONFIG.md'), 'utf8').split('\n');
    const stale = Object.entries(VARIABLES)
      .filter(([name, info]) => !rows.some((r) => r.startsWith(`| \`${name}\` |`) && r.includes(info.description.replace(/\|/g, '\\|'))))
      .map(([name]) => name);
    expect(stale).toEqual([]);
  });
});

describe('deliver init template', () => {
  it('loads natively with APP set and everything else left for the user', async () => {
    const dir = join(root, 'init');
    mkdirSync(join(dir, '.deliver'), { recursive: true });
    writeFileSync(join(dir, '.deliver', 'config'), configTemplate('shop', 'mix'));
    const s = await loadSettings({ cwd: dir, env: ENV });
    expect(s.evaluation).toEqual({ mode: 'native' });
    expect(s.lookup('APP')).toMatchObject({ value: 'shop', source: 'config' });
    expect(s.all().filter((v) => v.source === 'config').map((v) => v.name)).toEqual(['APP']);
    expect(validateSettings(s).errors).toEqual([]);
    expect(requirementsFor(s, 'build').satisfied).toBe(false);
  });
});

// Commands and domain code receive the typed Config (src/config/config.ts), never the raw settings bag: only
// src/config (and `deliver check`, which is about the raw variables) may read variables by name.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const SRC = join(ROOT, 'src');
/** The folders that must not see the bag, and the one file allowed to. */
const GUARDED = ['deploy', 'build', 'upgrade', 'store', 'plan', 'ssh', 'cli', 'output'];
const ALLOWED = new Set(['src/cli/commands/check.ts']);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The config layer's functions that take the raw settings (`(settings: Settings…`), found in its sources. */
function bagReaders(): string[] {
  const names = files(join(SRC, 'config')).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/export function (\w+)(?:<[^>]*>)?\(settings\??: Settings\b/g)].map((m) => m[1]!));
  return [...new Set(names)].sort();
}

/** What a source file does with the bag: each hit names the construct. */
function violations(text: string, readers: readonly string[]): string[] {
  const hits: string[] = [];
  if (/\bsettings\.(get|lookup|all|where)\(/.test(text)) hits.push('reads settings.get/lookup/all/where');
  if (/\bloadSettings\b/.test(text)) hits.push('loads the settings itself (use loadConfig)');
  for (const m of text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'[./]*\/config\/[\w-]+\.js'/g)) {
    const names = m[1]!.split(',').map((n) => n.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!);
    for (const n of names) if (n === 'Settings' || readers.includes(n)) hits.push(`imports ${n} from src/config`);
  }
  return hits;
}

describe('the raw settings stay in src/config', () => {
  const readers = bagReaders();

  it('finds the functions that take the raw settings, and flags each way of reaching them', () => {
    expect(readers).toEqual(expect.arrayContaining(['deploySettings', 'resolveEnvironment', 'hostKeyPolicy', 'configOf', 's3Settings']));
    expect(violations("const v = settings.get('KEEP_RELEASES');", readers)).toHaveLength(1);
    expect(violations("import type { Settings } from '../config/types.js';", readers)).toEqual(['imports Settings from src/config']);
    expect(violations("import { type HookDef, Settings as S } from '../../config/types.js';", readers)).toEqual(['imports Settings from src/config']);
    expect(violations("import { deploySettings } from '../config/typed.js';", readers)).toEqual(['imports deploySettings from src/config']);
    expect(violations("import { loadSettings } from '../config/load.js';", readers)).toEqual(['loads the settings itself (use loadConfig)']);
    expect(violations("import type { Config, DeployConfig } from '../config/config.js';\nconst k = de.config.deploy.keepReleases;", readers)).toEqual([]);
  });

  it('no command or domain module reads them', () => {
    const found = GUARDED.flatMap((d) => files(join(SRC, d)))
      .map((f) => relative(ROOT, f))
      .filter((f) => !ALLOWED.has(f))
      .flatMap((f) => violations(readFileSync(join(ROOT, f), 'utf8'), readers).map((v) => `${f}: ${v}`));
    expect(found).toEqual([]);
  });
});

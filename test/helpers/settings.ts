// A Settings as the loader would give it, from plain variables (every one set in `file` at line `line`).
import type { HookDef, Settings } from '../../src/config/types.js';

export function stubSettings(vars: Record<string, string>, o: { hooks?: Map<string, HookDef>; file?: string; line?: number } = {}): Settings {
  const file = o.file ?? '.deliver/config';
  const line = o.line ?? 1;
  return {
    file,
    projectDir: '/p',
    get: (n) => vars[n],
    lookup: (n) => (vars[n] === undefined ? undefined : { name: n, value: vars[n]!, source: 'config', location: { file, line } }),
    all: () => Object.entries(vars).map(([name, value]) => ({ name, value, source: 'config' as const })),
    hooks: o.hooks ?? new Map(),
    where: (n) => (vars[n] === undefined ? 'unset' : `.deliver/config:${line}`),
  };
}

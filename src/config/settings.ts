// The Settings object every command reads: resolved variables with their source, the hooks, and warnings.
import { relative } from 'node:path';
import type { ConfigVar, ConfigWarning, HookDef, Location, Settings } from './types.js';
import { VARIABLES } from './variables.js';

export class LoadedSettings implements Settings {
  readonly hooks: ReadonlyMap<string, HookDef>;

  constructor(
    readonly file: string,
    readonly projectDir: string,
    private readonly vars: ReadonlyMap<string, ConfigVar>,
    hooks: ReadonlyMap<string, HookDef>,
    readonly warnings: readonly ConfigWarning[],
    readonly evaluation: { mode: 'native' | 'bash' | 'none'; reason?: string; location?: Location },
    /** The effective environment (process env + .env), for names no other source set. */
    private readonly env: Readonly<Record<string, string | undefined>>,
  ) {
    this.hooks = hooks;
  }

  get(name: string): string | undefined {
    return this.lookup(name)?.value;
  }

  lookup(name: string): ConfigVar | undefined {
    const v = this.vars.get(name);
    if (v) return v;
    const e = this.env[name];
    return e === undefined ? undefined : { name, value: e, source: 'env' };
  }

  all(): ConfigVar[] {
    return [...this.vars.values()];
  }

  where(name: string): string {
    const v = this.lookup(name);
    if (!v) return 'not set';
    return describeSource(v, this.projectDir);
  }
}

/** `.deliver/config:12`, `environment`, `--mix-env`, `default`: the human name of where a value came from. */
export function describeSource(v: ConfigVar, projectDir: string): string {
  switch (v.source) {
    case 'config':
    case 'dotenv':
      return v.location ? formatLocation(v.location, projectDir) : v.source === 'dotenv' ? '.env' : 'config file';
    case 'env':
      return 'environment';
    case 'flag':
      return VARIABLES[v.name]?.flag ?? 'command line';
    case 'default':
      return 'default';
  }
}

/** The path relative to `base` when it is inside it, else as given. */
export function displayPath(file: string, base: string): string {
  const rel = relative(base, file);
  return rel !== '' && !rel.startsWith('..') ? rel : file;
}

/** `file:line` with the file relative to the project when it is inside it. */
export function formatLocation(loc: Location, projectDir: string): string {
  const file = displayPath(loc.file, projectDir);
  return loc.line > 0 ? `${file}:${loc.line}` : file;
}

/** The config file as messages name it (`.deliver/config`). */
export function configFileName(settings: Settings): string {
  return displayPath(settings.file, settings.projectDir);
}

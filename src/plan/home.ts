// A `~/…` directory (DELIVER_TO, a node path, BUILD_AT) is the login user's home on that host, asked by one
// read-only query before anything else (a dry run asks too and prints the expanded path): paths are quoted
// everywhere, so a `~` left in would name a directory called `~`. An absolute directory needs no query.
import { RemoteError } from '../output/errors.js';
import { raw, type Shell } from '../ssh/quote.js';
import type { Backend } from '../ssh/types.js';
import { runStep } from './execute.js';
import { StepList, type Step } from './plan.js';

/** The login user's home directory. */
export function homeCommand(): Shell {
  return raw(`printf '%s\\n' "$HOME"`);
}

export interface ExpandedDir {
  /** Absolute, without a trailing slash. */
  dir: string;
  /** The home query when the directory was `~/…` (empty otherwise): the first step of the host's plan. */
  steps: Step[];
  facts: string[];
}

export async function expandHome(backend: Backend, dir: string, signal?: AbortSignal): Promise<ExpandedDir> {
  if (!dir.startsWith('~/')) return { dir: trimSlash(dir), steps: [], facts: [] };
  const steps = new StepList().add('home', `ask for the login user's home directory (${dir} is under it)`, homeCommand(), { query: true }).steps;
  const r = await runStep(backend, steps[0]!, signal ? { signal } : {});
  const home = r.code === 0 ? r.stdout.trim().split('\n').pop()?.trim() : undefined;
  if (!home || !home.startsWith('/')) {
    throw new RemoteError(backend.target.name, `cannot expand ${dir}: the login user's $HOME is ${home ? JSON.stringify(home) : 'not set'}`, { step: 'home' });
  }
  const expanded = `${trimSlash(home)}/${trimSlash(dir.slice(2))}`;
  return { dir: expanded, steps, facts: [`${dir} is ${expanded} on this host`] };
}

function trimSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

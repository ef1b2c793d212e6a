// Where one host keeps the app: its node path (`user@host:/path`), else DELIVER_TO. A `~/…` directory is the login
// user's home on that host, asked by one read-only query before anything else (a dry run asks too and prints the
// expanded path): paths are quoted everywhere, so a `~` left in would name a directory called `~`. An absolute
// directory needs no query, so a plain deploy there stays one SSH session per host.
import { RemoteError } from '../output/errors.js';
import { runStep } from '../plan/execute.js';
import { appendSteps, StepList, type HostPlan, type Step } from '../plan/plan.js';
import type { Backend } from '../ssh/types.js';
import { homeCommand } from './commands.js';
import { layoutFor, type Layout } from './layout.js';

export interface HostDir {
  layout: Layout;
  /** The home query when the directory was `~/…` (empty otherwise): the first step of the host's plan. */
  steps: Step[];
  facts: string[];
}

export async function hostDir(backend: Backend, deliverTo: string, app: string, path?: string, signal?: AbortSignal): Promise<HostDir> {
  const dir = path ?? deliverTo;
  if (!dir.startsWith('~/')) return { layout: layoutFor(dir, app), steps: [], facts: [] };
  const steps = new StepList().add('home', `ask for the login user's home directory (${dir} is under it)`, homeCommand(), { query: true }).steps;
  const r = await runStep(backend, steps[0]!, signal ? { signal } : {});
  const home = r.code === 0 ? r.stdout.trim().split('\n').pop()?.trim() : undefined;
  if (!home || !home.startsWith('/')) {
    throw new RemoteError(backend.target.name, `cannot expand ${dir}: the login user's $HOME is ${home ? JSON.stringify(home) : 'not set'}`, { step: 'home' });
  }
  const expanded = `${home}/${dir.slice(2)}`;
  return { layout: layoutFor(expanded, app), steps, facts: [`${dir} is ${expanded} on this host`] };
}

export async function hostLayout(backend: Backend, deliverTo: string, app: string, path?: string, signal?: AbortSignal): Promise<Layout> {
  return (await hostDir(backend, deliverTo, app, path, signal)).layout;
}

/** A host's plan with the home query (and what it found) in front, as a dry run prints it. */
export function withDir(dir: HostDir, plan: HostPlan): HostPlan {
  return { ...plan, steps: appendSteps(dir.steps, plan.steps), facts: [...dir.facts, ...plan.facts] };
}

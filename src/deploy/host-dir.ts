// Where one host keeps the app: its node path (`user@host:/path`), else DELIVER_TO, with a `~/…` directory expanded
// by one read-only query (src/plan/home.ts). An absolute directory needs no query, so a plain deploy there stays one
// SSH session per host.
import { expandHome } from '../plan/home.js';
import { appendSteps, type HostPlan, type Step } from '../plan/plan.js';
import type { Backend } from '../ssh/types.js';
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
  const e = await expandHome(backend, dir, signal);
  return { layout: layoutFor(e.dir, app), steps: e.steps, facts: e.facts };
}
export async function hostLayout(backend: Backend, deliverTo: string, app: string, path?: string, signal?: AbortSignal): Promise<Layout> {
  return (await hostDir(backend, deliverTo, app, path, signal)).layout;
}

/** A host's plan with the home query (and what it found) in front, as a dry run prints it. */
export function withDir(dir: HostDir, plan: HostPlan): HostPlan {
  return { ...plan, steps: appendSteps(dir.steps, plan.steps), facts: [...dir.facts, ...plan.facts] };
}

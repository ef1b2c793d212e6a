// A dry run's output: the plan, per host numbered steps with what each does (SSHKit's formatter receives
// commands; command code never prints). --verbose adds each script, one statement per line; --json the plan as data.
import { describeInput, planJson, type HostPlan, type RunPlan, type Step } from '../plan/plan.js';
import { statementLines } from '../ssh/quote.js';
import type { Output } from './output.js';

export function printPlan(out: Output, plan: RunPlan): void {
  if (out.json) {
    out.result(planJson(plan));
    return;
  }
  out.info(out.c.bold(`Dry run: ${plan.title}`));
  for (const f of plan.facts) out.info(`  ${f}`);
  for (const h of plan.hosts) printHost(out, h);
  out.info('');
  out.info('Dry run: nothing was changed on any host.');
}

function printHost(out: Output, h: HostPlan): void {
  out.info('');
  out.info(out.c.bold(h.host));
  for (const f of h.facts) out.info(out.c.dim(`  ${f}`));
  if (h.steps.length === 0) out.info('  nothing to do');
  h.steps.forEach((s, i) => {
    const last = h.steps.findLastIndex((x) => x.session === s.session);
    if (last > i && (i === 0 || h.steps[i - 1]!.session !== s.session)) out.info(out.c.dim(`  steps ${i + 1}-${last + 1} run in one remote shell:`));
    out.info(`  ${String(i + 1).padStart(2)}. ${out.c.bold(s.name)}: ${s.does}`);
    for (const note of notes(h.steps, i)) out.info(out.c.dim(`      ${note}`));
    if (out.verbose && s.script.text !== '') for (const line of statementLines(s.script)) out.info(`      ${out.c.cyan(line)}`);
  });
}

function notes(steps: readonly Step[], i: number): string[] {
  const s = steps[i]!;
  return [
    ...(s.input.kind !== 'none' ? [`stdin: ${describeInput(s.input)}`] : []),
    ...(s.poll && s.poll.timeoutMs > 0 ? [`repeated until it exits 0, up to ${Math.round(s.poll.timeoutMs / 1000)}s`] : []),
    ...(s.query ? ['read-only: it ran during this dry run'] : []),
    ...(s.local ? ['runs on this machine'] : []),
    ...(s.agentForward ? ['the local ssh-agent is forwarded'] : []),
    ...(s.bestEffort ? ['a failure here does not fail the command'] : []),
    ...(s.answer ? ['its output and exit status are the command\'s result'] : []),
  ];
}

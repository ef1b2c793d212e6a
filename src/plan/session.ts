// Several steps in one remote shell: the first step's command pauses (ssh/continuation.ts) and the others follow as
// one script on its stdin, each announced on stdout by a step mark (the live status line, and which step failed),
// the whole ended by a done mark (a zero exit status without it means the script stopped early).
import { and, raw, sh, type Shell } from '../ssh/quote.js';
import type { Step } from './plan.js';

export const STEP_MARK = '[deliver-step]';
export const DONE_MARK = '[deliver-done]';

export function stepMarkCommand(step: string): Shell {
  return sh`echo ${`${STEP_MARK} ${step}`}`;
}

/** The step a stdout line announces, if it is a step mark. */
export function stepOfLine(line: string): string | undefined {
  return line.startsWith(`${STEP_MARK} `) ? line.slice(STEP_MARK.length + 1) : undefined;
}

/**
 * The script sent after a session's first step: the others in order, each after its mark (the first stops the rest).
 * Joined from the steps' texts alone (what `--json` gives), so a plan read back joins to the very script a real run
 * sends: `and` may group a part by how it was built (a loop or a `{ …; }` needs no second braces).
 */
export function continuationScript(steps: readonly Step[]): Shell {
  return and(...steps.flatMap((s) => [stepMarkCommand(s.name), raw(s.script.text)]), sh`echo ${DONE_MARK}`);
}

/**
 * What a host receives, one entry per remote command or continuation script, in order: each session's first
 * step, then (when the session has more) their continuation. A real run sends exactly these (polls once each).
 */
export function sentScripts(steps: readonly Step[]): string[] {
  const out: string[] = [];
  for (const s of sessionsOf(steps)) {
    out.push(s[0]!.script.text);
    if (s.length > 1) out.push(continuationScript(s.slice(1)).text);
  }
  return out;
}

function sessionsOf(steps: readonly Step[]): Step[][] {
  const out: Step[][] = [];
  for (const s of steps) {
    const last = out[out.length - 1];
    if (last && last[0]!.session === s.session) last.push(s);
    else out.push([s]);
  }
  return out;
}

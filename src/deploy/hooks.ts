// Deploy hooks from the config (`pre_extract_release_archive() { ... }` etc.) run on each deploy host with bash.
// Inside a hook `__remote "script"` runs the script on that same host, in the release root; `status` and `error`
// behave as in edeliver. A failing hook fails that host's deploy (edeliver ignored hook exit codes, hiding errors).
import type { HookDef } from '../config/types.js';
import { envPrefix, sh, type Shell } from '../ssh/quote.js';

export const DEPLOY_HOOKS = [
  'pre_extract_release_archive',
  'post_extract_release_archive',
  'pre_start_deployed_release',
  'post_start_deployed_release',
  'pre_upgrade_release',
  'post_upgrade_release',
] as const;
export type DeployHookName = (typeof DEPLOY_HOOKS)[number];

const PRELUDE = [
  'set -e',
  '__remote() { ( if [ -n "${RELEASE_DIR:-}" ] && [ -d "$RELEASE_DIR" ]; then cd "$RELEASE_DIR"; fi; eval "$1" ); }',
  '__sync_remote() { __remote "$@"; }',
  'status() { echo "-----> $*"; }',
  'error() { echo "$*" >&2; exit 1; }',
  'warning() { echo "warning: $*" >&2; }',
].join('\n');

/** The command running hook `name` on a host, or undefined when the config does not define it. */
export function hookCommand(hooks: ReadonlyMap<string, HookDef>, name: DeployHookName, vars: Record<string, string | undefined>): Shell | undefined {
  const hook = hooks.get(name);
  if (!hook) return undefined;
  const script = `${PRELUDE}\n${hook.source}\n${name}`;
  return sh`${envPrefix(vars)} bash -c ${script}`;
}

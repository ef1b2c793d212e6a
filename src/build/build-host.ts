// The build host as an SSH target: BUILD_HOST (exactly one `[user@]host[:port]`) with BUILD_USER, resolved and
// validated by the config layer (errors name the variable's file:line).
import { resolveBuildHost } from '../config/resolve.js';
import type { Settings } from '../config/types.js';
import type { HostTarget } from '../ssh/types.js';

export function buildHostTarget(settings: Settings): HostTarget {
  return resolveBuildHost(settings).target;
}

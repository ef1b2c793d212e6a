// The one place a command gets its SSH transport: host key policy (flag > HOST_KEY_CHECKING > ~/.ssh/config),
// connect timeout (SSH_TIMEOUT seconds), and the command's output. A dry run gets the same transport: it runs the read-only queries its plan depends on.
import { hostKeyPolicy } from '../config/resolve.js';
import type { Settings } from '../config/types.js';
import { createTransport } from '../ssh/index.js';
import type { Transport } from '../ssh/types.js';
import type { CommonOptions, Context } from './common.js';

export function connectTimeoutMs(settings: Settings): number {
  const s = Number(settings.get('SSH_TIMEOUT') ?? '10');
  return Number.isFinite(s) && s > 0 ? s * 1000 : 10_000;
}

export function transportFor(ctx: Context, settings: Settings, flags: CommonOptions): Transport {
  return createTransport({
    hostKeyPolicy: hostKeyPolicy(settings, flags.hostKeyChecking),
    connectTimeoutMs: connectTimeoutMs(settings),
    out: ctx.out,
  });
}

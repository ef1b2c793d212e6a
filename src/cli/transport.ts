// The one place a command gets its SSH transport: host key policy (flag > HOST_KEY_CHECKING > ~/.ssh/config),
// connect timeout (SSH_TIMEOUT seconds), and the command's output. A dry run gets the same transport: it runs the read-only queries its plan depends on.
import { hostKeyPolicy } from '../config/resolve.js';
import { sshSettings } from '../config/typed.js';
import type { Settings } from '../config/types.js';
import { createTransport } from '../ssh/index.js';
import type { Transport } from '../ssh/types.js';
import type { CommonOptions, Context } from './common.js';

export function transportFor(ctx: Context, settings: Settings, flags: CommonOptions): Transport {
  return createTransport({
    hostKeyPolicy: hostKeyPolicy(settings, flags.hostKeyChecking),
    connectTimeoutMs: sshSettings(settings).connectTimeoutMs,
    out: ctx.out,
  });
}

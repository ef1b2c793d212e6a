// The one place a command gets its SSH transport: host key policy (flag > HOST_KEY_CHECKING > ~/.ssh/config),
// connect timeout (SSH_TIMEOUT seconds), and the command's output. A dry run gets the same transport: it runs the read-only queries its plan depends on.
import type { Config } from '../config/config.js';
import { createTransport } from '../ssh/index.js';
import type { Transport } from '../ssh/types.js';
import type { CommonOptions, Context } from './common.js';

export function transportFor(ctx: Context, config: Config, flags: CommonOptions): Transport {
  return createTransport({
    hostKeyPolicy: config.hostKeyPolicy(flags.hostKeyChecking),
    connectTimeoutMs: config.ssh.connectTimeoutMs,
    out: ctx.out,
  });
}

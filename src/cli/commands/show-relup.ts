// `deliver show relup VSN`: the instructions of an upgrade in the store, one readable line each.
import type { Command } from 'commander';
import { loadConfig } from '../../config/config.js';
import { validateVersion } from '../../build/version.js';
import { openConfiguredStore } from '../../store/index.js';
import { describeRelup } from '../../upgrade/relup.js';
import { readStoredRelup } from '../../upgrade/stored-relup.js';
import { transportFor } from '../transport.js';
import { action, withCommonOptions, type CommonOptions } from '../common.js';

export function registerShowRelup(program: Command): void {
  const show = program.commands.find((c) => c.name() === 'show') ?? program.command('show').description('show releases and other information');
  withCommonOptions(
    show.command('relup').argument('<version>', 'the version the upgrade goes to').description('print the instructions of the upgrade to VERSION in the release store'),
  ).action(
    action(async (ctx, version: string, flags: CommonOptions) => {
      validateVersion(version, 'show relup');
      const config = await loadConfig({ cwd: ctx.cwd, ...(flags.config !== undefined ? { configFile: flags.config } : {}) });
      const app = config.app;
      const transport = transportFor(ctx, config, flags);
      try {
        const store = openConfiguredStore(config, { cwd: ctx.cwd, transport });
        const relup = await readStoredRelup(store, app, version, ctx.signal);
        ctx.out.result({ app, store: store.description, ...relup });
        for (const line of describeRelup(relup)) ctx.out.info(line);
      } finally {
        await transport.closeAll();
      }
    }),
  );
}

// `deliver show releases`: the releases of APP in the release store, sorted by version.
import type { Command } from 'commander';
import { loadConfig } from '../../config/config.js';
import { RELEASE_HEADERS, releaseCells, releaseRows } from '../../build/show-releases.js';
import { transportFor } from '../transport.js';
import { openConfiguredStore } from '../../store/index.js';
import { readStoredRelup } from '../../upgrade/stored-relup.js';
import { action, withCommonOptions, type CommonOptions } from '../common.js';

/** `show` may get more subcommands from other modules: reuse the group if it exists. */
export function showGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === 'show') ?? program.command('show').description('show releases and other information');
}

export function registerShow(program: Command): void {
  withCommonOptions(
    showGroup(program)
      .command('releases')
      .alias('release')
      .description('list the releases of APP in the release store (oldest version first)'),
  ).action(
    action(async (ctx, flags: CommonOptions) => {
      const config = await loadConfig({ cwd: ctx.cwd, ...(flags.config !== undefined ? { configFile: flags.config } : {}) });
      const app = config.app;
      const transport = transportFor(ctx, config, flags);
      try {
        const store = openConfiguredStore(config, { cwd: ctx.cwd, transport });
        const rows = releaseRows(await store.list(app));
        for (const row of rows) {
          if (row.type !== 'upgrade') continue;
          // The versions an upgrade goes from are in its relup; an unreadable one is shown as a plain upgrade.
          const relup = await readStoredRelup(store, row.app, row.version, ctx.signal).catch(() => undefined);
          if (relup) row.from = relup.up.map((s) => s.version);
        }
        ctx.out.result({ app, store: store.description, releases: rows });
        if (rows.length === 0) {
          ctx.out.info(`no releases of ${app} in ${store.description} (build one with \`deliver build release\`)`);
          return;
        }
        ctx.out.table(RELEASE_HEADERS, releaseCells(rows));
      } finally {
        await transport.closeAll();
      }
    }),
  );
}

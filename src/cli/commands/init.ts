// `deliver init`: writes a commented `.deliver/config` for the project in the current directory (app name from
// mix.exs or rebar.config); never overwrites an existing one without --force.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { detectApp } from '../../config/defaults.js';
import { configTemplate } from '../../config/template.js';
import { UsageError } from '../../output/errors.js';
import { action, withCommonOptions, type CommonOptions } from '../common.js';

interface InitFlags extends CommonOptions {
  force?: boolean;
  app?: string;
}

export function registerInit(program: Command): void {
  withCommonOptions(
    program
      .command('init')
      .description('write a commented .deliver/config for the project in the current directory')
      .option('-F, --force', 'overwrite an existing .deliver/config')
      .option('--app <name>', 'release name (default: from mix.exs or rebar.config)'),
  ).action(
    action(async (ctx, flags: InitFlags) => {
      const project = detectApp(ctx.cwd);
      if (project.tool === undefined) {
        throw new UsageError(`no mix.exs or rebar.config in ${ctx.cwd}`, { hint: 'run `deliver init` in the root of your Elixir or Erlang project' });
      }
      if (flags.app !== undefined && !/^[A-Za-z_][A-Za-z0-9_-]*$/.test(flags.app)) {
        throw new UsageError(`--app ${JSON.stringify(flags.app)}: expected a release name (letters, digits, _ and -)`);
      }
      const app = flags.app ?? project.app;
      const file = resolve(ctx.cwd, flags.config ?? '.deliver/config');
      if (existsSync(file) && !flags.force) {
        throw new UsageError(`${flags.config ?? '.deliver/config'} already exists; not overwriting it`, { hint: 'use --force to replace it' });
      }
      await mkdir(join(file, '..'), { recursive: true });
      await writeFile(file, configTemplate(app, project.tool), { mode: 0o644 });
      ctx.out.result({ file, app, tool: project.tool, appFrom: flags.app !== undefined ? '--app' : project.appFrom });
      ctx.out.step(`wrote ${flags.config ?? '.deliver/config'} for ${app} (${project.tool}, app name from ${flags.app !== undefined ? '--app' : project.appFrom})`);
      ctx.out.info('next: set BUILD_HOST/BUILD_USER/BUILD_AT and your hosts in it, keep secrets in .deliver/.env (git-ignored), then run `deliver check`');
    }),
  );
}

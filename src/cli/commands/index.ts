// Every command module registers itself here; one line per command file.
import type { Command } from 'commander';
import { registerBuild } from './build.js';
import { registerShow } from './show.js';

export function registerCommands(program: Command): void {
  void program;
  registerBuild(program);
  registerShow(program);
}

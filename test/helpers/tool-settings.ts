// ToolSettings of a stock mix project and a stock rebar3 release, for the command-line tests.
import type { ToolSettings } from '../../src/build/commands.js';
import { detectProject } from '../../src/build/project.js';

export const mixTools: ToolSettings = {
  kind: detectProject(new Set(['mix.exs'])),
  app: 'demo',
  mixEnv: 'prod',
  rebarProfile: 'prod',
  skipMixClean: false,
  verbose: false,
  localRebar3: false,
  localRelx: false,
};
export const rebarTools: ToolSettings = { ...mixTools, kind: detectProject(new Set(['rebar.config'])), app: 'demorel' };

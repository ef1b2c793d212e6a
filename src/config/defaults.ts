// Defaults applied after the config file, the environment and the flags. APP is detected from the project.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/** Values used when nothing else sets the variable (see docs/CONFIG.md). */
export const DEFAULTS: Readonly<Record<string, string>> = {
  TARGET_MIX_ENV: 'prod',
  RELEASE_STORE: '.deliver/releases',
  KEEP_RELEASES: '5',
  GIT_CLEAN_PATHS: '.',
  SSH_TIMEOUT: '10',
  HOST_KEY_CHECKING: 'strict',
};

/** Defaults visible while the file is evaluated (edeliver sets TARGET_MIX_ENV before sourcing the config). */
export const PRESET_FOR_EVALUATION = ['TARGET_MIX_ENV'] as const;

export type BuildTool = 'mix' | 'rebar3';

export interface DetectedApp {
  tool?: BuildTool;
  app: string;
  /** Where the app name came from, for `deliver check`. */
  appFrom: string;
}

/** The app name (and build tool) of the working tree, for the config defaults and `init`: `app: :name` in mix.exs, the relx release in rebar.config, else the project directory's name. */
export function detectApp(projectDir: string): DetectedApp {
  const mix = join(projectDir, 'mix.exs');
  if (existsSync(mix)) {
    const m = /\bapp:\s*:"?([A-Za-z_][A-Za-z0-9_]*)"?/.exec(readFileSync(mix, 'utf8'));
    if (m) return { tool: 'mix', app: m[1]!, appFrom: 'mix.exs' };
    return { tool: 'mix', app: basename(projectDir), appFrom: 'project directory name' };
  }
  const rebar = join(projectDir, 'rebar.config');
  if (existsSync(rebar)) {
    const text = readFileSync(rebar, 'utf8').replace(/%.*$/gm, '');
    const m = /\{\s*release\s*,\s*\{\s*'?([A-Za-z_][A-Za-z0-9_]*)'?\s*,/.exec(text);
    if (m) return { tool: 'rebar3', app: m[1]!, appFrom: 'rebar.config' };
    return { tool: 'rebar3', app: basename(projectDir), appFrom: 'project directory name' };
  }
  return { app: basename(projectDir), appFrom: 'project directory name' };
}

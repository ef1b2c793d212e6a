// Loads `.deliver/config` (edeliver's bash config, unchanged) into Settings.
//
// How the file is evaluated (docs/CONFIG.md, "How the config file is read"):
// - Natively when it stays in the common subset: assignments (`A=x`, `A="x"`, `A='x'`, `A=$'x'`, `A+=x`, adjacent
//   concatenation, line continuations), `export`, expansions `$V ${V} ${V:-x} ${V-x} ${V:=x} ${V=x} ${V:+x} ${V+x}
//   ${V:?x} ${#V}` (nested words too), `~` at the start and after `:`, comments, a shebang, and function definitions
//   (`name() { ... }`, `function name { ... }`), which are captured verbatim as hooks and never run.
// - With the system bash otherwise (`$(...)`, backticks, `if`/`case`/loops/`[[`, commands, `source`, arrays, ...):
//   see bash-eval.ts for how that subprocess is controlled. Results and line numbers come from bash itself, so
//   values are what `source .deliver/config` gives, never a guess. Anything bash reports as an error, and a
//   top-level `exit`, is a ConfigError naming file:line.
// - A native lexer error is confirmed with `bash -n` first: bash has the last word on what is valid.
//
// Precedence: command-line flag > environment > .deliver/.env > config file > default. The environment (and .env,
// and flags) override the file for deliver's variables (src/config/variables.ts, incl. <ENV>_HOSTS/_USER/_NODES) when
// non-empty; those names keep their overriding value while the file is evaluated, so `DELIVER_TO=$BUILD_AT/x` in the
// file sees BUILD_AT from the environment. Other names (PATH, your own helper variables) behave exactly as in bash.
// `${X:-default}` in the file sees the environment's X, as in bash.
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../output/errors.js';
import { addSecret, isSecretName } from '../output/redact.js';
import { storeSecret } from '../store/spec.js';
import { bashSyntaxCheck, evaluateWithBash } from './bash-eval.js';
import { DEFAULTS, detectApp, PRESET_FOR_EVALUATION } from './defaults.js';
import { readDotenv } from './dotenv.js';
import { evaluateNative, NeedsBash, ParamError } from './expand.js';
import { displayPath, LoadedSettings } from './settings.js';
import { ShellSyntaxError } from './shell-lexer.js';
import { ScanError, scanShell, type FunctionDef, type Scan } from './shell-scan.js';
import { readConfigText } from './text-file.js';
import type { ConfigVar, ConfigWarning, HookDef, Location, Settings } from './types.js';
import { isKnownVariable } from './variables.js';

export interface LoadOptions {
  /** The directory deliver runs in (the project). */
  cwd: string;
  /** `--config`; default: $APP_CONFIG, then `.deliver/config` (relative to cwd). */
  configFile?: string;
  /** Values from command-line flags, keyed by variable name (`{ BRANCH: opts.branch }`); undefined entries are ignored. */
  flags?: Record<string, string | undefined>;
  /** Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** The environment this run targets: sets DEPLOY_ENVIRONMENT and NODE_ENVIRONMENT (visible to the file). */
  deployEnvironment?: string;
  /** `--mix-env`: sets TARGET_MIX_ENV. */
  mixEnv?: string;
  /** Limit for the bash evaluation (default 15 s). */
  bashTimeoutMs?: number;
}

interface Evaluated {
  vars: Map<string, { value: string; line?: number }>;
  shadowed: Map<string, number>;
  hooks: Map<string, HookDef>;
  warnings: ConfigWarning[];
  evaluation: { mode: 'native' | 'bash'; reason?: string; location?: Location };
}

export async function loadSettings(opts: LoadOptions): Promise<Settings> {
  const env = opts.env ?? process.env;
  const cwd = resolve(opts.cwd);
  const explicit = opts.configFile ?? (env.APP_CONFIG ? env.APP_CONFIG : undefined);
  const file = resolve(cwd, explicit ?? '.deliver/config');
  const configDir = dirname(file);
  const projectDir = basename(configDir) === '.deliver' ? dirname(configDir) : cwd;
  const display = displayPath(file, cwd);
  if (explicit !== undefined && !existsSync(file)) throw new ConfigError(display, undefined, 'config file not found');

  // Sources other than the file, lowest first: .env, environment, flags.
  const effective: Record<string, string | undefined> = { ...env };
  const outside = new Map<string, ConfigVar>();
  const dotenvPath = join(configDir, '.env');
  const dotenv = readDotenv(dotenvPath, displayPath(dotenvPath, cwd));
  for (const [name, dv] of dotenv ?? []) {
    if (env[name] !== undefined && env[name] !== '') continue; // .env never overrides the real environment
    effective[name] = dv.value;
    outside.set(name, { name, value: dv.value, source: 'dotenv', location: { file: dotenvPath, line: dv.line } });
  }
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value !== '' && isKnownVariable(name) && !outside.has(name)) outside.set(name, { name, value, source: 'env' });
  }
  const flags: Record<string, string | undefined> = { ...opts.flags };
  if (opts.deployEnvironment !== undefined) {
    flags.DEPLOY_ENVIRONMENT = opts.deployEnvironment;
    flags.NODE_ENVIRONMENT = opts.deployEnvironment;
  }
  if (opts.mixEnv !== undefined) flags.TARGET_MIX_ENV = opts.mixEnv;
  for (const [name, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`loadSettings: invalid flag variable name ${JSON.stringify(name)}`);
    effective[name] = value;
    outside.set(name, { name, value, source: 'flag' });
  }
  // The environment's runtime env file (`.deliver/<env>.env`, sent to its hosts): its cookie and other secrets are
  // masked too, should a node's output or an error ever quote them.
  if (opts.deployEnvironment !== undefined && /^[a-z][a-z0-9_]*$/.test(opts.deployEnvironment)) {
    const runtimeEnv = join(configDir, `${opts.deployEnvironment}.env`);
    readDotenv(runtimeEnv, displayPath(runtimeEnv, cwd));
  }
  // Every secret-named value the file may expand (`HEALTH_CHECK="curl -H 'X-Token: $API_TOKEN' …"`), wherever it is set.
  for (const [name, value] of Object.entries(effective)) if (isSecretName(name)) addSecret(value);
  const protect = new Set(outside.keys());

  const evalEnv = { ...effective };
  for (const name of PRESET_FOR_EVALUATION) if (evalEnv[name] === undefined || evalEnv[name] === '') evalEnv[name] = DEFAULTS[name];

  let evaluated: Evaluated | undefined;
  let warnings: ConfigWarning[] = [];
  if (existsSync(file)) {
    evaluated = await evaluateFile(file, display, projectDir, evalEnv, protect, opts.bashTimeoutMs);
    warnings = evaluated.warnings; // not push(...): one argument per warning overflows the stack for huge configs
  } else {
    warnings.push({ message: `no config file at ${display}: using the environment and defaults only (create one with \`deliver init\`)` });
  }

  // Variables the file sets, in file order; those a flag, the environment or .env override keep their place.
  const fromFile: { name: string; line: number; v: ConfigVar }[] = [];
  for (const [name, v] of evaluated?.vars ?? []) {
    if (protect.has(name)) continue;
    fromFile.push({ name, line: v.line ?? Infinity, v: { name, value: v.value, source: 'config', ...(v.line !== undefined ? { location: { file, line: v.line } } : {}) } });
    if (isSecretName(name)) addSecret(v.value);
  }
  for (const [name, line] of evaluated?.shadowed ?? []) fromFile.push({ name, line, v: { ...outside.get(name)!, shadows: { file, line } } });
  fromFile.sort((a, b) => a.line - b.line);
  const vars = new Map<string, ConfigVar>(fromFile.map((e) => [e.name, e.v]));
  for (const [name, v] of outside) if (!vars.has(name)) vars.set(name, v);
  const unsetOrEmpty = (name: string) => {
    const v = vars.get(name);
    return v === undefined || v.value === '';
  };
  for (const [name, value] of Object.entries(DEFAULTS)) {
    if (!vars.has(name)) vars.set(name, { name, value, source: 'default' });
  }
  if (unsetOrEmpty('APP')) {
    const project = detectApp(projectDir);
    vars.set('APP', { name: 'APP', value: project.app, source: 'default' });
  }
  // `s3://KEY@SECRET:bucket` (edeliver's store URL) carries a secret: never print it, however it is spelled.
  addSecret(storeSecret(vars.get('RELEASE_STORE')?.value ?? ''));

  return new LoadedSettings(file, projectDir, vars, evaluated?.hooks ?? new Map(), warnings, evaluated?.evaluation ?? { mode: 'none' }, effective);
}

async function evaluateFile(
  file: string,
  display: string,
  projectDir: string,
  env: Record<string, string | undefined>,
  protect: ReadonlySet<string>,
  timeoutMs: number | undefined,
): Promise<Evaluated> {
  const text = readConfigText(file, display);
  const crlf: ConfigWarning[] = text.includes('\r\n')
    ? [{ message: 'the file has Windows (CRLF) line endings: bash keeps the \\r at the end of each value; convert it with dos2unix', location: { file, line: text.slice(0, text.indexOf('\r\n')).split('\n').length } }]
    : [];
  let scan: Scan | undefined;
  let reason: { construct: string; line?: number } | undefined;
  try {
    scan = scanShell(text);
  } catch (err) {
    if (!(err instanceof ShellSyntaxError || err instanceof ScanError)) throw err;
    const check = await bashSyntaxCheck(file, display);
    if (!check.ok) throw new ConfigError(display, check.line ?? err.line, check.line !== undefined ? check.reason : err.reason);
    reason = { construct: `syntax deliver's parser does not follow (${err.reason})`, line: err.line };
  }

  if (scan && scan.unsupported.length === 0) {
    try {
      const native = evaluateNative(scan.statements, env, protect);
      const warnings: ConfigWarning[] = [];
      const seen = new Set<string>();
      for (const ref of native.unsetRefs) {
        if (seen.has(ref.name)) continue;
        seen.add(ref.name);
        warnings.push({ message: `$${ref.name} is not set at this point, so it expands to an empty string (as in bash)`, location: { file, line: ref.line } });
      }
      return { vars: native.vars, shadowed: native.shadowed, hooks: hooksFromScan(scan.functions, file), warnings: [...crlf, ...warnings], evaluation: { mode: 'native' } };
    } catch (err) {
      if (err instanceof ParamError) throw new ConfigError(display, err.line, err.reason);
      if (!(err instanceof NeedsBash)) throw err;
      reason = { construct: err.construct, line: err.line };
    }
  } else if (scan) {
    reason = scan.unsupported[0];
  }

  const bash = await evaluateWithBash({ file, displayName: display, cwd: projectDir, env, protect, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
  const scanned = hooksFromScan(scan?.functions ?? [], file);
  const hooks = new Map<string, HookDef>();
  for (const [name, declared] of bash.functions) {
    const defs = scan?.functions.filter((f) => f.name === name) ?? [];
    const native = defs.length === 1 && !defs[0]!.nested ? scanned.get(name) : undefined;
    // Verbatim text when the file defines the function once; bash's own rendering when it depends on the run.
    if (native) hooks.set(name, native);
    else hooks.set(name, { name, body: bodyOf(declared), source: declared, location: { file, line: defs[defs.length - 1]?.line ?? findLine(text, name) } });
  }
  return {
    vars: bash.vars,
    shadowed: bash.shadowed,
    hooks,
    warnings: crlf,
    evaluation: { mode: 'bash', ...(reason ? { reason: reason.construct } : {}), ...(reason?.line !== undefined ? { location: { file, line: reason.line } } : {}) },
  };
}

/** Top-level definitions only: a function defined inside another one's body does not exist until that one runs. */
function hooksFromScan(functions: FunctionDef[], file: string): Map<string, HookDef> {
  const hooks = new Map<string, HookDef>();
  for (const f of functions) if (!f.nested) hooks.set(f.name, { name: f.name, body: f.body, source: f.source, location: { file, line: f.line } });
  return hooks;
}

/** The body of `declare -f` output: between the first `{` line and the last `}`. */
function bodyOf(declared: string): string {
  const open = declared.indexOf('{');
  const close = declared.lastIndexOf('}');
  return open >= 0 && close > open ? declared.slice(open + 1, close) : declared;
}

function findLine(text: string, fn: string): number {
  const escaped = fn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`(^|[\\s;{(])(function\\s+${escaped}\\b|${escaped}\\s*\\(\\s*\\))`);
  const idx = text.split('\n').findIndex((l) => re.test(l));
  return idx >= 0 ? idx + 1 : 1;
}

// Contracts of the config layer. The loader (parse + precedence) fills these; validation and every command read them.

export type ValueSource = 'flag' | 'env' | 'dotenv' | 'config' | 'default';

export interface Location {
  file: string;
  /** 1-based line number. */
  line: number;
}

/** One resolved variable and where its value came from (shown by `deliver check`). */
export interface ConfigVar {
  name: string;
  value: string;
  source: ValueSource;
  /** Set for values from the config file or .env. */
  location?: Location;
  /** Where the config file also assigned it, when a flag, the environment or .env won over that assignment. */
  shadows?: Location;
}

/** Something worth telling the user that does not stop the command (`deliver check` lists them). */
export interface ConfigWarning {
  message: string;
  location?: Location;
}

/** A bash function from the config (`pre_erlang_clean_compile() { ... }`), captured, never run at load time. */
export interface HookDef {
  name: string;
  /** The function body between the braces, verbatim. */
  body: string;
  /** The whole definition as written (`name() { ... }`), ready to be sourced by bash. */
  source: string;
  location: Location;
}

/** The configuration after precedence is applied: flag > env > .env > config file > default. */
export interface Settings {
  /** Absolute path of the config file (it may not exist for `init`). */
  readonly file: string;
  /** Directory of the project (parent of `.deliver/`). */
  readonly projectDir: string;
  get(name: string): string | undefined;
  /** The variable with its source and location, when set. */
  lookup(name: string): ConfigVar | undefined;
  /** Every variable set by the config file, .env, flags or defaults (not the whole process environment). */
  all(): ConfigVar[];
  readonly hooks: ReadonlyMap<string, HookDef>;
  /** `file:line` where a variable was set, or the source name (`environment`, `--flag`, `default`). */
  where(name: string): string;
  /** Problems found while loading (unset variables used by the file, ...); validation adds its own. */
  readonly warnings?: readonly ConfigWarning[];
  /** How the file was evaluated: natively, with bash (and the construct that required it), or not at all (no file). */
  readonly evaluation?: { mode: 'native' | 'bash' | 'none'; reason?: string; location?: Location };
}

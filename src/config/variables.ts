// The one registry of every variable deliver reads from `.deliver/config` (edeliver's set, see edeliver-behaviour.md §3,
// plus deliver's own). It drives the "did you mean" warnings, `deliver check`, and which environment variables
// override the config file (the environment only beats the file for names listed here or matching ENV_PATTERN).

export type VariableGroup = 'build' | 'deploy' | 'store' | 'ssh' | 'release' | 'node' | 'runtime' | 'legacy';

export interface VariableInfo {
  description: string;
  group: VariableGroup;
  /** The command-line flag that sets it, when there is one (shown as the source of a flag value). */
  flag?: string;
}

const v = (group: VariableGroup, description: string, flag?: string): VariableInfo =>
  flag === undefined ? { group, description } : { group, description, flag };

export const VARIABLES: Readonly<Record<string, VariableInfo>> = {
  // Build
  APP: v('build', 'release name (default: app: from mix.exs, relx release in rebar.config, or the project directory name)'),
  BUILD_HOST: v('build', 'the one host releases are built on ([user@]host[:port])'),
  BUILD_USER: v('build', 'ssh user on the build host'),
  BUILD_AT: v('build', 'directory on the build host where the code is pushed and built'),
  BUILD_CMD: v('build', 'dependency/compile tool: mix or rebar3 (default: detected from the project files)'),
  RELEASE_CMD: v('build', 'release tool: mix, rebar3 or relx (default: detected; rebar 2 is not supported)'),
  USING_DISTILLERY: v('build', 'true: Distillery, false: `mix release` (default: Distillery only if rel/config.exs exists)'),
  MIX_CMD: v('build', 'mix command on the build host (default: mix)'),
  REBAR_CMD: v('build', 'rebar command on the build host (default: ./rebar)'),
  REBAR3_CMD: v('build', 'rebar3 command on the build host'),
  RELX_CMD: v('build', 'relx command on the build host (default: ./relx)'),
  REBAR_CONFIG: v('build', 'passes -C <file> to rebar/rebar3'),
  REBAR_PROFILE: v('build', 'rebar3 profile used for the release (REBAR_PROFILE env of rebar3 release)'),
  REBAR_OPTIONS: v('build', 'extra options for rebar/rebar3'),
  RELEASE_CMD_OPTIONS: v('build', 'extra arguments for the release command'),
  TARGET_MIX_ENV: v('build', 'MIX_ENV the release is built with (default: prod)', '--mix-env'),
  MIX_ENV: v('build', 'Mix environment (edeliver sets it from TARGET_MIX_ENV on the build host)'),
  BRANCH: v('build', 'git branch pushed to and built on the build host', '--branch'),
  REFSPEC: v('build', 'git refspec pushed to the build host (edeliver: defaults to BRANCH)'),
  REVISION: v('build', 'commit to build', '--revision'),
  TAG: v('build', 'git tag to build', '--tag'),
  GIT_PUSH: v('build', 'extra `git push` flags (edeliver default: -f)'),
  GIT_CLEAN_PATHS: v('build', 'paths cleaned with `git clean -ffdx` on the build host before building (default: .)'),
  SKIP_GIT_CLEAN: v('build', 'true: do not `git clean` on the build host', '--skip-git-clean'),
  SKIP_MIX_CLEAN: v('build', 'true: do not run `mix clean` before compiling', '--skip-mix-clean'),
  AUTO_VERSION: v('build', 'version metadata appended to every built version (e.g. git-revision)', '--auto-version'),
  RELEASE_DIR: v('build', 'path of the built release on the build host (default: detected)'),
  RELEASE_VERSION: v('build', 'version of the built release when several exist on the build host'),
  SKIP_RELUP_MODIFICATIONS: v('build', 'true: skip edeliver relup modifications (Distillery)', '--skip-relup-mod'),
  RELUP_MODIFICATION_MODULE: v('build', 'relup modification module (Distillery)', '--relup-mod'),
  LINK_VM_ARGS: v('build', 'vm.args path on the deploy hosts linked into the release (Distillery)'),
  LINK_SYS_CONFIG: v('build', 'sys.config path on the deploy hosts linked into the release (Distillery)'),
  PROFILE: v('build', 'shell profile sourced first in every remote script (e.g. ~/.profile)'),
  // Deploy
  STAGING_HOSTS: v('deploy', 'staging hosts, separated by spaces or commas'),
  STAGING_USER: v('deploy', 'ssh user on the staging hosts'),
  PRODUCTION_HOSTS: v('deploy', 'production hosts, separated by spaces or commas'),
  PRODUCTION_USER: v('deploy', 'ssh user on the production hosts'),
  DELIVER_TO: v('deploy', 'directory on the deploy hosts releases are extracted in (the app lives in DELIVER_TO/APP)'),
  TEST_AT: v('deploy', 'staging deploy directory (default: DELIVER_TO)'),
  TEST_LOCALLY_AT: v('deploy', "the `local` environment's directory on this machine (deliver deploy release to local; default: .local-release in the project; relative paths from the project)"),
  DEPLOY_ENVIRONMENT: v('runtime', 'the environment of this run (set from the command line; readable in the config)'),
  NODE_ENVIRONMENT: v('runtime', 'the environment of a node command (set from the command line; readable in the config)'),
  HOST: v('deploy', 'same as --host: narrows every host list to this host', '--host'),
  HOSTS: v('legacy', 'legacy deliver host list (edeliver sets it internally)'),
  CLEAN_DEPLOY: v('deploy', 'true: remove old releases, lib and erts before extracting', '--clean-deploy'),
  START_DEPLOY: v('deploy', 'true: (re)start the nodes after a deploy', '--start-deploy'),
  FORCE: v('deploy', 'true: overwrite without asking', '--force'),
  VERSION: v('deploy', 'release version to deploy, upload or download', '--version'),
  KEEP_RELEASES: v('deploy', 'releases kept on each deploy host (default: 5)'),
  HEALTH_CHECK: v('deploy', 'shell command run in the release root after a start; must exit 0', '--health-check'),
  HEALTH_CHECK_TIMEOUT: v('deploy', 'seconds HEALTH_CHECK may take to pass (default: 30)'),
  START_TIMEOUT: v('deploy', 'seconds a node may take to start or stop (default: 30)'),
  DELTA_DEPLOY: v('deploy', 'false: always send the full release tarball (default true: hosts with a release installed get only what differs)', '--no-delta'),
  LOCK_TTL: v('deploy', 'seconds a deploy lock may go unrefreshed by its holder (a crashed run) before another deploy breaks it (default: 900)'),
  MIGRATE_COMMAND: v('node', 'command `migrate [up]` runs in the release root (default: bin/APP eval "<App>.Release.migrate()"); --version reaches it as $MIGRATION_VERSION'),
  MIGRATE_DOWN_COMMAND: v('node', 'command `migrate down --version=V` runs in the release root, V in $MIGRATION_VERSION (default: bin/APP eval "<App>.Release.rollback(<Repo>, V)")'),
  MIGRATIONS_COMMAND: v('node', 'command `show migrations` runs in the release root; prints `up|down VERSION NAME` lines (default: an Ecto.Migrator.migrations/1 expression via bin/APP eval)'),
  ECTO_REPOSITORY: v('node', 'the Ecto repo module `migrate down` rolls back (default: <App>.Repo)'),
  CLUSTER_NODE_NAME: v('node', "each host's node name, a template of ${APP}, ${HOST}, ${INDEX} (1-based place in the host list) and ${ENV} in single quotes, e.g. '${APP}_${INDEX}@${HOST}'; written to the host's env file as RELEASE_NODE, with CLUSTER_NODES listing every node"),
  RELEASE_KIND: v('node', 'the release script on the deploy hosts: mix, distillery or relx (default: detected from the release files; USING_DISTILLERY=true means distillery)'),
  // Release store
  RELEASE_STORE: v('store', 'where releases are kept: a directory, user@host:/path or s3://[KEY@SECRET:]bucket[/prefix] (default: .deliver/releases)'),
  LOCAL_RELEASE_STORE: v('store', 'edeliver: local directory for temporary files and the default store'),
  S3_ENDPOINT: v('store', 'S3-compatible endpoint http(s)://host[:port] (Ceph, MinIO; default: AWS)'),
  S3_CHECKSUM_MODE: v('store', 'when_required or when_supported (default: when_required with S3_ENDPOINT)'),
  RELEASE_PULL: v('store', 'true: deploy hosts download the release from the S3 store themselves (presigned URL, curl or wget)', '--pull'),
  S3_URL: v('store', 'edeliver: S3 endpoint host (deliver reads S3_ENDPOINT)'),
  S3_DIR: v('store', 'edeliver: key prefix inside the S3 bucket'),
  S3_REGION: v('store', 'S3 region (default: AWS_REGION or us-east-1)'),
  S3_FORCE_PATH_STYLE: v('store', 'true: path-style S3 URLs (default: true with S3_ENDPOINT)'),
  AWS_ACCESS_KEY_ID: v('store', 'S3 access key (when not in RELEASE_STORE)'),
  AWS_SECRET_ACCESS_KEY: v('store', 'S3 secret key (keep it in .deliver/.env or the environment)'),
  AWS_SESSION_TOKEN: v('store', 'S3 session token (STS)'),
  AWS_REGION: v('store', 'AWS region'),
  AWS_DEFAULT_REGION: v('store', 'AWS region (when AWS_REGION is not set)'),
  // SSH
  SSH_TIMEOUT: v('ssh', 'ssh connect timeout in seconds (default: 10)'),
  SSH_CONCURRENCY: v('ssh', 'hosts a multi-host command works on at once (default: 32)', '--concurrency'),
  HOST_KEY_CHECKING: v('ssh', 'host key policy: strict (default, host must be in known_hosts) or accept-new', '--host-key-checking'),
  // Runtime and output
  MODE: v('runtime', 'edeliver output mode: compact, verbose or debug'),
  VERBOSE: v('runtime', 'true: verbose output', '--verbose'),
  SILENCE: v('runtime', 'edeliver: redirection appended to silent remote commands'),
  LOG_FILE: v('runtime', 'edeliver: log file of every script (deliver never logs secrets)'),
  EDELIVER_EDITOR: v('runtime', 'editor for `edit relup`'),
  APP_CONFIG: v('runtime', 'path of the config file (default: .deliver/config)', '--config'),
  // edeliver features deliver recognises but does not run (docker builds/stores)
  DOCKER_BUILD_IMAGE: v('legacy', 'edeliver docker build image'),
  DOCKER_RELEASE_BASE_IMAGE: v('legacy', 'edeliver docker release store base image'),
  DOCKER_RELEASE_IMAGE_WORKDIR: v('legacy', 'edeliver docker release image workdir'),
  DOCKER_REGISTRY_TOKEN: v('legacy', 'edeliver docker registry token'),
  DOCKER_HUB_ACCESS_TOKEN: v('legacy', 'edeliver docker hub token'),
  DOCKER_OPTS: v('legacy', 'edeliver docker start options'),
  CONTAINER_START_SCRIPT: v('legacy', 'edeliver docker start script'),
  DOCKER_BUILD_CONTAINER: v('legacy', 'edeliver docker build container'),
  // Legacy gerhard/deliver variables edeliver still reads
  STRATEGY: v('legacy', 'legacy deliver strategy (ignored)'),
  SERVER: v('legacy', 'legacy deliver host (ignored)'),
  SERVERS: v('legacy', 'legacy deliver hosts (ignored)'),
  APP_USER: v('legacy', 'legacy deliver user (ignored)'),
  PORT: v('legacy', 'legacy deliver app port (ignored)'),
  FOREMAN_EXTRAS: v('legacy', 'legacy deliver (ignored)'),
  SUPERVISOR: v('legacy', 'legacy deliver (ignored)'),
  OWNER: v('legacy', 'legacy deliver (ignored)'),
  GROUP: v('legacy', 'legacy deliver (ignored)'),
  PERMISSIONS: v('legacy', 'legacy deliver (ignored)'),
  GENERATED_DIR: v('legacy', 'legacy deliver (ignored)'),
  GENERATED_BRANCH: v('legacy', 'legacy deliver (ignored)'),
  GENERATE_CMD: v('legacy', 'legacy deliver (ignored)'),
  ROCCO_FILES: v('legacy', 'legacy deliver (ignored)'),
  S3_BUCKET: v('legacy', 'legacy deliver (ignored)'),
  S3CMD_OPTIONS: v('legacy', 'legacy deliver (ignored)'),
  ASSETS_DIR: v('legacy', 'legacy deliver (ignored)'),
};

/** Per-environment variables: `<ENV>_HOSTS`, `<ENV>_USER`, `<ENV>_NODES` for any environment name (QA_HOSTS, ...). */
export const ENV_PATTERN = /^([A-Z][A-Z0-9_]*?)_(HOSTS|USER|NODES)$/;

export const ENV_SUFFIX_DESCRIPTIONS: Readonly<Record<string, string>> = {
  HOSTS: 'hosts of the <ENV> environment, separated by spaces or commas ([user@]host[:port])',
  USER: 'ssh user on the <ENV> hosts',
  NODES: 'nodes of the <ENV> environment: user@host:/path[|sys.config] entries',
};

/** The environments edeliver knows by name; other names are custom environments (`QA_HOSTS`). */
export const BUILTIN_ENVIRONMENTS = ['staging', 'production'] as const;

export function isKnownVariable(name: string): boolean {
  return Object.hasOwn(VARIABLES, name) || ENV_PATTERN.test(name);
}

export function describeVariable(name: string): string | undefined {
  const info = VARIABLES[name];
  if (info) return info.description;
  const m = ENV_PATTERN.exec(name);
  if (m) return ENV_SUFFIX_DESCRIPTIONS[m[2]!]?.replace('<ENV>', m[1]!.toLowerCase());
  return undefined;
}

/**
 * Damerau-Levenshtein (optimal string alignment) distance: a swapped pair of letters counts as one typo. With `limit`,
 * any distance above it comes back as limit + 1 as soon as that is certain: a config of 200k names is compared with
 * every known one, so the common case (far apart) must cost next to nothing.
 */
export function editDistance(a: string, b: string, limit = Infinity): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  const width = b.length + 1;
  let before = new Int32Array(width);
  let prev = new Int32Array(width);
  for (let j = 0; j < width; j++) prev[j] = j;
  let row = new Int32Array(width);
  for (let i = 1; i <= a.length; i++) {
    row[0] = i;
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1);
      row[j] = best;
      rowMin = Math.min(rowMin, best);
    }
    if (rowMin > limit) return limit + 1;
    [before, prev, row] = [prev, row, before];
  }
  return Math.min(prev[b.length]!, limit + 1);
}

/** Two different names, one probably a typo of the other (closeEnough). */
export function likelyTypo(a: string, b: string): boolean {
  return a !== b && closeEnough(a, b);
}

/** Up to 2 typos, fewer for short names, so unrelated short names are never "suggested". */
function closeEnough(a: string, b: string): boolean {
  const limit = Math.min(a.length, b.length) <= 4 ? 1 : 2;
  return letterDifference(a, b) <= 2 * limit && editDistance(a, b, limit) <= limit;
}

const letterCounts = new Int32Array(128);

/**
 * How many letters the two names do not share (counted with repeats): one edit changes it by at most 2, so it rules
 * out most pairs before the distance is computed. Letters beyond ASCII share one bucket (the bound stays valid).
 */
function letterDifference(a: string, b: string): number {
  for (let i = 0; i < a.length; i++) letterCounts[Math.min(a.charCodeAt(i), 127)]!++;
  for (let i = 0; i < b.length; i++) letterCounts[Math.min(b.charCodeAt(i), 127)]!--;
  let diff = 0;
  for (const s of [a, b]) {
    for (let i = 0; i < s.length; i++) {
      const c = Math.min(s.charCodeAt(i), 127);
      diff += Math.abs(letterCounts[c]!);
      letterCounts[c] = 0;
    }
  }
  return diff;
}

/**
 * A known variable the name is probably a typo of. `<X>_HOSTS/_USER/_NODES` names are custom environments, so they
 * are only flagged when X itself looks like a typo of a known environment (`PRODUCTON_HOSTS`). `knownEnvironments`
 * are the custom environments the config defines (they count as known, e.g. `QA_USR` → `QA_USER`).
 */
export function suggestVariable(name: string, knownEnvironments: readonly string[] = BUILTIN_ENVIRONMENTS): string | undefined {
  if (Object.hasOwn(VARIABLES, name)) return undefined;
  const { envs, names } = typoCandidates(knownEnvironments);
  const m = ENV_PATTERN.exec(name);
  if (m) {
    const env = m[1]!;
    if (envs.includes(env)) return undefined;
    const match = envs.find((e) => closeEnough(env, e));
    if (match) return `${match}_${m[2]}`;
    // `STAGING_HOST` style suffix typos are caught below through the full-name comparison.
  }
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const known of nearInLength(names, name.length)) {
    if (known === name || !closeEnough(name, known)) continue;
    const dist = editDistance(name, known);
    if (dist < bestDistance) {
      best = known;
      bestDistance = dist;
    }
  }
  if (m && best !== undefined && ENV_PATTERN.test(best)) return undefined; // QA_HOSTS vs QA_HOST: both fine as patterns
  return best;
}

interface Candidates {
  envs: string[];
  /** Known names by length: a typo is at most 2 edits away, so only 5 lengths can hold its match. */
  names: Map<number, string[]>;
}
let candidates: (Candidates & { key: string }) | undefined;

/** Environment names (upper case) and every name a typo may be of; built once per set of environments, not per name. */
function typoCandidates(knownEnvironments: readonly string[]): Candidates {
  const key = knownEnvironments.join(' ');
  if (candidates?.key !== key) {
    const envs = [...new Set([...BUILTIN_ENVIRONMENTS, ...knownEnvironments].map((e) => e.toUpperCase()))];
    const names = new Map<number, string[]>();
    for (const n of [...Object.keys(VARIABLES), ...envs.flatMap((e) => ['HOSTS', 'USER', 'NODES'].map((s) => `${e}_${s}`))]) {
      names.set(n.length, [...(names.get(n.length) ?? []), n]);
    }
    candidates = { key, envs, names };
  }
  return candidates;
}

/** The known names whose length is within 2 of `length`, shortest first, each length in registry order. */
function* nearInLength(names: Map<number, string[]>, length: number): Generator<string> {
  for (let l = length - 2; l <= length + 2; l++) yield* names.get(l) ?? [];
}

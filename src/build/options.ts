// How a build was asked for (the build flags of `build release`, `build upgrade` and `update`, with the config's
// AUTO_VERSION, SKIP_GIT_CLEAN, SKIP_MIX_CLEAN and FORCE) as the options of the build pipeline.
import type { BuildConfig } from '../config/config.js';
import { checkMixEnv } from '../config/validate.js';
import { UsageError } from '../output/errors.js';
import type { BuildReleaseOptions } from './build-release.js';
import { parseAutoVersion, parseIncrement, validateVersion, type VersionRequest } from './version.js';

export interface BuildRequest {
  branch?: string;
  revision?: string;
  tag?: string;
  mixEnv?: string;
  autoVersion?: string;
  incrementVersion?: string;
  setVersion?: string;
  release?: string;
  skipGitClean?: boolean;
  skipMixClean?: boolean;
  force?: boolean;
}

/** --auto-version / --increment-version / --set-version, with AUTO_VERSION from the config when no flag gives metadata. */
export function versionRequest(flags: BuildRequest, build: Pick<BuildConfig, 'autoVersion'>): VersionRequest {
  const req: VersionRequest = { metadata: [] };
  if (flags.incrementVersion !== undefined) req.increment = parseIncrement(flags.incrementVersion);
  if (flags.setVersion !== undefined) req.set = validateVersion(flags.setVersion, '--set-version');
  if (flags.autoVersion !== undefined) {
    req.metadata = parseAutoVersion(flags.autoVersion, '--auto-version');
  } else if (build.autoVersion) {
    req.metadata = parseAutoVersion(build.autoVersion.value, build.autoVersion.label);
  }
  return req;
}

/** The build options from the flags and the config. */
export function releaseOptions(b: BuildConfig, flags: BuildRequest): BuildReleaseOptions {
  if (flags.revision !== undefined && flags.tag !== undefined) throw new UsageError('use either --revision or --tag, not both');
  const opts: BuildReleaseOptions = {
    mixEnv: flags.mixEnv !== undefined ? checkMixEnv(flags.mixEnv, '--mix-env') : b.mixEnv,
    version: versionRequest(flags, b),
    skipGitClean: Boolean(flags.skipGitClean) || b.skipGitClean,
    skipMixClean: Boolean(flags.skipMixClean) || b.skipMixClean,
    force: Boolean(flags.force) || b.force,
  };
  if (flags.branch !== undefined) opts.branch = flags.branch;
  if (flags.revision !== undefined) opts.revision = flags.revision;
  if (flags.tag !== undefined) opts.tag = flags.tag;
  if (flags.release !== undefined) opts.release = flags.release;
  return opts;
}

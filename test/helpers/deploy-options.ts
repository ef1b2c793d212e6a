// deployHost's options for the unit tests that run it on a local shell: a plain deploy of `source` as `version`,
// no start, short timeouts; `extra` changes what a test is about.
import type { DeployOptions } from '../../src/deploy/deploy-release.js';
import type { ReleaseSource } from '../../src/deploy/source.js';

export function deployOptions(app: string, deliverTo: string, source: ReleaseSource, version: string, extra: Partial<DeployOptions> = {}): DeployOptions {
  return {
    app,
    env: 'production',
    version,
    source,
    deliverTo,
    keepReleases: 5,
    startDeploy: false,
    cleanDeploy: false,
    links: {},
    hooks: new Map(),
    healthTimeoutMs: 1_000,
    startTimeoutMs: 2_000,
    lock: { waitMs: 0, ttlMs: 60_000 },
    command: 'deploy release',
    events: { warn: () => undefined },
    ...extra,
  };
}

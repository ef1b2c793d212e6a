// Where a release lives on a deploy host. One place computes every path so commands, docs and tests agree.
//
//   $DELIVER_TO/$APP                      -> .deliver/$APP/releases/<VSN>   (relative symlink, swapped atomically)
//   $DELIVER_TO/.deliver/$APP/releases/<VSN>/         complete OTP release roots (bin/ lib/ releases/VSN/ erts-*)
//   $DELIVER_TO/.deliver/$APP/releases/<VSN>.tmp-<id>/ staging while unpacking (never activated)
//   $DELIVER_TO/.deliver/$APP/incoming/               uploads in progress (<file>.part-<id>)
//   $DELIVER_TO/.deliver/$APP/lock/                   deploy lock (mkdir), owner.json inside
//   $DELIVER_TO/.deliver/$APP/deploys.jsonl           audit log, one JSON object per deploy/rollback
//   $DELIVER_TO/.deliver/$APP/history                 one VSN per activation (rollback and pruning order)
//   $DELIVER_TO/.deliver/$APP/started                 VSN the node was last started from (stop/rpc use its script)
//   $DELIVER_TO/.deliver/$APP/<env>.env               runtime environment (mode 0600), sourced on start
//
// `$DELIVER_TO/$APP` being the symlink keeps edeliver's `$DELIVER_TO/$APP/bin/$APP` path (systemd units) working.
import { UsageError } from '../output/errors.js';

export interface Layout {
  readonly deliverTo: string;
  readonly app: string;
  /** `$DELIVER_TO/$APP`: the symlink users and systemd run `bin/$APP` from. */
  readonly root: string;
  /** `$DELIVER_TO/.deliver/$APP`: deliver's own state on the host. */
  readonly home: string;
  readonly releases: string;
  readonly incoming: string;
  readonly lock: string;
  readonly auditLog: string;
  readonly history: string;
  readonly started: string;
}

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const APP_RE = /^[a-z][a-z0-9_]*$/;

export function checkVersion(version: string): string {
  if (!VERSION_RE.test(version) || version.includes('..') || /\.tmp-/.test(version)) {
    throw new UsageError(`invalid release version ${JSON.stringify(version)}: use letters, digits and . _ + -`);
  }
  return version;
}

export function checkApp(app: string): string {
  if (!APP_RE.test(app)) throw new UsageError(`invalid APP ${JSON.stringify(app)}: an OTP application name (lowercase letters, digits, _)`);
  return app;
}

/** The layout for one host; `deliverTo` is the host's own path (node path) or DELIVER_TO. */
export function layoutFor(deliverTo: string, app: string): Layout {
  checkApp(app);
  if (deliverTo === '') throw new UsageError('DELIVER_TO is empty');
  const base = deliverTo.length > 1 ? deliverTo.replace(/\/+$/, '') : deliverTo;
  const home = `${base}/.deliver/${app}`;
  return {
    deliverTo: base,
    app,
    root: `${base}/${app}`,
    home,
    releases: `${home}/releases`,
    incoming: `${home}/incoming`,
    lock: `${home}/lock`,
    auditLog: `${home}/deploys.jsonl`,
    history: `${home}/history`,
    started: `${home}/started`,
  };
}

export function releaseDir(l: Layout, version: string): string {
  return `${l.releases}/${checkVersion(version)}`;
}

/** The symlink's value: relative, so moving or bind-mounting DELIVER_TO keeps it valid. */
export function linkTarget(l: Layout, version: string): string {
  return `.deliver/${l.app}/releases/${checkVersion(version)}`;
}

export function stagingDir(l: Layout, version: string, id: string): string {
  return `${releaseDir(l, version)}.tmp-${id}`;
}

export function uploadPath(l: Layout, file: string, id: string): string {
  return `${l.incoming}/${file}.part-${id}`;
}

export function envFile(l: Layout, env: string): string {
  if (!/^[a-z][a-z0-9_]*$/.test(env)) throw new UsageError(`invalid environment name ${JSON.stringify(env)}`);
  return `${l.home}/${env}.env`;
}

/** The version a `readlink $DELIVER_TO/$APP` value points at, or undefined (missing or not ours). */
export function versionFromLink(link: string): string | undefined {
  const m = /(?:^|\/)releases\/([^/]+)\/?$/.exec(link.trim());
  if (!m || !m[1] || !VERSION_RE.test(m[1]) || m[1].includes('.tmp-')) return undefined;
  return m[1];
}

/** Short random id for temp names (staging dirs, uploads, temp links). */
export function tempId(): string {
  return `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

// `deliver upload` / `deliver download`: copy a release between this machine's release directory
// (.deliver/releases, or LOCAL_RELEASE_STORE) and the configured RELEASE_STORE (user@host:/path or s3://…).
//   deliver upload release [VERSION]          deliver download release [VERSION] [DEST]
//   deliver upload upgrade [VERSION]          deliver download upgrade [VERSION] [DEST]
//   deliver upload FILE                       deliver download FILE [DEST]
// Without VERSION the newest one in the source is taken. Both refuse to overwrite without --force.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/config.js';
import { UsageError } from '../../output/errors.js';
import { formatBytes } from '../../output/output.js';
import { printPlan } from '../../output/plan.js';
import { StepList, type RunPlan } from '../../plan/plan.js';
import { raw } from '../../ssh/quote.js';
import { transportFor } from '../transport.js';
import { copyRelease, downloadToFile } from '../../store/copy.js';
import { openConfiguredStore } from '../../store/index.js';
import { LocalStore } from '../../store/local.js';
import { assertStoreFileName } from '../../store/names.js';
import { notFound } from '../../store/store-errors.js';
import { releaseFileName, type ReleaseStore, type ReleaseType } from '../../store/types.js';
import { action, withCommonOptions, type CommonOptions, type Context } from '../common.js';

interface CopyFlags extends CommonOptions {
  force?: boolean;
}

/** What the positional words name: a release/upgrade (version optional) or a raw file. */
export type CopyTarget = { type: ReleaseType; version?: string } | { file: string };

/** Parses `release|upgrade [VERSION]` or `FILE`; returns the target and the words left (download's DEST). */
export function parseCopyWords(words: string[]): { target: CopyTarget; rest: string[] } {
  const [first, ...rest] = words;
  if (first === undefined) throw new UsageError('expected release, upgrade or a release file name');
  if (first === 'release' || first === 'upgrade' || first === 'releases' || first === 'upgrades') {
    const type: ReleaseType = first.startsWith('upgrade') ? 'upgrade' : 'release';
    const [version, ...more] = rest;
    if (version !== undefined && !/^\d[0-9A-Za-z.+_-]*$/.test(version)) {
      throw new UsageError(`invalid version ${JSON.stringify(version)}: expected e.g. 1.2.3`);
    }
    return { target: version === undefined ? { type } : { type, version }, rest: more };
  }
  if (!first.endsWith('.tar.gz')) throw new UsageError(`expected release, upgrade or a release file name (*.tar.gz), got ${JSON.stringify(first)}`);
  assertStoreFileName(first, 'file');
  return { target: { file: first }, rest };
}

/** The file a target names; without a version, the newest of that type in `store`. */
async function resolveFile(target: CopyTarget, app: string, store: ReleaseStore): Promise<string> {
  if ('file' in target) return target.file;
  if (target.version !== undefined) return releaseFileName(app, target.version, target.type);
  const all = (await store.list(app)).filter((r) => r.type === target.type);
  const newest = all.at(-1);
  if (!newest) throw notFound(store.description, `${target.type} of ${app}`);
  return newest.file;
}

/**
 * The copy as a plan of one local step, from the read-only look at both ends that the copy itself makes first (the
 * source has the file; the destination has it already, which only --force replaces). A dry run prints it.
 */
async function copyPlan(action: 'upload' | 'download', file: string, from: ReleaseStore, to: string, has: () => Promise<boolean>, force: boolean): Promise<RunPlan> {
  const src = await from.stat(file);
  if (!src) throw notFound(from.description, file);
  const there = await has();
  const step = new StepList().add(action, `streams ${file} (${formatBytes(src.size)}) from ${from.description} to ${to}${src.sha256 ? ', sha256 checked' : ''}`, raw(''), { local: true }).steps;
  const fact = there ? (force ? `${to} has ${file} already: replaced (--force)` : `${to} has ${file} already: the ${action} stops there (--force replaces it)`) : `${to} has no ${file} yet`;
  return { title: `${action} ${file}`, facts: [fact], hosts: [{ host: 'this machine', steps: there && !force ? [] : step, facts: [] }] };
}

async function withStores(
  ctx: Context,
  flags: CopyFlags,
  fn: (local: LocalStore, store: ReleaseStore, app: string) => Promise<void>,
): Promise<void> {
  const config = await loadConfig({ cwd: ctx.cwd, ...(flags.config !== undefined ? { configFile: flags.config } : {}) });
  config.require('upload');
  const app = config.app;
  const local = new LocalStore(config.store.localDir, process.cwd());
  const transport = transportFor(ctx, config, flags);
  try {
    const store = openConfiguredStore(config, { cwd: ctx.cwd, transport });
    if (store instanceof LocalStore && store.dir === local.dir) {
      throw new UsageError(`RELEASE_STORE is this machine's release directory (${local.description}): nothing to copy`, {
        hint: 'set RELEASE_STORE to user@host:/path or s3://bucket[/prefix] in .deliver/config',
      });
    }
    await fn(local, store, app);
  } finally {
    await transport.closeAll();
  }
}

export function registerStoreCopy(program: Command): void {
  withCommonOptions(
    program
      .command('upload')
      .description("copy a release from this machine's .deliver/releases to RELEASE_STORE (remote host or S3)")
      .argument('<what...>', 'release [VERSION] | upgrade [VERSION] | FILE (default VERSION: the newest)')
      .option('-F, --force', 'overwrite the release if the store has it already'),
  ).action(
    action(async (ctx, words: string[], flags: CopyFlags) => {
      const { target, rest } = parseCopyWords(words);
      if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
      await withStores(ctx, flags, async (local, store, app) => {
        const file = await resolveFile(target, app, local);
        if (flags.dryRun) return printPlan(ctx.out, await copyPlan('upload', file, local, store.description, async () => (await store.stat(file)) !== undefined, Boolean(flags.force)));
        if (!(await local.stat(file))) throw notFound(local.description, file);
        const t0 = Date.now();
        const r = await copyRelease(local, store, file, { force: Boolean(flags.force), signal: ctx.signal });
        const ms = Date.now() - t0;
        ctx.out.result({ action: 'upload', file, from: local.description, to: store.description, size: r.size, sha256: r.sha256, durationMs: ms });
        ctx.out.step(`uploaded ${file} (${formatBytes(r.size)}) to ${store.description}`, ms);
      });
    }),
  );

  withCommonOptions(
    program
      .command('download')
      .description("copy a release from RELEASE_STORE to this machine's .deliver/releases (or to DEST)")
      .argument('<what...>', 'release [VERSION] [DEST] | upgrade [VERSION] [DEST] | FILE [DEST] (default VERSION: the newest)')
      .option('-F, --force', 'overwrite an existing local file'),
  ).action(
    action(async (ctx, words: string[], flags: CopyFlags) => {
      const { target, rest } = parseCopyWords(words);
      if (rest.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(rest[1])}`);
      const dest = rest[0];
      await withStores(ctx, flags, async (local, store, app) => {
        const file = await resolveFile(target, app, store);
        const to = dest === undefined ? local.description : resolve(ctx.cwd, dest);
        if (flags.dryRun) {
          const path = dest === undefined ? local.pathOf(file) : to;
          return printPlan(ctx.out, await copyPlan('download', file, store, path, async () => existsSync(path), Boolean(flags.force)));
        }
        const t0 = Date.now();
        const force = Boolean(flags.force);
        let written: { path: string; size: number; sha256: string };
        if (dest === undefined) {
          const r = await copyRelease(store, local, file, { force, signal: ctx.signal });
          written = { path: local.pathOf(file), size: r.size, sha256: r.sha256 ?? '' };
        } else {
          written = await downloadToFile(store, file, resolve(ctx.cwd, dest), { force, signal: ctx.signal });
        }
        const ms = Date.now() - t0;
        ctx.out.result({ action: 'download', file, from: store.description, to: written.path, size: written.size, sha256: written.sha256, durationMs: ms });
        ctx.out.step(`downloaded ${file} (${formatBytes(written.size)}) from ${store.description} to ${written.path}`, ms);
        if (!written.sha256) ctx.out.warn(`${store.description} has no checksum for ${file} (stored by edeliver?): not verified`);
      });
    }),
  );
}

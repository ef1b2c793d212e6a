// The real bin/deliver (the built bundle) run the way a user runs it, in small projects under a temp dir: exit codes
// and messages, no SSH bed. Used by the unit tests of the CLI's behaviour (check, init, help, bad input).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';

export const REPO = resolve(import.meta.dirname, '..', '..');
const BIN = join(REPO, 'bin', 'deliver');

/** The newest modification time of a file under `dir`. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

/**
 * `npm test` builds first (pretest); run alone, a test builds a missing or stale bundle itself (`npm run build`:
 * tsc, then scripts/bundle.mjs). Never while fresh: other test files may be running bin/deliver right now.
 */
export function ensureBuilt(): void {
  const bundle = join(REPO, 'dist', 'deliver.mjs');
  if (existsSync(bundle) && statSync(bundle).mtimeMs >= newest(join(REPO, 'src'))) return;
  try {
    execFileSync(join(REPO, 'node_modules', '.bin', 'tsc'), ['-p', join(REPO, 'tsconfig.json')], { stdio: 'pipe' });
  } catch {
    // reported by the typecheck step; the emitted JS is what we test
  }
  execFileSync(process.execPath, [join(REPO, 'scripts', 'bundle.mjs')], { stdio: 'pipe' });
  if (!existsSync(bundle)) throw new Error('the build did not produce dist/deliver.mjs');
}

/** Projects under one temp dir: `project({ '.deliver/config': '…' })` writes the files and returns the directory. */
export function projects(prefix: string): { project: (files: Record<string, string | Buffer>) => string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  let n = 0;
  return {
    project(files) {
      const dir = join(root, `p${++n}`);
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(join(dir, name, '..'), { recursive: true });
        writeFileSync(join(dir, name), text);
      }
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Runs bin/deliver in `cwd` with a clean environment (HOME /home/tester unless `env` says otherwise). */
export function deliver(cwd: string, args: string[], env: Record<string, string> = {}, timeoutMs?: number) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/home/tester', NO_COLOR: '1', ...env },
    ...(timeoutMs !== undefined ? { timeout: timeoutMs } : {}),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A user error prints its message, never a stack trace or `internal error`. */
export function expectNoStack(text: string): void {
  expect(text).not.toMatch(/^\s+at /m);
  expect(text).not.toMatch(/internal error/);
}

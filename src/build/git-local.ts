// The developer's repository: which commit to build, what it contains, and the facts auto-versioning needs.
// Only read-only git commands run here; the push itself is in push.ts.
import { execFile } from 'node:child_process';
import { DeliverError, UsageError } from '../output/errors.js';

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function git(cwd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; maxBuffer?: number } = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env: opts.env ?? process.env, maxBuffer: opts.maxBuffer ?? 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        reject(new DeliverError(`cannot run git: ${err.message}`, { hint: 'install git on this machine' }));
        return;
      }
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function gitOut(cwd: string, args: string[], what: string): Promise<string> {
  const r = await git(cwd, args);
  if (r.code !== 0) throw new DeliverError(`${what} failed: git ${args.join(' ')}`, { detail: r.stderr.trim() });
  return r.stdout;
}

/** The repository's top directory; a clear error when the project is not a git repository. */
export async function repoRoot(cwd: string): Promise<string> {
  const r = await git(cwd, ['rev-parse', '--show-toplevel']);
  if (r.code !== 0) {
    throw new UsageError(`${cwd} is not inside a git repository: deliver builds committed code pushed to the build host`, {
      hint: 'run `git init` and commit the project first',
    });
  }
  return r.stdout.trim();
}

/** The checked-out branch, or undefined when HEAD is detached. */
export async function currentBranch(root: string): Promise<string | undefined> {
  const r = await git(root, ['symbolic-ref', '--short', '-q', 'HEAD']);
  return r.code === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
}

async function verify(root: string, ref: string): Promise<string | undefined> {
  const r = await git(root, ['rev-parse', '--verify', '-q', `${ref}^{commit}`]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

async function branches(root: string): Promise<string[]> {
  const r = await git(root, ['for-each-ref', '--format=%(refname:short)', 'refs/heads']);
  return r.stdout.split('\n').filter((b) => b !== '');
}

export interface BuildRef {
  sha: string;
  branch: string;
  /** The tag given with --tag. */
  tag?: string;
  /** How the commit was chosen, for messages: `branch main`, `tag v1.0.0`, `revision abc123`. */
  describe: string;
}

/** Resolves --branch/--revision/--tag (default: the current branch) to a commit sha. Errors name the bad value. */
export async function resolveBuildRef(root: string, o: { branch?: string | undefined; revision?: string | undefined; tag?: string | undefined }): Promise<BuildRef> {
  if (o.revision !== undefined && o.tag !== undefined) throw new UsageError('use either --revision or --tag, not both');
  let branch = o.branch;
  if (branch !== undefined) {
    if (branch === '' || branch.startsWith('-')) throw new UsageError(`--branch: invalid branch name ${JSON.stringify(branch)}`);
    const check = await git(root, ['check-ref-format', '--branch', branch]);
    if (check.code !== 0) throw new UsageError(`--branch: invalid branch name ${JSON.stringify(branch)}`);
  }
  if (branch === undefined) branch = await currentBranch(root);

  let sha: string | undefined;
  let describe: string;
  if (o.tag !== undefined) {
    sha = await verify(root, `refs/tags/${o.tag}`);
    if (sha === undefined) throw new UsageError(`--tag: unknown tag ${JSON.stringify(o.tag)} in ${root}`, { hint: 'list tags with `git tag`' });
    describe = `tag ${o.tag}`;
  } else if (o.revision !== undefined) {
    if (o.revision.startsWith('-')) throw new UsageError(`--revision: invalid revision ${JSON.stringify(o.revision)}`);
    sha = await verify(root, o.revision);
    if (sha === undefined) throw new UsageError(`--revision: unknown revision ${JSON.stringify(o.revision)} in ${root}`);
    describe = `revision ${sha.slice(0, 7)}`;
  } else {
    if (branch === undefined) {
      throw new UsageError('HEAD is detached: name what to build with --branch, --revision or --tag');
    }
    sha = (await verify(root, `refs/heads/${branch}`)) ?? (await verify(root, `refs/remotes/${branch}`));
    if (sha === undefined) {
      const known = await branches(root);
      throw new UsageError(`--branch: unknown branch ${JSON.stringify(branch)} in ${root}`, {
        hint: known.length > 0 ? `local branches: ${known.join(', ')}` : 'the repository has no commits yet',
      });
    }
    describe = `branch ${branch}`;
  }
  // The branch name the build host's ref gets (and $BRANCH in hooks/auto-version); a detached HEAD with --revision/--tag
  // builds on a `deliver` branch.
  const name = branch ?? (o.tag !== undefined ? `tag-${o.tag}` : 'deliver');
  const ref: BuildRef = { sha, branch: name, describe };
  if (o.tag !== undefined) ref.tag = o.tag;
  return ref;
}

/** Files with uncommitted changes (they are not part of the build). */
export async function uncommittedChanges(root: string): Promise<string[]> {
  const r = await git(root, ['status', '--porcelain']);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

/** Every path in the commit. */
export async function listFiles(root: string, sha: string): Promise<Set<string>> {
  const out = await gitOut(root, ['ls-tree', '-r', '--name-only', '-z', sha], 'listing the commit');
  return new Set(out.split('\0').filter((f) => f !== ''));
}

/** A file's text as committed (what the build host gets), not as on disk. */
export async function showFile(root: string, sha: string, path: string): Promise<string> {
  return gitOut(root, ['show', `${sha}:${path}`], `reading ${path}`);
}

export async function commitCounts(root: string, sha: string): Promise<{ all: number; branch: number }> {
  const all = Number.parseInt((await gitOut(root, ['rev-list', '--all', '--count'], 'counting commits')).trim(), 10);
  const branch = Number.parseInt((await gitOut(root, ['rev-list', '--count', sha], 'counting commits')).trim(), 10);
  return { all, branch };
}

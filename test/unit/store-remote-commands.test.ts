// The remote store's command lines, run by a real local `sh` (the same POSIX shell a store host runs them with).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { raw, sh } from '../../src/ssh/quote.js';
import { listCommand, parseListOutput, storeDirCommand, publishCommand } from '../../src/store/remote.js';
import { remotePath } from '../../src/ssh/quote.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

function run(cmd: string, cwd = '/'): { code: number; stdout: string; stderr: string } {
  try {
    return { code: 0, stdout: execFileSync('sh', ['-c', cmd], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), stderr: '' };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, stdout: err.stdout, stderr: err.stderr };
  }
}

const HEX = 'ab'.repeat(32);
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('remote store commands', () => {
  it('lists size, mtime, digest and name in one command, in a directory with hostile characters', () => {
    const dir = tmp("st 'q' $(x) ");
    writeFileSync(join(dir, 'demo_1.0.0.release.tar.gz'), 'abc');
    writeFileSync(join(dir, 'demo_1.0.0.release.tar.gz.sha256'), `${HEX}  demo_1.0.0.release.tar.gz\n`);
    writeFileSync(join(dir, 'demo_1.1.0.upgrade.tar.gz'), 'abcdef');
    writeFileSync(join(dir, 'other_1.0.0.release.tar.gz'), 'x');
    utimesSync(join(dir, 'demo_1.0.0.release.tar.gz'), 1_700_000_000, 1_700_000_000);
    const cmd = listCommand(sh`${dir}`, [raw(`${sh`${'demo'}`.text}_*.release.tar.gz`), raw('demo_*.upgrade.tar.gz')]);
    const r = run(cmd.text);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(dir);
    expect(parseListOutput(r.stdout)).toEqual([
      { file: 'demo_1.0.0.release.tar.gz', size: 3, modified: new Date(1_700_000_000_000), sha256: HEX },
      { file: 'demo_1.1.0.upgrade.tar.gz', size: 6, modified: expect.any(Date) },
    ]);
  });

  it('lists nothing for a missing directory and nothing for no matches', () => {
    expect(run(listCommand(sh`${'/nonexistent/dir'}`, [raw('a_*.release.tar.gz')]).text)).toMatchObject({ code: 0, stdout: '' });
    const dir = tmp('st-');
    expect(run(listCommand(sh`${dir}`, [raw('a_*.release.tar.gz')]).text)).toMatchObject({ code: 0, stdout: `${dir}\n` });
  });

  it('prepares the directory, refusing an existing file without force', () => {
    const base = tmp('st prep ');
    const dir = join(base, 'new dir');
    const r = run(storeDirCommand(sh`${dir}`, 'demo_1.0.0.release.tar.gz', false).text);
    expect(r).toMatchObject({ code: 0, stdout: `${dir}\n` });
    writeFileSync(join(dir, 'demo_1.0.0.release.tar.gz'), 'x');
    expect(run(storeDirCommand(sh`${dir}`, 'demo_1.0.0.release.tar.gz', false).text)).toMatchObject({ code: 17 });
    expect(run(storeDirCommand(sh`${dir}`, 'demo_1.0.0.release.tar.gz', true).text)).toMatchObject({ code: 0, stdout: `${dir}\n` });
    writeFileSync(join(base, 'file'), '');
    const blocked = run(storeDirCommand(sh`${join(base, 'file', 'sub')}`, 'x_1.release.tar.gz', true).text);
    expect(blocked.code).not.toBe(0);
    expect(blocked.stdout).toBe('');
  });

  it('verifies and publishes a temp file and its digest, refusing an existing file without force', () => {
    const dir = tmp('st pub ');
    writeFileSync(join(dir, '.tmp-1'), 'new');
    const file = 'demo_1.0.0.release.tar.gz';
    const ok = run(publishCommand(sh`${dir}`, '.tmp-1', file, sha('new'), false).text);
    expect(ok.code).toBe(0);
    expect(parseListOutput(ok.stdout)).toEqual([{ file, size: 3, modified: expect.any(Date), sha256: sha('new') }]);
    expect(readFileSync(join(dir, file), 'utf8')).toBe('new');
    expect(readFileSync(join(dir, `${file}.sha256`), 'utf8')).toBe(`${sha('new')}  ${file}\n`);

    writeFileSync(join(dir, '.tmp-2'), 'newer');
    const refused = run(publishCommand(sh`${dir}`, '.tmp-2', file, sha('newer'), false).text);
    expect(refused.code).toBe(17);
    expect(refused.stderr).toContain('already exists');
    expect(readFileSync(join(dir, `${file}.sha256`), 'utf8')).toBe(`${sha('new')}  ${file}\n`);

    const corrupt = run(publishCommand(sh`${dir}`, '.tmp-2', file, sha('something else'), true).text);
    expect(corrupt).toMatchObject({ code: 18, stderr: `${sha('newer')}\n` });
    expect(readFileSync(join(dir, file), 'utf8')).toBe('new');

    expect(run(publishCommand(sh`${dir}`, '.tmp-2', file, sha('newer'), true).text).code).toBe(0);
    expect(readFileSync(join(dir, file), 'utf8')).toBe('newer');
    expect(readdirSync(dir).sort()).toEqual([file, `${file}.sha256`]);
    expect(run(publishCommand(sh`${join(dir, 'missing')}`, '.tmp-3', file, HEX, true).text).code).toBe(1);
  });

  it('expands ~/ to $HOME but quotes everything else', () => {
    expect(remotePath('~/releases dir').text).toBe(`"$HOME"/'releases dir'`);
    expect(remotePath('~').text).toBe('"$HOME"');
    expect(remotePath('/srv/$(rm -rf x)').text).toBe(`'/srv/$(rm -rf x)'`);
    expect(run(`echo ${remotePath('~/x').text}`).stdout.trim()).toBe(`${process.env.HOME}/x`);
  });

  it('skips lines it cannot parse', () => {
    expect(parseListOutput('garbage\n12 1700000000\t\tf.tar.gz\n')).toEqual([{ file: 'f.tar.gz', size: 12, modified: new Date(1_700_000_000_000) }]);
  });
});

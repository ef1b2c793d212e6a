// edeliver's commands and options that deliver has no counterpart for: exit 2 and one line with deliver's way,
// through the real command-line program and its error reporter.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { buildProgram, reportError } from '../../src/cli/main.js';
import { EDELIVER_COMMANDS, EDELIVER_OPTIONS } from '../../src/cli/commands/edeliver.js';

const root = mkdtempSync(join(tmpdir(), 'deliver-edeliver-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs `deliver ...args` in `cwd` in-process: exit code, stdout and stderr. */
async function deliver(args: string[], cwd = root): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const so = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  const se = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  const dir = process.cwd();
  process.chdir(cwd);
  try {
    let code = 0;
    try {
      await buildProgram().parseAsync(args, { from: 'user' });
    } catch (e) {
      code = reportError(e);
    }
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    process.chdir(dir);
    so.mockRestore();
    se.mockRestore();
  }
}

describe('edeliver commands deliver answers with its own way', () => {
  it.each([
    ['increase', 'minor'],
    ['increase', 'version', '--from=v1.0', '--to=HEAD'],
    ['pack', 'release', '--version=1.0.0'],
    ['unpack', 'upgrade', '--version=1.0.0'],
    ['edit', 'relup', '--version=1.0.0'],
    ['publish'],
  ])('deliver %s …: exit 2, one line', async (...args) => {
    const r = await deliver(args);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`deliver: ${EDELIVER_COMMANDS[args[0]!]}\n`);
    expect(r.err).not.toContain('unknown command');
  });

  it('each answer names a deliver command', () => {
    for (const message of Object.values(EDELIVER_COMMANDS)) expect(message).toMatch(/`deliver [a-z]+/);
  });

  it.each(EDELIVER_OPTIONS.map(([flags, , message]) => [flags.split(', ').at(-1)!.replace(/ <.*>$/, '=x'), message]))('%s on a command: exit 2, one line', async (flag, message) => {
    for (const args of [['ping', 'production', flag], ['deploy', 'release', 'to', 'production', flag], ['build', 'release', flag]]) {
      const r = await deliver(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toBe(`deliver: ${message}\n`);
    }
  });

  it('short forms: -C -D -P -S', async () => {
    for (const [flags, , message] of EDELIVER_OPTIONS.filter(([f]) => f.startsWith('-') && !f.startsWith('--'))) {
      const r = await deliver(['restart', 'staging', flags.split(', ')[0]!]);
      expect(r).toMatchObject({ code: 2, err: `deliver: ${message}\n` });
    }
  });

  it('edeliver\'s `check` word points at deliver check', async () => {
    const r = await deliver(['deploy', 'release', 'to', 'production', 'check']);
    expect(r).toMatchObject({ code: 2, err: "deliver: edeliver's `check` word (a config dry run) is its own command in deliver: deliver check [environment]\n" });
  });

  it('edeliver\'s advertised `check release|config` is deliver check', async () => {
    const project = join(root, 'checked');
    mkdirSync(join(project, '.deliver'), { recursive: true });
    writeFileSync(join(project, '.deliver', 'config'), 'APP=demo\nBUILD_HOST=build\nBUILD_USER=u\nBUILD_AT=/b\nSTAGING_HOSTS=h1\nSTAGING_USER=u\nTEST_AT=/srv\n');
    const plain = await deliver(['check', '--json'], project);
    expect(plain.code).toBe(0);
    for (const word of ['release', 'config']) expect(await deliver(['check', word, '--json'], project)).toEqual(plain);
  });

  it('-v prints the version like --version', async () => {
    const r = await deliver(['-v']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
  });

  it('a custom .deliver/strategies command is named as an edeliver strategy; other words stay unknown commands', async () => {
    const project = join(root, 'project');
    mkdirSync(join(project, '.deliver', 'strategies'), { recursive: true });
    writeFileSync(join(project, '.deliver', 'strategies', 'erlang-seed-db'), 'run() { :; }\n');
    const custom = await deliver(['seed', 'db'], project);
    expect(custom.code).toBe(2);
    expect(custom.err).toBe("deliver: .deliver/strategies/erlang-seed-db is an edeliver custom strategy; deliver does not run strategies: put its steps in hooks (pre_*/post_* functions in .deliver/config) or a script around deliver's commands\n");
    const unknown = await deliver(['pind'], project);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("deliver: error: unknown command 'pind'");
    expect(unknown.err).toContain('(Did you mean one of pid, ping?)');
  });
});

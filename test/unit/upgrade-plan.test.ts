// A host's hot upgrade as a plan: the steps in order (hooks where configured), what each says, its input, and the
// read-only facts before it; the dry run prints exactly these.
import { describe, expect, it } from 'vitest';
import type { HookDef } from '../../src/config/types.js';
import { layoutFor } from '../../src/deploy/layout.js';
import { newOwner } from '../../src/deploy/lock.js';
import { parseHostState } from '../../src/deploy/state.js';
import { statementLines } from '../../src/ssh/quote.js';
import { keepUpgradedCommand } from '../../src/upgrade/install-commands.js';
import { factSteps, nodeTargetOf, upgradeSteps, type UpgradeHost } from '../../src/upgrade/upgrade-plan.js';

const SHA = 'a'.repeat(64);
const l = layoutFor('/srv/app', 'demo');

function host(hooks: HookDef[] = [], kind: UpgradeHost['node']['kind'] = 'mix'): UpgradeHost {
  const state = parseHostState('link=.deliver/demo/releases/0.1.0\nstarted=0.1.0\n[releases]\n0.0.1\n0.0.2\n0.1.0\n[history]\n0.0.1\n0.0.2\n0.1.0\n');
  return {
    cfg: { app: 'demo', env: 'production', version: '0.2.0', keepReleases: 3, hooks: new Map(hooks.map((h) => [h.name, h])), startTimeoutMs: 30_000 },
    tarball: { file: 'demo_0.2.0.upgrade.tar.gz', sha256: SHA, size: 1234 },
    layout: l,
    node: { state, kind, from: '0.1.0', pid: '4242' },
    id: 'x1',
    owner: newOwner('deploy upgrade', '0.2.0'),
  };
}

const hook = (name: string): HookDef => ({ name, body: 'true;', source: `${name}() { true; }`, location: { file: 'config', line: 1 } });

describe('hot upgrade plan', () => {
  it('lock, upload (tarball on stdin), releases, install, check, pid, activate (prune), unlock; each its own command', () => {
    const steps = upgradeSteps(host());
    expect(steps.map((s) => `${s.session}:${s.name}`)).toEqual(['1:lock', '2:upload', '3:releases', '4:install', '5:check', '6:pid', '7:activate', '8:unlock']);
    expect(steps[1]!.input).toEqual({ kind: 'tarball', file: 'demo_0.2.0.upgrade.tar.gz', bytes: 1234 });
    expect(steps.find((s) => s.name === 'install')!.does).toBe('release_handler unpack_release, install_release, make_permanent (rpc): 0.1.0 → 0.2.0 in the running node');
    expect(steps.find((s) => s.name === 'activate')!.does).toBe('copy the running root to /srv/app/.deliver/demo/releases/0.2.0 (unless installed), point /srv/app/demo at it; audit line; prune 0.0.1');
    expect(steps.find((s) => s.name === 'activate')!.script.text).toContain('"action":"upgrade"');
    expect(steps.every((s) => !s.query)).toBe(true);
  });

  it('pre_upgrade_release after the upload, post_upgrade_release after the activation; relx installs with its script', () => {
    const steps = upgradeSteps(host([hook('pre_upgrade_release'), hook('post_upgrade_release')], 'relx'));
    expect(steps.map((s) => s.name)).toEqual(['lock', 'upload', 'pre_upgrade_release', 'releases', 'install', 'check', 'pid', 'activate', 'post_upgrade_release', 'unlock']);
    expect(steps.find((s) => s.name === 'install')!.does).toBe('bin/demo upgrade 0.2.0: 0.1.0 → 0.2.0 in the running node');
    expect(steps.find((s) => s.name === 'pre_upgrade_release')!.script.text).toContain('RELEASE_DIR=/srv/app/.deliver/demo/releases/0.1.0 ');
  });

  it('what --verbose prints for the activation: keep, then activate or exit 7, then the audit line and the pruning', () => {
    const H = '/srv/app/.deliver/demo';
    const R = `${H}/releases`;
    const lines = statementLines(upgradeSteps(host()).find((s) => s.name === 'activate')!.script);
    // First the kept copy (its lines: upgrade-install.test.ts), grouped.
    const keep = keepUpgradedCommand(l, 'mix', '0.2.0', 'x1', `${H}/production.env`);
    const at = lines.indexOf('} &&');
    expect(lines.slice(0, at + 1).map((x) => x.trim()).join(' ')).toBe(`{ ${keep.text}; } &&`);
    const record = lines.lastIndexOf('} &&') + 1;
    expect(lines.slice(at + 1, record)).toEqual([
      '{',
      '  {',
      `    [ -d ${R}/0.2.0 ] ||`,
      '    {',
      "      echo 'release 0.2.0 is not installed on this host' >&2;",
      '      exit 4;',
      '    };',
      '  } &&',
      '  {',
      '    if [ -d /srv/app/demo ] && [ ! -L /srv/app/demo ]; then',
      `      mkdir -p ${R} &&`,
      `      mv -T /srv/app/demo ${R}/edeliver-legacy;`,
      '    fi;',
      '  } &&',
      '  ln -sfn .deliver/demo/releases/0.2.0 /srv/app/demo.tmp-x1 &&',
      '  mv -T /srv/app/demo.tmp-x1 /srv/app/demo &&',
      `  printf '%s\\n' 0.2.0 >> ${H}/history ||`,
      '  exit 7;',
      '} &&',
    ]);
    // The audit line (its time and user vary) and the pruning, which never fail the upgrade.
    expect(lines.slice(record)).toEqual([
      '{',
      '  {',
      '    {',
      `      [ -d ${H} ] ||`,
      `      mkdir -p ${H};`,
      '    } &&',
      expect.stringMatching(new RegExp(`^    printf '%s\\\\n' '\\{.*"action":"upgrade".*\\}' >> ${H}/deploys\\.jsonl;$`)),
      `    cd ${R} && rm -rf -- 0.0.1;`,
      '  } ||',
      '  true;',
      '}',
    ]);
  });

  it('the facts before any change are read-only queries: state, kind, pid, version', () => {
    const steps = factSteps(nodeTargetOf(l, 'production', 30_000), 'mix');
    expect(steps.map((s) => s.name)).toEqual(['state', 'detect', 'node pid', 'version']);
    // The OS pid itself, from the release script: the end check compares it (epmd only says whether it runs).
    expect(steps[2]!.script.text).toMatch(/bin\/demo pid$/);
    expect(steps[2]!.script.text).not.toContain('epmd');
    expect(steps.every((s) => s.query)).toBe(true);
  });
});

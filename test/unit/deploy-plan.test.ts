// The deploy plan as a pure function of (config, release, host state), the command builders it is made of (exact
// text, and run by a real sh), the session scripts a host receives, and the dry run's printed form.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { HookDef } from '../../src/config/types.js';
import { afterAll, describe, expect, it } from 'vitest';
import {
  activateCommand, envFileCommand, healthCheckCommand, inspectCommand, installCommand, installedShaCommand, leftoversCommand, recordCommand, stateCommand, unpackCommand,
  verifyCommand,
} from '../../src/deploy/commands.js';
import { deploySteps, lockStep, parseInspected, startDeploySteps, type DeployConfig, type DeployHost, type Inspected } from '../../src/deploy/deploy-plan.js';
import { layoutFor } from '../../src/deploy/layout.js';
import type { LockOwner } from '../../src/deploy/lock.js';
import { unlockCommand } from '../../src/deploy/lock.js';
import { queryStep, startSteps, waitGoneCommand } from '../../src/deploy/node-plan.js';
import { Output } from '../../src/output/output.js';
import { printPlan } from '../../src/output/plan.js';
import { appendSteps, planJson, StepList, type RunPlan } from '../../src/plan/plan.js';
import { continuationScript, sentScripts } from '../../src/plan/session.js';
import { and, chain, group, ifThen, sh, statementLines } from '../../src/ssh/quote.js';

const tmp = mkdtempSync(join(tmpdir(), 'deliver-plan-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const l = layoutFor('/srv/app', 'demo');
const SHA = 'a'.repeat(64);
const owner: LockOwner = { id: 'own1', user: 'u', machine: 'm', pid: 1, at: 'T', command: 'deploy release', version: '0.2.0' };
const cfg: DeployConfig = {
  app: 'demo',
  env: 'production',
  version: '0.2.0',
  deliverTo: '/srv/app',
  keepReleases: 2,
  startDeploy: false,
  cleanDeploy: false,
  links: {},
  hooks: new Map(),
  healthTimeoutMs: 5_000,
  startTimeoutMs: 10_000,
  lock: { waitMs: 0, ttlMs: 60_000 },
  command: 'deploy release',
};

function host(over: Partial<DeployConfig> = {}, more: Partial<DeployHost> = {}): DeployHost {
  return { cfg: { ...cfg, ...over }, release: { file: 'demo_0.2.0.release.tar.gz', sha256: SHA, size: 1234, pull: false }, layout: l, ids: { id: 'id1', owner }, ...more };
}

const state = (active?: string, releases: string[] = active ? [active] : [], sha = ''): Inspected => ({
  state: { legacyDir: false, releases, history: releases, ...(active ? { active } : {}) },
  installedSha: sha,
});

const names = (steps: { name: string; session: number }[]) => steps.map((s) => `${s.session}:${s.name}`);

function sh0(script: { text: string }): { code: number; stdout: string } {
  const r = spawnSync('sh', ['-c', script.text], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout };
}

describe('command builders: exact text', () => {
  it('state, inspect, installed sha, leftovers', () => {
    expect(stateCommand(l).text).toBe(
      `if [ -L /srv/app/demo ]; then printf 'link=%s\\n' "$(readlink /srv/app/demo)"; else if [ -e /srv/app/demo ]; then echo 'link=<directory>'; else echo 'link='; fi; fi; s=; [ -f /srv/app/.deliver/demo/started ] && IFS= read -r s < /srv/app/.deliver/demo/started; printf 'started=%s\\n' "$s"; echo '[releases]'; for d in /srv/app/.deliver/demo/releases/*; do [ -e "$d" ] && printf '%s\\n' "\${d##*/}"; done; echo '[history]'; if [ -f /srv/app/.deliver/demo/history ]; then tail -n 200 /srv/app/.deliver/demo/history; fi; true`,
    );
    expect(installedShaCommand(l, '0.2.0').text).toBe(`{ x=; [ -f /srv/app/.deliver/demo/releases/0.2.0/.deliver-sha256 ] && IFS= read -r x < /srv/app/.deliver/demo/releases/0.2.0/.deliver-sha256; printf '%s\\n' "$x"; }`);
    expect(inspectCommand(l, '0.2.0').text).toBe(`${stateCommand(l).text}; echo '[installed-sha]'; ${installedShaCommand(l, '0.2.0').text}`);
    expect(leftoversCommand(l).text).toBe(
      `for f in /srv/app/.deliver/demo/incoming/*.part-* /srv/app/.deliver/demo/releases/*.tmp-*; do if [ -e "$f" ] || [ -L "$f" ]; then rm -rf "$f" || exit 1; fi; done`,
    );
  });

  it('install, activate, env file, health check, record, wait for a pid, unlock', () => {
    expect(installCommand(l, '0.2.0', 'id1').text).toBe(
      `{ if [ -e /srv/app/.deliver/demo/releases/0.2.0 ]; then if [ "$(readlink /srv/app/demo 2>/dev/null)" = .deliver/demo/releases/0.2.0 ]; then rm -rf /srv/app/.deliver/demo/releases/0.2.0.tmp-id1; echo 'release 0.2.0 is active here with different content; deploy it under a new version' >&2; exit 5; fi; rm -rf /srv/app/.deliver/demo/releases/0.2.0; fi; } && mv -T /srv/app/.deliver/demo/releases/0.2.0.tmp-id1 /srv/app/.deliver/demo/releases/0.2.0`,
    );
    expect(activateCommand(l, '0.2.0', 'id1').text).toBe(
      `{ [ -d /srv/app/.deliver/demo/releases/0.2.0 ] || { echo 'release 0.2.0 is not installed on this host' >&2; exit 4; }; } && { if [ -d /srv/app/demo ] && [ ! -L /srv/app/demo ]; then mkdir -p /srv/app/.deliver/demo/releases && mv -T /srv/app/demo /srv/app/.deliver/demo/releases/edeliver-legacy; fi; } && ln -sfn .deliver/demo/releases/0.2.0 /srv/app/demo.tmp-id1 && mv -T /srv/app/demo.tmp-id1 /srv/app/demo && printf '%s\\n' 0.2.0 >> /srv/app/.deliver/demo/history`,
    );
    expect(envFileCommand('/srv/app/.deliver/demo/production.env', 'id1').text).toBe(
      `{ (umask 077 && cat > /srv/app/.deliver/demo/production.env.tmp-id1); } && chmod 600 /srv/app/.deliver/demo/production.env.tmp-id1 && mv -f /srv/app/.deliver/demo/production.env.tmp-id1 /srv/app/.deliver/demo/production.env`,
    );
    expect(healthCheckCommand(l, 'curl -fs localhost:4000/health').text).toBe(`cd /srv/app/demo && curl -fs localhost:4000/health`);
    expect(recordCommand(l, { a: 1 }, undefined).text).toBe(
      `{ { [ -d /srv/app/.deliver/demo ] || mkdir -p /srv/app/.deliver/demo; } && printf '%s\\n' '{"a":1}' >> /srv/app/.deliver/demo/deploys.jsonl; true; } || true`,
    );
    expect(waitGoneCommand(42, 1_000).text).toBe(`i=0; while kill -0 42 2>/dev/null; do i=$((i+1)); if [ $i -gt 5 ]; then exit 1; fi; sleep 0.2; done`);
    expect(unlockCommand(l, 'own1').text).toBe(
      `o=; [ -f /srv/app/.deliver/demo/lock/owner.json ] && IFS= read -r o < /srv/app/.deliver/demo/lock/owner.json; case "$o" in *'"id":"own1"'*) rm -rf /srv/app/.deliver/demo/lock ;; *) true;; esac`,
    );
  });

  it('the env file arrives with mode 0600 from stdin (real sh)', () => {
    const f = join(tmp, 'production.env');
    const r = spawnSync('sh', ['-c', envFileCommand(f, 'x').text], { input: 'A=1\n', encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(readFileSync(f, 'utf8')).toBe('A=1\n');
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  it('inspect reads the state and the installed sha without changing anything (real sh)', () => {
    const m = layoutFor(join(tmp, 'none'), 'demo');
    const r = sh0(inspectCommand(m, '0.1.0'));
    expect(r.code).toBe(0);
    expect(parseInspected(r.stdout)).toEqual({ state: { legacyDir: false, releases: [], history: [] }, installedSha: '' });
    expect(() => statSync(join(tmp, 'none'))).toThrow();
  });
});

describe('statement lines', () => {
  it('one statement per line; joined with spaces they are the script', () => {
    const s = chain(sh`a=1`, ifThen(sh`[ -n "$a" ]`, and(sh`echo x`, sh`echo y`), sh`exit 1`), group(chain(sh`b`, sh`c`)));
    expect(statementLines(s)).toEqual(['a=1;', 'if [ -n "$a" ]; then', '  echo x &&', '  echo y;', 'else', '  exit 1;', 'fi;', '{', '  b;', '  c;', '}']);
    for (const script of [s, verifyCommand('/t', SHA, 10), unpackCommand(l, '/t', '0.2.0', 'id1', SHA), activateCommand(l, '0.2.0', 'id1'), lockStep(host()).script]) {
      expect(statementLines(script).map((x) => x.trim()).join(' ')).toBe(script.text);
    }
  });
});

describe('the deploy plan', () => {
  it('a fresh host: every step in the lock session, the upload its input, the release pruned to KEEP_RELEASES', () => {
    const steps = deploySteps(host(), state('0.1.0', ['0.0.1', '0.0.2', '0.1.0']));
    expect(names(steps)).toEqual(['1:lock', '1:upload', '1:verify', '1:unpack', '1:install', '1:activate', '1:record', '1:unlock']);
    expect(steps[1]!.input).toEqual({ kind: 'tarball', file: 'demo_0.2.0.release.tar.gz', bytes: 1234 });
    expect(steps.find((s) => s.name === 'record')!.does).toBe('append to the audit log; prune 0.0.2, 0.0.1');
    expect(steps.find((s) => s.name === 'activate')!.does).toBe('point /srv/app/demo at 0.2.0 (was 0.1.0)');
    expect(sentScripts(steps)).toEqual([steps[0]!.script.text, continuationScript(steps.slice(1)).text]);
  });

  it('the same release installed: nothing sent, activation its own command; --clean-deploy prunes in the lock session', () => {
    const seen = state('0.1.0', ['0.0.1', '0.1.0', '0.2.0'], SHA);
    expect(names(deploySteps(host(), seen))).toEqual(['1:lock', '2:activate', '3:unlock']);
    const clean = deploySteps(host({ cleanDeploy: true }), seen);
    expect(names(clean)).toEqual(['1:lock', '1:clean', '2:activate', '3:unlock']);
    expect(clean[1]!.does).toBe('--clean-deploy: remove the other stored releases 0.0.1');
  });

  it('--pull: the host downloads; an env file and extract hooks get commands of their own', () => {
    const hook: HookDef = { name: 'post_extract_release_archive', body: 'true;', source: 'post_extract_release_archive() { true; }', location: { file: 'config', line: 1 } };
    const h = host({ hooks: new Map([[hook.name, hook]]) }, { release: { file: 'demo_0.2.0.release.tar.gz', sha256: SHA, size: 1234, pull: true }, envFile: { local: '/p/.deliver/production.env', bytes: 9 } });
    const steps = deploySteps(h, state());
    expect(names(steps)).toEqual(['1:lock', '1:download', '1:verify', '2:unpack', '3:post_extract_release_archive', '4:install', '5:env file', '6:activate', '7:unlock']);
    expect(steps[1]!.input).toEqual({ kind: 'presigned-url', file: 'demo_0.2.0.release.tar.gz' });
    expect(steps[6]!.input).toEqual({ kind: 'env-file', local: '/p/.deliver/production.env', bytes: 9 });
  });

  it('CLUSTER_NODE_NAME without a project env file: the host still gets one, with its own lines, in a command of its own', () => {
    const cluster = "# deliver: CLUSTER_NODE_NAME for this host\nRELEASE_NODE=demo_1@10.0.0.1\nRELEASE_DISTRIBUTION=name\nCLUSTER_NODES='demo_1@10.0.0.1 demo_2@10.0.0.2'\n";
    const steps = deploySteps(host({}, { envFile: { bytes: cluster.length, cluster } }), state());
    expect(names(steps)).toEqual(['1:lock', '1:upload', '1:verify', '1:unpack', '1:install', '2:env file', '3:activate', '4:unlock']);
    expect(steps[5]!.does).toBe('write RELEASE_NODE and CLUSTER_NODES for this host to /srv/app/.deliver/demo/production.env (mode 0600)');
    expect(steps[5]!.input).toEqual({ kind: 'env-file', bytes: cluster.length, cluster });
  });

  it('START_DEPLOY: activation, then (from the kind and pid read afterwards) stop, start, health, audit, unlock', () => {
    const h = host({ startDeploy: true, healthCheck: 'true' });
    expect(names(deploySteps(h, state('0.1.0')).slice(-2))).toEqual(['1:install', '2:activate']);
    const running = startDeploySteps(h, state('0.1.0'), 'mix', 4242);
    expect(names(running)).toEqual(['1:stop', '2:stopped', '3:start', '4:registered', '5:up', '6:log', '7:health', '8:record', '9:unlock']);
    expect(running[1]!.does).toBe('wait up to 10s until pid 4242 is gone');
    expect(running.find((s) => s.name === 'health')!.poll).toEqual({ timeoutMs: 5_000, everyMs: 1000, failure: 'health check failed (exit {exit}) after 5s: true' });
    expect(names(startDeploySteps(h, state(), 'mix', undefined))).toEqual(['1:start', '2:registered', '3:up', '4:log', '5:health', '6:record', '7:unlock']);
  });

  it('appendSteps never merges two lists into one session', () => {
    const a = new StepList().add('a', 'a', sh`a`).join('b', 'b', sh`b`).steps;
    expect(names(appendSteps(a, a))).toEqual(['1:a', '1:b', '2:a', '2:b']);
  });
});

describe('the printed plan', () => {
  function capture(opts: { json?: boolean; verbose?: boolean }) {
    let text = '';
    const stream = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
    return { out: new Output({ ...opts, stdout: stream, stderr: stream, color: false }), text: () => text };
  }
  const steps = deploySteps(host(), state('0.1.0'));
  const plan: RunPlan = { title: 'deploy demo 0.2.0 to production', facts: ['release: demo_0.2.0.release.tar.gz'], hosts: [{ host: 'web1', steps: steps.slice(0, 3), facts: ['active: 0.1.0'] }] };

  it("a one-shot action's step is the command's answer, not a step whose failure is ignored (a failed migrate fails)", () => {
    const n = { layout: l, timeoutMs: 1000 };
    const migrate = queryStep(n, 'mix', { action: 'migrate', migration: { action: 'up', app: 'demo' } }, new StepList());
    const log = startSteps(n, 'mix', 'the release', new StepList()).steps.at(-1)!;
    const c = capture({});
    printPlan(c.out, { title: 'migrate', facts: [], hosts: [{ host: 'web1', steps: [...migrate.steps, log], facts: [] }] });
    const [, first, second] = c.text().split(/\n\s+\d+\. /);
    expect(first).toContain("its output and exit status are the command's result");
    expect(first).not.toContain('does not fail the command');
    expect(second).toContain('a failure here does not fail the command');
  });

  it('per host numbered steps with their values; ends saying nothing changed, no ok table', () => {
    const c = capture({});
    printPlan(c.out, plan);
    expect(c.text()).toBe(
      [
        'Dry run: deploy demo 0.2.0 to production',
        '  release: demo_0.2.0.release.tar.gz',
        '',
        'web1',
        '  active: 0.1.0',
        '  steps 1-3 run in one remote shell:',
        "   1. lock: take the deploy lock /srv/app/.deliver/demo/lock, read the host's state, remove leftovers of interrupted deploys",
        '   2. upload: receive demo_0.2.0.release.tar.gz (1234 bytes) into /srv/app/.deliver/demo/incoming/demo_0.2.0.release.tar.gz.part-id1',
        '      stdin: the release tarball demo_0.2.0.release.tar.gz (1234 bytes)',
        `   3. verify: check its size and sha256 ${SHA}`,
        '',
        'Dry run: nothing was changed on any host.',
        '',
      ].join('\n'),
    );
  });

  it('--verbose adds each script one statement per line; --json is the plan as data', () => {
    const v = capture({ verbose: true });
    printPlan(v.out, plan);
    for (const line of statementLines(steps[2]!.script)) expect(v.text()).toContain(`      ${line}\n`);
    const j = capture({ json: true });
    printPlan(j.out, plan);
    expect(JSON.parse(j.text())).toEqual(JSON.parse(JSON.stringify(planJson(plan))));
    expect(JSON.parse(j.text()).hosts[0].steps[1]).toMatchObject({ n: 2, name: 'upload', session: 1, input: { kind: 'tarball', bytes: 1234 } });
  });
});

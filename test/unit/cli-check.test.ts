// `deliver check`, `deliver init` and `deliver help` as a user runs them: the real bin/deliver (the built bundle),
// exit codes, messages with file:line, no stack traces. No SSH is involved.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver, ensureBuilt, expectNoStack, projects } from '../helpers/cli.js';

const { project, cleanup } = projects('deliver-cli-');
beforeAll(ensureBuilt, 120_000);
afterAll(cleanup);

const VALID = [
  '#!/usr/bin/env bash',
  'APP="shop"',
  'BUILD_HOST="build.example.com"',
  'BUILD_USER="builder"',
  'BUILD_AT="/home/builder/shop"',
  'PRODUCTION_HOSTS="web1.example.com web2.example.com"',
  'PRODUCTION_USER="deploy"',
  'DELIVER_TO="/opt"',
  'RELEASE_STORE="s3://AKIAEXAMPLE@$S3_SECRET:releases/shop"',
  'pre_erlang_get_and_update_deps() {',
  '  __sync_remote "ln -sfn ~/prod.secret.exs \'$BUILD_AT/config/prod.secret.exs\'"',
  '}',
  '',
].join('\n');

describe('deliver check', () => {
  it('a broken config: exit 2, file:line, no stack trace', () => {
    const dir = project({ '.deliver/config': 'APP=shop\nBUILD_HOST=b\nPRODUCTION_HOSTS="web1\nPRODUCTION_USER=deploy\n' });
    const r = deliver(dir, ['check', 'production']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('deliver: .deliver/config:3: unexpected EOF while looking for matching `"\'');
    expectNoStack(r.stderr);
    expect(r.stdout).toBe('');
  });

  it('a config that exits: exit 2 naming the line of the exit', () => {
    const dir = project({ '.deliver/config': 'APP=shop\nif [ -z "$CI_TOKEN" ]; then\n  echo "CI_TOKEN missing" >&2\n  exit 1\nfi\n' });
    const r = deliver(dir, ['check', 'production']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('deliver: .deliver/config:4: the config runs `exit 1`');
    expectNoStack(r.stderr);
  });

  it('a valid config: every value with its source, the hooks, what build and deploy use; exit 0', () => {
    const dir = project({ '.deliver/config': VALID, '.deliver/.env': 'S3_SECRET=very-secret-key\n' });
    const r = deliver(dir, ['check', 'to', 'production'], { PRODUCTION_USER: 'ops' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^config \.deliver\/config: read natively$/m);
    expect(r.stdout).toMatch(/^APP\s+shop\s+\.deliver\/config:2$/m);
    expect(r.stdout).toMatch(/^PRODUCTION_USER\s+ops\s+environment \(overrides \.deliver\/config:7\)$/m);
    expect(r.stdout).toMatch(/^S3_SECRET\s+\*\*\*\s+\.deliver\/\.env:1$/m);
    expect(r.stdout).not.toContain('very-secret-key');
    expect(r.stdout).toMatch(/^RELEASE_STORE\s+s3:\/\/AKIAEXAMPLE@\*\*\*:releases\/shop\s+\.deliver\/config:9$/m);
    expect(r.stdout).toMatch(/^KEEP_RELEASES\s+5\s+default$/m);
    expect(r.stdout).toMatch(/^ {2}pre_erlang_get_and_update_deps\s+\.deliver\/config:10$/m);
    expect(r.stdout).toContain('✔ build: on builder@build.example.com in /home/builder/shop');
    expect(r.stdout).toContain('✔ deploy to production: 2 hosts: ops@web1.example.com, ops@web2.example.com → /opt');
    expect(r.stdout).toContain('configuration is valid');
  });

  it('--json: one document with sources, requirements and redacted secrets', () => {
    const dir = project({ '.deliver/config': VALID, '.deliver/.env': 'S3_SECRET=very-secret-key\n' });
    const r = deliver(dir, ['check', 'production', '--json']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('very-secret-key');
    const doc = JSON.parse(r.stdout) as {
      valid: boolean;
      variables: { name: string; value: string; source: string; from: string }[];
      hooks: { name: string; at: string }[];
      requirements: { command: string; satisfied: boolean; missing: string[] }[];
      targets: { hosts: string[]; deliverTo: string };
    };
    expect(doc.valid).toBe(true);
    expect(doc.variables.find((v) => v.name === 'BUILD_AT')).toEqual({ name: 'BUILD_AT', value: '/home/builder/shop', source: 'config', from: '.deliver/config:5' });
    expect(doc.variables.find((v) => v.name === 'S3_SECRET')).toMatchObject({ value: '***', source: 'dotenv', from: '.deliver/.env:1' });
    expect(doc.hooks).toEqual([{ name: 'pre_erlang_get_and_update_deps', at: '.deliver/config:10' }]);
    expect(doc.requirements).toEqual([
      { command: 'build', satisfied: true, missing: [] },
      { command: 'deploy to production', satisfied: true, missing: [] },
    ]);
    expect(doc.targets).toEqual({ environment: 'production', hosts: ['deploy@web1.example.com', 'deploy@web2.example.com'], deliverTo: '/opt' });
  });

  it('--json masks secrets holding " and \\, multi-line keys and API_KEY-style names; check prints none of them', () => {
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUA\n-----END OPENSSH PRIVATE KEY-----';
    const dir = project({
      '.deliver/config': `${VALID}DATABASE_URL="ecto://shop:$DB_PASSWORD@db/shop"\nSIGNING_CERT="$SSH_PRIVATE_KEY"\nAPI_KEY=k-9f8e7d6c5b4a\n`,
      '.deliver/.env': `S3_SECRET=very-secret-key\nDB_PASSWORD='pa"ss\\wd-42'\nSSH_PRIVATE_KEY="${key.replace(/\n/g, '\\n')}"\n`,
    });
    const leaks = /pa"ss|ss\\wd|ss\\\\wd|b3BlbnNzaC1rZXk|k-9f8e7d6c5b4a/;
    const json = deliver(dir, ['check', 'production', '--json']);
    expect(json.code).toBe(0);
    expect(json.stdout).not.toMatch(leaks);
    const doc = JSON.parse(json.stdout) as { variables: { name: string; value: string }[] };
    const value = (name: string) => doc.variables.find((v) => v.name === name)?.value;
    expect(value('DATABASE_URL')).toBe('ecto://shop:***@db/shop');
    expect(value('SIGNING_CERT')).toBe('***');
    expect(value('API_KEY')).toBe('***');
    const human = deliver(dir, ['check', 'production']);
    expect(human.code).toBe(0);
    expect(human.stdout + human.stderr).not.toMatch(leaks);
    expect(human.stdout).toMatch(/^DATABASE_URL\s+ecto:\/\/shop:\*\*\*@db\/shop\s/m);
  });

  it.each([' s3://AKIAEXAMPLE@sup3rs3cretvalue:releases', 's3://AKIAEXAMPLE@sup3rs3cretvalue', 's3://AKIAEXAMPLE@sup3rs3cretvalue:', 's3://AKIAEXAMPLE@sup3r:s3cretvalue:releases'])(
    'RELEASE_STORE %j: the secret is masked in check and check --json',
    (store) => {
    const dir = project({ '.deliver/config': VALID.replace(/^RELEASE_STORE=.*$/m, `RELEASE_STORE='${store}'`) });
    for (const args of [['check', 'production'], ['check', 'production', '--json']]) {
      const r = deliver(dir, args);
      expect(r.stdout).toContain('AKIAEXAMPLE@***');
      expect(r.stdout + r.stderr).not.toMatch(/sup3r|s3cret/);
    }
  });

  it('missing variables and typos: exit 2, what is missing, did-you-mean', () => {
    const dir = project({ '.deliver/config': 'APP=shop\nBUILD_HOST=b\nBUILD_USER=u\nBUILD_AT=/b\nPRODUCTON_HOSTS="web1"\n' });
    const r = deliver(dir, ['check', 'production']);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('✔ build: on u@b in /b');
    expect(r.stdout).toContain('✘ deploy to production: missing PRODUCTION_HOSTS (or PRODUCTION_NODES), PRODUCTION_USER, DELIVER_TO');
    expect(r.stderr).toContain('warning: .deliver/config:5: PRODUCTON_HOSTS: did you mean PRODUCTION_HOSTS?');
    expect(r.stderr).toContain('deliver: .deliver/config: deploy to production needs PRODUCTION_HOSTS (or PRODUCTION_NODES), PRODUCTION_USER, DELIVER_TO');
    expectNoStack(r.stderr);
  });

  it('an invalid value: exit 2 with its file:line', () => {
    const dir = project({ '.deliver/config': 'APP=shop\nSTAGING_HOSTS="s1 s@@2"\nSTAGING_USER=u\nDELIVER_TO=/d\nBUILD_HOST=b\nBUILD_USER=u\nBUILD_AT=/b\n' });
    const r = deliver(dir, ['check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('deliver: .deliver/config:2: invalid host "s@@2": expected [user@]host[:port]');
  });

  it('a deploy-only config (no BUILD_* at all, a CI builds elsewhere) is valid: build is reported as not configured', () => {
    const deployOnly = 'APP=shop\nPRODUCTION_HOSTS="web1 web2"\nPRODUCTION_USER=deploy\nDELIVER_TO=/opt\nRELEASE_STORE="s3://releases/shop"\n';
    const r = deliver(project({ '.deliver/config': deployOnly }), ['check', 'production']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('– build: not configured (no BUILD_HOST): releases reach the store some other way');
    expect(r.stdout).toContain('✔ deploy to production: 2 hosts: deploy@web1, deploy@web2 → /opt');
    expect(r.stdout).toContain('configuration is valid');
    const j = deliver(project({ '.deliver/config': deployOnly }), ['check', 'production', '--json']);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.stdout) as { valid: boolean; buildHost: unknown; requirements: unknown[] };
    expect(doc).toMatchObject({ valid: true, buildHost: null });
    expect(doc.requirements).toEqual([
      { command: 'build', configured: false, satisfied: false, missing: ['BUILD_HOST', 'BUILD_USER', 'BUILD_AT'] },
      { command: 'deploy to production', satisfied: true, missing: [] },
    ]);

    // Still exit 2: what the named environment needs, a half-configured build, a wrong value.
    const staging = deliver(project({ '.deliver/config': deployOnly }), ['check', 'staging']);
    expect(staging.code).toBe(2);
    expect(staging.stderr).toContain('deploy to staging needs STAGING_HOSTS (or STAGING_NODES)');
    const half = deliver(project({ '.deliver/config': `${deployOnly}BUILD_AT=/b\n` }), ['check', 'production']);
    expect(half.code).toBe(2);
    expect(half.stdout).toContain('✘ build: missing BUILD_HOST, BUILD_USER');
    expect(half.stderr).toContain('deliver: .deliver/config: build needs BUILD_HOST, BUILD_USER');
    const wrong = deliver(project({ '.deliver/config': deployOnly.replace('web2', 'w@@2') }), ['check', 'production']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('deliver: .deliver/config:2: invalid host "w@@2"');
  });

  it('a host list that names no host is a config error naming the variable, for check and every command', () => {
    const cfg = 'APP=shop\nPRODUCTION_HOSTS=" , "\nPRODUCTION_USER=deploy\nDELIVER_TO=/opt\nBUILD_HOST=b\nBUILD_USER=u\nBUILD_AT=/b\n';
    for (const args of [['check', 'production'], ['ping', 'production'], ['deploy', 'release', 'to', 'production', '--version=1.0.0']]) {
      const r = deliver(project({ '.deliver/config': cfg }), args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('deliver: .deliver/config:2: PRODUCTION_HOSTS=" , " names no host');
      expect(r.stdout + r.stderr).not.toMatch(/0 of 0/);
      expectNoStack(r.stderr);
    }
    const fromEnv = deliver(project({ '.deliver/config': cfg.replace('PRODUCTION_HOSTS=" , "\n', '') }), ['ping', 'production'], { PRODUCTION_HOSTS: ',' });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain('deliver: PRODUCTION_HOSTS (environment): "," names no host');
    const nodes = deliver(project({ '.deliver/config': cfg.replace('PRODUCTION_HOSTS=" , "', 'PRODUCTION_NODES="  "\nSTAGING_HOSTS=" ,,"') }), ['check', 'staging']);
    expect(nodes.code).toBe(2);
    expect(nodes.stderr).toContain('STAGING_HOSTS=" ,," names no host');
  });

  it('bash-evaluated configs say why', () => {
    const dir = project({ '.deliver/config': VALID.replace('DELIVER_TO="/opt"', 'if [ "$DEPLOY_ENVIRONMENT" = production ]; then DELIVER_TO="/opt/prod"; fi'), '.deliver/.env': 'S3_SECRET=x1234\n' });
    const r = deliver(dir, ['check', 'production']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('config .deliver/config: evaluated with bash (`if` statement at .deliver/config:8)');
    expect(r.stdout).toContain('→ /opt/prod');
  });

  it('usage errors exit 2', () => {
    const dir = project({});
    const r = deliver(dir, ['check', 'staging', 'production']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('deliver: expected one environment, got: staging production');
  });
});

describe('deliver init', () => {
  it('writes a commented config for a mix project, refuses to overwrite without --force', () => {
    const dir = project({ 'mix.exs': 'defmodule Shop.MixProject do\n  def project, do: [app: :shop_web, version: "0.1.0"]\nend\n' });
    const r = deliver(dir, ['init']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('wrote .deliver/config for shop_web (mix, app name from mix.exs)');
    const text = readFileSync(join(dir, '.deliver', 'config'), 'utf8');
    expect(text).toMatch(/^APP="shop_web"$/m);
    expect(text).toContain('# BUILD_HOST=');

    const again = deliver(dir, ['init']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('deliver: .deliver/config already exists; not overwriting it');
    expect(again.stderr).toContain('hint: use --force to replace it');

    const forced = deliver(dir, ['init', '--force', '--app', 'other']);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, '.deliver', 'config'), 'utf8')).toMatch(/^APP="other"$/m);

    // The generated file loads, and check says what is left to set.
    const check = deliver(dir, ['check']);
    expect(check.code).toBe(2);
    expect(check.stdout).toContain('– build: not configured (no BUILD_HOST)');
    expect(check.stdout).toContain('✘ deploy to staging: missing STAGING_HOSTS (or STAGING_NODES)');
    expect(check.stdout).toMatch(/^APP\s+other\s+\.deliver\/config:8$/m);
  });

  it('detects the relx release of a rebar3 project', () => {
    const dir = project({ 'rebar.config': "{relx, [{release, {my_rel, \"0.1.0\"}, [my_app]}]}.\n" });
    const r = deliver(dir, ['init', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ app: 'my_rel', tool: 'rebar3', appFrom: 'rebar.config' });
  });

  it('refuses outside an Elixir/Erlang project', () => {
    const r = deliver(project({ 'README.md': 'x' }), ['init']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^deliver: no mix\.exs or rebar\.config in /m);
  });
});

describe('deliver help', () => {
  it('help <command> prints that command\'s help and exits 0', () => {
    const r = deliver(project({}), ['help', 'check']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: deliver check [options] [environment...]');
    expect(r.stdout).toContain('--json');
  });

  it('a command group without its subcommand prints its help on stderr and exits 2', () => {
    for (const group of ['deploy', 'build', 'show']) {
      const r = deliver(project({}), [group]);
      expect(r.code, group).toBe(2);
      expect(r.stdout, group).toBe('');
      expect(r.stderr, group).toContain(`Usage: deliver ${group} [options] [command]`);
    }
    const bare = deliver(project({}), []);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage: deliver [options] [command]');
    expect(deliver(project({}), ['help']).code).toBe(0);
  });
});

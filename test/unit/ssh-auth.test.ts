import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RemoteError } from '../../src/output/errors.js';
import { authFailure, authHandlerFor, planAuth } from '../../src/ssh/auth.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tmp = tempDirs();

let home: string;
const saved = { HOME: process.env.HOME, SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK };

function keygen(file: string, passphrase = '') {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', file]);
}

beforeEach(() => {
  home = tmp('auth-home-');
  mkdirSync(join(home, '.ssh'));
  process.env.HOME = home; // os.homedir() honours $HOME
  delete process.env.SSH_AUTH_SOCK;
});
afterEach(() => {
  process.env.HOME = saved.HOME;
  if (saved.SSH_AUTH_SOCK === undefined) delete process.env.SSH_AUTH_SOCK;
  else process.env.SSH_AUTH_SOCK = saved.SSH_AUTH_SOCK;
});

const input = (over: Partial<Parameters<typeof planAuth>[0]> = {}) => ({
  label: 'web1',
  username: 'deploy',
  explicitFiles: [],
  configFiles: [],
  identitiesOnly: false,
  ...over,
});

describe('planAuth', () => {
  it('an encrypted default key without an agent is a clear error', async () => {
    keygen(join(home, '.ssh', 'id_rsa'), 'secret');
    const err = await planAuth(input()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as Error).message).toBe('web1: ~/.ssh/id_rsa is encrypted and no ssh-agent is running (SSH_AUTH_SOCK unset): run ssh-add');
  });

  it('no keys and no agent names what was looked for', async () => {
    const err = await planAuth(input()).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/web1: no SSH key to log in with: .*~\/\.ssh\/id_ed25519, ~\/\.ssh\/id_ecdsa, ~\/\.ssh\/id_rsa/);
  });

  it('uses default keys in order, skipping missing and encrypted ones', async () => {
    keygen(join(home, '.ssh', 'id_ecdsa'), 'secret');
    keygen(join(home, '.ssh', 'id_rsa'));
    const plan = await planAuth(input());
    expect(plan.keys.map((k) => k.file)).toEqual([join(home, '.ssh', 'id_rsa')]);
    expect(plan.skipped).toEqual([{ file: join(home, '.ssh', 'id_ecdsa'), reason: 'encrypted (needs ssh-agent)' }]);
    expect(plan.agent).toBeUndefined();
  });

  it('explicit and config identity files replace the defaults, explicit first; missing ones are reported', async () => {
    keygen(join(home, '.ssh', 'id_ed25519'));
    keygen(join(home, 'a'));
    keygen(join(home, 'b'));
    const plan = await planAuth(input({ explicitFiles: [join(home, 'b')], configFiles: [join(home, 'a'), join(home, 'missing')] }));
    expect(plan.keys.map((k) => k.file)).toEqual([join(home, 'b'), join(home, 'a')]);
    expect(plan.skipped).toEqual([{ file: join(home, 'missing'), reason: 'not found' }]);
  });

  it('offers the agent first, then keys, and records what was tried for the failure message', async () => {
    keygen(join(home, '.ssh', 'id_ed25519'));
    process.env.SSH_AUTH_SOCK = join(home, 'agent.sock');
    const plan = await planAuth(input());
    expect(plan.agentSocket).toBe(join(home, 'agent.sock'));
    const handler = authHandlerFor(plan);
    const steps: unknown[] = [];
    const next = (m: unknown) => steps.push(m);
    handler(null as never, null as never, next as never);
    handler(['publickey'], false, next as never);
    handler(['publickey'], false, next as never);
    expect((steps[0] as { type: string }).type).toBe('agent');
    expect((steps[1] as { type: string }).type).toBe('publickey');
    expect(steps[2]).toBe(false);
    const err = authFailure('web1', plan, '10.0.0.5', 2222);
    expect(err.message).toBe('web1: authentication failed for deploy@10.0.0.5:2222; tried: ssh-agent, ~/.ssh/id_ed25519');
  });

  it('stops offering keys when the server no longer accepts publickey', async () => {
    keygen(join(home, '.ssh', 'id_ed25519'));
    const plan = await planAuth(input());
    const steps: unknown[] = [];
    authHandlerFor(plan)(['password'], false, ((m: unknown) => steps.push(m)) as never);
    expect(steps).toEqual([false]);
  });

  it('IdentityAgent none ignores SSH_AUTH_SOCK', async () => {
    keygen(join(home, '.ssh', 'id_ed25519'));
    process.env.SSH_AUTH_SOCK = '/tmp/some.sock';
    const plan = await planAuth(input({ identityAgent: null }));
    expect(plan.agent).toBeUndefined();
  });
});

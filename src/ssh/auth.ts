// Which credentials to offer a host, in OpenSSH's order: ssh-agent keys, then identity files (IdentityFile,
// explicit --identity files, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa). No prompts: deliver runs unattended,
// so an encrypted key without an agent is a clear error rather than a passphrase question.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { AuthHandlerMiddleware, AuthenticationType, IdentityCallback, NextAuthHandler, OpenSSHAgent, ParsedKey } from 'ssh2';
import { RemoteError } from '../output/errors.js';
import { tildify } from './host-key.js';

const { utils } = ssh2;
const AgentBase = ssh2.OpenSSHAgent;

export interface KeyFile {
  file: string;
  data: Buffer;
}

export interface AuthPlan {
  username: string;
  /** Agent socket to use (also needed for agent forwarding), if any. */
  agentSocket?: string;
  /** Agent restricted to the identity files' public keys (IdentitiesOnly=yes), else the whole agent. */
  agent?: OpenSSHAgent;
  keys: KeyFile[];
  /** Identity files that could not be used, with why (shown when authentication fails). */
  skipped: { file: string; reason: string }[];
  /** Labels of the methods actually offered, filled in while authenticating. */
  tried: string[];
}

export interface AuthInput {
  label: string;
  username: string;
  /** Explicit identity files (from deliver's options), tried before those from ssh config. */
  explicitFiles: string[];
  configFiles: string[];
  identitiesOnly: boolean;
  /** IdentityAgent from ssh config: a path, null for none, undefined for $SSH_AUTH_SOCK. */
  identityAgent?: string | null;
}

export function defaultIdentityFiles(home = homedir()): string[] {
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((n) => join(home, '.ssh', n));
}

/** An agent that only offers the given public keys (IdentitiesOnly=yes still signs through the agent). */
class FilteredAgent extends AgentBase {
  constructor(
    socket: string,
    private readonly allowed: Set<string>,
  ) {
    super(socket);
  }
  override getIdentities(cb: IdentityCallback<ParsedKey>): void {
    super.getIdentities((err, keys) => {
      if (err) return cb(err);
      // OpenSSHAgent hands back parsed keys; anything else cannot be matched, so it is not offered
      const parsed = (keys ?? []).filter((k): k is ParsedKey => typeof (k as ParsedKey).getPublicSSH === 'function');
      cb(undefined, parsed.filter((k) => this.allowed.has(k.getPublicSSH().toString('base64'))));
    });
  }
}

async function publicBlob(file: string, data: Buffer | undefined): Promise<string | undefined> {
  if (data) {
    const k = utils.parseKey(data);
    if (!(k instanceof Error)) return (Array.isArray(k) ? k[0]! : k).getPublicSSH().toString('base64');
  }
  try {
    const pub = utils.parseKey(await readFile(`${file}.pub`));
    if (!(pub instanceof Error)) return (Array.isArray(pub) ? pub[0]! : pub).getPublicSSH().toString('base64');
  } catch {
    // no .pub next to it
  }
  return undefined;
}

/** Reads the candidate keys and decides what to offer; throws a RemoteError when nothing could possibly work. */
export async function planAuth(input: AuthInput): Promise<AuthPlan> {
  const agentSocket =
    input.identityAgent === null ? undefined : input.identityAgent ?? (process.env.SSH_AUTH_SOCK || undefined);
  const named = [...input.explicitFiles, ...input.configFiles];
  const candidates = named.length > 0 ? named : defaultIdentityFiles();
  const usingDefaults = named.length === 0;
  const keys: KeyFile[] = [];
  const skipped: AuthPlan['skipped'] = [];
  const encrypted: string[] = [];
  const allowedBlobs = new Set<string>();
  const seen = new Set<string>();

  for (const file of candidates) {
    if (seen.has(file)) continue;
    seen.add(file);
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (err) {
      if (!usingDefaults) skipped.push({ file, reason: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message });
      continue;
    }
    const parsed = utils.parseKey(data);
    if (parsed instanceof Error) {
      if (/encrypted/i.test(parsed.message)) {
        encrypted.push(file);
        skipped.push({ file, reason: 'encrypted (needs ssh-agent)' });
        const blob = await publicBlob(file, undefined);
        if (blob) allowedBlobs.add(blob);
      } else {
        skipped.push({ file, reason: `not a usable private key (${parsed.message})` });
      }
      continue;
    }
    const blob = await publicBlob(file, data);
    if (blob) allowedBlobs.add(blob);
    keys.push({ file, data });
  }

  let agent: OpenSSHAgent | undefined;
  if (agentSocket) agent = input.identitiesOnly ? new FilteredAgent(agentSocket, allowedBlobs) : new AgentBase(agentSocket);

  if (!agent && keys.length === 0) {
    if (encrypted.length > 0) {
      throw new RemoteError(
        input.label,
        `${tildify(encrypted[0]!)} is encrypted and no ssh-agent is running (SSH_AUTH_SOCK unset): run ssh-add`,
        { hint: 'start an agent with `eval "$(ssh-agent)"`, then `ssh-add` the key (deliver never prompts for passphrases)' },
      );
    }
    const looked = (usingDefaults ? candidates : named).map(tildify).join(', ');
    throw new RemoteError(input.label, `no SSH key to log in with: no ssh-agent (SSH_AUTH_SOCK unset) and no usable key among ${looked}`, {
      hint: 'set IdentityFile in ~/.ssh/config or start ssh-agent and ssh-add your key',
    });
  }
  return { username: input.username, ...(agentSocket ? { agentSocket } : {}), ...(agent ? { agent } : {}), keys, skipped, tried: [] };
}

/** ssh2 authHandler offering the plan's methods one after another, recording what was tried. */
export function authHandlerFor(plan: AuthPlan): AuthHandlerMiddleware {
  const queue: (() => unknown)[] = [];
  if (plan.agent) {
    const agent = plan.agent;
    queue.push(() => {
      plan.tried.push('ssh-agent');
      return { type: 'agent', username: plan.username, agent };
    });
  }
  for (const k of plan.keys) {
    queue.push(() => {
      plan.tried.push(tildify(k.file));
      return { type: 'publickey', username: plan.username, key: k.data };
    });
  }
  return (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, next: NextAuthHandler) => {
    const offersKeys = methodsLeft === null || methodsLeft.includes('publickey');
    const step = offersKeys ? queue.shift() : undefined;
    next((step ? step() : false) as Parameters<NextAuthHandler>[0]);
  };
}

export function authFailure(label: string, plan: AuthPlan, host: string, port: number): RemoteError {
  const tried = plan.tried.length > 0 ? plan.tried.join(', ') : 'nothing';
  const skipped = plan.skipped.length > 0 ? `; skipped: ${plan.skipped.map((s) => `${tildify(s.file)} (${s.reason})`).join(', ')}` : '';
  return new RemoteError(label, `authentication failed for ${plan.username}@${host}:${port}; tried: ${tried}${skipped}`, {
    hint: 'check the user name and that your public key is in ~/.ssh/authorized_keys on the host',
  });
}

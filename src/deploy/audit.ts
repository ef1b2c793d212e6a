// The on-host audit log (`.deliver/$APP/deploys.jsonl`): one JSON line per deploy, hot upgrade or rollback, read back by
// `deliver show deploys <env>`.
import { hostname, userInfo } from 'node:os';
import { redactValue } from '../output/redact.js';

export interface AuditEntry {
  at: string;
  action: 'deploy' | 'rollback' | 'upgrade';
  env: string;
  version: string;
  previous?: string;
  result: 'ok' | 'failed';
  step?: string;
  error?: string;
  user: string;
  machine: string;
  started?: boolean;
}

export function auditEntry(fields: Omit<AuditEntry, 'at' | 'user' | 'machine'>): AuditEntry {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // keep $USER
  }
  // Registered secrets are masked (a failed HEALTH_CHECK's error carries its command text), before the error is cut
  // to one bounded line (the audit log is for people, the full error is in the command's output): a cut never
  // leaves half a secret.
  const e: AuditEntry = redactValue({ at: new Date().toISOString(), ...fields, user, machine: hostname() });
  if (e.error) e.error = e.error.split('\n')[0]!.slice(0, 300);
  return e;
}

export function parseAuditLog(text: string): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    try {
      const e = JSON.parse(t) as AuditEntry;
      if (e && typeof e.at === 'string' && typeof e.version === 'string') out.push(e);
    } catch {
      // a line cut by a full disk or a crash: skip it
    }
  }
  return out;
}

// `.deliver/.env` (next to the config): secrets and per-machine values, parsed with dotenv. It never overrides the
// real environment, and values whose names look secret are registered for redaction before anything is printed.
import { existsSync } from 'node:fs';
import { parse } from 'dotenv';
import { addSecret, isSecretName } from '../output/redact.js';
import { readConfigText } from './text-file.js';

export interface DotenvValue {
  value: string;
  line: number;
}

/** Values of the .env file with the line each was set on (the last assignment wins, as dotenv does). */
export function readDotenv(path: string, display = path): Map<string, DotenvValue> | undefined {
  if (!existsSync(path)) return undefined;
  const text = readConfigText(path, display);
  const values = parse(text);
  const lines = text.split('\n');
  const out = new Map<string, DotenvValue>();
  for (const [name, value] of Object.entries(values)) {
    const re = new RegExp(`^\\s*(?:export\\s+)?${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*[=:]`);
    let line = 0;
    lines.forEach((l, i) => {
      if (re.test(l)) line = i + 1;
    });
    out.set(name, { value, line: line || 1 });
    if (isSecretName(name)) addSecret(value);
  }
  return out;
}

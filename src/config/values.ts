// The one parser of each kind of setting value: booleans, whole numbers, seconds. validateSettings and the typed
// config objects (typed.ts) both use them, so `deliver check` reports exactly what a command would fail on.
import { failAt as fail, type Where } from './hosts.js';

const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off)$/i;

/** true/yes/1/on or false/no/0/off (any case); undefined when unset, empty or anything else (validation warns). */
export function parseBoolean(value: string | undefined): boolean | undefined {
  const v = value?.trim() ?? '';
  return TRUE.test(v) ? true : FALSE.test(v) ? false : undefined;
}

/** A whole number of at least 1 (KEEP_RELEASES, SSH_CONCURRENCY). */
export function parseWholeNumber(value: string, name: string, where: Where): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) fail(where, `${name}=${JSON.stringify(value)}: expected a whole number of at least 1`);
  return Number(value);
}

/** Positive seconds (SSH_TIMEOUT, START_TIMEOUT, ...), returned in milliseconds. */
export function parseSecondsMs(value: string, name: string, where: Where): number {
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || Number(value) <= 0) fail(where, `${name}=${JSON.stringify(value)}: expected seconds (a positive number)`);
  return Math.round(Number(value) * 1000);
}

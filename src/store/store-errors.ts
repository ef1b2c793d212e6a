// One-line errors for store operations: always naming the store and the object, never a credential.
import { DeliverError, InterruptedError } from '../output/errors.js';

/** Keeps DeliverErrors as they are; turns anything else into `<store>: cannot <action>: <reason>`. */
export function wrapStoreError(store: string, action: string, err: unknown): DeliverError {
  if (err instanceof DeliverError) return err;
  const e = err as (Error & { code?: string }) | undefined;
  if (e?.name === 'AbortError') return new InterruptedError(`${store}: ${action}: interrupted`);
  const reason = (e?.message ?? String(err)).split('\n')[0] ?? 'unknown error';
  return new DeliverError(`${store}: cannot ${action}: ${reason}`, { cause: err });
}

export function alreadyExists(store: string, file: string): DeliverError {
  return new DeliverError(`${store}: ${file} already exists; use --force to overwrite it`);
}

export function notFound(store: string, file: string): DeliverError {
  return new DeliverError(`${store}: ${file} not found`, { hint: 'list what the store holds with `deliver show releases`' });
}

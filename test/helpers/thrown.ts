// The DeliverError a function throws (a test failure when it throws nothing or something else).
import { expect } from 'vitest';
import { DeliverError } from '../../src/output/errors.js';

export function thrown(fn: () => unknown): DeliverError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DeliverError);
    return err as DeliverError;
  }
  throw new Error('expected an error');
}

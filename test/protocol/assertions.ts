/** Assertions the protocol tests share. */
import assert from 'node:assert/strict';
import type { ProtocolError } from '../../src/protocol/errors.ts';

/** Asserts `fn` throws an error of class `cls` (checked by name, as production code does). */
export function throwsNamed(fn: () => unknown, cls: { name: string }, field?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof Error, 'an Error');
    assert.equal(err.name, cls.name, `${err.name}: ${err.message}`);
    if (field !== undefined) assert.equal((err as ProtocolError).field, field);
    return true;
  });
}

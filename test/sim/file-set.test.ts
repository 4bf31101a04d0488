import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRng } from '../../src/core/clock.ts';
import { FileSet } from '../../src/sim/file-set.ts';

test('FileSet agrees with a Set under random adds and deletes (growth, collisions, backward-shift deletion)', () => {
  const rng = seededRng(3);
  const s = new FileSet(2);
  const ref = new Set<number>();
  for (let k = 0; k < 20_000; k++) {
    const v = rng.next() < 0.8 ? Math.floor(rng.next() * 300) : Math.floor(rng.next() * 2 ** 30);
    if (rng.next() < 0.55) {
      s.add(v);
      ref.add(v);
    } else {
      assert.equal(s.delete(v), ref.delete(v), `delete ${v} at step ${k}`);
    }
    const probe = Math.floor(rng.next() * 300);
    assert.equal(s.has(probe), ref.has(probe), `has ${probe} at step ${k}`);
    assert.equal(s.size, ref.size);
  }
  for (const v of ref) assert.ok(s.has(v));
});

test('FileSet refuses values it cannot store', () => {
  const s = new FileSet();
  for (const v of [-1, 0.5, 2 ** 31]) assert.throws(() => s.add(v), RangeError);
  s.add(0);
  assert.ok(s.has(0));
  assert.ok(!s.has(1));
});

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

test('FileSet with a universe agrees with a Set as it turns into a bitmap, and refuses values outside the universe', () => {
  for (const universe of [5, 300, 4_000]) {
    const rng = seededRng(universe);
    const s = new FileSet(2, universe);
    const ref = new Set<number>();
    for (let k = 0; k < 20_000; k++) {
      const v = Math.floor(rng.next() * universe);
      // Mostly adds first, so the set grows past the switch; then as many deletes as adds.
      if (rng.next() < (k < 10_000 ? 0.8 : 0.45)) assert.equal(s.add(v), !ref.has(v) && ref.add(v) !== undefined);
      else assert.equal(s.delete(v), ref.delete(v), `delete ${v} at step ${k}`);
      const probe = Math.floor(rng.next() * (universe + 40));
      assert.equal(s.has(probe), ref.has(probe), `has ${probe} at step ${k}`);
      assert.equal(s.size, ref.size);
    }
    for (let v = 0; v < universe; v++) assert.equal(s.has(v), ref.has(v));
    assert.throws(() => s.add(universe), RangeError);
  }
  assert.throws(() => new FileSet(8, -1), RangeError);
});

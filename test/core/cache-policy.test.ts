import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CachePolicy, defaultCacheSize } from '../../src/core/cache-policy.ts';
import { defaultConfig } from '../../src/core/config.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

test('fits without evicting while under the limit', () => {
  const p = new CachePolicy(100);
  p.add('a', 40, 1);
  p.add('b', 40, 2);
  assert.equal(p.used, 80);
  assert.deepEqual(p.evictionsToFit(20), []);
  assert.deepEqual(p.evictionsToFit(21), ['a']);
});

test('evicts least recently played first; a play moves a file to the back', () => {
  const p = new CachePolicy(100);
  p.add('a', 30, 1);
  p.add('b', 30, 2);
  p.add('c', 30, 3);
  p.touch('a', 10);
  assert.deepEqual(p.evictionsToFit(41), ['b', 'c']);
  assert.deepEqual(p.evictionsToFit(11), ['b']);
  // Asking does not change anything: the caller deletes and removes.
  assert.equal(p.used, 90);
  for (const id of p.evictionsToFit(41)) p.remove(id);
  assert.equal(p.used, 30);
  assert.deepEqual([...p.entries()].map((f) => f.fileId), ['a']);
});

test('pinned files are skipped, and pins are counted', () => {
  const p = new CachePolicy(100);
  p.add('a', 50, 1);
  p.add('b', 50, 2);
  p.pin('a');
  p.pin('a');
  assert.deepEqual(p.evictionsToFit(10), ['b']);
  p.unpin('a');
  assert.ok(p.isPinned('a'));
  assert.deepEqual(p.evictionsToFit(10), ['b']);
  p.unpin('a');
  assert.ok(!p.isPinned('a'));
  assert.deepEqual(p.evictionsToFit(10), ['a']);
  p.unpin('a'); // unbalanced: harmless
  assert.ok(!p.isPinned('a'));
});

test('when only pinned files would help, every unpinned one goes and the cache stays over', () => {
  const p = new CachePolicy(100);
  p.pin('playing'); // pinned before it is known, as a download starts
  p.add('playing', 90, 5);
  p.add('old', 10, 1);
  assert.deepEqual(p.evictionsToFit(50), ['old']);
});

test('partial files grow with resize; remove keeps pins', () => {
  const p = new CachePolicy(100);
  p.add('a', 0, 1);
  p.resize('a', 64);
  p.resize('a', 80);
  assert.equal(p.used, 80);
  assert.equal(p.get('a')?.bytes, 80);
  p.pin('a');
  p.remove('a');
  assert.equal(p.used, 0);
  assert.ok(p.isPinned('a'));
  assert.equal(p.resize('unknown', 5), false);
  assert.equal(p.touch('unknown', 5), false);
  p.add('a', 10, 1);
  p.add('a', 20, 2); // re-adding replaces
  assert.equal(p.used, 20);
  assert.throws(() => p.add('x', -1, 0), RangeError);
});

test('ties in last play are broken by id, so the order is deterministic', () => {
  const p = new CachePolicy(10);
  p.add('b', 10, 7);
  p.add('a', 10, 7);
  assert.deepEqual(p.evictionsToFit(0), ['a']);
});

test('defaultCacheSize: 10 % of free disk, at most 10 GiB, at least 50 MiB', () => {
  assert.equal(defaultCacheSize(10 * GiB, defaultConfig), GiB);
  assert.equal(defaultCacheSize(1000 * GiB, defaultConfig), 10 * GiB);
  assert.equal(defaultCacheSize(100 * MiB, defaultConfig), 50 * MiB);
  assert.equal(defaultCacheSize(0, defaultConfig), 50 * MiB);
  assert.equal(defaultCacheSize(Number.NaN, defaultConfig), 50 * MiB);
  assert.equal(defaultCacheSize(1001, { ...defaultConfig, cacheMinBytes: 0 }), 100);
});

type Op =
  | { kind: 'add'; id: number; bytes: number }
  | { kind: 'touch'; id: number }
  | { kind: 'pin'; id: number }
  | { kind: 'unpin'; id: number }
  | { kind: 'grow'; id: number; bytes: number }
  | { kind: 'incoming'; bytes: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), id: fc.nat(15), bytes: fc.nat(60) }),
  fc.record({ kind: fc.constant('touch' as const), id: fc.nat(15) }),
  fc.record({ kind: fc.constant('pin' as const), id: fc.nat(15) }),
  fc.record({ kind: fc.constant('unpin' as const), id: fc.nat(15) }),
  fc.record({ kind: fc.constant('grow' as const), id: fc.nat(15), bytes: fc.nat(30) }),
  fc.record({ kind: fc.constant('incoming' as const), bytes: fc.nat(120) }),
);

test('property: after the evictions everything fits unless the rest is pinned, and the evicted are the least recently played unpinned', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 200 }), fc.array(opArb, { maxLength: 80 }), (limit, ops) => {
      const p = new CachePolicy(limit);
      let now = 0;
      for (const op of ops) {
        now++;
        const id = 'id' in op ? `f${op.id}` : '';
        switch (op.kind) {
          case 'add':
            if (!p.has(id)) p.add(id, op.bytes, now);
            break;
          case 'touch':
            p.touch(id, now);
            break;
          case 'pin':
            p.pin(id);
            break;
          case 'unpin':
            p.unpin(id);
            break;
          case 'grow':
            if (p.has(id)) p.resize(id, p.get(id)!.bytes + op.bytes);
            break;
          case 'incoming': {
            const before = [...p.entries()].map((f) => ({ ...f }));
            const evicted = p.evictionsToFit(op.bytes);
            const evictedSet = new Set(evicted);
            assert.equal(evictedSet.size, evicted.length, 'no duplicates');
            for (const fileId of evicted) assert.ok(!p.isPinned(fileId), 'never a pinned file');
            const kept = before.filter((f) => !evictedSet.has(f.fileId));
            const keptUnpinned = kept.filter((f) => !p.isPinned(f.fileId));
            const evictedFiles = before.filter((f) => evictedSet.has(f.fileId));
            // Least recently played first: nothing kept and unpinned was played before anything evicted.
            const newestEvicted = Math.max(-Infinity, ...evictedFiles.map((f) => f.lastPlayedMs));
            for (const f of keptUnpinned) assert.ok(f.lastPlayedMs >= newestEvicted, `${f.fileId} kept though older`);
            // In order, oldest first.
            for (let i = 1; i < evictedFiles.length; i++) {
              const order = evicted.map((fileId) => before.find((f) => f.fileId === fileId)!.lastPlayedMs);
              assert.ok(order[i - 1]! <= order[i]!);
            }
            for (const fileId of evicted) p.remove(fileId);
            const fits = p.used + op.bytes <= limit;
            if (!fits) assert.equal(keptUnpinned.length, 0, 'over the limit only when everything left is pinned');
            // Minimal: without the last evicted file it would not have fitted.
            if (evicted.length > 0) {
              const last = evictedFiles.find((f) => f.fileId === evicted[evicted.length - 1])!;
              if (fits) assert.ok(p.used + last.bytes + op.bytes > limit, 'evicted one file too many');
            }
            // The incoming data is then stored: it becomes a new file, as in the disk cache.
            p.add(`in${now}`, op.bytes, now);
            break;
          }
        }
        assert.equal(p.used, [...p.entries()].reduce((sum, f) => sum + f.bytes, 0));
      }
    }),
    { numRuns: 500 },
  );
});

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

test('a freed slot is reused without mixing files up', () => {
  const p = new CachePolicy(1000);
  p.add('a', 10, 1);
  p.add('b', 20, 2);
  p.add('c', 30, 3);
  assert.ok(p.remove('b'));
  assert.ok(!p.remove('b'));
  p.add('d', 40, 4);
  p.add('e', 50, 0);
  assert.equal(p.has('b'), false);
  assert.equal(p.get('b'), undefined);
  assert.deepEqual(p.get('a'), { fileId: 'a', bytes: 10, lastPlayedMs: 1 });
  assert.deepEqual(p.get('c'), { fileId: 'c', bytes: 30, lastPlayedMs: 3 });
  assert.deepEqual(p.get('d'), { fileId: 'd', bytes: 40, lastPlayedMs: 4 });
  assert.deepEqual(p.get('e'), { fileId: 'e', bytes: 50, lastPlayedMs: 0 });
  assert.equal(p.count, 4);
  assert.equal(p.used, 130);
  assert.deepEqual([...p.entries()].map((f) => f.fileId).sort(), ['a', 'c', 'd', 'e']);
  assert.deepEqual(p.evictionsToFit(1000), ['e', 'a', 'c', 'd']);
});

test('re-adding a file replaces what is known of it', () => {
  const p = new CachePolicy(100);
  p.add('a', 10, 1);
  p.add('b', 20, 2);
  p.add('a', 5, 3);
  assert.equal(p.count, 2);
  assert.equal(p.used, 25);
  assert.deepEqual(p.get('a'), { fileId: 'a', bytes: 5, lastPlayedMs: 3 });
  assert.deepEqual(p.evictionsToFit(100), ['b', 'a']);
  p.remove('a');
  p.add('a', 7, 0);
  assert.equal(p.used, 27);
  assert.deepEqual(p.evictionsToFit(100), ['a', 'b']);
});

test('get gives a copy', () => {
  const p = new CachePolicy(100);
  p.add('a', 10, 1);
  const got = p.get('a')!;
  got.bytes = 99;
  got.lastPlayedMs = 99;
  assert.deepEqual(p.get('a'), { fileId: 'a', bytes: 10, lastPlayedMs: 1 });
  assert.equal(p.used, 10);
});

test('equal last plays are evicted in id order, whatever the order they were added in', () => {
  const ids = Array.from({ length: 40 }, (_, i) => `f${(i * 17) % 40}`);
  const p = new CachePolicy(0);
  for (const [i, id] of ids.entries()) p.add(id, 1, i % 2 === 0 ? 5 : 3);
  const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const threes = ids.filter((_, i) => i % 2 === 1).sort(byId);
  const fives = ids.filter((_, i) => i % 2 === 0).sort(byId);
  assert.deepEqual(p.evictionsToFit(0), [...threes, ...fives]);
  for (let k = 1; k <= 40; k++) assert.deepEqual(p.evictionsToFit(0).slice(0, k), [...threes, ...fives].slice(0, k));
  // -0 and 0, and two infinities, are equal times too.
  const q = new CachePolicy(0);
  q.add('z', 1, 0);
  q.add('y', 1, -0);
  q.add('x', 1, Infinity);
  q.add('w', 1, Infinity);
  q.add('v', 1, -Infinity);
  assert.deepEqual(q.evictionsToFit(0), ['v', 'y', 'z', 'w', 'x']);
});

test('the byte checks throw the same RangeErrors', () => {
  assert.throws(() => new CachePolicy(-1), { name: 'RangeError', message: 'limit must be a finite number of bytes >= 0, got -1' });
  const p = new CachePolicy(10);
  assert.throws(() => (p.limit = Number.NaN), { name: 'RangeError', message: 'limit must be a finite number of bytes >= 0, got NaN' });
  assert.throws(() => p.add('a', Infinity, 0), { name: 'RangeError', message: 'bytes must be a finite number of bytes >= 0, got Infinity' });
  assert.equal(p.has('a'), false);
  p.add('a', 1, 0);
  assert.throws(() => p.resize('a', -2), { name: 'RangeError', message: 'bytes must be a finite number of bytes >= 0, got -2' });
  assert.throws(() => p.resize('unknown', -2), RangeError);
  assert.throws(() => p.evictionsToFit(-1), { name: 'RangeError', message: 'incomingBytes must be a finite number of bytes >= 0, got -1' });
  assert.equal(p.used, 1);
  assert.equal(p.limit, 10);
});

/** The policy as it was first written (a map of objects, sorted on each eviction): the behaviour to keep. */
class ReferencePolicy {
  readonly files = new Map<string, { fileId: string; bytes: number; lastPlayedMs: number }>();
  readonly pins = new Map<string, number>();
  used = 0;
  constructor(public limit: number) {}
  add(fileId: string, bytes: number, lastPlayedMs: number): void {
    this.remove(fileId);
    this.files.set(fileId, { fileId, bytes, lastPlayedMs });
    this.used += bytes;
  }
  touch(fileId: string, nowMs: number): boolean {
    const f = this.files.get(fileId);
    if (f) f.lastPlayedMs = nowMs;
    return f !== undefined;
  }
  resize(fileId: string, bytes: number): boolean {
    const f = this.files.get(fileId);
    if (!f) return false;
    this.used += bytes - f.bytes;
    f.bytes = bytes;
    return true;
  }
  remove(fileId: string): boolean {
    const f = this.files.get(fileId);
    if (!f) return false;
    this.used -= f.bytes;
    this.files.delete(fileId);
    return true;
  }
  pin(fileId: string): void {
    this.pins.set(fileId, (this.pins.get(fileId) ?? 0) + 1);
  }
  unpin(fileId: string): void {
    const n = this.pins.get(fileId) ?? 0;
    if (n <= 1) this.pins.delete(fileId);
    else this.pins.set(fileId, n - 1);
  }
  evictionsToFit(incomingBytes: number): string[] {
    let over = this.used + incomingBytes - this.limit;
    if (over <= 0) return [];
    const candidates = [...this.files.values()]
      .filter((f) => !this.pins.has(f.fileId))
      .sort((a, b) => a.lastPlayedMs - b.lastPlayedMs || (a.fileId < b.fileId ? -1 : a.fileId > b.fileId ? 1 : 0));
    const evict: string[] = [];
    for (const f of candidates) {
      if (over <= 0) break;
      evict.push(f.fileId);
      over -= f.bytes;
    }
    return evict;
  }
}

type RefOp =
  | { kind: 'add'; id: number; bytes: number; at: number }
  | { kind: 'touch'; id: number; at: number }
  | { kind: 'resize'; id: number; bytes: number }
  | { kind: 'remove'; id: number }
  | { kind: 'pin'; id: number }
  | { kind: 'unpin'; id: number }
  | { kind: 'evict'; bytes: number; apply: boolean }
  | { kind: 'limit'; bytes: number };

// Few distinct times, so ties are common; and the odd ones (NaN compares as a tie with anything).
const atArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: -3, max: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 0.5) },
);
const bytesArb = fc.oneof({ weight: 8, arbitrary: fc.nat(50) }, { weight: 1, arbitrary: fc.constantFrom(-0, 0.25, 1e-9) });
const refOpArb = (ids: number): fc.Arbitrary<RefOp> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('add' as const), id: fc.nat(ids), bytes: bytesArb, at: atArb }) },
    fc.record({ kind: fc.constant('touch' as const), id: fc.nat(ids), at: atArb }),
    fc.record({ kind: fc.constant('resize' as const), id: fc.nat(ids), bytes: bytesArb }),
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), id: fc.nat(ids) }) },
    fc.record({ kind: fc.constant('pin' as const), id: fc.nat(ids) }),
    fc.record({ kind: fc.constant('unpin' as const), id: fc.nat(ids) }),
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('evict' as const), bytes: fc.nat(300), apply: fc.boolean() }) },
    fc.record({ kind: fc.constant('limit' as const), bytes: fc.nat(600) }),
  );

function checkAgainstReference(limit: number, ops: readonly RefOp[], ids: number): void {
  const p = new CachePolicy(limit);
  const ref = new ReferencePolicy(limit);
  for (const op of ops) {
    const id = 'id' in op ? `f${op.id}` : '';
    switch (op.kind) {
      case 'add':
        p.add(id, op.bytes, op.at);
        ref.add(id, op.bytes, op.at);
        break;
      case 'touch':
        assert.equal(p.touch(id, op.at), ref.touch(id, op.at));
        break;
      case 'resize':
        assert.equal(p.resize(id, op.bytes), ref.resize(id, op.bytes));
        break;
      case 'remove':
        assert.equal(p.remove(id), ref.remove(id));
        break;
      case 'pin':
        p.pin(id);
        ref.pin(id);
        break;
      case 'unpin':
        p.unpin(id);
        ref.unpin(id);
        break;
      case 'evict': {
        const evicted = p.evictionsToFit(op.bytes);
        assert.deepEqual(evicted, ref.evictionsToFit(op.bytes));
        if (op.apply) for (const fileId of evicted) assert.ok(p.remove(fileId) && ref.remove(fileId));
        break;
      }
      case 'limit':
        p.limit = op.bytes;
        ref.limit = op.bytes;
        break;
    }
    assert.equal(p.used, ref.used);
    assert.equal(p.count, ref.files.size);
    assert.equal(p.limit, ref.limit);
  }
  // In the end, everything the policy knows, file by file.
  assert.deepEqual(
    [...p.entries()].map((f) => ({ ...f })),
    [...ref.files.values()].map((f) => ({ ...f })),
  );
  for (let i = 0; i <= ids; i++) {
    const fileId = `f${i}`;
    assert.equal(p.has(fileId), ref.files.has(fileId));
    assert.deepEqual(p.get(fileId), ref.files.has(fileId) ? { ...ref.files.get(fileId)! } : undefined);
    assert.equal(p.isPinned(fileId), ref.pins.has(fileId));
  }
}

test('property: the same answers as the plain map-and-sort policy, for any sequence of operations', () => {
  fc.assert(
    fc.property(fc.nat(400), fc.array(refOpArb(25), { maxLength: 200 }), (limit, ops) => checkAgainstReference(limit, ops, 25)),
    { numRuns: 1000 },
  );
});

test('many files: thousands added, touched, removed and evicted give the same answers as the plain policy', () => {
  fc.assert(
    fc.property(fc.nat(20_000), fc.array(refOpArb(3000), { minLength: 3000, maxLength: 6000 }), (limit, ops) => checkAgainstReference(limit, ops, 3000)),
    { numRuns: 10 },
  );
});

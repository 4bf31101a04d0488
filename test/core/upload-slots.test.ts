import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UploadSlots } from '../../src/core/upload-slots.ts';
import { defaultConfig } from '../../src/core/config.ts';

const slots = (maxUploads = defaultConfig.maxUploads, uploadQueueLength = defaultConfig.uploadQueueLength) =>
  new UploadSlots({ maxUploads, uploadQueueLength });

test('serves at most 4 peers at once (P2P\'10), then queues, then refuses', () => {
  const u = slots();
  for (const p of ['a', 'b', 'c', 'd']) assert.equal(u.tryAcquire(p, 1, 0), 'granted');
  assert.equal(u.active, 4);
  for (let i = 0; i < 8; i++) assert.equal(u.tryAcquire(`w${i}`, 1, 1), 'queued');
  assert.equal(u.queued, 8);
  assert.equal(u.tryAcquire('late', 0, 2), 'refused');
  assert.equal(u.refusalReason, 'queue-full');
  assert.equal(u.active, 4);
  assert.equal(u.queued, 8);
});

test('a slot holder gets its slot again without taking another', () => {
  const u = slots(2, 1);
  assert.equal(u.tryAcquire('a', 3, 0), 'granted');
  assert.equal(u.tryAcquire('a', 0, 1), 'granted');
  assert.equal(u.active, 1);
  assert.ok(u.holds('a'));
  assert.equal(u.tryAcquire('b', 3, 2), 'granted');
  assert.equal(u.refusalReason, undefined);
});

test('the queue is served most urgent first (0 = most urgent), then in order of arrival', () => {
  const u = slots(1, 8);
  u.tryAcquire('holder', 5, 0);
  u.tryAcquire('bulk1', 9, 1);
  u.tryAcquire('urgent', 0, 2);
  u.tryAcquire('mid', 4, 3);
  u.tryAcquire('bulk2', 9, 3);
  u.tryAcquire('urgent2', 0, 4);
  const order: string[] = [];
  let holder: string | undefined = 'holder';
  while (holder) {
    holder = u.release(holder);
    if (holder) order.push(holder);
  }
  assert.deepEqual(order, ['urgent', 'urgent2', 'mid', 'bulk1', 'bulk2']);
  assert.equal(u.active, 0);
  assert.equal(u.queued, 0);
});

test('a waiting peer asking again keeps its place, and moves up if more urgent', () => {
  const u = slots(1, 8);
  u.tryAcquire('holder', 0, 0);
  u.tryAcquire('a', 5, 1);
  u.tryAcquire('b', 5, 2);
  u.tryAcquire('c', 3, 3);
  assert.equal(u.tryAcquire('b', 7, 4), 'queued', 'less urgent: stays where it was');
  assert.equal(u.tryAcquire('b', 3, 5), 'queued');
  assert.equal(u.queued, 3, 'still one place each');
  // b now ties c on urgency and arrived before it.
  assert.equal(u.release('holder'), 'b');
  assert.equal(u.release('b'), 'c');
  assert.equal(u.release('c'), 'a');
});

test('release hands the slot on; releasing without a slot grants nothing', () => {
  const u = slots(1, 2);
  u.tryAcquire('a', 0, 0);
  u.tryAcquire('b', 0, 1);
  assert.equal(u.release('b'), undefined, 'b only waits: no slot to give');
  assert.equal(u.active, 1);
  assert.equal(u.queued, 1);
  assert.equal(u.release('a'), 'b');
  assert.ok(u.holds('b'));
  assert.equal(u.release('b'), undefined, 'nobody waits');
  assert.equal(u.active, 0);
  assert.equal(u.tryAcquire('c', 0, 2), 'granted');
});

test('cancel withdraws a waiting peer only', () => {
  const u = slots(1, 2);
  u.tryAcquire('a', 0, 0);
  u.tryAcquire('b', 0, 1);
  u.tryAcquire('c', 0, 2);
  assert.ok(u.cancel('b'));
  assert.ok(!u.cancel('b'));
  assert.ok(!u.isQueued('b'));
  assert.ok(!u.cancel('a'), 'a slot holder releases instead');
  assert.ok(u.holds('a'));
  assert.equal(u.release('a'), 'c');
});

test('with no queue, a busy client refuses at once', () => {
  const u = slots(1, 0);
  assert.equal(u.tryAcquire('a', 0, 0), 'granted');
  assert.equal(u.tryAcquire('b', 0, 0), 'refused');
  assert.equal(u.refusalReason, 'queue-full');
});

test('emergency mode (buffer low): every upload stops and nothing is granted until it ends', () => {
  const u = slots(2, 2);
  u.tryAcquire('a', 0, 0);
  u.tryAcquire('b', 0, 0);
  u.tryAcquire('c', 0, 1);
  assert.deepEqual(u.setEmergency(true), ['a', 'b', 'c'], 'holders and waiters are told to go elsewhere');
  assert.ok(u.emergency);
  assert.equal(u.active, 0);
  assert.equal(u.queued, 0);
  assert.equal(u.tryAcquire('a', 0, 2), 'refused');
  assert.equal(u.refusalReason, 'emergency');
  assert.equal(u.tryAcquire('d', 0, 2), 'refused');
  assert.deepEqual(u.setEmergency(true), [], 'already on');
  assert.equal(u.release('a'), undefined);
  assert.deepEqual(u.setEmergency(false), []);
  assert.equal(u.tryAcquire('d', 0, 3), 'granted');
  assert.equal(u.refusalReason, undefined);
});

test('bad config and input are refused', () => {
  assert.throws(() => slots(-1, 8), RangeError);
  assert.throws(() => slots(4, 1.5), RangeError);
  assert.throws(() => slots().tryAcquire('a', Number.NaN, 0), RangeError);
  assert.throws(() => slots().tryAcquire('a', 0, Number.POSITIVE_INFINITY), RangeError);
});

test('never more than maxUploads active nor uploadQueueLength waiting, whatever happens (property)', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('acquire' as const), peer: fc.integer({ min: 0, max: 12 }), urgency: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ kind: fc.constant('release' as const), peer: fc.integer({ min: 0, max: 12 }) }),
    fc.record({ kind: fc.constant('cancel' as const), peer: fc.integer({ min: 0, max: 12 }) }),
    fc.record({ kind: fc.constant('emergency' as const), on: fc.boolean() }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 4 }), fc.array(op, { maxLength: 120 }), (max, queueLength, ops) => {
      const u = slots(max, queueLength);
      const holders = new Set<string>();
      ops.forEach((o, t) => {
        if (o.kind === 'acquire') {
          const peer = `p${o.peer}`;
          const wasQueued = u.isQueued(peer);
          const got = u.tryAcquire(peer, o.urgency, t);
          if (got === 'granted') {
            assert.ok(!wasQueued, 'a waiting peer is not granted out of turn');
            holders.add(peer);
          }
          if (got === 'refused') assert.ok(u.refusalReason === 'emergency' ? u.emergency : !u.emergency);
        } else if (o.kind === 'release') {
          const peer = `p${o.peer}`;
          const next = u.release(peer);
          holders.delete(peer);
          if (next !== undefined) {
            assert.ok(!holders.has(next));
            holders.add(next);
          }
        } else if (o.kind === 'cancel') {
          u.cancel(`p${o.peer}`);
        } else {
          for (const p of u.setEmergency(o.on)) holders.delete(p);
        }
        assert.ok(u.active <= max, 'active never exceeds maxUploads');
        assert.ok(u.queued <= queueLength);
        assert.equal(u.active, holders.size, 'every grant is reported to the caller');
        for (const p of holders) assert.ok(u.holds(p) && !u.isQueued(p));
        if (u.queued > 0) assert.equal(u.active, max, 'nobody waits while a slot is free');
        if (u.emergency) assert.equal(u.active + u.queued, 0);
      });
    }),
    { numRuns: 500 },
  );
});

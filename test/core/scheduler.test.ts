/** The in-order chunk scheduler of the peers issue, driven with plain values and a fake time. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InOrderScheduler, SERVER, type SourceView } from '../../src/core/scheduler.ts';
import { nextWantedRun } from '../../src/core/fetch-plan.ts';

const TOTAL = 200;
const everything = () => true;
const ap = (inFlight = 0): SourceView => ({ id: SERVER, inFlight });

test('nextWantedRun goes from the playback point to the end, then wraps to the start', () => {
  const have = new Set([5, 6, 7]);
  const wanted = (i: number) => !have.has(i);
  assert.deepEqual(nextWantedRun(wanted, 10, 5, 4), { first: 8, count: 2 });
  assert.deepEqual(nextWantedRun((i) => i < 3, 10, 5, 4), { first: 0, count: 3 });
  assert.equal(nextWantedRun(() => false, 10, 0, 4), undefined);
});

test('nothing goes to the AP while the tracker has not answered, until the wait runs out', () => {
  const s = new InOrderScheduler(1000, { lookupWaitMs: 300, batchChunks: 10, pipeline: 2 });
  assert.deepEqual(s.next(1100, TOTAL, 0, everything, [ap()]), []);
  assert.equal(s.wakeAt(), 1300);
  const late = s.next(1300, TOTAL, 0, everything, [ap()]);
  assert.ok(late.length > 0 && late.every((a) => a.source === SERVER));
});

test('no peer from the tracker: the AP serves only the first seconds while the overlay search runs, then everything', () => {
  const s = new InOrderScheduler(0, { lookupWaitMs: 300, batchChunks: 10, pipeline: 5, prefixChunks: 25 });
  s.trackerAnswered();
  const during = s.next(10, TOTAL, 40, everything, [ap()]);
  assert.deepEqual(during.map((a) => [a.first, a.count]), [[40, 10], [50, 10], [60, 5]], 'only 25 chunks from the playback point');
  assert.equal(s.wakeAt(), undefined);
  s.lookupFinished();
  const after = s.next(20, TOTAL, 40, everything, [ap()]);
  assert.equal(after.length, 5, 'the whole pipeline');
  assert.deepEqual(after[0], { source: SERVER, first: 40, count: 10 });
});

test('connected peers that have the file get every request, round-robin up to the pipeline; the AP none', () => {
  const s = new InOrderScheduler(0, { batchChunks: 8, pipeline: 2 });
  s.addPeers(['p1', 'p2']);
  s.lookupFinished();
  const out = s.next(0, TOTAL, 0, everything, [ap(), { id: 'p1', inFlight: 0 }, { id: 'p2', inFlight: 1 }, { id: 'stranger', inFlight: 0 }]);
  assert.deepEqual(out.map((a) => [a.source, a.first]), [['p1', 0], ['p2', 8], ['p1', 16]]);
});

test('a failed peer is used no more and the AP takes over', () => {
  const s = new InOrderScheduler(0, { batchChunks: 8, pipeline: 1 });
  s.addPeers(['p1']);
  s.lookupFinished();
  s.peerFailed('p1');
  s.addPeers(['p1']); // found again later: still not used for this file
  assert.deepEqual(s.usablePeers(), []);
  assert.deepEqual(s.next(0, TOTAL, 0, everything, [ap(), { id: 'p1', inFlight: 0 }]), [{ source: SERVER, first: 0, count: 8 }]);
});

test('peers named but not yet connected hold the AP back until the wait runs out', () => {
  const s = new InOrderScheduler(0, { lookupWaitMs: 300, batchChunks: 8, pipeline: 1 });
  s.addPeers(['p1']);
  s.trackerAnswered();
  assert.deepEqual(s.next(100, TOTAL, 0, everything, [ap()]), []);
  assert.equal(s.next(300, TOTAL, 0, everything, [ap()]).length, 1);
});

test('chunks already held or requested are never assigned twice', () => {
  const s = new InOrderScheduler(0, { batchChunks: 4, pipeline: 3 });
  s.lookupFinished();
  const held = new Set([1, 2, 9]);
  const out = s.next(0, 12, 0, (i) => !held.has(i), [ap()]);
  const assigned = out.flatMap((a) => Array.from({ length: a.count }, (_, k) => a.first + k));
  assert.equal(new Set(assigned).size, assigned.length);
  assert.ok(assigned.every((i) => !held.has(i)));
  assert.deepEqual(assigned, [0, 3, 4, 5, 6, 7, 8, 10, 11].slice(0, assigned.length));
});

/**
 * The play queue (DESIGN §3 "sequential (next in playlist/album)", issue 4 item 6): which track the
 * listener is on, how plays move it, and when the next track is due for a prefetch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../../src/core/config.ts';
import { PlayQueue, type QueueEntry } from '../../src/core/play-queue.ts';

const track = (id: string, durationMs = 180_000): QueueEntry => ({ id, fileId: `file-${id}`, durationMs });
const A = track('a');
const B = track('b');
const C = track('c');
const D = track('d');
const queue = (tracks: QueueEntry[] = [], start?: number) => {
  const q = new PlayQueue<QueueEntry>(defaultConfig);
  q.set(tracks, start);
  return q;
};
const ids = (q: PlayQueue<QueueEntry>) => q.tracks.map((t) => t.id);
const where = (q: PlayQueue<QueueEntry>) => [q.position, q.current?.id, q.upcoming?.id];

test('a new queue is empty: nothing current, nothing upcoming, nothing to prefetch', () => {
  const q = new PlayQueue<QueueEntry>(defaultConfig);
  assert.deepEqual(ids(q), []);
  assert.deepEqual(where(q), [0, undefined, undefined]);
  assert.equal(q.skip(), undefined);
  assert.equal(q.position, 0);
  assert.equal(q.prefetchTarget(5_000), undefined);
});

test('set: the listener is on tracks[start]; current and upcoming follow; the list is copied', () => {
  const list = [A, B, C];
  const q = queue(list);
  assert.deepEqual(where(q), [0, 'a', 'b']);
  list.push(D);
  assert.deepEqual(ids(q), ['a', 'b', 'c'], 'the caller\'s array is not shared');
  q.set([A, B, C], 2);
  assert.deepEqual(where(q), [2, 'c', undefined], 'the last track has nothing upcoming');
  q.set([C, D], 1);
  assert.deepEqual(ids(q), ['c', 'd'], 'set replaces the queue');
  assert.deepEqual(where(q), [1, 'd', undefined]);
  // An empty queue with start 0 is allowed.
  q.set([]);
  assert.deepEqual(where(q), [0, undefined, undefined]);
});

test('set: a start that is not an index into the tracks is a RangeError and leaves the queue as it was', () => {
  const q = queue([A, B], 1);
  for (const [tracks, start] of [
    [[A, B, C], -1],
    [[A, B, C], 3],
    [[A, B, C], 10],
    [[A, B, C], 1.5],
    [[A, B, C], Number.NaN],
    [[A, B, C], Infinity],
    [[], -1],
  ] as [QueueEntry[], number][]) {
    assert.throws(() => q.set(tracks, start), RangeError, `start ${start} of ${tracks.length}`);
  }
  assert.deepEqual(ids(q), ['a', 'b']);
  assert.deepEqual(where(q), [1, 'b', undefined]);
});

test('set: an empty list with a start other than 0 is a RangeError (else the position lies past the end)', () => {
  const q = new PlayQueue<QueueEntry>(defaultConfig);
  assert.throws(() => q.set([], 1), RangeError);
  assert.throws(() => q.set([], 5), RangeError);
  // What goes wrong when it is accepted: the appended tracks are never reached.
  q.append([A, B]);
  assert.deepEqual(where(q), [0, 'a', 'b']);
});

test('skip: moves to the next track; past the end nothing is current, and skipping again stays there', () => {
  const q = queue([A, B, C]);
  assert.equal(q.skip()?.id, 'b');
  assert.deepEqual(where(q), [1, 'b', 'c']);
  assert.equal(q.skip()?.id, 'c');
  assert.deepEqual(where(q), [2, 'c', undefined]);
  assert.equal(q.skip(), undefined, 'played out');
  assert.deepEqual(where(q), [3, undefined, undefined]);
  assert.equal(q.skip(), undefined);
  assert.equal(q.skip(), undefined);
  assert.deepEqual(where(q), [3, undefined, undefined], 'the position stays at the length');
  assert.deepEqual(ids(q), ['a', 'b', 'c'], 'skipping removes nothing');
});

test('played: current / next / jump / outside, and where the queue goes', () => {
  const q = queue([A, B, C, D]);
  assert.equal(q.played('a'), 'current', 'a first play of the current track');
  assert.deepEqual(where(q), [0, 'a', 'b']);
  assert.equal(q.played('b'), 'next', 'the player moved on at the end, or skipped');
  assert.deepEqual(where(q), [1, 'b', 'c']);
  assert.equal(q.played('b'), 'current', 'a replay or a seek');
  assert.deepEqual(where(q), [1, 'b', 'c']);
  assert.equal(q.played('d'), 'jump', 'the listener picked a later track');
  assert.deepEqual(where(q), [3, 'd', undefined]);
  assert.equal(q.played('a'), 'jump', 'the listener picked an earlier track');
  assert.deepEqual(where(q), [0, 'a', 'b']);
  assert.equal(q.played('zzz'), 'outside');
  assert.deepEqual(where(q), [0, 'a', 'b'], 'a play outside the queue leaves it where it is');
  assert.equal(q.played('b'), 'next', 'after the outside play, the queue resumes where it was');
  assert.deepEqual(where(q), [1, 'b', 'c']);
  // Played out: any track of the queue is a jump back into it.
  q.skip();
  q.skip();
  q.skip();
  assert.deepEqual(where(q), [4, undefined, undefined]);
  assert.equal(q.played('zzz'), 'outside');
  assert.equal(q.position, 4);
  assert.equal(q.played('c'), 'jump');
  assert.deepEqual(where(q), [2, 'c', 'd']);
  // An empty queue: everything is outside.
  const e = queue();
  assert.equal(e.played('a'), 'outside');
  assert.deepEqual(where(e), [0, undefined, undefined]);
});

test('played: a queue holding the same track twice follows the listener through both', () => {
  const q = queue([A, B, A, C]);
  assert.equal(q.played('a'), 'current');
  assert.equal(q.position, 0);
  assert.equal(q.played('b'), 'next');
  assert.equal(q.played('a'), 'next', 'the second copy is the upcoming one, not a jump back to the first');
  assert.deepEqual(where(q), [2, 'a', 'c']);
  assert.equal(q.played('a'), 'current', 'a replay of the second copy stays on it');
  assert.equal(q.position, 2);
  assert.equal(q.played('c'), 'next');
  assert.deepEqual(where(q), [3, 'c', undefined]);
  // A jump to a track queued twice lands on its first copy.
  assert.equal(q.played('a'), 'jump');
  assert.deepEqual(where(q), [0, 'a', 'b']);
  // The same track twice in a row: the replay of the current one is 'current', never 'next'.
  const r = queue([A, A, B]);
  assert.equal(r.played('a'), 'current');
  assert.deepEqual(where(r), [0, 'a', 'a']);
  r.skip();
  assert.deepEqual(where(r), [1, 'a', 'b']);
  assert.equal(r.played('a'), 'current');
  assert.equal(r.position, 1);
});

test('append: adds at the end; after the queue played out, the appended track is the current one', () => {
  const q = queue([A, B]);
  q.append([C]);
  assert.deepEqual(ids(q), ['a', 'b', 'c']);
  assert.deepEqual(where(q), [0, 'a', 'b']);
  // On the last track: the appended one becomes upcoming (prefetched next).
  const last = queue([A, B], 1);
  assert.equal(last.upcoming, undefined);
  last.append([C, D]);
  assert.deepEqual(where(last), [1, 'b', 'c']);
  // Played out: the listener appends, and the first appended track is the one to play now.
  const out = queue([A, B]);
  out.skip();
  out.skip();
  assert.deepEqual(where(out), [2, undefined, undefined]);
  out.append([C, D]);
  assert.deepEqual(ids(out), ['a', 'b', 'c', 'd']);
  assert.deepEqual(where(out), [2, 'c', 'd']);
  assert.equal(out.played('c'), 'current');
  // Appending nothing changes nothing.
  out.append([]);
  assert.deepEqual(where(out), [2, 'c', 'd']);
  // An empty queue: the appended track is current.
  const empty = queue();
  empty.append([A]);
  assert.deepEqual(where(empty), [0, 'a', undefined]);
});

test('clear: empties the queue and goes back to the start; a later append starts from it', () => {
  const q = queue([A, B, C], 2);
  q.clear();
  assert.deepEqual(ids(q), []);
  assert.deepEqual(where(q), [0, undefined, undefined]);
  assert.equal(q.prefetchTarget(0), undefined);
  assert.equal(q.played('c'), 'outside');
  q.append([D, A]);
  assert.deepEqual(where(q), [0, 'd', 'a']);
});

test('prefetchTarget: the upcoming track from prefetchPeerSearchMs (30 s) before the end, starting when the current one ends', () => {
  assert.equal(defaultConfig.prefetchPeerSearchMs, 30_000);
  const q = queue([A, B, C]);
  assert.equal(q.prefetchTarget(120_000), undefined);
  assert.equal(q.prefetchTarget(30_001), undefined, 'above 30 s: not yet');
  assert.deepEqual(q.prefetchTarget(30_000), { track: B, startsInMs: 30_000 }, 'at 30 s: due');
  assert.deepEqual(q.prefetchTarget(29_999.5), { track: B, startsInMs: 29_999.5 });
  assert.deepEqual(q.prefetchTarget(10_000), { track: B, startsInMs: 10_000 });
  assert.deepEqual(q.prefetchTarget(0), { track: B, startsInMs: 0 });
  assert.deepEqual(q.prefetchTarget(-250), { track: B, startsInMs: 0 }, 'overrun: clamped at 0');
  assert.equal(q.prefetchTarget(undefined), undefined, 'the current track is not playing');
  // It follows the queue.
  q.skip();
  assert.equal(q.prefetchTarget(5_000)?.track.id, 'c');
  q.skip();
  assert.equal(q.prefetchTarget(5_000), undefined, 'the last track: nothing upcoming');
  q.skip();
  assert.equal(q.prefetchTarget(5_000), undefined, 'played out');
  // Its own config: the threshold is prefetchPeerSearchMs, not a constant.
  const short = new PlayQueue<QueueEntry>({ prefetchPeerSearchMs: 5_000 });
  short.set([A, B]);
  assert.equal(short.prefetchTarget(5_001), undefined);
  assert.deepEqual(short.prefetchTarget(5_000), { track: B, startsInMs: 5_000 });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRng } from '../../src/core/clock.ts';
import { defaultConfig, makeConfig } from '../../src/core/config.ts';
import { Tracker } from '../../src/core/tracker.ts';

const allOnline = () => true;
const ids = (n: number, prefix = 'p') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

test('published defaults: 20 remembered, 10 answered (P2P\'11)', () => {
  assert.equal(defaultConfig.trackerMemory, 20);
  assert.equal(defaultConfig.trackerAnswer, 10);
  assert.equal(defaultConfig.trackerMaxFiles, 1_000_000);
});

test('remembers the 20 most recent announcers, most recent first; the 21st drops the least recent', () => {
  const t = new Tracker(defaultConfig);
  for (const p of ids(21)) t.announce('f', p);
  assert.deepEqual(t.peers('f'), ids(21).slice(1).reverse());
  assert.equal(t.size, 20);
  assert.equal(t.files, 1);
});

test('a repeated announce moves the peer to most recent and does not duplicate it', () => {
  const t = new Tracker(defaultConfig);
  for (const p of ids(20)) t.announce('f', p);
  t.announce('f', 'p0'); // p0 was the least recent; now it is the most recent
  t.announce('f', 'p0'); // already most recent: nothing changes
  assert.equal(t.size, 20);
  assert.equal(t.peers('f')[0], 'p0');
  t.announce('f', 'new'); // so p1 is now the one to go
  const listed = t.peers('f');
  assert.equal(listed.length, 20);
  assert.ok(listed.includes('p0'));
  assert.ok(!listed.includes('p1'));
  assert.deepEqual(listed.slice(0, 3), ['new', 'p0', 'p19']);
});

test('answers at most 10, all distinct, from the remembered online peers', () => {
  const t = new Tracker(defaultConfig);
  for (const p of ids(20)) t.announce('f', p);
  const answer = t.query('f', allOnline, seededRng(1));
  assert.equal(answer.length, 10);
  assert.equal(new Set(answer).size, 10);
  for (const p of answer) assert.ok(ids(20).includes(p));
});

test('fewer than 10 online: all of them are answered', () => {
  const t = new Tracker(defaultConfig);
  for (const p of ids(20)) t.announce('f', p);
  const online = new Set(['p3', 'p7', 'p11']);
  assert.deepEqual(t.query('f', (p) => online.has(p), seededRng(2)).sort(), ['p11', 'p3', 'p7']);
});

test('offline peers are skipped, not removed: they are answered again once online', () => {
  const t = new Tracker(defaultConfig);
  for (const p of ids(5)) t.announce('f', p);
  const online = new Set<string>();
  assert.deepEqual(t.query('f', (p) => online.has(p), seededRng(3)), []);
  assert.equal(t.size, 5);
  online.add('p2');
  assert.deepEqual(t.query('f', (p) => online.has(p), seededRng(3)), ['p2']);
});

test('the asker is never in its own answer', () => {
  const t = new Tracker(defaultConfig);
  for (const p of ids(3)) t.announce('f', p);
  for (let seed = 0; seed < 20; seed++) assert.deepEqual(t.query('f', allOnline, seededRng(seed), 'p1').sort(), ['p0', 'p2']);
});

test('unknown file: empty answer', () => {
  const t = new Tracker(defaultConfig);
  assert.deepEqual(t.query('nope', allOnline, seededRng(1)), []);
  assert.deepEqual(t.peers('nope'), []);
});

test('the choice is uniform among the online peers', () => {
  // 20 online, 10 answered: each peer should appear in about half of the answers.
  const t = new Tracker(defaultConfig);
  for (const p of ids(20)) t.announce('f', p);
  const rng = seededRng(42);
  const counts = new Map<string, number>();
  const runs = 20_000;
  for (let r = 0; r < runs; r++) for (const p of t.query('f', allOnline, rng)) counts.set(p, (counts.get(p) ?? 0) + 1);
  for (const p of ids(20)) {
    const share = counts.get(p)! / runs;
    assert.ok(Math.abs(share - 0.5) < 0.02, `${p} answered in ${share} of queries`);
  }
});

test('the same seed gives the same answers', () => {
  const make = () => {
    const t = new Tracker(defaultConfig);
    for (let i = 0; i < 200; i++) t.announce(`f${i % 7}`, `p${(i * 13) % 37}`);
    return t;
  };
  const a = make();
  const b = make();
  const ra = seededRng(9);
  const rb = seededRng(9);
  const online = (p: string) => p.length % 2 === 0 || p.endsWith('3');
  for (let i = 0; i < 50; i++) assert.deepEqual(a.query(`f${i % 7}`, online, ra), b.query(`f${i % 7}`, online, rb));
});

test('the file cap forgets the least recently announced file', () => {
  const t = new Tracker(makeConfig({ trackerMaxFiles: 3 }));
  t.announce('a', 'p1');
  t.announce('b', 'p1');
  t.announce('b', 'p2');
  t.announce('c', 'p1');
  t.announce('a', 'p3'); // a is now the most recently announced; b the least
  t.announce('d', 'p1');
  assert.equal(t.files, 3);
  assert.deepEqual(t.peers('b'), []);
  assert.deepEqual(t.peers('a'), ['p3', 'p1']);
  assert.equal(t.size, 4); // a: 2, c: 1, d: 1
});

test('forgetPeer removes a deleted account everywhere; an emptied file is forgotten', () => {
  const t = new Tracker(defaultConfig);
  t.announce('a', 'gone');
  t.announce('a', 'stays');
  t.announce('b', 'gone');
  t.announce('c', 'stays');
  assert.equal(t.forgetPeer('gone'), 2);
  assert.deepEqual(t.peers('a'), ['stays']);
  assert.equal(t.files, 2);
  assert.equal(t.size, 2);
  assert.equal(t.forgetPeer('gone'), 0);
  // The list of files by announce stays consistent: the cap still drops the right one.
  const small = new Tracker(makeConfig({ trackerMaxFiles: 2 }));
  small.announce('x', 'gone');
  small.announce('y', 'p');
  small.forgetPeer('gone');
  small.announce('z', 'p');
  small.announce('w', 'p');
  assert.deepEqual([small.peers('y'), small.peers('z'), small.peers('w')], [[], ['p'], ['p']]);
});

test('rejects a config it cannot honour', () => {
  assert.throws(() => new Tracker(makeConfig({ trackerMemory: 0 })), RangeError);
  assert.throws(() => new Tracker(makeConfig({ trackerMaxFiles: 1.5 })), RangeError);
  assert.throws(() => new Tracker(makeConfig({ trackerAnswer: -1 })), RangeError);
});

test('property: an answer is a duplicate-free subset of the last 20 distinct announcers that are online, of the right size', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 40 })), { maxLength: 300 }),
      fc.integer({ min: 0, max: 40 }).chain((n) => fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: n })),
      fc.integer({ min: 0, max: 40 }),
      fc.integer(),
      (announces, onlineIds, asker, seed) => {
        const t = new Tracker(defaultConfig);
        const model = new Map<string, string[]>(); // per file, distinct peers, least recent first
        for (const [f, p] of announces) {
          const file = `f${f}`;
          const peer = `p${p}`;
          t.announce(file, peer);
          const list = (model.get(file) ?? []).filter((x) => x !== peer);
          list.push(peer);
          model.set(file, list.slice(-20));
        }
        const online = new Set(onlineIds.map((i) => `p${i}`));
        const rng = seededRng(seed);
        for (let f = 0; f < 4; f++) {
          const file = `f${f}`;
          const last20 = model.get(file) ?? [];
          assert.deepEqual(t.peers(file), [...last20].reverse());
          const eligible = last20.filter((p) => online.has(p) && p !== `p${asker}`);
          const answer = t.query(file, (p) => online.has(p), rng, `p${asker}`);
          assert.equal(new Set(answer).size, answer.length);
          for (const p of answer) assert.ok(eligible.includes(p), `${p} is not an eligible peer`);
          assert.equal(answer.length, Math.min(10, eligible.length));
        }
      },
    ),
  );
});

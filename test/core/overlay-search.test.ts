import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRng } from '../../src/core/clock.ts';
import { defaultConfig, makeConfig } from '../../src/core/config.ts';
import {
  OverlaySearch,
  type PeerFoundMessage,
  type PeerSearchMessage,
  type QueryContext,
  type SearchResult,
  type SearchSend,
} from '../../src/core/overlay-search.ts';
import type { PeerAddress } from '../../src/protocol/messages.ts';

const address = (peerId: string): PeerAddress => ({ peerId, host: '127.0.0.1', port: 4000 });

interface Node {
  search: OverlaySearch;
  neighbours: string[];
  files: Set<string>;
  results: SearchResult[];
}

/** A handful of clients wired by an in-memory FIFO message pump: the links of the real runtime, without sockets. */
class Net {
  readonly nodes = new Map<string, Node>();
  /** Every message delivered, in order: `from>to type id hops|distance`. */
  readonly transcript: string[] = [];
  private queue: { from: string; send: SearchSend }[] = [];

  constructor(edges: [string, string][], holders: Record<string, string[]> = {}, seed = 1) {
    const names = [...new Set(edges.flat())].sort();
    names.forEach((name, i) => {
      this.nodes.set(name, {
        search: new OverlaySearch({ config: defaultConfig, rng: seededRng(seed * 1000 + i) }),
        neighbours: [],
        files: new Set(holders[name] ?? []),
        results: [],
      });
    });
    for (const [a, b] of edges) {
      this.node(a).neighbours.push(b);
      this.node(b).neighbours.push(a);
    }
  }

  node(name: string): Node {
    return this.nodes.get(name)!;
  }

  /** Starts a search at `name` and delivers everything until the network is quiet. */
  search(name: string, fileId: string, now = 0): number {
    const { queryId, sends } = this.node(name).search.start(fileId, this.node(name).neighbours, now);
    for (const send of sends) this.queue.push({ from: name, send });
    this.pump(now);
    return queryId;
  }

  pump(now = 0): void {
    while (this.queue.length > 0) {
      const { from, send } = this.queue.shift()!;
      const to = this.node(send.to);
      const msg = send.msg;
      this.transcript.push(`${from}>${send.to} ${msg.type} ${msg.queryId} ${msg.type === 'peer-search' ? msg.hops : msg.distance}`);
      if (msg.type === 'peer-search') {
        const ctx: QueryContext = { neighbours: to.neighbours, have: (f) => to.files.has(f), self: address(send.to) };
        for (const s of to.search.onQuery(from, msg, ctx, now)) this.queue.push({ from: send.to, send: s });
      } else {
        const out = to.search.onFound(from, msg, now);
        if ('result' in out) to.results.push(out.result);
        else for (const s of out) this.queue.push({ from: send.to, send: s });
      }
    }
  }
}

const ctxOf = (have: boolean, neighbours: string[] = []): QueryContext => ({ neighbours, have: () => have, self: address('me') });
const query = (queryId: number, hops = 1, fileId = 'f'): PeerSearchMessage => ({ type: 'peer-search', queryId, fileId, hops });
const found = (queryId: number, holder: string, distance: number): PeerFoundMessage => ({
  type: 'peer-found',
  queryId,
  fileId: 'f',
  holder: address(holder),
  distance,
});

test('published defaults: 2 hops, 50 remembered query ids (P2P\'11)', () => {
  assert.equal(defaultConfig.searchHops, 2);
  assert.equal(defaultConfig.searchDedupIds, 50);
});

test('on a line A-B-C-D a holder is found at distance 1 and 2, not at 3', () => {
  const net = new Net([['A', 'B'], ['B', 'C'], ['C', 'D']], { B: ['at1'], C: ['at2'], D: ['at3'] });
  const a = net.node('A');
  const q1 = net.search('A', 'at1');
  const q2 = net.search('A', 'at2');
  const q3 = net.search('A', 'at3');
  assert.deepEqual(
    a.results.map((r) => [r.queryId, r.fileId, r.holder.peerId, r.distance, r.via]),
    [
      [q1, 'at1', 'B', 1, 'B'],
      [q2, 'at2', 'C', 2, 'B'],
    ],
  );
  // D never even saw the query for at3: the flood stops after two hops.
  assert.ok(!net.transcript.some((line) => line.includes('>D')));
  const outcomes = [q1, q2, q3].map((q) => a.search.finish(q, 10)!);
  assert.deepEqual(outcomes.map((o) => [o.foundAt1, o.foundAt2, o.results.length]), [[true, false, 1], [false, true, 1], [false, false, 0]]);
  assert.deepEqual(a.search.stats(), { searches: 3, foundAt1: 1, foundAt2: 1, notFound: 1 });
});

test('answers route back along the path the query came', () => {
  const net = new Net([['A', 'B'], ['B', 'C']], { C: ['f'] });
  const q = net.search('A', 'f');
  assert.deepEqual(net.transcript, [`A>B peer-search ${q} 2`, `B>C peer-search ${q} 1`, `C>B peer-found ${q} 2`, `B>A peer-found ${q} 2`]);
  assert.deepEqual(net.node('B').results, []);
  assert.equal(net.node('A').results[0]!.holder.peerId, 'C');
});

test('a holder is counted at distance 1 and at distance 2 when both answer (the paper\'s columns are not exclusive)', () => {
  // A's neighbour B has the file, and so does B's neighbour C.
  const net = new Net([['A', 'B'], ['B', 'C'], ['A', 'E']], { B: ['f'], C: ['f'] });
  const q = net.search('A', 'f');
  assert.deepEqual(net.node('A').results.map((r) => [r.holder.peerId, r.distance]).sort(), [['B', 1], ['C', 2]]);
  const outcome = net.node('A').search.finish(q, 5)!;
  assert.equal(outcome.foundAt1, true);
  assert.equal(outcome.foundAt2, true);
  assert.deepEqual(net.node('A').search.stats(), { searches: 1, foundAt1: 1, foundAt2: 1, notFound: 0 });
});

test('a query arriving twice is handled once (triangle)', () => {
  // A-B, A-C, B-C: C gets the query from A (2 hops left) and again through B (1 left).
  const net = new Net([['A', 'B'], ['A', 'C'], ['B', 'C']], { C: ['f'] });
  const q = net.search('A', 'f');
  const answers = net.transcript.filter((l) => l.startsWith('C>') && l.includes('peer-found'));
  assert.deepEqual(answers, [`C>A peer-found ${q} 1`]);
  assert.equal(net.node('A').results.length, 1);
  // B and C each forwarded to the other; both copies died there.
  assert.deepEqual(net.transcript.filter((l) => l.includes('peer-search')).sort(), [
    `A>B peer-search ${q} 2`,
    `A>C peer-search ${q} 2`,
    `B>C peer-search ${q} 1`,
    `C>B peer-search ${q} 1`,
  ]);
});

test('a duplicate query id is dropped, even with more hops left', () => {
  const s = new OverlaySearch({ config: defaultConfig, rng: seededRng(1) });
  assert.equal(s.onQuery('x', query(7, 1), ctxOf(true), 0).length, 1);
  assert.deepEqual(s.onQuery('y', query(7, 2), ctxOf(true, ['x', 'y', 'z']), 0), []);
});

test('forwards to every neighbour but the sender with one hop less, and answers the sender when it has the file', () => {
  const s = new OverlaySearch({ config: defaultConfig, rng: seededRng(1) });
  const sends = s.onQuery('x', query(9, 2), ctxOf(true, ['x', 'y', 'z']), 0);
  assert.deepEqual(sends.map((m) => [m.to, m.msg]), [
    ['x', { type: 'peer-found', queryId: 9, fileId: 'f', holder: address('me'), distance: 1 }],
    ['y', { type: 'peer-search', queryId: 9, fileId: 'f', hops: 1 }],
    ['z', { type: 'peer-search', queryId: 9, fileId: 'f', hops: 1 }],
  ]);
  // With one hop left it answers but does not forward; without the file it stays silent.
  assert.deepEqual(s.onQuery('x', query(10, 1), ctxOf(true, ['x', 'y']), 0).map((m) => m.msg.type), ['peer-found']);
  assert.deepEqual(s.onQuery('x', query(11, 1), ctxOf(false, ['x', 'y']), 0), []);
});

test('admitQuery and answerFor are the steps of onQuery: the same dedup memory, the same answer, routed back the same way', () => {
  const s = new OverlaySearch({ config: defaultConfig, rng: seededRng(1) });
  assert.equal(s.admitQuery('x', 12, 2), true);
  assert.deepEqual(s.onQuery('y', query(12, 1), ctxOf(true), 0), [], 'admitted once, a duplicate for onQuery');
  assert.equal(s.admitQuery('y', 12, 1), false, 'and for admitQuery');
  assert.equal(s.admitQuery('x', 13, 3), false, 'more hops than searchHops');
  assert.equal(s.admitQuery('x', -1, 1), false, 'not a uint32');
  assert.deepEqual(s.answerFor(12, 'f', 1, address('me')), { type: 'peer-found', queryId: 12, fileId: 'f', holder: address('me'), distance: 2 });
  // An answer for the admitted query goes back to the neighbour it came from.
  const routed = s.onFound('z', { type: 'peer-found', queryId: 12, fileId: 'f', holder: address('z'), distance: 2 }, 0);
  assert.deepEqual(Array.isArray(routed) ? routed.map((m) => m.to) : routed, ['x']);
});

test('the 51st distinct id evicts the 1st from the dedup memory', () => {
  const s = new OverlaySearch({ config: defaultConfig, rng: seededRng(1) });
  for (let id = 1; id <= 51; id++) s.onQuery('x', query(id), ctxOf(false), 0);
  assert.deepEqual(s.onQuery('x', query(51), ctxOf(true), 0), [], 'the 51st is remembered');
  assert.deepEqual(s.onQuery('x', query(2), ctxOf(true), 0), [], 'the 2nd is still remembered');
  assert.equal(s.onQuery('x', query(1), ctxOf(true), 0).length, 1, 'the 1st was forgotten and is handled as new');
  // Re-remembering the 1st evicted the 2nd, the oldest now.
  assert.equal(s.onQuery('x', query(2), ctxOf(true), 0).length, 1);
});

test('answers for a query forwarded longer than 50 ids ago are dropped', () => {
  const s = new OverlaySearch({ config: defaultConfig, rng: seededRng(1) });
  s.onQuery('origin', query(1000, 2), ctxOf(false, ['origin', 'next']), 0);
  assert.deepEqual(s.onFound('next', found(1000, 'h', 2), 0), [{ to: 'origin', msg: found(1000, 'h', 2) }]);
  for (let id = 1; id <= 50; id++) s.onQuery('x', query(id), ctxOf(false), 0);
  assert.deepEqual(s.onFound('next', found(1000, 'h', 2), 0), []);
  assert.deepEqual(s.onFound('next', found(424242, 'h', 2), 0), [], 'never seen');
});

test('our own query coming back is neither answered nor forwarded', () => {
  const s = new OverlaySearch({ config: defaultConfig, rng: seededRng(1) });
  const { queryId, sends } = s.start('f', ['x', 'y'], 0);
  assert.deepEqual(sends.map((m) => [m.to, m.msg.hops]), [['x', 2], ['y', 2]]);
  assert.deepEqual(s.onQuery('y', query(queryId, 1), ctxOf(true, ['x', 'y']), 0), []);
  // Still not after 50 other ids pushed it out of the dedup memory while the search is open.
  for (let id = 1; id <= 50; id++) s.onQuery('x', query(id === queryId ? 0 : id), ctxOf(false), 0);
  assert.deepEqual(s.onQuery('y', query(queryId, 1), ctxOf(true, ['x', 'y']), 0), []);
});

test('records each holder once; answers with an impossible distance or hops are dropped', () => {
  const s = new OverlaySearch({ config: defaultConfig, rng: seededRng(1) });
  const { queryId } = s.start('f', ['x'], 0);
  const first = s.onFound('x', found(queryId, 'x', 1), 3);
  assert.ok('result' in first);
  assert.deepEqual(first.result, { queryId, fileId: 'f', holder: address('x'), distance: 1, via: 'x', atMs: 3 });
  assert.deepEqual(s.onFound('x', found(queryId, 'x', 1), 4), []);
  assert.deepEqual(s.onFound('x', found(queryId, 'h', 3), 4), []);
  assert.deepEqual(s.onFound('x', found(queryId, 'h', 0), 4), []);
  assert.equal(s.results(queryId).length, 1);
  assert.deepEqual(s.onQuery('x', query(77, 3), ctxOf(true, ['x', 'y']), 0), [], 'more hops than the radius');
  assert.deepEqual(s.onQuery('x', query(78, 0), ctxOf(true, ['x', 'y']), 0), []);
});

test('finish and expire close searches once, count outcomes, and drop later answers', () => {
  const s = new OverlaySearch({ config: defaultConfig, rng: seededRng(5) });
  const early = s.start('f', ['x'], 0).queryId;
  const middle = s.start('f', ['x'], 50).queryId;
  const late = s.start('f', ['x'], 100).queryId;
  s.onFound('x', found(middle, 'h2', 2), 60);
  assert.deepEqual(s.expire(140, 90).map((o) => o.queryId), [early, middle]);
  assert.equal(s.openSearches, 1);
  assert.deepEqual(s.stats(), { searches: 2, foundAt1: 0, foundAt2: 1, notFound: 1 });
  assert.equal(s.finish(early, 150), undefined, 'already closed');
  assert.deepEqual(s.onFound('x', found(early, 'h', 1), 150), [], 'late answer for a closed search');
  const last = s.finish(late, 150)!;
  assert.deepEqual([last.startedMs, last.endedMs, last.foundAt1, last.foundAt2], [100, 150, false, false]);
  assert.deepEqual(s.stats(), { searches: 3, foundAt1: 0, foundAt2: 1, notFound: 2 });
  assert.deepEqual(s.expire(10_000, 0), []);
});

test('with no neighbours a search is opened and closes as not found', () => {
  const s = new OverlaySearch({ config: defaultConfig, rng: seededRng(1) });
  const { queryId, sends } = s.start('f', [], 0);
  assert.deepEqual(sends, []);
  assert.equal(s.finish(queryId, 1)!.results.length, 0);
  assert.deepEqual(s.stats(), { searches: 1, foundAt1: 0, foundAt2: 0, notFound: 1 });
});

test('query ids are random uint32, the same for the same seed', () => {
  const ids = (seed: number) => {
    const s = new OverlaySearch({ config: defaultConfig, rng: seededRng(seed) });
    return Array.from({ length: 20 }, () => s.start('f', ['x'], 0).queryId);
  };
  const a = ids(3);
  assert.deepEqual(ids(3), a);
  assert.notDeepEqual(ids(4), a);
  for (const id of a) assert.ok(Number.isInteger(id) && id >= 0 && id < 2 ** 32);
  assert.equal(new Set(a).size, a.length);
});

test('a whole network run is deterministic by seed', () => {
  const edges: [string, string][] = [['A', 'B'], ['A', 'C'], ['B', 'C'], ['B', 'D'], ['C', 'E'], ['D', 'E'], ['E', 'F']];
  const run = (seed: number) => {
    const net = new Net(edges, { D: ['f'], E: ['f', 'g'], F: ['g'] }, seed);
    net.search('A', 'f');
    net.search('F', 'f');
    net.search('B', 'g');
    return net.transcript;
  };
  assert.deepEqual(run(7), run(7));
  assert.notDeepEqual(run(7), run(8));
});

test('a wider radius from config is honoured', () => {
  const config = makeConfig({ searchHops: 3, searchDedupIds: 5 });
  const s = new OverlaySearch({ config, rng: seededRng(1) });
  assert.deepEqual(s.start('f', ['x'], 0).sends[0]!.msg.hops, 3);
  const sends = s.onQuery('x', query(1, 3), ctxOf(true, ['x', 'y']), 0);
  assert.deepEqual(sends.map((m) => (m.msg.type === 'peer-found' ? m.msg.distance : m.msg.hops)), [1, 2]);
  assert.throws(() => new OverlaySearch({ config: makeConfig({ searchDedupIds: 0 }), rng: seededRng(1) }), RangeError);
});

test('the dedup memory holds exactly the last searchDedupIds query ids under churn (typed-array index)', () => {
  for (const capacity of [1, 3, 50]) {
    const s = new OverlaySearch({ config: makeConfig({ searchDedupIds: capacity }), rng: seededRng(7) });
    const rng = seededRng(capacity);
    const ctx: QueryContext = { neighbours: [], have: () => true, self: address('me') };
    const memory: number[] = []; // reference: ids in arrival order, the last `capacity` kept
    for (let k = 0; k < 5000; k++) {
      // A small id space (many repeats and table collisions), plus some large uint32 ids.
      const queryId = rng.next() < 0.9 ? Math.floor(rng.next() * 4 * capacity + 1) : Math.floor(rng.next() * 2 ** 32);
      const out = s.onQuery('n', { type: 'peer-search', queryId, fileId: 'f', hops: 1 }, ctx, k);
      const duplicate = memory.includes(queryId);
      assert.equal(out.length, duplicate ? 0 : 1, `id ${queryId} at step ${k} (capacity ${capacity})`);
      if (!duplicate) {
        memory.push(queryId);
        if (memory.length > capacity) memory.shift();
      }
    }
  }
});

test('ids that are not uint32 are dropped, as the codec would', () => {
  const s = new OverlaySearch({ config: defaultConfig, rng: seededRng(1) });
  const ctx: QueryContext = { neighbours: [], have: () => true, self: address('me') };
  for (const queryId of [-1, 1.5, 2 ** 32, Number.NaN]) assert.equal(s.onQuery('n', { type: 'peer-search', queryId, fileId: 'f', hops: 1 }, ctx, 0).length, 0);
});

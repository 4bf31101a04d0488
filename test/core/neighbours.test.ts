import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NeighbourCounters, Neighbours, type Direction, type NeighboursConfig, type Role } from '../../src/core/neighbours.ts';
import { Neighbours as ReferenceNeighbours } from './neighbours-reference.ts';
import { defaultConfig, type NeighbourUtilityWeights } from '../../src/core/config.ts';

const MIN = 60_000;
const KB = 1024;

function config(over: Partial<NeighboursConfig> = {}): NeighboursConfig {
  return { ...defaultConfig, ...over };
}

/** Weights that are powers of ten: with one neighbour, its utility spells out which criteria scored. */
const DIGITS: NeighbourUtilityWeights = {
  sent10m: 1,
  sent60m: 10,
  received10m: 100,
  received60m: 1_000,
  peersFound60m: 10_000,
  wantedTracks10m: 100_000,
};

const ZERO: NeighbourUtilityWeights = { sent10m: 0, sent60m: 0, received10m: 0, received60m: 0, peersFound60m: 0, wantedTracks10m: 0 };

function addMany(n: Neighbours, ids: string[], now = 0, role: Role = 'peer'): void {
  for (const id of ids) assert.equal(n.add(id, { direction: 'out', role, now }), 'added');
}

const names = (k: number, prefix = 'p') => Array.from({ length: k }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);

// --- limits (P2P'11: soft 50, hard 60) ---

test('with the published limits: dial only below 50, accept only below 60, never above 60', () => {
  const n = new Neighbours(config());
  addMany(n, names(49));
  assert.ok(n.canDial());
  assert.equal(n.add('p49', { direction: 'out', role: 'peer', now: 0 }), 'added');
  assert.equal(n.count, 50);
  assert.ok(!n.canDial(), 'no new outgoing connections at the soft limit');
  assert.ok(n.canAccept(), 'incoming connections are still accepted above the soft limit');
  for (let i = 50; i < 60; i++) assert.equal(n.add(`in${i}`, { direction: 'in', role: 'peer', now: 0 }), 'added');
  assert.equal(n.count, 60);
  assert.ok(!n.canAccept(), 'none at all at the hard limit');
  assert.equal(n.add('late', { direction: 'in', role: 'peer', now: 0 }), 'full');
  assert.equal(n.add('dialled', { direction: 'out', role: 'peer', now: 0 }), 'full');
  assert.equal(n.count, 60);
  n.remove('p00');
  assert.ok(n.canAccept());
  assert.ok(!n.canDial());
});

test('one connection per pair: a second add of the same peer is a duplicate', () => {
  const n = new Neighbours(config());
  assert.equal(n.add('a', { direction: 'out', role: 'peer', now: 0 }), 'added');
  assert.equal(n.add('a', { direction: 'in', role: 'leecher', now: 5 }), 'duplicate');
  assert.equal(n.count, 1);
  assert.equal(n.direction('a'), 'out');
  assert.equal(n.role('a'), 'peer');
});

test('remove, has, ids, role and direction', () => {
  const n = new Neighbours(config());
  n.add('a', { direction: 'out', role: 'peer', now: 0 });
  n.add('b', { direction: 'in', role: 'leecher', now: 1 });
  n.add('c', { direction: 'in', role: 'peer', now: 2 });
  assert.deepEqual(n.ids(), ['a', 'b', 'c']);
  assert.equal(n.direction('b'), 'in');
  assert.equal(n.role('b'), 'leecher');
  assert.ok(n.remove('b'));
  assert.ok(!n.remove('b'));
  assert.ok(!n.has('b'));
  assert.equal(n.role('b'), undefined);
  assert.deepEqual(n.ids(), ['a', 'c']);
});

test('limits and weights are validated', () => {
  assert.throws(() => new Neighbours(config({ neighbourSoftLimit: 10, neighbourHardLimit: 5 })), RangeError);
  assert.throws(() => new Neighbours(config({ neighbourPruneHeadroom: 51 })), RangeError);
  assert.throws(() => new Neighbours(config({ neighbourPruneHeadroom: -1 })), RangeError);
  assert.throws(() => new Neighbours(config({ neighbourUtilityWeights: { ...DIGITS, sent10m: Number.NaN } })), RangeError);
  const n = new Neighbours(config());
  n.add('a', { direction: 'out', role: 'peer', now: 0 });
  assert.throws(() => n.recordSent('a', -1, 0), RangeError);
  assert.throws(() => n.recordReceived('a', 1, Number.NaN), RangeError);
});

// --- leechers (thesis ch. 10) ---

test('leechers never receive search queries; the peer a query came from is skipped', () => {
  const n = new Neighbours(config());
  n.add('a', { direction: 'out', role: 'peer', now: 0 });
  n.add('m', { direction: 'in', role: 'leecher', now: 0 });
  n.add('b', { direction: 'in', role: 'peer', now: 0 });
  assert.deepEqual(n.searchTargets(), ['a', 'b']);
  assert.deepEqual(n.searchTargets('a'), ['b']);
});

test('a neighbour switches peer ⇄ leecher on the open link and keeps its history', () => {
  const n = new Neighbours(config({ neighbourUtilityWeights: DIGITS }));
  n.add('a', { direction: 'out', role: 'peer', now: 0 });
  n.recordReceived('a', 10 * KB, 0);
  assert.ok(n.setRole('a', 'leecher'));
  assert.equal(n.role('a'), 'leecher');
  assert.deepEqual(n.searchTargets(), []);
  assert.equal(n.count, 1, 'no reconnect: still a neighbour');
  assert.equal(n.utilities(MIN).get('a'), 1_100, 'usefulness kept across the switch');
  assert.ok(n.setRole('a', 'peer'));
  assert.deepEqual(n.searchTargets(), ['a']);
  assert.ok(!n.setRole('nobody', 'peer'));
});

// --- rank points (P2P'11) ---

test('rank points: the best raw score gets the most points, one place lower a step less; zero gets none', () => {
  const n = new Neighbours(config({ neighbourUtilityWeights: { ...ZERO, received10m: 1 } }));
  addMany(n, ['a', 'b', 'c', 'd']);
  n.recordReceived('a', 300, 0);
  n.recordReceived('b', 200, 0);
  n.recordReceived('c', 100, 0);
  // d received nothing: as the 4th of 4 it would get 1 point, but a raw score of 0 earns none.
  assert.deepEqual(n.utilities(0), new Map([['a', 4], ['b', 3], ['c', 2], ['d', 0]]));
});

test('rank points: equal raw scores share the better place', () => {
  const n = new Neighbours(config({ neighbourUtilityWeights: { ...ZERO, sent10m: 1 } }));
  addMany(n, ['a', 'b', 'c']);
  n.recordSent('b', 100, 0);
  n.recordSent('c', 100, 0);
  n.recordSent('a', 50, 0);
  assert.deepEqual(n.utilities(0), new Map([['a', 1], ['b', 3], ['c', 3]]));
});

test('each criterion counts with its own weight and window', () => {
  const n = new Neighbours(config({ neighbourUtilityWeights: DIGITS }));
  addMany(n, ['s', 'r', 'f', 'w']);
  n.recordSent('s', KB, 0);
  n.recordReceived('r', KB, 0);
  n.recordPeersFound('f', 3, 0);
  n.recordWantedTrack('w', 0);
  // Four neighbours, one scorer per criterion: the scorer is first of 4 and gets weight × 4.
  assert.deepEqual(
    n.utilities(MIN),
    new Map([
      ['s', 4 * (1 + 10)],
      ['r', 4 * (100 + 1_000)],
      ['f', 4 * 10_000],
      ['w', 4 * 100_000],
    ]),
  );
});

test('the default weights: slightly different per criterion, received before sent, recent before hourly', () => {
  const w = defaultConfig.neighbourUtilityWeights;
  const values = Object.values(w);
  assert.equal(new Set(values).size, 6, 'all different');
  assert.ok(Math.max(...values) / Math.min(...values) <= 1.3, 'only slightly');
  assert.ok(w.received10m > w.received60m && w.sent10m > w.sent60m);
  assert.ok(w.received60m > w.sent10m);
  const n = new Neighbours(config());
  addMany(n, ['gave', 'took']);
  n.recordReceived('gave', 10 * KB, 0);
  n.recordSent('took', 10 * KB, 0);
  const u = n.utilities(0);
  assert.ok(Math.abs(u.get('gave')! - 2 * (1.25 + 1.15)) < 1e-9);
  assert.ok(Math.abs(u.get('took')! - 2 * (1.05 + 1.0)) < 1e-9);
});

// --- windows (10 and 60 minutes) ---

test('windows forget: bytes leave the 10-minute criteria after 10 minutes and the 60-minute ones after 60', () => {
  const n = new Neighbours(config({ neighbourUtilityWeights: DIGITS }));
  n.add('a', { direction: 'out', role: 'peer', now: 0 });
  n.recordSent('a', KB, 0);
  n.recordReceived('a', KB, 0);
  n.recordPeersFound('a', 2, 0);
  n.recordWantedTrack('a', 0);
  const u = (t: number) => n.utilities(t).get('a');
  assert.equal(u(0), 111_111);
  assert.equal(u(10 * MIN - 1), 111_111);
  assert.equal(u(10 * MIN), 11_010, 'the 10-minute criteria forgot');
  assert.equal(u(60 * MIN - 1), 11_010);
  assert.equal(u(60 * MIN), 0, 'the 60-minute criteria forgot');
  assert.deepEqual(n.usefulness('a', 60 * MIN), { sent10m: 0, sent60m: 0, received10m: 0, received60m: 0, peersFound60m: 0, wantedTracks10m: 0 });
});

test('windows are sliding: counts from minute to minute add up and fall out in turn', () => {
  const n = new Neighbours(config());
  n.add('a', { direction: 'out', role: 'peer', now: 0 });
  for (let m = 0; m < 90; m++) n.recordReceived('a', 1, m * MIN + 30_000);
  const at = (m: number) => n.usefulness('a', m * MIN + 30_000)!;
  // At minute 89: minutes 80..89 in the 10-minute window; 6-minute buckets from minute 30 in the 60-minute one.
  assert.equal(at(89).received10m, 10);
  assert.equal(at(89).received60m, 60);
  assert.equal(at(90).received10m, 9, 'minute 80 fell out at minute 90');
  assert.equal(at(90).received60m, 54, 'the bucket of minutes 30..35 fell out at minute 90');
  assert.equal(at(95).received10m, 4, 'minutes 86..89 still in 86..95');
  assert.equal(at(95).received60m, 54);
  assert.equal(at(96).received60m, 48, 'the bucket of minutes 36..41 fell out at minute 96');
  assert.equal(at(500).received60m, 0);
});

test('after a long silence only new traffic counts', () => {
  const n = new Neighbours(config());
  n.add('a', { direction: 'out', role: 'peer', now: 0 });
  n.recordSent('a', 5, 0);
  n.recordSent('a', 7, 24 * 60 * MIN + 3);
  assert.deepEqual(n.usefulness('a', 24 * 60 * MIN + 3), {
    sent10m: 7, sent60m: 7, received10m: 0, received60m: 0, peersFound60m: 0, wantedTracks10m: 0,
  });
});

test('a neighbour added in a reused slot starts with no history; late events for gone links are ignored', () => {
  const n = new Neighbours(config());
  n.add('a', { direction: 'out', role: 'peer', now: 0 });
  n.recordReceived('a', 1000, 0);
  n.remove('a');
  n.recordReceived('a', 1000, 1); // a chunk in flight when the link closed
  n.add('b', { direction: 'out', role: 'peer', now: 2 });
  assert.equal(n.usefulness('b', 2)!.received10m, 0);
  assert.equal(n.usefulness('a', 2), undefined);
});

test('windows agree with a plain event log (property)', () => {
  type Ev = { at: number; kind: 'sent' | 'received' | 'peers' | 'wanted'; amount: number };
  fc.assert(
    fc.property(
      fc.array(fc.record({ gap: fc.integer({ min: 0, max: 8 * MIN }), kind: fc.constantFrom('sent', 'received', 'peers', 'wanted'), amount: fc.integer({ min: 1, max: 1000 }) }), { maxLength: 80 }),
      fc.integer({ min: 0, max: 70 * MIN }),
      (steps, lookAfter) => {
        const n = new Neighbours(config());
        n.add('a', { direction: 'in', role: 'peer', now: 0 });
        const log: Ev[] = [];
        let t = 0;
        for (const s of steps) {
          t += s.gap;
          const ev = { at: t, kind: s.kind, amount: s.kind === 'wanted' ? 1 : s.amount } as Ev;
          log.push(ev);
          if (ev.kind === 'sent') n.recordSent('a', ev.amount, t);
          else if (ev.kind === 'received') n.recordReceived('a', ev.amount, t);
          else if (ev.kind === 'peers') n.recordPeersFound('a', ev.amount, t);
          else n.recordWantedTrack('a', t);
        }
        const now = t + lookAfter;
        // The documented semantics: an event counts while its bucket is one of the newest
        // 10 one-minute buckets (10 six-minute buckets for the 60-minute window).
        const inFine = (at: number) => Math.floor(now / MIN) - Math.floor(at / MIN) < 10;
        const inCoarse = (at: number) => Math.floor(now / (6 * MIN)) - Math.floor(at / (6 * MIN)) < 10;
        const sum = (kind: Ev['kind'], within: (at: number) => boolean) =>
          log.filter((e) => e.kind === kind && within(e.at)).reduce((a, e) => a + e.amount, 0);
        assert.deepEqual(n.usefulness('a', now), {
          sent10m: sum('sent', inFine),
          sent60m: sum('sent', inCoarse),
          received10m: sum('received', inFine),
          received60m: sum('received', inCoarse),
          peersFound60m: sum('peers', inCoarse),
          wantedTracks10m: sum('wanted', inFine),
        });
        // Never counted longer than the paper's window, and at least the window minus one bucket.
        for (const e of log) {
          const age = now - e.at;
          if (age >= 10 * MIN) assert.ok(!inFine(e.at));
          if (age < 9 * MIN) assert.ok(inFine(e.at));
          if (age >= 60 * MIN) assert.ok(!inCoarse(e.at));
          if (age < 54 * MIN) assert.ok(inCoarse(e.at));
        }
      },
    ),
    { numRuns: 300 },
  );
});

// --- pruning ---

test('prune: down to soft limit minus headroom, least useful first', () => {
  const n = new Neighbours(config()); // soft 50, headroom 5: target 45
  assert.equal(n.pruneTarget, 45);
  const ids = names(60);
  addMany(n, ids);
  // p00 the most useful, p59 the least: received bytes fall with the index.
  ids.forEach((id, i) => n.recordReceived(id, (60 - i) * KB, 10 * MIN));
  const dropped = n.prune(10 * MIN);
  assert.equal(dropped.length, 15);
  assert.deepEqual([...dropped].sort(), ids.slice(45));
  assert.equal(dropped[0], 'p59', 'least useful first');
  assert.equal(n.count, 60, 'asking changes nothing; the caller removes as links close');
  assert.deepEqual(n.prune(10 * MIN), dropped, 'asking again gives the same answer');
  for (const id of dropped) n.remove(id);
  assert.deepEqual(n.prune(10 * MIN), []);
});

test('prune: nothing at or below the target', () => {
  const n = new Neighbours(config());
  addMany(n, names(45));
  assert.deepEqual(n.prune(60 * MIN), []);
  n.add('x', { direction: 'in', role: 'peer', now: 0 });
  assert.deepEqual(n.prune(60 * MIN), ['p00'], 'one above: the oldest of the equally useless');
});

test('prune: equal utilities go oldest connection first, then by id', () => {
  const n = new Neighbours(config({ neighbourSoftLimit: 3, neighbourHardLimit: 6, neighbourPruneHeadroom: 1, neighbourPruneGraceMs: 0 }));
  n.add('z', { direction: 'in', role: 'peer', now: 100 });
  n.add('b', { direction: 'in', role: 'peer', now: 200 });
  n.add('a', { direction: 'in', role: 'peer', now: 200 });
  n.add('useful', { direction: 'in', role: 'peer', now: 0 });
  n.add('y', { direction: 'in', role: 'peer', now: 300 });
  n.recordReceived('useful', 1, 300);
  // 5 neighbours, target 2: three go, all with utility 0, oldest first, a before b at equal age.
  assert.deepEqual(n.prune(300), ['z', 'a', 'b']);
});

test('prune: a neighbour in its grace period is never chosen, even if it is the least useful', () => {
  const grace = defaultConfig.neighbourPruneGraceMs;
  const n = new Neighbours(config({ neighbourSoftLimit: 4, neighbourHardLimit: 6, neighbourPruneHeadroom: 1 }));
  addMany(n, ['old1', 'old2', 'old3'], 0);
  for (const id of ['old1', 'old2', 'old3']) n.recordReceived(id, 1000, 10 * MIN);
  n.add('fresh', { direction: 'out', role: 'peer', now: 10 * MIN });
  n.add('fresh2', { direction: 'out', role: 'peer', now: 10 * MIN - grace });
  // fresh and fresh2 have no usefulness; fresh is inside its grace period, fresh2 just left it.
  assert.deepEqual(n.prune(10 * MIN), ['fresh2', 'old1']);
  const m = new Neighbours(config({ neighbourSoftLimit: 2, neighbourHardLimit: 4, neighbourPruneHeadroom: 0 }));
  addMany(m, ['a', 'b', 'c', 'd'], 0);
  assert.deepEqual(m.prune(grace - 1), [], 'all in grace: nothing, the count stays above the target');
  assert.deepEqual(m.prune(grace), ['a', 'b']);
});

test('prune keeps the most useful and never touches the grace period (property)', () => {
  const grace = 2 * MIN;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 20 }),
      fc.integer({ min: 0, max: 10 }),
      fc.integer({ min: 0, max: 10 }),
      fc.array(
        fc.record({
          connectedAt: fc.integer({ min: 0, max: 30 * MIN }),
          role: fc.constantFrom<Role>('peer', 'leecher'),
          sent: fc.integer({ min: 0, max: 3 }),
          received: fc.integer({ min: 0, max: 3 }),
          peers: fc.integer({ min: 0, max: 2 }),
          wanted: fc.integer({ min: 0, max: 2 }),
        }),
        { maxLength: 40 },
      ),
      fc.integer({ min: 0, max: 5 * MIN }),
      (soft, extra, headroomSeed, specs, after) => {
        const hard = soft + extra;
        const headroom = Math.min(headroomSeed, soft);
        const n = new Neighbours(config({ neighbourSoftLimit: soft, neighbourHardLimit: hard, neighbourPruneHeadroom: headroom, neighbourPruneGraceMs: grace }));
        const sorted = [...specs].sort((a, b) => a.connectedAt - b.connectedAt);
        sorted.forEach((s, i) => {
          const id = `n${i}`;
          if (n.add(id, { direction: i % 2 ? 'in' : 'out', role: s.role, now: s.connectedAt }) !== 'added') return;
          if (s.sent) n.recordSent(id, s.sent * KB, s.connectedAt);
          if (s.received) n.recordReceived(id, s.received * KB, s.connectedAt);
          if (s.peers) n.recordPeersFound(id, s.peers, s.connectedAt);
          if (s.wanted) n.recordWantedTrack(id, s.connectedAt);
        });
        assert.ok(n.count <= hard);
        const now = (sorted.at(-1)?.connectedAt ?? 0) + after;
        const before = n.ids();
        const inGrace = before.filter((id) => now - connectedAt(sorted, id) < grace);
        const utilities = n.utilities(now);
        const dropped = n.prune(now);
        const target = soft - headroom;
        assert.equal(new Set(dropped).size, dropped.length, 'no id twice');
        for (const id of dropped) assert.ok(n.has(id));
        for (const id of dropped) assert.ok(!inGrace.includes(id), 'never one in its grace period');
        // Never more than the target once those links close, unless only grace-period links are left over it.
        assert.equal(dropped.length, Math.max(0, Math.min(before.length - target, before.length - inGrace.length)));
        const kept = before.filter((id) => !dropped.includes(id) && !inGrace.includes(id));
        for (const d of dropped) for (const k of kept) assert.ok(utilities.get(d)! <= utilities.get(k)!, 'least useful go first');
      },
    ),
    { numRuns: 400 },
  );
});

function connectedAt(sorted: { connectedAt: number }[], id: string): number {
  return sorted[Number(id.slice(1))]!.connectedAt;
}

// --- equivalence with the unoptimised class (frozen copy in neighbours-reference.ts) ---

/** mulberry32: a small seeded generator, so a failing scenario can be replayed by its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The outcome of a call: its value, or the class and message of what it threw. */
function outcome(f: () => unknown): unknown {
  try {
    const v = f();
    return { value: v instanceof Map ? [...v.entries()] : v };
  } catch (e) {
    return { threw: (e as Error).constructor.name, message: (e as Error).message };
  }
}

test('the optimised class answers every call exactly as the original (randomized, seeded)', () => {
  const scenarios = 200;
  const steps = 400;
  for (let seed = 1; seed <= scenarios; seed++) {
    const rnd = seeded(seed);
    const int = (k: number) => Math.floor(rnd() * k);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
    const soft = pick([0, 1, 3, 5, 8, 20, 50]);
    const hard = soft + pick([0, 1, 4, 10]);
    // 1e308 × 2 places overflows: infinite utilities, equal to each other.
    const weightChoices = seed % 10 === 3 ? [1e308] : [0, 1, 1, 1.05, 1.1, 1.25, 2.5, 1e-3];
    const weights: NeighbourUtilityWeights = seed % 4 === 0
      ? defaultConfig.neighbourUtilityWeights
      : {
          sent10m: pick(weightChoices), sent60m: pick(weightChoices), received10m: pick(weightChoices),
          received60m: pick(weightChoices), peersFound60m: pick(weightChoices), wantedTracks10m: pick(weightChoices),
        };
    const cfg = config({
      neighbourSoftLimit: soft,
      neighbourHardLimit: hard,
      neighbourPruneHeadroom: int(soft + 1),
      neighbourPruneGraceMs: pick([0, 1, 30_000, 2 * MIN, 7.5 * MIN]),
      neighbourUtilityWeights: weights,
    });
    // Half the scenarios keep the counters in a store shared with another set (small pages, so
    // blocks come from many pages), which adds and drops neighbours and records traffic between
    // the calls compared: its blocks are freed and reused in between ours.
    const store = seed % 2 === 0 ? new NeighbourCounters(pick([1, 3, 64])) : undefined;
    const a = new Neighbours(cfg, store);
    const b = new ReferenceNeighbours(cfg);
    const other = store ? new Neighbours(config(), store) : undefined;
    const pool = Array.from({ length: hard + 6 }, (_, i) => pick(['p', 'q', '', 'P']) + String(int(3) ? i : 100 - i));
    const roles: Role[] = ['peer', 'leecher'];
    // The latest time so far; calls also come with older times (late events) and odd ones.
    let t = pick([0, 0, -7 * MIN - 0.5, 1.7e12 + int(1e6), 59_999, 6 * MIN - 1]);
    const time = (): number => {
      const r = rnd();
      if (r < 0.55) return t;
      if (r < 0.8) return t - int(20 * MIN) * (rnd() < 0.5 ? 1 : 0.25); // late, maybe fractional
      if (r < 0.85) return (Math.floor(t / MIN) + int(2)) * MIN - pick([0, 1, 0.5, 1e-9, 1e-6]); // just before a minute
      if (r < 0.995) return t + int(3 * MIN);
      return pick([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    };
    // Often on a coarse grid, so that equal connection times (prune's second key) are common.
    const connectAt = (): number => (rnd() < 0.6 ? Math.floor(t / (5 * MIN)) * 5 * MIN : t - int(3) * int(MIN));
    const amount = (): number => {
      const r = rnd();
      if (r < 0.4) return pick([1, 2, 100, 1024, 16_384]); // small set: many equal scores
      if (r < 0.8) return int(1e6) + (rnd() < 0.2 ? 0.3 : 0);
      if (r < 0.9) return 0;
      if (r < 0.97) return pick([1e30, 4e38, 1e300, 2 ** 32 + 1]); // float32 rounding and saturation
      return pick([-1, -0, Number.NaN, Number.POSITIVE_INFINITY]);
    };
    for (let s = 0; s < steps; s++) {
      // Advance the clock: mostly a little, sometimes across buckets, rarely hours.
      const r = rnd();
      if (r < 0.6) t += int(2_000);
      else if (r < 0.9) t += int(20_000);
      else if (r < 0.995) t += int(3 * MIN) + rnd();
      else t += int(5 * 60 * MIN);
      if (other) {
        const oid = `o${int(8)}`;
        const r2 = rnd();
        if (r2 < 0.3) other.add(oid, { direction: 'in', role: 'peer', now: t });
        else if (r2 < 0.5) other.remove(oid);
        else other.recordReceived(oid, 1 + int(1000), t);
      }
      const id = pick(pool);
      const op = int(20);
      const call = (f: (n: Neighbours | ReferenceNeighbours) => unknown) => {
        const got = outcome(() => f(a));
        const want = outcome(() => f(b));
        assert.deepStrictEqual(got, want, `seed ${seed}, step ${s}, op ${op}`);
      };
      switch (op) {
        case 0:
        case 1:
        case 2: {
          const how = { direction: pick<Direction>(['in', 'out']), role: pick(roles), now: rnd() < 0.02 ? Number.NaN : connectAt() };
          call((n) => n.add(id, how));
          break;
        }
        case 3:
          call((n) => n.remove(id));
          break;
        case 4:
        case 5: {
          const [x, now] = [amount(), time()];
          call((n) => n.recordSent(id, x, now));
          break;
        }
        case 6:
        case 7: {
          const [x, now] = [amount(), time()];
          call((n) => n.recordReceived(id, x, now));
          break;
        }
        case 8: {
          const [x, now] = [amount(), time()];
          call((n) => n.recordPeersFound(id, x, now));
          break;
        }
        case 9: {
          const now = time();
          call((n) => n.recordWantedTrack(id, now));
          break;
        }
        case 10:
        case 11: {
          const now = rnd() < 0.9 ? t : time();
          call((n) => n.prune(now));
          break;
        }
        case 12: {
          const now = rnd() < 0.9 ? t : time();
          call((n) => n.utilities(now));
          break;
        }
        case 13: {
          const now = time();
          call((n) => n.usefulness(id, now));
          break;
        }
        case 14: {
          const except = rnd() < 0.5 ? id : undefined;
          call((n) => n.searchTargets(except));
          break;
        }
        case 15: {
          const role = pick(roles);
          call((n) => n.setRole(id, role));
          break;
        }
        case 16:
          call((n) => [n.has(id), n.role(id), n.direction(id)]);
          break;
        case 17:
          call((n) => [n.ids(), n.count, n.canDial(), n.canAccept(), n.pruneTarget]);
          break;
        default: {
          // A burst like the simulator's: many chunks within a few ms, to several neighbours.
          const ids = [id, pick(pool), pick(pool)];
          for (let k = 0; k < 20; k++) {
            const [who, x, now] = [pick(ids), pick([1024, 16_384, 65_536]), t + int(5)];
            call((n) => (k % 2 ? n.recordSent(who, x, now) : n.recordReceived(who, x, now)));
          }
        }
      }
    }
    // Finally every neighbour's counters, which also cover what no return value showed yet.
    for (const id of pool) for (const now of [t, t + 9 * MIN, t + 59 * MIN]) {
      const got = outcome(() => a.usefulness(id, now));
      const want = outcome(() => b.usefulness(id, now));
      assert.deepStrictEqual(got, want, `seed ${seed}, final usefulness of ${id}`);
    }
  }
});

test('sets sharing a counter store keep their own counts; a reused block starts at zero', () => {
  const store = new NeighbourCounters(2);
  const a = new Neighbours(config({ neighbourUtilityWeights: DIGITS }), store);
  const b = new Neighbours(config({ neighbourUtilityWeights: DIGITS }), store);
  addMany(a, ['x', 'y', 'z']);
  addMany(b, ['x']);
  assert.equal(store.inUse, 4);
  a.recordReceived('x', 5 * KB, 1_000);
  b.recordSent('x', 7 * KB, 1_000);
  assert.equal(a.usefulness('x', 2_000)?.received10m, 5 * KB);
  assert.equal(a.usefulness('x', 2_000)?.sent10m, 0);
  assert.equal(b.usefulness('x', 2_000)?.sent10m, 7 * KB);
  assert.equal(b.usefulness('x', 2_000)?.received10m, 0);
  // b's neighbour goes; its block is the next one a takes, with no trace of b's traffic.
  b.remove('x');
  assert.equal(store.inUse, 3);
  addMany(a, ['w'], 3_000);
  assert.equal(store.inUse, 4);
  assert.deepEqual(a.usefulness('w', 3_000), { sent10m: 0, sent60m: 0, received10m: 0, received60m: 0, peersFound60m: 0, wantedTracks10m: 0 });
  assert.equal(a.usefulness('x', 3_000)?.received10m, 5 * KB);
  assert.throws(() => new NeighbourCounters(0), RangeError);
});

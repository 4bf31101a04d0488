import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../src/sim/engine.ts';
import { Network } from '../../src/sim/network.ts';

test('engine: events fire in time order, same-time events in insertion order', () => {
  const e = new Engine(1);
  const out: string[] = [];
  e.at(10, () => out.push('b1'));
  e.at(5, () => out.push('a'));
  e.at(10, () => out.push('b2'));
  const c = e.at(7, () => out.push('cancelled'));
  e.at(10, () => {
    out.push('b3');
    e.at(10, () => out.push('b4 (scheduled at 10 while at 10)'));
  });
  e.cancel(c);
  for (let i = 0; i < 50; i++) e.at(20, () => out.push(`c${i}`));
  e.runUntil(100);
  assert.deepEqual(out.slice(0, 5), ['a', 'b1', 'b2', 'b3', 'b4 (scheduled at 10 while at 10)']);
  assert.deepEqual(out.slice(5), Array.from({ length: 50 }, (_, i) => `c${i}`));
  assert.equal(e.now(), 100);
  assert.equal(e.events, 55);
});

test('engine: named random streams are deterministic and independent', () => {
  const a = new Engine(7).rng('x');
  const b = new Engine(7).rng('x');
  const c = new Engine(7).rng('y');
  const xs = [a.next(), a.next(), a.next()];
  assert.deepEqual([b.next(), b.next(), b.next()], xs);
  assert.notDeepEqual([c.next(), c.next(), c.next()], xs);
});

test('network: flows share the uploader and the downloader fairly', () => {
  const e = new Engine(1);
  // node 0 uploads 100 B/ms; nodes 1, 2 download 1000 B/ms; node 3 downloads 30 B/ms; node 4 is the AP.
  const net = new Network(e, { up: Float64Array.from([100, 0, 0, 0, 1e6]), down: Float64Array.from([0, 1000, 1000, 30, 1e6]), apNode: 4 });
  const done: Record<string, number> = {};
  const arrivals: number[] = [];
  const onUnits = (name: string) => (_f: unknown, _first: number, times: readonly number[], end: boolean) => {
    if (name === 'a') arrivals.push(...times);
    if (end) done[name] = e.now();
  };
  // a alone: 100 B/ms. At t=0 b joins: both 50 B/ms.
  net.start(0, 1, 1000, 10_000, 1, onUnits('a'));
  net.start(0, 2, 1000, 5_000, 1, onUnits('b'));
  // c: limited by its downloader (30 B/ms), and the AP's flow to 3 shares its download with it.
  e.runUntil(0);
  e.at(0, () => net.start(4, 3, 1000, 3_000, 1, onUnits('ap')));
  e.runUntil(10_000);
  // b: 5000 B at 50 B/ms = 100 ms; then a alone at 100 B/ms: 5000 left -> 50 ms more.
  assert.ok(Math.abs(done.b! - 100) < 1e-6, `b ended at ${done.b}`);
  assert.ok(Math.abs(done.a! - 150) < 1e-6, `a ended at ${done.a}`);
  assert.ok(Math.abs(done.ap! - 100) < 1e-6, `ap ended at ${done.ap}`);
  // a's units: 1000 B each at 50 B/ms for the first 100 ms (5 units), then 100 B/ms.
  assert.deepEqual(arrivals.map((t) => Math.round(t)), [20, 40, 60, 80, 100, 110, 120, 130, 140, 150]);
  assert.equal(net.uploads(0), 0);
  assert.equal(net.downloads(3), 0);
});

test('network: a cancelled flow frees its share at once', () => {
  const e = new Engine(1);
  const net = new Network(e, { up: Float64Array.from([100, 0, 0, 1]), down: Float64Array.from([0, 1000, 1000, 1]), apNode: 3 });
  let endA = -1;
  const a = net.start(0, 1, 1000, 10_000, 1, (_f, _t, end) => {
    if (end) endA = e.now();
  });
  const b = net.start(0, 2, 1000, 10_000, 1, () => {});
  e.at(40, () => net.cancel(b));
  e.runUntil(1000);
  assert.equal(a.active, false);
  // 40 ms at 50 B/ms = 2000 B, then 8000 B at 100 B/ms = 80 ms.
  assert.ok(Math.abs(endA - 120) < 1e-6, `a ended at ${endA}`);
});

test('engine: with most events cancelled (the heap rebuilt without them), the rest fire in (time, sequence) order', () => {
  const e = new Engine(1);
  const rng = e.rng('test');
  const fired: [number, number][] = [];
  const expected: [number, number][] = [];
  const pending: { ev: ReturnType<Engine['at']>; at: number; seq: number }[] = [];
  let seq = 0;
  for (let round = 0; round < 5; round++) {
    for (let k = 0; k < 20_000; k++) {
      // Coarse times, so many events share one: ties go by sequence.
      const at = e.now() + Math.floor(rng.next() * 500);
      const s = seq++;
      pending.push({ ev: e.at(at, () => fired.push([at, s])), at, seq: s });
    }
    // Cancel 90 % of what is pending, then run a while.
    for (const p of pending.splice(0)) {
      if (rng.next() < 0.9) e.cancel(p.ev);
      else pending.push(p);
    }
    const until = e.now() + 250;
    const due = pending.filter((p) => p.at <= until).sort((a, b) => a.at - b.at || a.seq - b.seq);
    expected.push(...due.map((p): [number, number] => [p.at, p.seq]));
    pending.splice(0, pending.length, ...pending.filter((p) => p.at > until));
    e.runUntil(until);
    const live = pending.length;
    assert.ok(e.pending <= Math.max(live + 4096, 2 * live), `cancelled events are dropped (pending ${e.pending}, live ${live})`);
  }
  assert.deepEqual(fired, expected);
  assert.ok(fired.length > 1000);
});

test('engine: timers fire once per schedule, a reschedule replaces the pending one, and they keep the (time, sequence) order with events', () => {
  const e = new Engine(1);
  const out: string[] = [];
  const a = { timerSlot: -1, name: 'a' };
  const b = { timerSlot: -1, name: 'b' };
  const fire = (t: { name: string }) => out.push(`${t.name}@${e.now()}`);
  e.at(10, () => out.push('ev1@10'));
  e.schedule(a, 10, fire); // after ev1 at the same time
  e.schedule(b, 5, fire);
  e.schedule(b, 20, fire); // replaces b@5
  e.at(10, () => out.push('ev2@10'));
  assert.equal(e.scheduled(a), true);
  e.runUntil(15);
  assert.deepEqual(out, ['ev1@10', 'a@10', 'ev2@10']);
  assert.equal(e.scheduled(a), false, 'a fired: nothing pending');
  e.schedule(a, 30, fire);
  e.unschedule(a);
  e.unschedule(a); // twice is harmless
  e.schedule(a, 25, (t) => {
    fire(t);
    e.schedule(t, 40, fire); // a timer may reschedule itself from its handler
  });
  e.runUntil(100);
  assert.deepEqual(out, ['ev1@10', 'a@10', 'ev2@10', 'b@20', 'a@25', 'a@40']);
  assert.equal(e.events, 6);
  assert.equal(e.pending, 0);
});

test('engine: timers rescheduled and unscheduled many times fire exactly in (time, sequence) order, beside events', () => {
  // A reference queue: every pending schedule with its key, the latest per timer; the engine must
  // fire the same things in the same order. Whole-number times, so equal times are common.
  const e = new Engine(1);
  const rng = e.rng('timers');
  const timers = Array.from({ length: 500 }, (_, k) => ({ timerSlot: -1, k }));
  const pending = new Map<string, { at: number; seq: number }>();
  let seq = 0;
  const fired: string[] = [];
  const expected: string[] = [];
  const fire = (t: { k: number }) => {
    fired.push(`t${t.k}@${e.now()}`);
    pending.delete(`t${t.k}`);
  };
  for (let round = 0; round < 200; round++) {
    for (const t of timers) {
      const r = rng.next();
      if (r < 0.3) {
        const at = e.now() + Math.floor(rng.next() * 30);
        e.schedule(t, at, fire);
        pending.set(`t${t.k}`, { at, seq: seq++ });
      } else if (r < 0.33) {
        e.unschedule(t);
        pending.delete(`t${t.k}`);
      } else if (r < 0.36) {
        const name = `e${seq}`;
        const at = e.now() + Math.floor(rng.next() * 30);
        const ev = e.at(at, () => {
          fired.push(`${name}@${e.now()}`);
          pending.delete(name);
        });
        pending.set(name, { at, seq: seq++ });
        if (rng.next() < 0.5) {
          e.cancel(ev);
          pending.delete(name);
        }
      }
    }
    const until = e.now() + 10;
    const due = [...pending].filter(([, k]) => k.at <= until).sort((x, y) => x[1].at - y[1].at || x[1].seq - y[1].seq);
    for (const [name, k] of due) expected.push(`${name}@${k.at}`);
    e.runUntil(until);
    assert.equal(e.pending - [...pending].length >= 0, true);
    assert.ok(e.pending <= Math.max(pending.size + 4096, 2 * pending.size), `cancelled events are dropped (pending ${e.pending})`);
    for (const t of timers) assert.equal(e.scheduled(t), pending.has(`t${t.k}`));
  }
  assert.deepEqual(fired, expected);
  assert.ok(fired.length > 10_000);
});

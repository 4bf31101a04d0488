import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation, type SimOptions } from '../../src/sim/run.ts';
import { defaultConfig } from '../../src/core/config.ts';
import type { SimReport } from '../../src/sim/report.ts';

function opts(over: Partial<SimOptions> = {}): SimOptions {
  return { peers: 200, hours: 0.5, seed: 1, natCountry: 'GB', tracker: true, overlay: true, prefetch: true, overrides: {}, label: 'test', config: { ...defaultConfig }, ...over };
}

function withoutRun(r: SimReport): string {
  const { run: _run, ...rest } = r;
  return JSON.stringify(rest);
}

test('determinism: the same seed gives the same report, another seed another', () => {
  const a = runSimulation(opts());
  const b = runSimulation(opts());
  assert.equal(withoutRun(a), withoutRun(b));
  const c = runSimulation(opts({ seed: 2 }));
  assert.notEqual(withoutRun(c), withoutRun(a));
  assert.ok(a.run.events > 0);
});

const base = runSimulation(opts({ peers: 300, hours: 1 }));

test('invariants hold during a small run', () => {
  assert.deepEqual(base.invariants.violations, []);
  assert.ok(base.invariants.checks > 300);
});

test('sanity: shares, plays, search and tracker figures of a small run', () => {
  const s = base.sources;
  assert.ok(Math.abs(s.serverShare + s.peerShare + s.cacheShare - 1) < 1e-9);
  assert.ok(s.peerShare > 0.05, `peer share ${s.peerShare}`);
  assert.ok(s.serverShare > 0 && s.cacheShare > 0);
  assert.ok(Math.abs(base.access.sequentialShare - 0.61) < 0.08, `sequential share ${base.access.sequentialShare}`);
  assert.ok(base.stutter.plays > 500);
  assert.equal(base.latencyHistogram.counts.reduce((a, b) => a + b, 0), base.latency.plays);
  assert.ok(base.search.searches > 0 && base.search.anyShare > 0.3);
  assert.ok(base.search.anyShare >= base.search.distance2Share && base.search.anyShare >= base.search.distance1Share);
  assert.ok(base.tracker.queries > 0 && base.tracker.foundShare > 0.3);
  assert.equal(base.online.length, 4);
  assert.equal(base.apBandwidth.length, 4);
  assert.ok(base.online.every((p) => p.value > 0));
  assert.ok(base.neighboursByHoursSinceLogin.length >= 1);
  assert.ok(base.nextTrackPlayed.at30s > 0.8 && base.nextTrackPlayed.at30s <= 1);
});

test('scenarios: no tracker and no overlay means no peer bytes', () => {
  const r = runSimulation(opts({ tracker: false, overlay: false }));
  assert.equal(r.sources.peer, 0);
  assert.equal(r.search.searches, 0);
  assert.equal(r.tracker.queries, 0, 'no tracker: nothing asked, nothing counted');
  assert.deepEqual(r.invariants.violations, []);
});

test('scenarios: overlay only asks no tracker and, with nobody to learn neighbours from, finds no peers', () => {
  const r = runSimulation(opts({ tracker: false }));
  assert.equal(r.tracker.queries, 0);
  assert.equal(r.tracker.foundShare, 0);
  // Neighbours come only from tracker answers (DESIGN §3): searches go to nobody and close unanswered.
  assert.equal(r.sources.peer, 0);
  assert.ok(r.neighboursByHoursSinceLogin.every((h) => h.mean === 0));
  assert.ok(base.tracker.queries > 0);
  assert.deepEqual(r.invariants.violations, []);
});

test('scenarios: without prefetch the AP serves more', () => {
  const r = runSimulation(opts({ peers: 300, hours: 1, prefetch: false }));
  assert.ok(r.sources.serverShare > base.sources.serverShare, `prefetch off ${r.sources.serverShare} vs on ${base.sources.serverShare}`);
  assert.deepEqual(r.invariants.violations, []);
});

test('all online: every user is online from the first sample to the end, and the report says so', () => {
  const r = runSimulation(opts({ peers: 150, hours: 0.75, allOnline: true }));
  assert.equal(r.params.allOnline, true);
  for (const p of r.online) assert.equal(p.value, 150, `online at ${p.hour} h`);
  assert.deepEqual(r.invariants.violations, []);
  assert.ok(r.stutter.plays > 0);
  assert.equal(base.params.allOnline, undefined, 'absent unless set');
});

test('batched delivery: deterministic, and the figures stay close to one event per chunk', () => {
  const one = runSimulation(opts({ peers: 300, hours: 1, deliveryStep: 1 }));
  assert.equal(one.model?.deliveryStep, 1);
  assert.ok(base.model!.deliveryStep > 1);
  assert.ok(base.run.events < one.run.events, `${base.run.events} events batched, ${one.run.events} one per chunk`);
  assert.deepEqual(one.invariants.violations, []);
  const again = runSimulation(opts({ peers: 300, hours: 1 }));
  assert.equal(withoutRun(again), withoutRun(base));
  for (const k of ['serverShare', 'peerShare', 'cacheShare'] as const) assert.ok(Math.abs(base.sources[k] - one.sources[k]) < 0.05, `${k}: ${base.sources[k]} vs ${one.sources[k]}`);
  assert.ok(Math.abs(base.stutter.rate - one.stutter.rate) < 0.02);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PUBLISHED, SECTIONS, renderJson, renderReport, renderRunCost, renderSweep, table } from '../../src/sim/render.ts';
import type { SimReport } from '../../src/sim/report.ts';
import { emptyReport, fixtureReport } from './fixtures.ts';

/** The published column of DESIGN §3, as printed. */
const PUBLISHED_PRINTED: [string, string][] = [
  ['from the access point', '8.8 %'],
  ['from peers', '35.8 %'],
  ['from the local cache', '55.4 %'],
  ['latency median', '265 ms'],
  ['plays with stutter', '< 1 %'],
  ['sequential (predictable order)', '61 %'],
  ['next track played, 30 s left', '92 %'],
  ['next track played, 10 s left', '94 %'],
  ['search finds a peer: any', '81.8 %'],
  ['at distance 1', '60.4 %'],
  ['at distance 2', '77.4 %'],
  ['tracker finds a peer', '84.1 %'],
];

function lineOf(out: string, label: string): string {
  const line = out.split('\n').find((l) => l.trimStart().startsWith(label));
  assert.ok(line, `a line for "${label}" in:\n${out}`);
  return line;
}

test('the published values are those of DESIGN §3', () => {
  assert.deepEqual(
    [PUBLISHED.serverShare, PUBLISHED.peerShare, PUBLISHED.cacheShare, PUBLISHED.medianLatencyMs, PUBLISHED.stutterRateBelow, PUBLISHED.sequentialShare],
    [0.088, 0.358, 0.554, 265, 0.01, 0.61],
  );
  assert.deepEqual([PUBLISHED.nextTrackAt30s, PUBLISHED.nextTrackAt10s, PUBLISHED.searchAny, PUBLISHED.searchDistance1, PUBLISHED.searchDistance2, PUBLISHED.trackerFound], [0.92, 0.94, 0.818, 0.604, 0.774, 0.841]);
});

test('one run: every figure beside its published value', () => {
  const r = fixtureReport('baseline', {
    sources: { server: 120, peer: 300, cache: 580, serverShare: 0.12, peerShare: 0.3, cacheShare: 0.58 },
    latency: { plays: 10, medianMs: 301.4, p75Ms: 480, p90Ms: 910, p99Ms: 4020, random: { plays: 4, medianMs: 512, p75Ms: 0, p90Ms: 0, p99Ms: 0 }, sequential: { plays: 6, medianMs: 88, p75Ms: 0, p90Ms: 0, p99Ms: 0 } },
  });
  const out = renderReport(r);
  assert.match(out.split('\n')[2]!, /^figure\s+simulated\s+published$/);
  for (const [label, published] of PUBLISHED_PRINTED) assert.ok(lineOf(out, label).trimEnd().endsWith(published), `"${label}" ends with the published ${published}:\n${lineOf(out, label)}`);
  assert.match(lineOf(out, 'from the access point'), /12\.0 %\s+8\.8 %$/);
  assert.match(lineOf(out, 'from peers'), /30\.0 %\s+35\.8 %$/);
  assert.match(lineOf(out, 'latency median'), /301 ms\s+265 ms$/);
  assert.match(lineOf(out, 'latency p99'), /4020 ms$/);
  assert.match(lineOf(out, 'median, random access'), /512 ms$/);
  assert.match(lineOf(out, 'median, sequential'), /88 ms$/);
  assert.match(lineOf(out, 'plays with stutter'), /0\.63 %\s+< 1 %$/);
  assert.match(lineOf(out, 'sequential (predictable order)'), /61\.0 %\s+61 %$/);
  assert.match(lineOf(out, 'next track played, 30 s left'), /91\.8 %\s+92 %$/);
  assert.match(lineOf(out, 'search finds a peer: any'), /79\.0 %\s+81\.8 %$/);
  assert.match(lineOf(out, 'tracker finds a peer'), /83\.0 %\s+84\.1 %$/);
  assert.match(lineOf(out, 'AP upload, peak'), /28\.0 Mbit\/s$/);
  assert.match(lineOf(out, 'clients online, peak'), /500$/);
  assert.match(lineOf(out, 'events per second'), /195 348$/);
  assert.match(lineOf(out, 'peak RSS'), /412 MB$/);
  assert.match(lineOf(out, 'violations'), /0$/);
  assert.match(lineOf(out, 'simulated chunk size'), /64\.0 kB$/);
  assert.match(lineOf(out, 'popularity on top 12 % of tracks'), /87\.4 %\s+88 %$/);
  assert.match(lineOf(out, 'AP upload capacity'), /100\.0 Mbit\/s$/);
  assert.match(out, /\nAP requests by reason\n {2}randomAccess +4 680\n {2}lowBuffer +900\n {2}prefetchFallback +120\n {2}emergency +0\n/);
  // Every row of every section is printed.
  for (const section of SECTIONS) for (const row of section.rows) lineOf(out, row.label.trim());
  // Neighbours by hours since login and the latency histogram follow the figures.
  assert.match(out, /neighbours per online client by hours since login/);
  assert.match(lineOf(out, '12 '), /^12\s+16\.8\s+16\s+34\.0 %\s+180$/);
  assert.match(lineOf(out, '≤ 300 ms'), /2 900\s+24\.2 %\s+70\.0 %\s+#+$/);
  assert.doesNotMatch(out, /NaN|undefined|Infinity|null/);
});

test('figures with nothing to measure print as "–", never NaN', () => {
  const out = renderReport(emptyReport());
  assert.doesNotMatch(out, /NaN|undefined|Infinity|null/);
  assert.doesNotMatch(out, /AP requests by reason/);
  for (const label of ['catalog tracks', 'from the access point', 'latency median', 'plays with stutter', 'search finds a peer: any', 'tracker finds a peer', 'next track played, 30 s left', 'AP upload, mean', 'neighbours, mean']) {
    assert.match(lineOf(out, label), new RegExp(`^\\s*${label.replace(/[().,]/g, '\\$&')}\\s+–(\\s|$)`), label);
  }
  assert.match(out, /neighbours per client by hours since login: no samples/);
  assert.match(out, /playback latency histogram: no plays/);
  // A report straight from JSON, where a NaN became null, still renders.
  const fromJson = JSON.parse(JSON.stringify(fixtureReport('json', { nextTrackPlayed: { at30s: NaN, at10s: NaN } }))) as SimReport;
  assert.doesNotMatch(renderReport(fromJson), /NaN|undefined|null/);
});

test('invariant violations are listed', () => {
  const out = renderReport(fixtureReport('bad', { invariants: { checks: 10, violations: ['client 7 has 61 neighbours at 01:02:03', 'client 9 uploads to 5 peers'] } }));
  assert.match(lineOf(out, 'violations'), /2$/);
  assert.match(out, /invariant violations in bad \(2\):\n {2}client 7 has 61 neighbours at 01:02:03\n {2}client 9 uploads to 5 peers\n/);
});

test('a sweep: one column per run, the published column last', () => {
  const reports = [
    fixtureReport('trackerMemory=20'),
    fixtureReport('trackerMemory=5', { params: { ...fixtureReport().params, overrides: { trackerMemory: 5 }, label: 'trackerMemory=5' }, tracker: { queries: 4000, foundShare: 0.512 } }),
    emptyReport(),
  ];
  const out = renderSweep(reports);
  assert.match(out, /^tunemesh sweep: 3 runs — 1 000 peers, 24 h, seed 1\n/);
  assert.match(out.split('\n')[2]!, /^figure\s+trackerMemory=20\s+trackerMemory=5\s+empty\s+published$/);
  assert.match(lineOf(out, 'tracker finds a peer'), /83\.0 %\s+51\.2 %\s+–\s+84\.1 %$/);
  assert.match(lineOf(out, 'config overrides'), /none\s+trackerMemory=5\s+none$/);
  assert.match(lineOf(out, 'latency median'), /262 ms\s+262 ms\s+–\s+265 ms$/);
  for (const [label, published] of PUBLISHED_PRINTED) assert.ok(lineOf(out, label).trimEnd().endsWith(published), label);
  // Columns line up: each published value starts in the same column.
  const header = out.split('\n')[2]!;
  const col = header.indexOf('published');
  for (const [label, published] of PUBLISHED_PRINTED) assert.equal(lineOf(out, label).indexOf(published, col - 1), col, label);
  assert.doesNotMatch(out, /NaN|undefined|Infinity/);
  assert.equal(renderSweep([]), 'no runs\n');
});

test('JSON round-trips: one report as an object, a sweep as an array', () => {
  const r = fixtureReport();
  assert.deepEqual(JSON.parse(renderJson(r)), r);
  const sweep = [fixtureReport('a'), emptyReport()];
  assert.deepEqual(JSON.parse(renderJson(sweep)), sweep);
  assert.ok(renderJson(r).endsWith('}\n'));
  // Render of the parsed JSON is the render of the report.
  assert.equal(renderReport(JSON.parse(renderJson(r)) as SimReport), renderReport(r));
});

test('the run cost line: events, wall time, events per second, peak RSS', () => {
  assert.equal(renderRunCost(fixtureReport()), 'baseline: 4 200 000 events in 21.5 s (195 348 events/s), peak RSS 412 MB');
  assert.equal(
    renderRunCost(fixtureReport('big', { run: { events: 1e9, wallMs: 754_000, eventsPerSec: 1_326_260, peakRssMb: 6100.4 } })),
    'big: 1 000 000 000 events in 12 min 34 s (1 326 260 events/s), peak RSS 6100 MB',
  );
});

test('table aligns columns, left for the first, right for the others', () => {
  assert.equal(table([['a', '1', 'x'], 'section', ['bbb', '22', 'yy']], ['h', 'n', 'p'], ['l', 'r', 'l']), 'h     n  p\n───  ──  ──\na     1  x\nsection\nbbb  22  yy\n');
});

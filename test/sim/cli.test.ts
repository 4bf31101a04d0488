/**
 * `tunemesh sim`: the sweep spec parser, the usage errors (exit 2), and — once the simulation
 * (src/sim/run.ts) exists — real runs as a separate process: JSON that parses, the same JSON for
 * the same seed apart from the run's cost, a sweep side by side with its figures written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseSweep, scenarioLabel, SweepSpecError, type Scenario } from '../../src/sim/sweep.ts';
import { variantsOf } from '../../src/cli/commands/sim.ts';
import type { SimReport } from '../../src/sim/report.ts';
import { ROOT, runCli } from '../helpers/processes.ts';
import { parseXml } from './xml.ts';

const base: Scenario = { tracker: true, overlay: true, prefetch: true, overrides: {} };

test('sweep specs: config values, switches and the named scenarios', () => {
  assert.deepEqual(parseSweep('trackerMemory=20,5', base), [
    { ...base, overrides: { trackerMemory: 20 }, label: 'trackerMemory=20' },
    { ...base, overrides: { trackerMemory: 5 }, label: 'trackerMemory=5' },
  ]);
  assert.deepEqual(
    parseSweep(' searchHops = 2, 1 ', base).map((v) => [v.label, v.overrides]),
    [
      ['searchHops=2', { searchHops: 2 }],
      ['searchHops=1', { searchHops: 1 }],
    ],
  );
  // Other --set values are kept in every variant.
  assert.deepEqual(
    parseSweep('searchHops=2,1', { ...base, overrides: { trackerMemory: 5 } }).map((v) => v.overrides),
    [
      { trackerMemory: 5, searchHops: 2 },
      { trackerMemory: 5, searchHops: 1 },
    ],
  );
  assert.deepEqual(
    parseSweep('scenarios', base).map((v) => [v.label, v.tracker, v.overlay, v.prefetch]),
    [
      ['baseline', true, true, true],
      ['prefetch off', true, true, false],
      ['tracker only', true, false, true],
      ['overlay only', false, true, true],
    ],
  );
  assert.deepEqual(
    parseSweep('prefetch=on,off', base).map((v) => [v.label, v.prefetch]),
    [
      ['prefetch on', true],
      ['prefetch off', false],
    ],
  );
  assert.equal(parseSweep('chunkSize=16384,32768,65536', base).length, 3);
  assert.equal(parseSweep('emergencyBufferMs=0,3000', base)[0]!.overrides.emergencyBufferMs, 0);
});

test('sweep specs that cannot run are refused with a clear message', () => {
  const refused: [string, RegExp, Scenario?][] = [
    ['', /empty sweep spec/],
    ['nonsense', /not a sweep spec: "nonsense" \(expected key=v1,v2,\.\.\. such as trackerMemory=20,5, or scenarios\)/],
    ['foo=1,2', /unknown config field foo \(a sweep takes one of: tracker, overlay, prefetch, chunkSize, .*trackerMemory.*; or scenarios\)/],
    ['trackermemory=1,2', /unknown config field trackermemory \(did you mean trackerMemory\?\)/],
    ['trackerMemory=5', /at least two values \(got 1\); for one value use --set trackerMemory=5/],
    ['trackerMemory=5,,6', /empty value in "5,,6"/],
    ['trackerMemory=', /empty value/],
    ['trackerMemory=a,b', /trackerMemory: "a" is not a number >= 0/],
    ['trackerMemory=-1,2', /"-1" is not a number >= 0/],
    ['trackerMemory=5,5', /a value is repeated in "5,5"/],
    ['trackerMemory=5,5.0', /a value is repeated/],
    [`trackerMemory=${Array.from({ length: 17 }, (_, i) => i).join(',')}`, /at most 16 values/],
    ['trackerMemory=20,5', /trackerMemory is both set \(--set trackerMemory=10\) and swept; drop one/, { ...base, overrides: { trackerMemory: 10 } }],
    ['scenarios', /switches tracker, overlay and prefetch itself; drop --no-prefetch/, { ...base, prefetch: false }],
    ['tracker=on,off', /--sweep tracker=\.\.\. and --no-tracker contradict each other/, { ...base, tracker: false }],
    ['overlay=on,maybe', /overlay: "maybe" is not on or off/],
    ['prefetch=on,yes', /prefetch: a value is repeated/],
  ];
  for (const [spec, message, b] of refused) {
    assert.throws(() => parseSweep(spec, b ?? base), (err: Error) => err instanceof SweepSpecError && message.test(err.message), `refuses ${JSON.stringify(spec)}`);
  }
});

test('a single run is labelled by what it changes', () => {
  assert.equal(scenarioLabel(base), 'baseline');
  assert.equal(scenarioLabel({ ...base, tracker: false, overrides: { trackerMemory: 5 } }), 'no tracker, trackerMemory=5');
  assert.deepEqual(variantsOf({ ...base, set: { searchHops: 1 } }).variants.map((v) => v.label), ['searchHops=1']);
  assert.throws(() => variantsOf({ ...base, tracker: false, overlay: false }), /--no-tracker and --no-overlay together leave no way to find peers/);
  assert.throws(() => variantsOf({ ...base, overlay: false, sweep: 'tracker=on,off' }), /sweep variant "tracker off" has neither tracker nor overlay/);
});

test('usage errors exit 2 with a clear message, before any simulation', async () => {
  const cases: [string[], RegExp][] = [
    [['--peers', '0'], /option '--peers <n>' argument '0' is invalid\. a whole number of peers from 1 to 10000000/],
    [['--peers', '2.5'], /--peers.*a whole number of peers/],
    [['--hours', '-1'], /--hours.*simulated hours above 0/],
    [['--hours', 'x'], /--hours.*simulated hours above 0/],
    [['--seed', '-3'], /--seed.*a whole number >= 0/],
    [['--nat', 'G1'], /--nat.*two-letter country code/],
    [['--set', 'nope=1'], /unknown config field nope/],
    [['--set', 'trackerMemory=-2'], /trackerMemory must be a number >= 0/],
    [['--sweep', 'foo=1,2'], /error: unknown config field foo/],
    [['--sweep', 'trackerMemory=5'], /error: trackerMemory: a sweep needs at least two values/],
    [['--sweep', 'scenarios', '--sweep', 'searchHops=1,2'], /give --sweep once/],
    [['--no-tracker', '--no-overlay'], /error: --no-tracker and --no-overlay together leave no way to find peers/],
    [['--bogus'], /unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(['sim', ...args]);
    assert.equal(r.code, 2, `sim ${args.join(' ')}: exit 2 (stderr: ${r.stderr})`);
    assert.match(r.stderr, message, `sim ${args.join(' ')}`);
    assert.equal(r.stdout, '', `sim ${args.join(' ')}: nothing on stdout`);
  }
});

test('sim --help lists every option', async () => {
  const r = await runCli(['sim', '--help']);
  assert.equal(r.code, 0);
  for (const o of ['--peers', '--hours', '--seed', '--json', '--out', '--nat', '--set', '--no-tracker', '--no-overlay', '--no-prefetch', '--sweep', '--progress']) assert.ok(r.stdout.includes(o), o);
});

const RUN_TS = path.join(ROOT, 'src', 'sim', 'run.ts');
const noSimulator = existsSync(RUN_TS) ? false : 'src/sim/run.ts (the simulation) does not exist yet: the runs of tunemesh sim are skipped until it lands';

/** A report without its run cost (the only part that differs between runs of one seed). */
function withoutRun(r: SimReport): Omit<SimReport, 'run'> {
  const { run: _run, ...rest } = r;
  return rest;
}

test('sim --json: a report that parses, the same for the same seed apart from the run cost', { skip: noSimulator, timeout: 600_000 }, async () => {
  const args = ['sim', '--peers', '200', '--hours', '1', '--seed', '1', '--json'];
  const a = await runCli(args, { timeoutMs: 280_000 });
  assert.equal(a.code, 0, a.stderr);
  const ra = JSON.parse(a.stdout) as SimReport;
  assert.deepEqual(
    { peers: ra.params.peers, hours: ra.params.hours, seed: ra.params.seed, tracker: ra.params.tracker, overlay: ra.params.overlay, prefetch: ra.params.prefetch, natCountry: ra.params.natCountry },
    { peers: 200, hours: 1, seed: 1, tracker: true, overlay: true, prefetch: true, natCountry: 'GB' },
  );
  for (const k of ['sources', 'latency', 'latencyHistogram', 'stutter', 'access', 'nextTrackPlayed', 'search', 'tracker', 'neighboursByHoursSinceLogin', 'apBandwidth', 'online', 'invariants', 'run'] as const) {
    assert.ok(k in ra, `report has ${k}`);
  }
  assert.ok(ra.run.events > 0, 'events counted');
  assert.match(a.stderr, /events in .* events\/s\), peak RSS \d+ MB/);
  const b = await runCli(args, { timeoutMs: 280_000 });
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(withoutRun(JSON.parse(b.stdout) as SimReport), withoutRun(ra));
});

test('sim prints the table beside the published figures and writes its figures to --out', { skip: noSimulator, timeout: 600_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-sim-'));
  try {
    const r = await runCli(['sim', '--peers', '200', '--hours', '1', '--seed', '2', '--out', dir], { timeoutMs: 280_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^figure\s+simulated\s+published$/m);
    assert.match(r.stdout, /from the access point\s+(\d+\.\d %|–)\s+8\.8 %/);
    assert.match(r.stdout, /latency median\s+(\d+ ms|–)\s+265 ms/);
    assert.deepEqual((await readdir(dir)).sort(), ['ap-bandwidth.svg', 'latency-cdf.svg', 'latency-histogram.svg', 'neighbours.svg', 'online.svg', 'report.json', 'sources.svg']);
    for (const f of await readdir(dir)) if (f.endsWith('.svg')) parseXml(await readFile(path.join(dir, f), 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sim --sweep: runs side by side with one seed, an array as JSON, figures per run and sweep.svg', { skip: noSimulator, timeout: 600_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-sweep-'));
  try {
    const r = await runCli(['sim', '--peers', '200', '--hours', '1', '--seed', '1', '--sweep', 'trackerMemory=20,5', '--json', '--out', dir], { timeoutMs: 500_000 });
    assert.equal(r.code, 0, r.stderr);
    const reports = JSON.parse(r.stdout) as SimReport[];
    assert.deepEqual(
      reports.map((x) => [x.params.label, x.params.seed, x.params.overrides]),
      [
        ['trackerMemory=20', 1, { trackerMemory: 20 }],
        ['trackerMemory=5', 1, { trackerMemory: 5 }],
      ],
    );
    assert.deepEqual((await readdir(dir)).sort(), ['sweep.svg', 'trackerMemory=20', 'trackerMemory=5']);
    parseXml(await readFile(path.join(dir, 'sweep.svg'), 'utf8'));
    // The sweep's first run is the plain run of the same seed with that value set.
    const single = await runCli(['sim', '--peers', '200', '--hours', '1', '--seed', '1', '--set', 'trackerMemory=20', '--json'], { timeoutMs: 280_000 });
    const one = JSON.parse(single.stdout) as SimReport;
    assert.deepEqual({ ...withoutRun(one), params: { ...one.params, label: '' } }, { ...withoutRun(reports[0]!), params: { ...reports[0]!.params, label: '' } });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

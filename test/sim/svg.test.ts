import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  barChart,
  bucketLabels,
  composite,
  labelDir,
  lineChart,
  reportFigures,
  sweepFigure,
  writeReportFigures,
  writeSweepFigures,
} from '../../src/sim/svg.ts';
import { emptyReport, fixtureReport, singlePointReport } from './fixtures.ts';
import { elements, parseXml, texts, type XmlElement } from './xml.ts';

const FIGURES = ['sources', 'latency-histogram', 'latency-cdf', 'ap-bandwidth', 'online', 'neighbours'];

/** Title and axis labels each figure must show. */
const EXPECTED: Record<string, string[]> = {
  sources: ['Played data by source', 'share of played bytes (%)', 'access point', 'peers', 'local cache', "published (P2P'10)"],
  'latency-histogram': ['Playback latency histogram', 'playback latency (bucket upper bound)', 'plays'],
  'latency-cdf': ['Playback latency CDF', 'playback latency (ms, log scale)', 'plays at or below (%)', 'published median 265 ms'],
  'ap-bandwidth': ['Access point upload over time', 'simulated time (hours)', 'AP upload (Mbit/s)'],
  online: ['Clients online over time', 'simulated time (hours)', 'clients online'],
  neighbours: ['Neighbours per client over hours since login', 'hours since login', 'neighbours', 'clients with 0 neighbours (%)', 'mean', 'median'],
};

/** Parses an SVG document and checks what every chart must have. */
function checkSvg(svg: string, what: string): XmlElement {
  let root: XmlElement;
  try {
    root = parseXml(svg);
  } catch (err) {
    assert.fail(`${what}: not well-formed XML: ${(err as Error).message}`);
  }
  assert.equal(root.name, 'svg', what);
  assert.equal(root.attrs.xmlns, 'http://www.w3.org/2000/svg', what);
  assert.match(root.attrs.width ?? '', /^\d+$/, what);
  assert.match(root.attrs.height ?? '', /^\d+$/, what);
  assert.match(root.attrs.viewBox ?? '', /^0 0 \d+ \d+$/, what);
  assert.doesNotMatch(svg, /NaN|undefined|Infinity|null/, `${what}: no NaN/undefined/Infinity/null`);
  // Every numeric attribute is a finite number.
  for (const el of elements(root)) {
    for (const k of ['x', 'y', 'x1', 'x2', 'y1', 'y2', 'cx', 'cy', 'r', 'width', 'height']) {
      const v = el.attrs[k];
      if (v !== undefined) assert.ok(Number.isFinite(Number(v)), `${what}: <${el.name} ${k}="${v}">`);
    }
    if (el.name === 'path') assert.match(el.attrs.d ?? '', /^M[-\d. ]+( L[-\d. ]+)*$/, `${what}: path data`);
  }
  return root;
}

test('every figure of a report is a standalone, well-formed SVG with title, axis labels and legend', () => {
  const figs = reportFigures(fixtureReport());
  assert.deepEqual(Object.keys(figs).sort(), [...FIGURES].sort());
  for (const [name, svg] of Object.entries(figs)) {
    const root = checkSvg(svg, name);
    const all = texts(root);
    for (const label of EXPECTED[name]!) assert.ok(all.includes(label), `${name}: shows "${label}" (has ${JSON.stringify(all.slice(0, 12))})`);
    assert.ok(elements(root).some((e) => e.name === 'g' && e.attrs.class === 'legend'), `${name}: legend`);
    assert.ok(elements(root).some((e) => e.name === 'g' && e.attrs.class === 'axes'), `${name}: axes`);
    const ticks = elements(root).find((e) => e.attrs.class === 'ticks');
    assert.ok(ticks && ticks.children.filter((c) => c.name === 'text').length >= 3, `${name}: tick labels`);
    assert.ok(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg '), `${name}: XML declaration`);
  }
});

test('the charts draw the data: a line per series, a bar per value, published values as reference', () => {
  const figs = reportFigures(fixtureReport());
  const ap = parseXml(figs['ap-bandwidth']!);
  const paths = elements(ap).filter((e) => e.name === 'path');
  assert.equal(paths.length, 1);
  assert.equal(paths[0]!.attrs.d!.split('L').length, 25, 'one vertex per point of the series');
  // AP upload of the fixture peaks at 3.5 MB/s = 28 Mbit/s: the axis reaches 30.
  assert.ok(texts(ap).includes('30'));

  const sources = parseXml(figs.sources!);
  const bars = elements(sources).filter((e) => e.name === 'rect' && e.children.some((c) => c.name === 'title'));
  assert.equal(bars.length, 6, 'simulated and published bar per source');
  assert.ok(texts(sources).includes('8.8 %') && texts(sources).includes('35.8 %') && texts(sources).includes('55.4 %'));

  const hist = parseXml(figs['latency-histogram']!);
  assert.equal(elements(hist).filter((e) => e.name === 'rect' && e.children.some((c) => c.name === 'title')).length, 9);
  assert.ok(texts(hist).includes('≤ 50 ms') && texts(hist).includes('≤ 10 s'));

  // The CDF ends where every play is counted: empty buckets above do not stretch the axis.
  const cdfOf = (r: ReturnType<typeof fixtureReport>) => elements(parseXml(reportFigures(r)['latency-cdf']!)).find((e) => e.name === 'path')!.attrs.d!.split('L').length;
  assert.equal(cdfOf(fixtureReport()), 9);
  const tail = fixtureReport('tail', { latencyHistogram: { boundsMs: [100, 200, 300, 3_600_000], counts: [1, 1, 0, 0] } });
  assert.equal(cdfOf(tail), 2);
  assert.ok(!texts(parseXml(reportFigures(tail)['latency-cdf']!)).includes('1M'));

  const neighbours = parseXml(figs.neighbours!);
  assert.equal(elements(neighbours).filter((e) => e.name === 'path').length, 3, 'mean, median, share at 0');
});

test('a run with nothing measured draws empty charts with "no data", never NaN', () => {
  for (const [name, svg] of Object.entries(reportFigures(emptyReport()))) {
    const root = checkSvg(svg, `empty ${name}`);
    // The sources chart still shows the published shares, with "–" for the simulated ones.
    if (name === 'sources') assert.equal(texts(root).filter((t) => t === '–').length, 3);
    else assert.ok(texts(root).includes('no data'), `empty ${name}: says no data`);
    assert.equal(elements(root).filter((e) => e.name === 'path').length, 0, `empty ${name}: no lines`);
  }
});

test('a single point is drawn as a dot inside the plot', () => {
  const figs = reportFigures(singlePointReport());
  for (const [name, svg] of Object.entries(figs)) checkSvg(svg, `single ${name}`);
  for (const name of ['ap-bandwidth', 'online', 'neighbours']) {
    const root = parseXml(figs[name]!);
    const dots = elements(root).filter((e) => e.name === 'circle');
    assert.ok(dots.length >= 1, `${name}: a dot`);
    for (const d of dots) {
      const cx = Number(d.attrs.cx);
      assert.ok(cx > 78 && cx < 760 - 28, `${name}: dot at x ${cx} is inside the plot, not on its edge`);
    }
  }
});

test('non-finite points are left out; text is escaped', () => {
  const svg = lineChart({
    title: 'a <b> & "c"',
    xLabel: "x's",
    yLabel: 'y',
    series: [{ name: 's&t', points: [{ x: 0, y: 1 }, { x: NaN, y: 2 }, { x: 1, y: Infinity }, { x: 2, y: 3 }] }],
  });
  const root = checkSvg(svg, 'escaped');
  assert.ok(texts(root).includes('a <b> & "c"'));
  assert.ok(texts(root).includes("x's"));
  assert.ok(texts(root).includes('s&t'));
  assert.equal(elements(root).find((e) => e.name === 'path')!.attrs.d!.split('L').length, 2);

  const bars = barChart({ title: 'b', yLabel: 'v', categories: ['one', 'two'], groups: [{ name: 'g', values: [NaN, null] }] });
  checkSvg(bars, 'bars of nothing');
  checkSvg(barChart({ title: 'none', yLabel: 'v', categories: [], groups: [] }), 'no categories');
  checkSvg(lineChart({ title: 'log', xLabel: 'x', yLabel: 'y', xLog: true, series: [{ name: 'z', points: [{ x: 0, y: 1 }, { x: -1, y: 1 }] }] }), 'log axis without positive x');
  checkSvg(lineChart({ title: 'flat', xLabel: 'x', yLabel: 'y', series: [{ name: 'z', points: [{ x: 1, y: 0 }, { x: 2, y: 0 }] }] }), 'all zero');
  checkSvg(lineChart({ title: 'neg', xLabel: 'x', yLabel: 'y', series: [{ name: 'z', points: [{ x: -5, y: -3 }, { x: 5, y: -1 }] }] }), 'negative');
});

test('histogram bucket labels, including an open last bucket', () => {
  assert.deepEqual(bucketLabels([100, 250, 1500, 3_600_000, null]), ['≤ 100 ms', '≤ 250 ms', '≤ 1.5 s', '≤ 60 min', '> 60 min']);
  assert.deepEqual(bucketLabels([Infinity]), ['all']);
  // A histogram whose last bound came through JSON as null (Infinity) still draws.
  const r = fixtureReport('open', { latencyHistogram: { boundsMs: [100, 1000, null as unknown as number], counts: [5, 3, 1] } });
  checkSvg(reportFigures(r)['latency-histogram']!, 'open bucket');
  checkSvg(reportFigures(r)['latency-cdf']!, 'open bucket cdf');
});

test('the sweep figure compares shares, latency and stutter of each run in one SVG', () => {
  const reports = [fixtureReport('trackerMemory=20'), fixtureReport('trackerMemory=5'), emptyReport()];
  const svg = sweepFigure(reports);
  const root = checkSvg(svg, 'sweep');
  const all = texts(root);
  for (const t of ['Played data by source', 'Playback latency', 'Playbacks with stutter', 'Playback latency CDF', 'trackerMemory=20', 'trackerMemory=5', 'published median 265 ms', 'published: below 1 %']) {
    assert.ok(all.includes(t), `sweep shows "${t}"`);
  }
  assert.equal(root.children.filter((c) => c.name === 'svg').length, 4, 'four panels');
  checkSvg(composite('nothing', []), 'empty composite');
});

test('figures are written as <out>/<name>.svg; a sweep as <out>/<label>/ and <out>/sweep.svg', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-svg-'));
  try {
    const written = await writeReportFigures(fixtureReport(), path.join(dir, 'one'));
    assert.deepEqual((await readdir(path.join(dir, 'one'))).sort(), [...FIGURES.map((f) => `${f}.svg`), 'report.json'].sort());
    assert.equal(written.length, FIGURES.length + 1);
    for (const f of FIGURES) checkSvg(await readFile(path.join(dir, 'one', `${f}.svg`), 'utf8'), f);
    assert.deepEqual(JSON.parse(await readFile(path.join(dir, 'one', 'report.json'), 'utf8')), fixtureReport());

    await writeSweepFigures([fixtureReport('baseline'), fixtureReport('tracker only'), fixtureReport('tracker only')], path.join(dir, 'sweep'));
    assert.deepEqual((await readdir(path.join(dir, 'sweep'))).sort(), ['baseline', 'sweep.svg', 'tracker-only', 'tracker-only-2']);
    checkSvg(await readFile(path.join(dir, 'sweep', 'sweep.svg'), 'utf8'), 'sweep.svg');
    assert.ok((await readdir(path.join(dir, 'sweep', 'tracker-only'))).includes('sources.svg'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('run labels become safe folder names', () => {
  assert.equal(labelDir('trackerMemory=5'), 'trackerMemory=5');
  assert.equal(labelDir('prefetch off'), 'prefetch-off');
  assert.equal(labelDir('no tracker, trackerMemory=5'), 'no-tracker,-trackerMemory=5');
  assert.equal(labelDir('../../etc'), '..-..-etc');
  assert.equal(labelDir('..'), 'run');
  assert.equal(labelDir(''), 'run');
  assert.equal(labelDir('/'), 'run');
});

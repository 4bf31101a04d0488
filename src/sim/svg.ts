/**
 * Dependency-free SVG figures of simulator reports (issue 5 item 4): line charts of time series
 * (AP bandwidth, clients online, neighbours against hours since login), grouped bar charts
 * (played data by source beside the published shares), the latency histogram and CDF, and a
 * comparison figure of a sweep. Every chart is a standalone SVG document with a title, axes,
 * ticks, axis labels and a legend; empty series and single points draw an empty or one-point
 * chart, never NaN.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SimReport } from './report.ts';
import { formatBound, PUBLISHED } from './render.ts';

export interface Point {
  x: number;
  y: number;
}

export interface LineSeries {
  name: string;
  points: Point[];
  /** Which y axis the series is drawn against (the right one needs `y2Label`). @default 'left' */
  axis?: 'left' | 'right';
  dashed?: boolean;
  /** Draw a dot at each point (always done for a single point). */
  dots?: boolean;
}

/** A dashed reference line (a published value) at x or y, labelled. */
export interface Guide {
  axis: 'x' | 'y' | 'y2';
  value: number;
  label: string;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Label of the right axis; needed when a series is drawn against it. */
  y2Label?: string;
  series: LineSeries[];
  /** Logarithmic x axis (points at x <= 0 are left out). */
  xLog?: boolean;
  /** Fixed y range (default: 0 or the least value up to the greatest, rounded to ticks). */
  yMin?: number;
  yMax?: number;
  y2Min?: number;
  y2Max?: number;
  /** Tick label formats (`step`: the distance between ticks, 0 on a log axis). */
  xFormat?: (v: number, step: number) => string;
  yFormat?: (v: number, step: number) => string;
  y2Format?: (v: number, step: number) => string;
  guides?: Guide[];
  width?: number;
  height?: number;
}

export interface BarGroup {
  name: string;
  /** One value per category; null draws no bar (shown as "–"). */
  values: (number | null)[];
}

export interface BarChartSpec {
  title: string;
  xLabel?: string;
  yLabel: string;
  categories: string[];
  groups: BarGroup[];
  yMax?: number;
  /** Tick label format (`step`: the distance between ticks). */
  yFormat?: (v: number, step: number) => string;
  /** Format of the value printed above each bar. @default formatNumber */
  valueFormat?: (v: number) => string;
  guides?: { value: number; label: string }[];
  width?: number;
  height?: number;
}

/** Rendered chart content, to be wrapped as a document or placed in a composite. */
interface Drawn {
  width: number;
  height: number;
  title: string;
  body: string;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const PUBLISHED_COLOUR = '#555555';
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

/** Escapes text for XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A coordinate with at most 2 decimals; never NaN (non-finite becomes 0). */
function n(v: number): string {
  if (!Number.isFinite(v)) return '0';
  return String(Math.round(v * 100) / 100);
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}"${attrs ? ' ' + attrs : ''}>${escapeXml(s)}</text>`;
}

/** A "nice" step (1, 2 or 5 times a power of ten) for about `count` ticks over `range`. */
function niceStep(range: number, count: number): number {
  if (!(range > 0)) return 1;
  const raw = range / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

interface Scale {
  min: number;
  max: number;
  ticks: number[];
  step: number;
  log: boolean;
}

/** A linear scale covering [lo, hi] with round ends; a zero-width range is widened. */
function linearScale(lo: number, hi: number, count = 5, fixedMin?: number, fixedMax?: number): Scale {
  let min = fixedMin ?? lo;
  let max = fixedMax ?? hi;
  if (!Number.isFinite(min)) min = 0;
  if (!Number.isFinite(max)) max = min + 1;
  if (max < min) [min, max] = [max, min];
  if (max === min) {
    if (fixedMax === undefined) max = min === 0 ? 1 : min + Math.abs(min) * 0.5;
    else min = max === 0 ? -1 : max - Math.abs(max) * 0.5;
    if (fixedMin === undefined && lo >= 0 && min < 0) min = 0;
  }
  const step = niceStep(max - min, count);
  if (fixedMin === undefined) min = Math.floor(min / step + 1e-9) * step;
  if (fixedMax === undefined) max = Math.ceil(max / step - 1e-9) * step;
  if (max <= min) max = min + step;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step - 1e-9) * step; t <= max + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return { min, max, ticks, step, log: false };
}

/** A log10 scale covering [lo, hi] (both > 0) with decade ticks (and 2, 5 when few decades). */
function logScale(lo: number, hi: number): Scale {
  if (!(lo > 0) || !Number.isFinite(lo)) lo = 1;
  if (!(hi > 0) || !Number.isFinite(hi) || hi < lo) hi = lo;
  let min = 10 ** Math.floor(Math.log10(lo));
  let max = 10 ** Math.ceil(Math.log10(hi));
  if (max <= min) max = min * 10;
  const decades = Math.round(Math.log10(max / min));
  const ticks: number[] = [];
  for (let d = min; d <= max * 1.0001; d *= 10) {
    ticks.push(d);
    if (decades <= 3 && d < max) ticks.push(2 * d, 5 * d);
  }
  ticks.sort((a, b) => a - b);
  min = Math.min(min, ticks[0]!);
  return { min, max, ticks, step: 0, log: true };
}

function position(s: Scale, v: number, from: number, to: number): number {
  const f = s.log ? (Math.log10(v) - Math.log10(s.min)) / (Math.log10(s.max) - Math.log10(s.min)) : (v - s.min) / (s.max - s.min);
  return from + (to - from) * f;
}

/** A tick label: as many decimals as the step needs; k/M for large values. */
export function formatNumber(v: number, step = 0): string {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e6 && (step === 0 || step >= 1e5)) return `${trim((v / 1e6).toFixed(a >= 1e7 ? 0 : 1))}M`;
  if (a >= 1e4 && (step === 0 || step >= 100)) return `${trim((v / 1e3).toFixed(a >= 1e5 ? 0 : 1))}k`;
  const decimals = step > 0 ? Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9))) : a >= 100 || a === Math.round(a) ? 0 : a >= 1 ? 1 : 2;
  return v.toFixed(decimals);
}

function trim(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

function finitePoints(points: Point[], xLog: boolean): Point[] {
  return points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!xLog || p.x > 0));
}

function header(width: number, height: number, title: string): string {
  return (
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>` +
    `<title>${escapeXml(title)}</title>` +
    text(width / 2, 24, title, `text-anchor="middle" font-size="16" font-weight="bold"`)
  );
}

/** A legend row of coloured swatches, centred at y. */
function legend(entries: { name: string; colour: string; dashed?: boolean; bar?: boolean }[], width: number, y: number): string {
  if (entries.length === 0) return '';
  const widths = entries.map((e) => 28 + e.name.length * 6.5 + 16);
  const total = widths.reduce((a, b) => a + b, 0);
  let x = Math.max(10, (width - total) / 2);
  let out = '<g class="legend">';
  for (const [i, e] of entries.entries()) {
    out += e.bar
      ? `<rect x="${n(x)}" y="${n(y - 6)}" width="20" height="10" fill="${e.colour}"/>`
      : `<line x1="${n(x)}" y1="${n(y - 1)}" x2="${n(x + 20)}" y2="${n(y - 1)}" stroke="${e.colour}" stroke-width="2.5"${e.dashed ? ' stroke-dasharray="6 3"' : ''}/>`;
    out += text(x + 26, y + 3, e.name, 'font-size="12"');
    x += widths[i]!;
  }
  return out + '</g>';
}

interface Frame {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function drawLine(spec: LineChartSpec): Drawn {
  const width = spec.width ?? 760;
  const height = spec.height ?? 440;
  const hasRight = spec.series.some((s) => s.axis === 'right') || spec.guides?.some((g) => g.axis === 'y2');
  const f: Frame = { left: 78, right: width - (hasRight ? 78 : 28), top: 44, bottom: height - 78 };
  const xLog = spec.xLog ?? false;
  const series = spec.series.map((s) => ({ ...s, points: finitePoints(s.points, xLog) }));
  const all = series.flatMap((s) => s.points);
  const left = series.filter((s) => s.axis !== 'right').flatMap((s) => s.points);
  const right = series.filter((s) => s.axis === 'right').flatMap((s) => s.points);
  const guides = spec.guides ?? [];
  const xs = [...all.map((p) => p.x), ...guides.filter((g) => g.axis === 'x' && (!xLog || g.value > 0)).map((g) => g.value)];
  const ys = [...left.map((p) => p.y), ...guides.filter((g) => g.axis === 'y').map((g) => g.value)];
  const y2s = [...right.map((p) => p.y), ...guides.filter((g) => g.axis === 'y2').map((g) => g.value)];
  const [xLo, xHi] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  // One x value: centred in the plot rather than on its edge.
  const xScale = xLog ? logScale(xLo, xHi) : xLo === xHi ? linearScale(xLo - 1, xHi + 1, 6) : linearScale(xLo, xHi, 6);
  const lowY = (v: number[]) => (v.length ? Math.min(0, ...v) : 0);
  // Headroom above the greatest value, so a point there is not drawn on the frame.
  const highY = (v: number[]) => (v.length ? Math.max(...v) * 1.04 : 1);
  const yScale = linearScale(lowY(ys), highY(ys), 5, spec.yMin, spec.yMax);
  const y2Scale = linearScale(lowY(y2s), highY(y2s), 5, spec.y2Min, spec.y2Max);
  const px = (v: number) => position(xScale, v, f.left, f.right);
  const py = (v: number) => position(yScale, v, f.bottom, f.top);
  const py2 = (v: number) => position(y2Scale, v, f.bottom, f.top);
  const xFormat = (v: number) => (spec.xFormat ?? formatNumber)(v, xScale.step);
  const yFormat = (v: number) => (spec.yFormat ?? formatNumber)(v, yScale.step);
  const y2Format = (v: number) => (spec.y2Format ?? formatNumber)(v, y2Scale.step);

  let body = header(width, height, spec.title);
  // Grid and ticks.
  body += '<g class="grid" stroke="#e6e6e6" stroke-width="1">';
  for (const t of yScale.ticks) body += `<line x1="${n(f.left)}" y1="${n(py(t))}" x2="${n(f.right)}" y2="${n(py(t))}"/>`;
  for (const t of xScale.ticks) body += `<line x1="${n(px(t))}" y1="${n(f.top)}" x2="${n(px(t))}" y2="${n(f.bottom)}"/>`;
  body += '</g>';
  body += axes(f, hasRight ?? false);
  body += `<g class="ticks" font-size="11" fill="#333333">`;
  for (const t of xScale.ticks) body += `<line x1="${n(px(t))}" y1="${n(f.bottom)}" x2="${n(px(t))}" y2="${n(f.bottom + 5)}" stroke="#333333"/>` + text(px(t), f.bottom + 18, xFormat(t), 'text-anchor="middle"');
  for (const t of yScale.ticks) body += `<line x1="${n(f.left - 5)}" y1="${n(py(t))}" x2="${n(f.left)}" y2="${n(py(t))}" stroke="#333333"/>` + text(f.left - 8, py(t) + 4, yFormat(t), 'text-anchor="end"');
  if (hasRight) {
    for (const t of y2Scale.ticks) body += `<line x1="${n(f.right)}" y1="${n(py2(t))}" x2="${n(f.right + 5)}" y2="${n(py2(t))}" stroke="#333333"/>` + text(f.right + 8, py2(t) + 4, y2Format(t), 'text-anchor="start"');
  }
  body += '</g>';
  body += axisLabels(f, spec.xLabel, spec.yLabel, hasRight ? (spec.y2Label ?? '') : undefined, width);
  // Guides (published values).
  for (const g of guides) {
    if (g.axis === 'x') {
      if (xLog && !(g.value > 0)) continue;
      const x = px(g.value);
      body += `<line x1="${n(x)}" y1="${n(f.top)}" x2="${n(x)}" y2="${n(f.bottom)}" stroke="${PUBLISHED_COLOUR}" stroke-dasharray="4 4"/>` + text(x + 4, f.top + 12, g.label, 'font-size="11" fill="#333333"');
    } else {
      const y = g.axis === 'y' ? py(g.value) : py2(g.value);
      body += `<line x1="${n(f.left)}" y1="${n(y)}" x2="${n(f.right)}" y2="${n(y)}" stroke="${PUBLISHED_COLOUR}" stroke-dasharray="4 4"/>` + text(f.right - 4, y - 4, g.label, 'font-size="11" fill="#333333" text-anchor="end"');
    }
  }
  // Series.
  for (const [i, s] of series.entries()) {
    const colour = PALETTE[i % PALETTE.length]!;
    const yOf = s.axis === 'right' ? py2 : py;
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if (pts.length >= 2) {
      const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${n(px(p.x))} ${n(yOf(p.y))}`).join(' ');
      body += `<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 3"' : ''}/>`;
    }
    if (pts.length === 1 || s.dots) for (const p of pts) body += `<circle cx="${n(px(p.x))}" cy="${n(yOf(p.y))}" r="3" fill="${colour}"/>`;
  }
  if (all.length === 0) body += text((f.left + f.right) / 2, (f.top + f.bottom) / 2, 'no data', 'text-anchor="middle" font-size="14" fill="#888888"');
  body += legend(
    series.map((s, i) => ({ name: s.name + (s.axis === 'right' && spec.y2Label ? ' (right axis)' : ''), colour: PALETTE[i % PALETTE.length]!, dashed: s.dashed })),
    width,
    height - 14,
  );
  return { width, height, title: spec.title, body };
}

function axes(f: Frame, right: boolean): string {
  return (
    `<g class="axes" stroke="#333333" stroke-width="1.2">` +
    `<line x1="${n(f.left)}" y1="${n(f.bottom)}" x2="${n(f.right)}" y2="${n(f.bottom)}"/>` +
    `<line x1="${n(f.left)}" y1="${n(f.top)}" x2="${n(f.left)}" y2="${n(f.bottom)}"/>` +
    (right ? `<line x1="${n(f.right)}" y1="${n(f.top)}" x2="${n(f.right)}" y2="${n(f.bottom)}"/>` : '') +
    '</g>'
  );
}

function axisLabels(f: Frame, xLabel: string | undefined, yLabel: string, y2Label: string | undefined, _width: number): string {
  const midY = (f.top + f.bottom) / 2;
  let out = '<g class="axis-labels" font-size="13" fill="#111111">';
  if (xLabel) out += text((f.left + f.right) / 2, f.bottom + 40, xLabel, 'text-anchor="middle" class="x-label"');
  out += text(18, midY, yLabel, `text-anchor="middle" class="y-label" transform="rotate(-90 18 ${n(midY)})"`);
  if (y2Label !== undefined) {
    const x = f.right + 62;
    out += text(x, midY, y2Label, `text-anchor="middle" class="y2-label" transform="rotate(90 ${n(x)} ${n(midY)})"`);
  }
  return out + '</g>';
}

function drawBars(spec: BarChartSpec): Drawn {
  const width = spec.width ?? 760;
  const height = spec.height ?? 440;
  const f: Frame = { left: 78, right: width - 28, top: 44, bottom: height - 84 };
  const values = spec.groups.flatMap((g) => g.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const guideValues = (spec.guides ?? []).map((g) => g.value).filter(Number.isFinite);
  const all = [...values, ...guideValues];
  const yScale = linearScale(Math.min(0, ...all), all.length ? Math.max(...all) : 1, 5, undefined, spec.yMax);
  const py = (v: number) => position(yScale, v, f.bottom, f.top);
  const yFormat = (v: number) => (spec.yFormat ?? formatNumber)(v, yScale.step);
  const valueFormat = spec.valueFormat ?? ((v: number) => formatNumber(v));
  const cats = spec.categories.length;
  const slot = (f.right - f.left) / Math.max(1, cats);
  const groups = Math.max(1, spec.groups.length);
  const barW = Math.max(2, Math.min(60, (slot * 0.8) / groups));
  const colourOf = (i: number, name: string) => (/^published/i.test(name) ? PUBLISHED_COLOUR : PALETTE[i % PALETTE.length]!);

  let body = header(width, height, spec.title);
  body += '<g class="grid" stroke="#e6e6e6" stroke-width="1">';
  for (const t of yScale.ticks) body += `<line x1="${n(f.left)}" y1="${n(py(t))}" x2="${n(f.right)}" y2="${n(py(t))}"/>`;
  body += '</g>';
  const zero = py(Math.max(yScale.min, 0));
  for (let c = 0; c < cats; c++) {
    const x0 = f.left + slot * c + (slot - barW * groups) / 2;
    for (const [g, group] of spec.groups.entries()) {
      const v = group.values[c] ?? null;
      const x = x0 + g * barW;
      if (v === null || !Number.isFinite(v)) {
        body += text(x + barW / 2, zero - 4, '–', 'text-anchor="middle" font-size="10" fill="#555555"');
        continue;
      }
      const y = py(Math.min(Math.max(v, yScale.min), yScale.max));
      body += `<rect x="${n(x + 1)}" y="${n(Math.min(y, zero))}" width="${n(barW - 2)}" height="${n(Math.abs(zero - y))}" fill="${colourOf(g, group.name)}"><title>${escapeXml(`${group.name}, ${spec.categories[c]}: ${valueFormat(v)}`)}</title></rect>`;
      if (barW >= 18) body += text(x + barW / 2, Math.min(y, zero) - 4, valueFormat(v), 'text-anchor="middle" font-size="10" fill="#222222"');
    }
  }
  body += axes(f, false);
  body += `<g class="ticks" font-size="11" fill="#333333">`;
  for (const t of yScale.ticks) body += `<line x1="${n(f.left - 5)}" y1="${n(py(t))}" x2="${n(f.left)}" y2="${n(py(t))}" stroke="#333333"/>` + text(f.left - 8, py(t) + 4, yFormat(t), 'text-anchor="end"');
  const rotate = cats > 8 || spec.categories.some((c) => c.length * 6.5 > slot);
  for (const [c, name] of spec.categories.entries()) {
    const x = f.left + slot * (c + 0.5);
    body += rotate ? text(x, f.bottom + 14, name, `text-anchor="end" transform="rotate(-35 ${n(x)} ${n(f.bottom + 14)})"`) : text(x, f.bottom + 18, name, 'text-anchor="middle"');
  }
  body += '</g>';
  for (const g of spec.guides ?? []) {
    if (!Number.isFinite(g.value)) continue;
    const y = py(g.value);
    body += `<line x1="${n(f.left)}" y1="${n(y)}" x2="${n(f.right)}" y2="${n(y)}" stroke="${PUBLISHED_COLOUR}" stroke-dasharray="4 4"/>` + text(f.right - 4, y - 4, g.label, 'font-size="11" fill="#333333" text-anchor="end"');
  }
  if (cats === 0 || values.length === 0) body += text((f.left + f.right) / 2, (f.top + f.bottom) / 2, 'no data', 'text-anchor="middle" font-size="14" fill="#888888"');
  body += axisLabels({ ...f, bottom: f.bottom + (rotate ? 14 : 0) }, spec.xLabel, spec.yLabel, undefined, width);
  const entries = spec.groups.map((g, i) => ({ name: g.name, colour: colourOf(i, g.name), bar: true }));
  if (spec.guides?.length) entries.push({ name: 'published', colour: PUBLISHED_COLOUR, bar: false });
  body += legend(entries, width, height - 12);
  return { width, height, title: spec.title, body };
}

function document(d: Drawn): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${d.width}" height="${d.height}" viewBox="0 0 ${d.width} ${d.height}" ${FONT}>` +
    d.body +
    '</svg>\n'
  );
}

/** A standalone SVG line chart. */
export function lineChart(spec: LineChartSpec): string {
  return document(drawLine(spec));
}

/** A standalone SVG grouped bar chart. */
export function barChart(spec: BarChartSpec): string {
  return document(drawBars(spec));
}

/** Several charts in one standalone SVG, in a grid of `columns`, under one title. */
export function composite(title: string, charts: (LineChartSpec | BarChartSpec)[], columns = 2): string {
  const drawn = charts.map((c) => ('categories' in c ? drawBars(c) : drawLine(c)));
  const cellW = Math.max(1, ...drawn.map((d) => d.width));
  const cellH = Math.max(1, ...drawn.map((d) => d.height));
  const cols = Math.max(1, Math.min(columns, drawn.length));
  const rows = Math.ceil(drawn.length / cols);
  const width = cellW * cols;
  const height = 40 + cellH * rows;
  let body = header(width, height, title);
  for (const [i, d] of drawn.entries()) {
    const x = (i % cols) * cellW;
    const y = 40 + Math.floor(i / cols) * cellH;
    body += `<svg x="${x}" y="${y}" width="${d.width}" height="${d.height}" viewBox="0 0 ${d.width} ${d.height}">${d.body}</svg>`;
  }
  return document({ width, height, title, body });
}

// ---------------------------------------------------------------------------------------------
// The figures of a report.

const pct = (v: number, step: number) => `${formatNumber(v, step)} %`;
const pct1 = (v: number) => `${v.toFixed(1)} %`;

/** The shares of played data by source beside the published ones. */
export function sourcesChart(reports: SimReport[]): BarChartSpec {
  return {
    title: 'Played data by source',
    yLabel: 'share of played bytes (%)',
    categories: ['access point', 'peers', 'local cache'],
    groups: [
      ...reports.map((r) => ({
        name: reports.length === 1 ? 'simulated' : r.params.label,
        values: r.sources.server + r.sources.peer + r.sources.cache > 0 ? [r.sources.serverShare * 100, r.sources.peerShare * 100, r.sources.cacheShare * 100] : [null, null, null],
      })),
      { name: 'published (P2P\'10)', values: [PUBLISHED.serverShare * 100, PUBLISHED.peerShare * 100, PUBLISHED.cacheShare * 100] },
    ],
    yFormat: pct,
    valueFormat: pct1,
  };
}

/** Histogram bucket labels: "≤ 100 ms" for an upper bound, "> 5 s" for the open last bucket. */
export function bucketLabels(boundsMs: (number | null)[]): string[] {
  return boundsMs.map((b, i) => {
    if (b !== null && Number.isFinite(b)) return `≤ ${formatBound(b)}`;
    const prev = boundsMs[i - 1];
    return prev !== undefined && prev !== null && Number.isFinite(prev) ? `> ${formatBound(prev)}` : 'all';
  });
}

export function latencyHistogramChart(r: SimReport): BarChartSpec {
  const { boundsMs, counts } = r.latencyHistogram;
  return {
    title: 'Playback latency histogram',
    xLabel: 'playback latency (bucket upper bound)',
    yLabel: 'plays',
    categories: bucketLabels(boundsMs),
    groups: [{ name: 'plays', values: counts.map((c) => (Number.isFinite(c) ? c : null)) }],
  };
}

/** The empirical CDF of latency from the histogram, on a log axis, with the published median. */
export function latencyCdfChart(reports: SimReport[]): LineChartSpec {
  return {
    title: 'Playback latency CDF',
    xLabel: 'playback latency (ms, log scale)',
    yLabel: 'plays at or below (%)',
    xLog: true,
    yMin: 0,
    yMax: 100,
    yFormat: pct,
    series: reports.map((r) => ({ name: reports.length === 1 ? 'simulated' : r.params.label, points: cdfPoints(r), dots: true })),
    guides: [
      { axis: 'x', value: PUBLISHED.medianLatencyMs, label: `published median ${PUBLISHED.medianLatencyMs} ms` },
      { axis: 'y', value: 50, label: '50 %' },
    ],
  };
}

function cdfPoints(r: SimReport): Point[] {
  const { boundsMs, counts } = r.latencyHistogram;
  const total = counts.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  if (total === 0) return [];
  const out: Point[] = [];
  let sum = 0;
  for (const [i, c] of counts.entries()) {
    sum += Number.isFinite(c) ? c : 0;
    const b = boundsMs[i];
    if (b !== undefined && b !== null && Number.isFinite(b) && b > 0) out.push({ x: b, y: (100 * sum) / total });
    // Empty buckets above the slowest play would only stretch the axis.
    if (sum >= total && out.length > 0) break;
  }
  return out;
}

export function apBandwidthChart(reports: SimReport[]): LineChartSpec {
  return {
    title: 'Access point upload over time',
    xLabel: 'simulated time (hours)',
    yLabel: 'AP upload (Mbit/s)',
    series: reports.map((r) => ({ name: reports.length === 1 ? 'AP upload' : r.params.label, points: r.apBandwidth.map((p) => ({ x: p.hour, y: (p.value * 8) / 1e6 })) })),
  };
}

export function onlineChart(reports: SimReport[]): LineChartSpec {
  return {
    title: 'Clients online over time',
    xLabel: 'simulated time (hours)',
    yLabel: 'clients online',
    series: reports.map((r) => ({ name: reports.length === 1 ? 'clients online' : r.params.label, points: r.online.map((p) => ({ x: p.hour, y: p.value })) })),
  };
}

export function neighboursChart(r: SimReport): LineChartSpec {
  const rows = r.neighboursByHoursSinceLogin;
  return {
    title: 'Neighbours per client over hours since login',
    xLabel: 'hours since login',
    yLabel: 'neighbours',
    y2Label: 'clients with 0 neighbours (%)',
    y2Min: 0,
    y2Max: 100,
    y2Format: pct,
    series: [
      { name: 'mean', points: rows.map((p) => ({ x: p.hoursSinceLogin, y: p.mean })), dots: rows.length < 30 },
      { name: 'median', points: rows.map((p) => ({ x: p.hoursSinceLogin, y: p.median })), dashed: true },
      { name: 'share at 0', points: rows.map((p) => ({ x: p.hoursSinceLogin, y: p.zeroShare * 100 })), axis: 'right' },
    ],
  };
}

/** The figure files of one report, by name (`<name>.svg`). */
export function reportFigures(r: SimReport): Record<string, string> {
  return {
    sources: barChart(sourcesChart([r])),
    'latency-histogram': barChart(latencyHistogramChart(r)),
    'latency-cdf': lineChart(latencyCdfChart([r])),
    'ap-bandwidth': lineChart(apBandwidthChart([r])),
    online: lineChart(onlineChart([r])),
    neighbours: lineChart(neighboursChart(r)),
  };
}

/** The comparison figure of a sweep: shares, latency and stutter of each run side by side. */
export function sweepFigure(reports: SimReport[]): string {
  const labels = reports.map((r) => r.params.label);
  return composite(
    `Sweep: ${labels.join(' vs ')}`,
    [
      sourcesChart(reports),
      {
        title: 'Playback latency',
        yLabel: 'latency (ms)',
        categories: labels,
        groups: [
          { name: 'median', values: reports.map((r) => (r.latency.plays > 0 ? r.latency.medianMs : null)) },
          { name: 'p90', values: reports.map((r) => (r.latency.plays > 0 ? r.latency.p90Ms : null)) },
        ],
        valueFormat: (v) => formatNumber(Math.round(v)),
        guides: [{ value: PUBLISHED.medianLatencyMs, label: `published median ${PUBLISHED.medianLatencyMs} ms` }],
      },
      {
        title: 'Playbacks with stutter',
        yLabel: 'plays with stutter (%)',
        categories: labels,
        groups: [{ name: 'stutter', values: reports.map((r) => (r.stutter.plays > 0 ? r.stutter.rate * 100 : null)) }],
        yFormat: pct,
        valueFormat: (v) => `${v.toFixed(2)} %`,
        guides: [{ value: PUBLISHED.stutterRateBelow * 100, label: 'published: below 1 %' }],
      },
      latencyCdfChart(reports),
    ],
    2,
  );
}

/** A file name for a run's label: letters, digits and `=.,_-` kept, the rest turned into `-`. */
export function labelDir(label: string): string {
  const s = label.replace(/[^A-Za-z0-9=.,_-]+/g, '-').replace(/^-+|-+$/g, '');
  return s === '' || s === '.' || s === '..' ? 'run' : s;
}

/**
 * Writes `<dir>/<name>.svg` for each figure of the report, and the report itself as
 * `<dir>/report.json`; returns the paths written.
 */
export async function writeReportFigures(r: SimReport, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [path.join(dir, 'report.json')];
  await writeFile(written[0]!, JSON.stringify(r, null, 2) + '\n');
  for (const [name, svg] of Object.entries(reportFigures(r))) {
    const file = path.join(dir, `${name}.svg`);
    await writeFile(file, svg);
    written.push(file);
  }
  return written;
}

/** Writes each run's figures into `<dir>/<label>/` and the comparison at `<dir>/sweep.svg`. */
export async function writeSweepFigures(reports: SimReport[], dir: string): Promise<string[]> {
  const written: string[] = [];
  const used = new Set<string>();
  for (const r of reports) {
    let name = labelDir(r.params.label);
    for (let i = 2; used.has(name); i++) name = `${labelDir(r.params.label)}-${i}`;
    used.add(name);
    written.push(...(await writeReportFigures(r, path.join(dir, name))));
  }
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'sweep.svg');
  await writeFile(file, sweepFigure(reports));
  written.push(file);
  return written;
}

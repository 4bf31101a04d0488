/**
 * Terminal tables and JSON of simulator reports (issue 5 item 4): each figure beside the value
 * the published system measured (DESIGN §3), for one run or for the runs of a sweep side by
 * side. Figures with nothing to measure (no plays, no searches) print as "–", never NaN.
 */
import type { SimReport, LatencySummary } from './report.ts';

/** The published figures of DESIGN §3 (shares as fractions). */
export const PUBLISHED = {
  serverShare: 0.088,
  peerShare: 0.358,
  cacheShare: 0.554,
  medianLatencyMs: 265,
  /** Playbacks with stutter: published as "below 1 %". */
  stutterRateBelow: 0.01,
  sequentialShare: 0.61,
  nextTrackAt30s: 0.92,
  nextTrackAt10s: 0.94,
  searchAny: 0.818,
  searchDistance1: 0.604,
  searchDistance2: 0.774,
  trackerFound: 0.841,
  /** Plays on the top 12 % of tracks (issue 5, the workload's Zipf-like popularity). */
  catalogTopShare: 0.88,
  neighbours: 'slowly falling, ~24 h period, many at 0',
} as const;

const DASH = '–';

/** 12.3 %; "–" when not a number. */
export function pct(v: number, decimals = 1): string {
  return Number.isFinite(v) ? `${(v * 100).toFixed(decimals)} %` : DASH;
}

function ms(v: number): string {
  if (!Number.isFinite(v)) return DASH;
  return Math.abs(v) < 10 && v !== Math.round(v) ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

/** A histogram bound: 250 ms, 1.5 s, 60 min. */
export function formatBound(v: number): string {
  if (!Number.isFinite(v)) return DASH;
  if (v < 1000) return `${v} ms`;
  if (v < 60_000) return `${v / 1000} s`;
  return `${+(v / 60_000).toFixed(1)} min`;
}

function count(v: number): string {
  if (!Number.isFinite(v)) return DASH;
  return Math.round(v)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

function bytes(v: number): string {
  if (!Number.isFinite(v)) return DASH;
  if (v < 1024) return `${v} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let x = v / 1024;
  let u = 0;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return `${x.toFixed(1)} ${units[u]}`;
}

function mbit(bytesPerSec: number): string {
  return Number.isFinite(bytesPerSec) ? `${((bytesPerSec * 8) / 1e6).toFixed(1)} Mbit/s` : DASH;
}

function seconds(wallMs: number): string {
  if (!Number.isFinite(wallMs)) return DASH;
  if (wallMs < 60_000) return `${(wallMs / 1000).toFixed(1)} s`;
  const s = Math.round(wallMs / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** A share, or "–" when its denominator is 0. */
function shareOf(v: number, of: number, decimals = 1): string {
  return of > 0 ? pct(v, decimals) : DASH;
}

function latency(l: LatencySummary | undefined, pick: (l: LatencySummary) => number): string {
  return l && l.plays > 0 ? ms(pick(l)) : DASH;
}

function mean(values: number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

function peak(values: number[]): number {
  return values.length ? Math.max(...values) : NaN;
}

/** One row of the figures table. */
interface Row {
  label: string;
  value: (r: SimReport) => string;
  published?: string;
}

interface Section {
  title: string;
  rows: Row[];
}

function overrides(r: SimReport): string {
  const entries = Object.entries(r.params.overrides ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(' ') : 'none';
}

const onOff = (b: boolean) => (b ? 'on' : 'off');

/** The figures, grouped, in print order; the published value where DESIGN §3 gives one. */
export const SECTIONS: Section[] = [
  {
    title: 'run',
    rows: [
      { label: 'peers', value: (r) => count(r.params.peers) },
      { label: 'simulated hours', value: (r) => String(r.params.hours) },
      { label: 'seed', value: (r) => String(r.params.seed) },
      { label: 'NAT mix (Table II row)', value: (r) => r.params.natCountry },
      { label: 'tracker / overlay / prefetch', value: (r) => `${onOff(r.params.tracker)} / ${onOff(r.params.overlay)} / ${onOff(r.params.prefetch)}` },
      { label: 'config overrides', value: overrides },
    ],
  },
  {
    title: 'played data by source',
    rows: [
      { label: 'played data', value: (r) => bytes(r.sources.server + r.sources.peer + r.sources.cache) },
      { label: 'from the access point', value: (r) => shareOf(r.sources.serverShare, totalPlayed(r)), published: pct(PUBLISHED.serverShare) },
      { label: 'from peers', value: (r) => shareOf(r.sources.peerShare, totalPlayed(r)), published: pct(PUBLISHED.peerShare) },
      { label: 'from the local cache', value: (r) => shareOf(r.sources.cacheShare, totalPlayed(r)), published: pct(PUBLISHED.cacheShare) },
    ],
  },
  {
    title: 'playback',
    rows: [
      { label: 'plays', value: (r) => count(r.latency.plays) },
      { label: 'latency median', value: (r) => latency(r.latency, (l) => l.medianMs), published: ms(PUBLISHED.medianLatencyMs) },
      { label: 'latency p75', value: (r) => latency(r.latency, (l) => l.p75Ms) },
      { label: 'latency p90', value: (r) => latency(r.latency, (l) => l.p90Ms) },
      { label: 'latency p99', value: (r) => latency(r.latency, (l) => l.p99Ms) },
      { label: 'median, random access', value: (r) => latency(r.latency.random, (l) => l.medianMs) },
      { label: 'median, sequential', value: (r) => latency(r.latency.sequential, (l) => l.medianMs) },
      { label: 'plays with stutter', value: (r) => shareOf(r.stutter.rate, r.stutter.plays, 2), published: `< ${pct(PUBLISHED.stutterRateBelow, 0)}` },
    ],
  },
  {
    title: 'access',
    rows: [
      { label: 'sequential (predictable order)', value: (r) => shareOf(r.access.sequentialShare, r.access.sequential + r.access.random), published: pct(PUBLISHED.sequentialShare, 0) },
      { label: 'next track played, 30 s left', value: (r) => shareOf(r.nextTrackPlayed.at30s, r.access.sequential + r.access.random), published: pct(PUBLISHED.nextTrackAt30s, 0) },
      { label: 'next track played, 10 s left', value: (r) => shareOf(r.nextTrackPlayed.at10s, r.access.sequential + r.access.random), published: pct(PUBLISHED.nextTrackAt10s, 0) },
    ],
  },
  {
    title: 'finding peers',
    rows: [
      { label: 'overlay searches', value: (r) => count(r.search.searches) },
      { label: 'search finds a peer: any', value: (r) => shareOf(r.search.anyShare, r.search.searches), published: pct(PUBLISHED.searchAny) },
      { label: '  at distance 1', value: (r) => shareOf(r.search.distance1Share, r.search.searches), published: pct(PUBLISHED.searchDistance1) },
      { label: '  at distance 2', value: (r) => shareOf(r.search.distance2Share, r.search.searches), published: pct(PUBLISHED.searchDistance2) },
      { label: 'tracker queries', value: (r) => count(r.tracker.queries) },
      { label: 'tracker finds a peer', value: (r) => shareOf(r.tracker.foundShare, r.tracker.queries), published: pct(PUBLISHED.trackerFound) },
    ],
  },
  {
    title: 'over time',
    rows: [
      { label: 'AP upload, mean', value: (r) => mbit(mean(r.apBandwidth.map((p) => p.value))) },
      { label: 'AP upload, peak', value: (r) => mbit(peak(r.apBandwidth.map((p) => p.value))) },
      { label: 'clients online, mean', value: (r) => count(mean(r.online.map((p) => p.value))) },
      { label: 'clients online, peak', value: (r) => count(peak(r.online.map((p) => p.value))) },
      { label: 'neighbours, mean', value: (r) => neighboursMean(r), published: 'falling with hours since login' },
      { label: 'clients at 0 neighbours', value: (r) => zeroShare(r), published: 'many (P2P\'11 fig. 1)' },
    ],
  },
  {
    title: 'model',
    rows: [
      { label: 'simulated chunk size', value: (r) => (r.model ? bytes(r.model.chunkSize) : DASH) },
      { label: 'catalog tracks', value: (r) => (r.model ? count(r.model.catalogTracks) : DASH) },
      { label: 'popularity on top 12 % of tracks', value: (r) => (r.model ? pct(r.model.catalogTopShare) : DASH), published: pct(PUBLISHED.catalogTopShare, 0) },
      { label: 'AP upload capacity', value: (r) => (r.model ? mbit(r.model.apUploadBytesPerSec) : DASH) },
      { label: 'connect-backs', value: (r) => (r.model ? count(r.model.connectBacks) : DASH) },
      { label: 'failed dials', value: (r) => (r.model ? count(r.model.dialFailures) : DASH) },
    ],
  },
  {
    title: 'invariants',
    rows: [
      { label: 'checks', value: (r) => count(r.invariants.checks) },
      { label: 'violations', value: (r) => count(r.invariants.violations.length) },
    ],
  },
  {
    title: 'run cost (differs between runs)',
    rows: [
      { label: 'events', value: (r) => count(r.run.events) },
      { label: 'wall time', value: (r) => seconds(r.run.wallMs) },
      { label: 'events per second', value: (r) => count(r.run.eventsPerSec) },
      { label: 'peak RSS', value: (r) => (Number.isFinite(r.run.peakRssMb) ? `${Math.round(r.run.peakRssMb)} MB` : DASH) },
    ],
  },
];

/** Rows of the AP requests by the scheduler's reason, over the reasons any of the runs has, most first. */
function apRequestRows(reports: SimReport[]): string[][] {
  const totals = new Map<string, number>();
  for (const r of reports) for (const [k, v] of Object.entries(r.model?.apRequests.requests ?? {})) totals.set(k, (totals.get(k) ?? 0) + v);
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason]) => [`  ${reason}`, ...reports.map((r) => (r.model ? count(r.model.apRequests.requests[reason] ?? 0) : DASH)), '']);
}

function totalPlayed(r: SimReport): number {
  return r.sources.server + r.sources.peer + r.sources.cache;
}

/** The neighbours mean weighted by samples over all hours since login. */
function neighboursMean(r: SimReport): string {
  const rows = r.neighboursByHoursSinceLogin.filter((p) => p.samples > 0);
  const samples = rows.reduce((a, p) => a + p.samples, 0);
  if (samples === 0) return DASH;
  return (rows.reduce((a, p) => a + p.mean * p.samples, 0) / samples).toFixed(1);
}

function zeroShare(r: SimReport): string {
  const rows = r.neighboursByHoursSinceLogin.filter((p) => p.samples > 0);
  const samples = rows.reduce((a, p) => a + p.samples, 0);
  if (samples === 0) return DASH;
  return pct(rows.reduce((a, p) => a + p.zeroShare * p.samples, 0) / samples);
}

/**
 * Lays out rows of cells as aligned columns: by `align` (`l` or `r` per column), by default the
 * first column left-aligned and the others right-aligned. A string row is printed as it is.
 */
export function table(rows: (string[] | string)[], header?: string[], align: ('l' | 'r')[] = []): string {
  const cellRows = rows.filter((r): r is string[] => Array.isArray(r));
  const all = header ? [header, ...cellRows] : cellRows;
  const cols = Math.max(0, ...all.map((r) => r.length));
  const widths = Array.from({ length: cols }, (_, c) => Math.max(0, ...all.map((r) => [...(r[c] ?? '')].length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) => ((align[c] ?? (c === 0 ? 'l' : 'r')) === 'l' ? padEnd(cell, widths[c]!) : padStart(cell, widths[c]!)))
      .join('  ')
      .trimEnd();
  const out: string[] = [];
  if (header) {
    out.push(line(header));
    out.push(widths.map((w) => '─'.repeat(w)).join('  '));
  }
  for (const r of rows) out.push(typeof r === 'string' ? r : line(r));
  return out.join('\n') + '\n';
}

function padEnd(s: string, w: number): string {
  return s + ' '.repeat(Math.max(0, w - [...s].length));
}

function padStart(s: string, w: number): string {
  return ' '.repeat(Math.max(0, w - [...s].length)) + s;
}

/** The figures of several runs side by side, with the published column last. */
function figuresTable(reports: SimReport[], header: string[]): string {
  const rows: (string[] | string)[] = [];
  for (const section of SECTIONS) {
    rows.push(section.title);
    for (const row of section.rows) rows.push([`  ${row.label}`, ...reports.map((r) => row.value(r)), row.published ?? '']);
    if (section.title === 'model' && reports.some((r) => r.model)) {
      rows.push('AP requests by reason');
      rows.push(...apRequestRows(reports));
    }
  }
  return table(rows, header, ['l', ...reports.map(() => 'r' as const), 'l']);
}

/** The neighbours against hours since login (P2P'11 fig. 1). */
export function renderNeighbours(r: SimReport): string {
  const rows = r.neighboursByHoursSinceLogin;
  if (rows.length === 0) return 'neighbours per client by hours since login: no samples\n';
  return (
    `neighbours per online client by hours since login (published: ${PUBLISHED.neighbours}, P2P'11 fig. 1)\n` +
    table(
      rows.map((p) => [String(p.hoursSinceLogin), Number.isFinite(p.mean) ? p.mean.toFixed(1) : DASH, Number.isFinite(p.median) ? String(p.median) : DASH, pct(p.zeroShare), count(p.samples)]),
      ['hours since login', 'mean', 'median', 'at 0', 'samples'],
    )
  );
}

/** The latency histogram as a bar of `#` per bucket. */
export function renderHistogram(r: SimReport, barWidth = 40): string {
  const { boundsMs, counts } = r.latencyHistogram;
  const total = counts.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  if (total === 0) return 'playback latency histogram: no plays\n';
  const most = Math.max(...counts.filter(Number.isFinite));
  let cum = 0;
  const rows = counts.map((c, i) => {
    cum += Number.isFinite(c) ? c : 0;
    const b = boundsMs[i];
    const prev = boundsMs[i - 1];
    const label = b !== undefined && b !== null && Number.isFinite(b) ? `≤ ${formatBound(b)}` : prev !== undefined && prev !== null ? `> ${formatBound(prev)}` : 'all';
    return [label, count(c), pct(c / total), pct(cum / total), '#'.repeat(Math.round((barWidth * c) / Math.max(1, most)))];
  });
  return `playback latency histogram (published median ${PUBLISHED.medianLatencyMs} ms)\n` + table(rows, ['latency', 'plays', 'share', 'cumulative', ''], ['l', 'r', 'r', 'r', 'l']);
}

/** One run: its figures beside the published values, the neighbours table and the histogram. */
export function renderReport(r: SimReport): string {
  let out = `tunemesh simulation: ${r.params.label || 'run'} — ${count(r.params.peers)} peers, ${r.params.hours} h, seed ${r.params.seed}${r.params.allOnline ? ', all online' : ''}\n\n`;
  out += figuresTable([r], ['figure', 'simulated', 'published']);
  out += '\n' + renderNeighbours(r);
  out += '\n' + renderHistogram(r);
  if (r.invariants.violations.length) out += '\n' + renderViolations(r);
  return out;
}

/** Several runs side by side (a sweep), one column per run. */
export function renderSweep(reports: SimReport[]): string {
  if (reports.length === 0) return 'no runs\n';
  const first = reports[0]!.params;
  let out = `tunemesh sweep: ${reports.length} runs — ${count(first.peers)} peers, ${first.hours} h, seed ${first.seed}\n\n`;
  out += figuresTable(reports, ['figure', ...reports.map((r) => r.params.label || 'run'), 'published']);
  for (const r of reports) if (r.invariants.violations.length) out += '\n' + renderViolations(r);
  return out;
}

function renderViolations(r: SimReport, most = 20): string {
  const v = r.invariants.violations;
  return `invariant violations in ${r.params.label || 'run'} (${v.length}):\n` + v.slice(0, most).map((s) => `  ${s}\n`).join('') + (v.length > most ? `  … ${v.length - most} more\n` : '');
}

/** One line of a run's cost, for stderr. */
export function renderRunCost(r: SimReport): string {
  const { events, wallMs, eventsPerSec, peakRssMb } = r.run;
  return `${r.params.label || 'run'}: ${count(events)} events in ${seconds(wallMs)} (${count(eventsPerSec)} events/s), peak RSS ${Number.isFinite(peakRssMb) ? Math.round(peakRssMb) : DASH} MB`;
}

/** The JSON output: one report as an object, a sweep as an array. */
export function renderJson(r: SimReport | SimReport[]): string {
  return JSON.stringify(r, null, 2) + '\n';
}

/**
 * One simulator run (issue 5): builds the world, runs the event engine for the simulated hours,
 * samples the population every 15 simulated minutes, checks the invariants, and fills the
 * {@link SimReport}. Everything but `report.run` is a function of the options: the same seed gives a
 * byte-identical report (tested).
 *
 * The simulator's chunk size: the product's 16 kB chunks would make a 4-minute track 300 chunk
 * arrivals, each an event and a scheduler decision. Unless `chunkSize` was set explicitly
 * (`overrides.chunkSize`), the run uses {@link SIM_CHUNK_SIZE} (64 KiB) and keeps the bytes per
 * request of the product (32 × 16 kB = 8 × 64 KiB), so the scheduler's requests, pipelining and
 * AP windows are the same in bytes and time; only the granularity of progress is 4× coarser
 * (a 64 KiB chunk is 3.3 s of 160 kbit/s audio, 0.5 s at 1 Mbit/s of upload). The report says
 * which chunk size was used (`model.chunkSize`).
 */
import type { TunemeshConfig } from '../core/config.ts';
import type { LatencySummary, SeriesPoint, SimParams, SimReport } from './report.ts';
import { Engine } from './engine.ts';
import { World } from './world.ts';
import { WORKLOAD } from './workload.ts';

/** The simulator's chunk size unless `chunkSize` is overridden. */
export const SIM_CHUNK_SIZE = 64 * 1024;
/**
 * Chunks per delivery event by default: one request's worth (512 kB of the product's requests in
 * 64 KiB chunks), about 2.6 × fewer events than one per chunk, with the same report figures within
 * noise (the decisions a single arrival would have triggered wait for the end of the request or
 * the next decision; a download with a waiting play or a low buffer still gets every chunk).
 */
export const DEFAULT_DELIVERY_STEP = 8;
/** Sampling interval of the series, invariants and neighbour counts: 15 simulated minutes. */
const SAMPLE_MS = 15 * 60_000;
const HOUR = 3_600_000;
const LATENCY_BOUNDS = [25, 50, 100, 150, 200, 265, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000, 3_600_000];

export interface SimOptions extends SimParams {
  config: TunemeshConfig;
  onProgress?(simHour: number, events: number): void;
  /**
   * Chunks per delivery event of a transfer while its download is comfortable (1 while a play
   * waits for audio or its buffer is low; see `WorldOptions.deliveryStep`). 1 is one event per
   * chunk. @default {@link DEFAULT_DELIVERY_STEP}
   */
  deliveryStep?: number;
}

export function runSimulation(opts: SimOptions): SimReport {
  const wallStart = performance.now();
  let peakRss = process.memoryUsage().rss;
  const chunkSize = opts.overrides && 'chunkSize' in opts.overrides ? opts.config.chunkSize : SIM_CHUNK_SIZE;
  const config: TunemeshConfig = { ...opts.config, chunkSize };
  const deliveryStep = Math.max(1, Math.floor(opts.deliveryStep ?? DEFAULT_DELIVERY_STEP));
  const engine = new Engine(opts.seed >>> 0);
  const world = new World(engine, {
    peers: opts.peers,
    seed: opts.seed,
    natCountry: opts.natCountry,
    tracker: opts.tracker,
    overlay: opts.overlay,
    prefetch: opts.prefetch,
    allOnline: opts.allOnline === true,
    config,
    deliveryStep,
  });
  world.start();

  const endMs = opts.hours * HOUR;
  const online: SeriesPoint[] = [];
  const apBandwidth: SeriesPoint[] = [];
  /** Neighbour counts per whole hour since login: a histogram 0..hard limit. */
  const hard = config.neighbourHardLimit;
  const byHour: Float64Array[] = [];
  let checks = 0;
  let lastApBytes = 0;
  const sample = (t: number) => {
    let n = 0;
    world.forEachOnline((c) => {
      n++;
      checks++;
      if (c.neighbours > hard) world.violation(`t=${t}: client ${c.id} has ${c.neighbours} neighbours (hard limit ${hard})`);
      if (!c.targetsAgree) world.violation(`t=${t}: client ${c.id}'s search targets in the world disagree with its neighbour set`);
      if (!c.sourcesAgree) world.violation(`t=${t}: client ${c.id}'s kept download sources disagree with its schedulers' peers and its links`);
      if (c.uploads > config.maxUploads || c.uploadFlows > config.maxUploads) world.violation(`t=${t}: client ${c.id} uploads to ${Math.max(c.uploads, c.uploadFlows)} peers (limit ${config.maxUploads})`);
      const h = Math.floor(c.hoursSinceLogin);
      const hist = (byHour[h] ??= new Float64Array(hard + 2));
      hist[Math.min(c.neighbours, hard + 1)]!++;
    });
    world.forEachCache((id, used, limit, indexed) => {
      checks++;
      if (used > limit) world.violation(`t=${t}: cache of client ${id} holds ${used} bytes over its limit ${limit}`);
      if (!indexed) world.violation(`t=${t}: client ${id}'s index of complete files disagrees with its cache`);
    });
    online.push({ hour: round(t / HOUR), value: n });
  };
  for (let t = SAMPLE_MS; t <= endMs + 1e-9; t += SAMPLE_MS) {
    engine.runUntil(t);
    sample(t);
    const ap = world.stats.apBytes;
    apBandwidth.push({ hour: round(t / HOUR), value: round((ap - lastApBytes) / (SAMPLE_MS / 1000)) });
    lastApBytes = ap;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    opts.onProgress?.(t / HOUR, engine.events);
  }
  if (endMs % SAMPLE_MS !== 0) engine.runUntil(endMs);
  world.finishPlays();

  const s = world.stats;
  const played = s.played.server + s.played.peer + s.played.cache;
  checks++;
  if (played !== s.bytesPlayed) world.violation(`played bytes by source sum to ${played}, ${s.bytesPlayed} were played`);
  const all = [...s.latencies.random, ...s.latencies.sequential];
  const search = world.searchStats();
  const wallMs = performance.now() - wallStart;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const params: SimParams = {
    peers: opts.peers,
    hours: opts.hours,
    seed: opts.seed,
    natCountry: opts.natCountry,
    tracker: opts.tracker,
    overlay: opts.overlay,
    prefetch: opts.prefetch,
    overrides: { ...opts.overrides },
    label: opts.label,
    ...(opts.allOnline ? { allOnline: true } : {}),
  };
  const counts = new Array<number>(LATENCY_BOUNDS.length).fill(0);
  for (const l of all) {
    let k = LATENCY_BOUNDS.findIndex((b) => l <= b);
    if (k < 0) k = LATENCY_BOUNDS.length - 1;
    counts[k]!++;
  }
  const totalAccess = s.access.random + s.access.sequential;
  const report: SimReport = {
    params,
    sources: {
      server: s.played.server,
      peer: s.played.peer,
      cache: s.played.cache,
      serverShare: share(s.played.server, played),
      peerShare: share(s.played.peer, played),
      cacheShare: share(s.played.cache, played),
    },
    latency: { ...summary(all), random: summary(s.latencies.random), sequential: summary(s.latencies.sequential) },
    latencyHistogram: { boundsMs: LATENCY_BOUNDS, counts },
    stutter: { plays: s.plays, playsWithStutter: s.playsWithStutter, rate: share(s.playsWithStutter, s.plays) },
    access: { sequential: s.access.sequential, random: s.access.random, sequentialShare: share(s.access.sequential, totalAccess) },
    nextTrackPlayed: { at30s: share(s.next30.played, s.next30.reached), at10s: share(s.next10.played, s.next10.reached) },
    search: {
      searches: search.searches,
      anyShare: share(search.searches - search.notFound, search.searches),
      distance1Share: share(search.foundAt1, search.searches),
      distance2Share: share(search.foundAt2, search.searches),
    },
    tracker: { queries: s.trackerQueries, foundShare: share(s.trackerFound, s.trackerQueries) },
    neighboursByHoursSinceLogin: byHour.flatMap((hist, h) => (hist ? [histSummary(h, hist)] : [])),
    apBandwidth,
    online,
    invariants: { checks, violations: world.violationTotal > world.violations.length ? [...world.violations, `... ${world.violationTotal - world.violations.length} more`] : [...world.violations] },
    model: {
      chunkSize,
      deliveryStep,
      catalogTracks: world.catalog.tracks,
      catalogTopShare: round(world.catalog.topShare),
      zipfExponent: round(world.catalog.zipfExponent),
      apUploadBytesPerSec: Math.round((Math.max(1, opts.peers) * WORKLOAD.apUpBitsPerUser) / 8),
      connectBacks: s.connectBacks,
      dialFailures: s.dialFailures,
      apRequests: { requests: { ...world.apCounters.requests }, chunks: { ...world.apCounters.chunks } },
    },
    run: { events: engine.events, wallMs: Math.round(wallMs), eventsPerSec: Math.round(engine.events / Math.max(0.001, wallMs / 1000)), peakRssMb: Math.round(peakRss / 1048576) },
  };
  return report;
}

function share(a: number, b: number): number {
  return b > 0 ? a / b : 0;
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[k]!;
}

function summary(values: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const arr = Array.from(sorted);
  return { plays: arr.length, medianMs: round(quantile(arr, 0.5)), p75Ms: round(quantile(arr, 0.75)), p90Ms: round(quantile(arr, 0.9)), p99Ms: round(quantile(arr, 0.99)) };
}

function histSummary(h: number, hist: Float64Array): SimReport['neighboursByHoursSinceLogin'][number] {
  let n = 0;
  let sum = 0;
  for (let k = 0; k < hist.length; k++) {
    n += hist[k]!;
    sum += k * hist[k]!;
  }
  let acc = 0;
  let median = 0;
  for (let k = 0; k < hist.length; k++) {
    acc += hist[k]!;
    if (acc >= n / 2) {
      median = k;
      break;
    }
  }
  return { hoursSinceLogin: h, mean: round(sum / Math.max(1, n)), median, zeroShare: round(hist[0]! / Math.max(1, n)), samples: n };
}

/**
 * Tracker benchmark: announces and queries per second of `src/core/tracker.ts` in process, on a
 * catalog of 100 000 files with Zipf popularity, 1 000 000 announces from 200 000 peers of which half
 * are online. Beside it, as baselines measured in the same run: a plain `Map.get` of a 10-element
 * array per query (the least any tracker does), and `Map.get` of the same lists the tracker holds plus
 * the caller's online check of every id, without choosing (the least the published rule costs with an
 * `isOnline(peerId)` callback: touching 20 scattered peer ids is what dominates a query on a large
 * catalog). Prints medians of 5 runs; never fails on time.
 *
 *   npx tsx bench/tracker.ts [--files 100000] [--announces 1000000] [--peers 200000] [--queries 1000000]
 */
import { randomInt, seededRng, type Rng } from '../src/core/clock.ts';
import { defaultConfig } from '../src/core/config.ts';
import { Tracker } from '../src/core/tracker.ts';
import { isMain, median, numberArg, printTable } from './stats.ts';

const RUNS = 5;

/** The figures `main` prints. */
export interface TrackerFigures {
  files: number;
  announces: number;
  peers: number;
  queries: number;
  /** Announces per second into an empty tracker, median of the runs. */
  announcesPerSec: number;
  /** Queries per second (random choice among the online peers of a file), median of the runs. */
  queriesPerSec: number;
  /** Baseline: `Map.get` of a 10-element array per query, median of the runs. */
  baselinePerSec: number;
  /** queriesPerSec / baselinePerSec. */
  queryVsBaseline: number;
  /** Baseline: `Map.get` of the tracker's lists and `isOnline` of every id in them, median of the runs. */
  onlineScanPerSec: number;
  /** queriesPerSec / onlineScanPerSec: the tracker's own overhead beyond the online checks. */
  queryVsOnlineScan: number;
  /** Share of queries answered with at least one peer (P2P'11 reports 84.1 % for the real tracker). */
  answeredShare: number;
  /** Mean peers per answer. */
  meanAnswer: number;
  /** Files and (file, peer) entries the tracker holds after the announces. */
  trackedFiles: number;
  trackedEntries: number;
}

/** A Zipf(1) sampler over [0, n): popular files are announced and asked for more, as in a real catalog. */
function zipf(n: number): (rng: Rng) => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1);
  return (rng) => {
    const u = rng.next() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** Runs the benchmark, prints a table, and returns the figures. */
export async function main(): Promise<TrackerFigures> {
  const files = numberArg('files', 100_000);
  const announces = numberArg('announces', 1_000_000);
  const peers = numberArg('peers', 200_000);
  const queries = numberArg('queries', 1_000_000);

  // Setup, not timed: ids, the workload, who is online.
  const rng = seededRng(2011);
  const fileIds = Array.from({ length: files }, (_, i) => `file-${i.toString(16).padStart(8, '0')}`);
  const peerIds = Array.from({ length: peers }, (_, i) => `peer-${i.toString(16).padStart(8, '0')}`);
  const popular = zipf(files);
  const announceFile = new Int32Array(announces);
  const announcePeer = new Int32Array(announces);
  for (let i = 0; i < announces; i++) {
    announceFile[i] = popular(rng);
    announcePeer[i] = randomInt(rng, peers);
  }
  const queryFile = new Int32Array(queries);
  const queryAsker = new Int32Array(queries);
  for (let i = 0; i < queries; i++) {
    queryFile[i] = popular(rng);
    queryAsker[i] = randomInt(rng, peers);
  }
  const online = new Set<string>();
  for (const p of peerIds) if (rng.next() < 0.5) online.add(p);
  const isOnline = (p: string) => online.has(p);
  const baseline = new Map<string, string[]>();
  for (let f = 0; f < files; f++) baseline.set(fileIds[f]!, Array.from({ length: 10 }, (_, j) => peerIds[(f * 10 + j) % peers]!));

  const fill = (): Tracker => {
    const t = new Tracker(defaultConfig);
    for (let i = 0; i < announces; i++) t.announce(fileIds[announceFile[i]!]!, peerIds[announcePeer[i]!]!);
    return t;
  };
  const ask = (t: Tracker, n: number, seed: number): { answered: number; peers: number } => {
    const qrng = seededRng(seed);
    let answered = 0;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const got = t.query(fileIds[queryFile[i]!]!, isOnline, qrng, peerIds[queryAsker[i]!]!).length;
      total += got;
      if (got > 0) answered++;
    }
    return { answered, peers: total };
  };
  const lookUp = (n: number): number => {
    let total = 0; // used, so the lookups cannot be optimised away
    for (let i = 0; i < n; i++) total += baseline.get(fileIds[queryFile[i]!]!)!.length;
    return total;
  };

  const scanOnline = (lists: Map<string, string[]>, n: number): number => {
    let total = 0;
    for (let i = 0; i < n; i++) {
      const fileId = fileIds[queryFile[i]!]!;
      const asker = peerIds[queryAsker[i]!]!;
      const list = lists.get(fileId)!;
      for (let j = 0; j < list.length; j++) if (list[j] !== asker && isOnline(list[j]!)) total++;
    }
    return total;
  };

  // Warm-up: let the JIT compile the hot paths before anything is timed.
  ask(fill(), Math.min(queries, 100_000), 1);
  lookUp(Math.min(queries, 100_000));

  const announceRates: number[] = [];
  const queryRates: number[] = [];
  const baselineRates: number[] = [];
  const scanRates: number[] = [];
  let tracker: Tracker | undefined;
  let answers = { answered: 0, peers: 0 };
  let sink = 0;
  for (let run = 0; run < RUNS; run++) {
    tracker = undefined; // let the previous one go before timing a new fill
    let t0 = performance.now();
    tracker = fill();
    announceRates.push(announces / ((performance.now() - t0) / 1000));

    t0 = performance.now();
    answers = ask(tracker, queries, 100 + run);
    queryRates.push(queries / ((performance.now() - t0) / 1000));

    t0 = performance.now();
    sink += lookUp(queries);
    baselineRates.push(queries / ((performance.now() - t0) / 1000));

    const lists = new Map<string, string[]>();
    for (const fileId of fileIds) lists.set(fileId, tracker.peers(fileId));
    t0 = performance.now();
    sink += scanOnline(lists, queries);
    scanRates.push(queries / ((performance.now() - t0) / 1000));
  }
  if (sink === 0 && queries > 0) throw new Error('baseline did no work');

  const figures: TrackerFigures = {
    files,
    announces,
    peers,
    queries,
    announcesPerSec: median(announceRates),
    queriesPerSec: median(queryRates),
    baselinePerSec: median(baselineRates),
    queryVsBaseline: median(queryRates) / median(baselineRates),
    onlineScanPerSec: median(scanRates),
    queryVsOnlineScan: median(queryRates) / median(scanRates),
    answeredShare: queries > 0 ? answers.answered / queries : 0,
    meanAnswer: queries > 0 ? answers.peers / queries : 0,
    trackedFiles: tracker!.files,
    trackedEntries: tracker!.size,
  };

  const k = (x: number) => `${(x / 1000).toFixed(0)} k`;
  printTable(
    `tracker (median of ${RUNS} runs; ${files} files, ${announces} announces, ${peers} peers 50 % online, ${queries} queries, Zipf popularity)`,
    ['what', 'per second', 'vs Map.get', 'vs online scan'],
    [
      ['announce', k(figures.announcesPerSec), '', ''],
      ['query (up to 10 random online of 20)', k(figures.queriesPerSec), figures.queryVsBaseline.toFixed(3), figures.queryVsOnlineScan.toFixed(2)],
      ['baseline: Map.get of a 10-element array', k(figures.baselinePerSec), '1', ''],
      ['baseline: Map.get + isOnline of each listed id', k(figures.onlineScanPerSec), '', '1'],
    ],
  );
  console.log(
    `tracked ${figures.trackedFiles} files, ${figures.trackedEntries} entries; ` +
      `${(figures.answeredShare * 100).toFixed(1)} % of queries answered, ${figures.meanAnswer.toFixed(2)} peers per answer`,
  );
  return figures;
}

if (isMain(import.meta.url)) await main();

/**
 * What one simulator run reports (issue 5 item 4): the figures DESIGN §3 lists as the system's
 * published measurements, measured on the simulated population, plus the run's own cost. The
 * simulation (`src/sim/run.ts`) fills it; `src/sim/render.ts` prints it as terminal tables,
 * JSON and SVG figures. Plain data: JSON-serialisable, deterministic for a seed (no wall-clock
 * figures outside {@link SimReport.run}).
 */

/** The parameters a run was made with. */
export interface SimParams {
  peers: number;
  hours: number;
  seed: number;
  /** Country row of Table II (P2P'11) the NAT mix comes from, e.g. `GB`. */
  natCountry: string;
  /** Scenario switches (a sweep varies these or config values). */
  tracker: boolean;
  overlay: boolean;
  prefetch: boolean;
  /** Config values set away from their defaults (`--set key=value`). */
  overrides: Record<string, number>;
  /** A short name of this run in a sweep, e.g. `trackerMemory=5` or `tracker only`. */
  label: string;
  /**
   * Every user logs in within the first 10 minutes and stays online to the end of the run (still
   * alternating listening and idle periods): `peers` is then the concurrent population. Absent: the
   * daily session pattern (about 60-67 % online).
   */
  allOnline?: boolean;
}

/** A latency distribution, ms. */
export interface LatencySummary {
  plays: number;
  medianMs: number;
  p75Ms: number;
  p90Ms: number;
  p99Ms: number;
}

/** One point of a time series. */
export interface SeriesPoint {
  /** Simulated time, hours since the start of the run. */
  hour: number;
  value: number;
}

export interface SimReport {
  params: SimParams;
  /** Played bytes by source, and their shares (0..1). */
  sources: { server: number; peer: number; cache: number; serverShare: number; peerShare: number; cacheShare: number };
  latency: LatencySummary & { random: LatencySummary; sequential: LatencySummary };
  /** Histogram of playback latency: upper bounds of the buckets (ms) and plays per bucket. */
  latencyHistogram: { boundsMs: number[]; counts: number[] };
  stutter: { plays: number; playsWithStutter: number; rate: number };
  /** Plays by how they were reached: sequential (next track of the queue) or random access. */
  access: { sequential: number; random: number; sequentialShare: number };
  /** Next tracks actually played when the listener was 30 s / 10 s from the end (published 92 % / 94 %). */
  nextTrackPlayed: { at30s: number; at10s: number };
  /** Overlay searches: found any peer / at distance 1 / at distance 2, as shares of searches. */
  search: { searches: number; anyShare: number; distance1Share: number; distance2Share: number };
  tracker: { queries: number; foundShare: number };
  /** Neighbours per online client against hours since its login: mean, median and share at 0. */
  neighboursByHoursSinceLogin: { hoursSinceLogin: number; mean: number; median: number; zeroShare: number; samples: number }[];
  /** AP upload rate over simulated time, bytes per second (averaged per interval). */
  apBandwidth: SeriesPoint[];
  /** Clients online over simulated time. */
  online: SeriesPoint[];
  /** Invariants checked during the run (neighbour and upload limits, cache limits, byte accounting). */
  invariants: { checks: number; violations: string[] };
  /**
   * How the simulated world was modelled (optional; deterministic): the chunk size the simulator
   * used, chunks per delivery event, the catalog, the AP's upload capacity, connection counters and
   * the AP requests by the scheduler's reason.
   */
  model?: {
    chunkSize: number;
    deliveryStep: number;
    catalogTracks: number;
    /** Share of the popularity on the top 12 % of tracks (published 88 %). */
    catalogTopShare: number;
    zipfExponent: number;
    apUploadBytesPerSec: number;
    connectBacks: number;
    dialFailures: number;
    apRequests: { requests: Record<string, number>; chunks: Record<string, number> };
  };
  /** The run's cost: the only figures that differ between runs of one seed. */
  run: { events: number; wallMs: number; eventsPerSec: number; peakRssMb: number };
}

/**
 * Every tunable number of tunemesh, with its default and the published source it comes from
 * (DESIGN §3). Parts receive `Pick<TunemeshConfig, ...>` slices; the simulator and the CLI can
 * override any field.
 */
export interface TunemeshConfig {
  /** Size of one chunk of a file, the unit of requests and verification. @default 16384 (P2P'10: 16 kB) */
  chunkSize: number;
  /** Audio the AP sends at once on a random access, in ms. @default 15000 (P2P'10: ~15 s) */
  randomAccessPrefixMs: number;
  /** Never request from the AP more than this far ahead of the playback point while peers deliver, ms. @default 15000 (P2P'10) */
  apMaxAheadMs: number;
  /** Below this much buffered audio the client is in emergency mode, ms. @default 3000 (P2P'10 lectures) */
  emergencyBufferMs: number;
  /** Search peers for the next track this long before the current one ends, ms. @default 30000 (P2P'10 lectures) */
  prefetchPeerSearchMs: number;
  /** Fetch the next track's start from the AP this long before the end if no peer was found, ms. @default 10000 (P2P'10 lectures) */
  prefetchApFallbackMs: number;
  /** Cache size as a fraction of free disk. @default 0.1 (P2P'10: 10 % of free disk) */
  cacheFractionOfFreeDisk: number;
  /** Upper bound of the default cache size, bytes. @default 10 GiB (P2P'10) */
  cacheMaxBytes: number;
  /** Lower bound of the default cache size, bytes. @default 50 MiB (P2P'10) */
  cacheMinBytes: number;
  /** Peers the tracker remembers per file. @default 20 (P2P'11) */
  trackerMemory: number;
  /** Peers the tracker returns per query. @default 10 (P2P'11) */
  trackerAnswer: number;
  /** Overlay search radius in hops. @default 2 (P2P'11) */
  searchHops: number;
  /** Query ids each client remembers to drop duplicates. @default 50 (P2P'11) */
  searchDedupIds: number;
  /** Neighbour soft limit: above it no new outgoing connections. @default 50 (P2P'11) */
  neighbourSoftLimit: number;
  /** Neighbour hard limit: at it no new connections at all. @default 60 (P2P'11) */
  neighbourHardLimit: number;
  /** Peers served at once. @default 4 (P2P'10) */
  maxUploads: number;
  /** Interval between application keep-alive pings on an idle link, ms. @default 15000 (P2P'11: application keep-alive; interval ours) */
  keepAliveMs: number;
  /** A link silent for this long is considered dead, ms. @default 45000 (ours: three missed keep-alives) */
  linkTimeoutMs: number;
  /** First reconnect delay to the AP, ms; doubles up to `reconnectMaxMs`. @default 250 (ours) */
  reconnectBaseMs: number;
  /** Longest reconnect delay to the AP, ms. @default 10000 (ours) */
  reconnectMaxMs: number;
  /** Largest frame a link accepts, bytes; larger frames are a protocol error. @default 1 MiB (ours) */
  maxFrameBytes: number;
  /** Audio needed before playback starts on a fast link, ms; grows when the measured rate is low. @default 500 (ours, see playback clock) */
  minStartBufferMs: number;
  /**
   * A measured download rate counts as fast only when it exceeds the track's bitrate by this factor;
   * below it the playback clock waits for more audio, as if the rate were this much lower, so rate
   * jitter does not turn into a stutter. @default 1.2 (ours)
   */
  startRateMargin: number;
  /**
   * Longest time a chunk written to the disk cache waits before its "present" mark is made durable
   * (data synced first, then the marks of all chunks written meanwhile in one transaction), ms. A kill
   * loses at most this much of marks, never data. @default 100 (ours)
   */
  cacheMarkFlushMs: number;
}

const MiB = 1024 * 1024;

/** The defaults of DESIGN §3. */
export const defaultConfig: Readonly<TunemeshConfig> = Object.freeze({
  chunkSize: 16 * 1024,
  randomAccessPrefixMs: 15_000,
  apMaxAheadMs: 15_000,
  emergencyBufferMs: 3_000,
  prefetchPeerSearchMs: 30_000,
  prefetchApFallbackMs: 10_000,
  cacheFractionOfFreeDisk: 0.1,
  cacheMaxBytes: 10 * 1024 * MiB,
  cacheMinBytes: 50 * MiB,
  trackerMemory: 20,
  trackerAnswer: 10,
  searchHops: 2,
  searchDedupIds: 50,
  neighbourSoftLimit: 50,
  neighbourHardLimit: 60,
  maxUploads: 4,
  keepAliveMs: 15_000,
  linkTimeoutMs: 45_000,
  reconnectBaseMs: 250,
  reconnectMaxMs: 10_000,
  maxFrameBytes: MiB,
  minStartBufferMs: 500,
  startRateMargin: 1.2,
  cacheMarkFlushMs: 100,
});

/** The config with some fields overridden. */
export function makeConfig(overrides: Partial<TunemeshConfig> = {}): TunemeshConfig {
  return { ...defaultConfig, ...overrides };
}

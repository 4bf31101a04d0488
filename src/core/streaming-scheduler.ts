/**
 * The streaming scheduler (DESIGN §3, issue 4): for one file, which chunks to ask for, from which
 * source and how urgently, so that playback starts fast, never stutters, and the AP serves only
 * what peers cannot serve in time. It replaces {@link InOrderScheduler} behind the same call
 * pattern: the runtime reports what happened (peers found or failed, chunks arrived, requests
 * ended, a seek), calls {@link StreamingScheduler.next} with the time and the playback point, carries
 * out the decision (cancel, then send), and calls again at {@link StreamingScheduler.wakeAt} if
 * nothing happened before.
 *
 * The rules, each a config value (`src/core/config.ts`) with its published source:
 * - **Random access** (P2P'10; lectures: "asking for the first 15 seconds of the track only"):
 *   from a pick or a seek until playback starts, the missing chunks of the first
 *   `randomAccessPrefixMs` from the playback point go to the AP at once (reason `first-seconds`)
 *   while the runtime looks for peers; peers take the rest. Chunks already cached are not asked
 *   for, so a cached or prefetched start costs the AP nothing.
 * - **Buffer modes while playing** (P2P'10 slides; lectures: "< 3 seconds ... emergency mode"):
 *   at least `lowBufferMs` buffered: peers only; less: the AP joins the peers (reason `slow-peer`,
 *   or `no-peer` when no peer is connected); under `emergencyBufferMs`, once the buffer had
 *   reached that much since playback started: emergency, the AP joins (reason `emergency`) and
 *   the decision says `emergency: true` so the runtime stops uploading.
 * - **AP and P2P together** (P2P'10): while a usable peer is connected, nothing is asked of the AP
 *   beyond `apMaxAheadMs` of audio ahead of the playback point (AP requests lying wholly outside
 *   that window are cancelled); peers fetch the whole file as fast as they can, from the playback
 *   point to the end, then the part before it. With no peer connected and the lookup over, the AP
 *   serves the whole file (reason `no-peer`).
 * - **Peer choice** (P2P'10): sources are sorted by expected download time (outstanding bytes /
 *   average rate measured from that source); the most urgent missing chunk goes to the best one,
 *   greedily, in runs of up to `batchChunks`, at most `pipeline` requests per source (a request
 *   more urgent than all a source has may exceed it, up to twice). While the AP can step in, a
 *   peer is not given chunks it would bring later than `lowBufferMs` before they play: the AP
 *   brings those once the buffer is low, and the peer resumes where it can keep up (P2P'10:
 *   "estimate at what point p2p download could resume").
 * - **Slow requests** (P2P'10: "If a remote peer is slow, re-request data from new peers"): a
 *   request that got nothing for longer than `slowRequestFactor` chunk-times at its source's rate
 *   (at least `slowRequestMinMs`) is cancelled and re-sent: its urgent chunks (due within
 *   `lowBufferMs`) to the AP (reason `slow-peer`), the rest to other peers; its source is
 *   demoted (asked only when no other source can serve) until a chunk arrives from it. With the
 *   buffer low, a peer request with a chunk that, at the peer's measured rate, would arrive only
 *   after the buffer fell under `emergencyBufferMs` is taken over by the AP the same way.
 * - **Prefetch** (lectures: "10 seconds left: if no peers are found, use the Spotify CDN"): a
 *   file that plays next is fetched from peers; from `prefetchApFallbackMs` before it starts,
 *   with no peer connected, its first `randomAccessPrefixMs` come from the AP (reason
 *   `prefetch-fallback`).
 * - **Urgency** (P2P'10: requests "inform peers about urgency"): 0 for audio due within
 *   `urgencyStepMs`, one more per step, 255 for chunks behind the playback point. Estimates of
 *   when a source delivers assume it serves lower values first, as the AP and uploaders do.
 *
 * Every AP request is counted by reason ({@link ApRequestCounters}) for `/api/stats`.
 *
 * Pure: time comes in as an argument; no I/O.
 */
import type { TunemeshConfig } from './config.ts';
import { audioTimeAt, startByteFor, type PlaybackTrack } from './playback-clock.ts';
import { SERVER, type ChunkAssignment } from './scheduler.ts';

export { SERVER };

/** The slice of the config the streaming scheduler reads. */
export type StreamingConfig = Pick<
  TunemeshConfig,
  | 'chunkSize'
  | 'randomAccessPrefixMs'
  | 'apMaxAheadMs'
  | 'emergencyBufferMs'
  | 'lowBufferMs'
  | 'prefetchApFallbackMs'
  | 'slowRequestFactor'
  | 'slowRequestMinMs'
  | 'urgencyStepMs'
>;

/** Why a chunk request went to the AP (issue 4 item 7), in the order `/api/stats` shows them. */
export const AP_REASONS = ['first-seconds', 'emergency', 'no-peer', 'prefetch-fallback', 'slow-peer'] as const;

/**
 * - `first-seconds`: the start of a random access (pick or seek);
 * - `emergency`: less than `emergencyBufferMs` buffered while playing;
 * - `no-peer`: no usable peer connected (a low buffer while the lookup runs, or everything once it is over);
 * - `prefetch-fallback`: the next track has no peer shortly before it starts;
 * - `slow-peer`: peers deliver too slowly (a low buffer, or a slow or late peer request taken over).
 */
export type ApReason = (typeof AP_REASONS)[number];

/** AP requests and the chunks they asked for, by reason. Shared by every download of a client. */
export interface ApRequestCounters {
  requests: Record<ApReason, number>;
  chunks: Record<ApReason, number>;
}

/** Counters at zero. */
export function newApRequestCounters(): ApRequestCounters {
  const zero = () => Object.fromEntries(AP_REASONS.map((r) => [r, 0])) as Record<ApReason, number>;
  return { requests: zero(), chunks: zero() };
}

/**
 * How the scheduler sees the file at a decision:
 * - `starting`: picked or sought, playback has not started (random access);
 * - `prefetch`: the file plays next, after the current track;
 * - `comfortable` / `low` / `emergency`: playing, with at least `lowBufferMs` buffered / less /
 *   less than `emergencyBufferMs` after having had that much since playback started (audio held
 *   up to the end of the track always counts as enough).
 */
export type StreamMode = 'starting' | 'prefetch' | 'comfortable' | 'low' | 'emergency';

/** Least urgent value, for chunks behind the playback point; the wire field is one byte. */
export const LEAST_URGENT = 255;

/** A source reachable now, as the runtime sees it. */
export interface StreamSource {
  /** {@link SERVER} for the AP, else the peer id. */
  id: string;
  /**
   * Average rate from this source measured by earlier downloads, bytes per ms; used to rank it
   * until this download has measured its own (see {@link StreamingScheduler.rateOf}).
   */
  rateHint?: number;
}

/** What the runtime knows at a decision. */
export interface StreamInput {
  /** Playback point, ms into the track: where playback is (or starts, for a pick, a seek or a prefetch). */
  positionMs: number;
  /**
   * Whether playback of this file runs (or stalls for want of audio): its buffer modes apply.
   * False from a pick or a seek until the play starts (random access), and for a prefetch.
   */
  playing: boolean;
  /** For a file that plays next: ms until it starts (what remains of the current track). Undefined for the file being played. */
  startsInMs?: number;
  /** Chunk `index` is in the cache, or on its way by a request this scheduler did not make. */
  held(index: number): boolean;
  /** The sources reachable now: the AP when its link is up, and connected peers. Peers not found for this file are ignored. */
  sources: readonly StreamSource[];
}

/** One request the runtime should send. */
export interface StreamAssignment extends ChunkAssignment {
  /** The scheduler's id of the request: report its chunks and its end with it. */
  id: number;
  /** 0 = most urgent; sent with the request, honoured by the AP and by uploaders. */
  urgency: number;
  /** Why the AP is asked; present exactly on AP requests. */
  reason?: ApReason;
}

/** What the runtime should do now. */
export interface StreamDecision {
  /** Ids of requests to cancel (a seek, a slow or lost source, an AP request now out of bounds). Cancel these first. */
  cancel: number[];
  /** Requests to send, in this order (re-sent and first-seconds requests first, then most urgent first). */
  assign: StreamAssignment[];
  /** Emergency mode: stop uploading (`UploadSlots.setEmergency(true)`) while any played file says so. */
  emergency: boolean;
  mode: StreamMode;
  /** Audio held contiguously ahead of the playback point, ms. */
  bufferedAheadMs: number;
}

/** Tunables of the streaming scheduler that are not rules of the published design. */
export interface StreamingSchedulerOptions {
  /** Chunks per request at most. @default 32 (512 kB: a seek redirects quickly) */
  batchChunks?: number;
  /** Requests in flight per source, so a link never idles between batches. @default 3 */
  pipeline?: number;
  /** Where AP requests are counted; pass one object to every download of a client. @default fresh counters */
  counters?: ApRequestCounters;
}

interface LiveRequest {
  readonly id: number;
  readonly source: string;
  /** Its source's entry in `stats` (never replaced). */
  readonly stats: SourceStats;
  readonly first: number;
  readonly count: number;
  readonly sentAt: number;
  readonly urgency: number;
  lastArrivalAt: number | undefined;
  /**
   * Which chunks arrived: bit k for the k-th chunk, k < 32; `arrivedHigh[k - 32]` (1: arrived) for
   * the rest, allocated only for requests of more than 32 chunks. See {@link hasArrived}.
   */
  arrivedLow: number;
  readonly arrivedHigh: Uint8Array | undefined;
  /** Chunks not arrived yet, and their bytes. */
  missing: number;
  missingBytes: number;
}

/** Whether the `k`-th chunk of request `r` arrived. */
function hasArrived(r: LiveRequest, k: number): boolean {
  return k < 32 ? (r.arrivedLow & (1 << k)) !== 0 : r.arrivedHigh![k - 32] === 1;
}

function markArrived(r: LiveRequest, k: number): void {
  if (k < 32) r.arrivedLow |= 1 << k;
  else r.arrivedHigh![k - 32] = 1;
}

/** What this download measured of one source. */
interface SourceStats {
  /** Bytes received. */
  bytes: number;
  /** Time with at least one request outstanding, up to `busyMark`. */
  busyMs: number;
  busyMark: number;
  /** Busy time up to the latest arrival: the rate without the current silence. */
  busyAtLastArrival: number;
  lastArrivalAt: number | undefined;
  /** Requests with chunks still to come. */
  active: number;
  /** Bytes of those chunks. */
  outstandingBytes: number;
  /** A request of it was slow or failed: asked only when no other source can serve, until a chunk arrives. */
  demoted: boolean;
  /** Its live requests (in `requests`), in the order sent. */
  reqs: LiveRequest[];
  /** The latest decision (`StreamingScheduler.decisions`) whose input listed it as a source. */
  seenIn: number;
}

/** Where the AP may serve in a decision, and why. */
interface ApPlan {
  reason: ApReason;
  /** Audio ahead of the playback point the AP may serve; Infinity: the whole file. */
  windowMs: number;
}

/** One decision's view, built at the start of {@link StreamingScheduler.next}. */
interface Decision {
  now: number;
  input: StreamInput;
  positionMs: number;
  /** Chunk holding the playback point. */
  playbackChunk: number;
  /** Time until playback of this file reaches its playback point (0 unless prefetching). */
  startsInMs: number;
  /** Usable peers listed in the input, in the order found: the first `peerCount` of this scratch list. */
  peers: readonly string[];
  /** Their stats, same index. */
  peerStats: readonly SourceStats[];
  peerCount: number;
  /** The AP's stats when it is connected (listed in the input), else undefined. */
  ap: SourceStats | undefined;
  /** A usable peer is connected: the AP is held to `apMaxAheadMs`. */
  peersDelivering: boolean;
  hints: ReadonlyMap<string, number>;
  out: StreamDecision;
  /** The chunk whose due time and urgency were computed last in this decision (-1: none yet); see `dueAt`. */
  dueChunk: number;
}

/** The scratch lists of {@link StreamingScheduler} (see there), one set per process. */
const SCRATCH = {
  peerScratch: [] as string[],
  peerStatsScratch: [] as SourceStats[],
  chunkScratch: [] as number[],
  eligible: [] as string[],
  eligibleStats: [] as SourceStats[],
  eligibleRate: [] as number[],
  eligibleRankRate: [] as number[],
  eligibleMostUrgent: [] as number[],
  eligibleAble: [] as boolean[],
  dueVals: new Float64Array(2),
};

/** The hints of a decision whose sources have none: shared, never written. */
const NO_HINTS: ReadonlyMap<string, number> = new Map<string, number>();

/**
 * How {@link StreamingScheduler.rank} orders two sources (negative: a before b), from what it
 * knows of each: demoted ones last, then the expected time to deliver `extraBytes` more
 * (outstanding bytes / rate), then peers before the AP (or the AP first when `preferAp`).
 */
function compareSources(
  aDemoted: boolean,
  aOutstanding: number,
  aRate: number,
  aIsServer: boolean,
  bDemoted: boolean,
  bOutstanding: number,
  bRate: number,
  bIsServer: boolean,
  extraBytes: number,
  preferAp: boolean,
): number {
  if (aDemoted !== bDemoted) return aDemoted ? 1 : -1;
  const ea = (aOutstanding + extraBytes) / aRate;
  const eb = (bOutstanding + extraBytes) / bRate;
  if (ea !== eb) return ea < eb ? -1 : 1;
  return (Number(aIsServer) - Number(bIsServer)) * (preferAp ? -1 : 1);
}

/**
 * One download's streaming state: its peers, its requests and what each source delivered. See the
 * file comment for the rules.
 *
 * `next` runs for every event of a download (in the simulator, for every peer of a large
 * population), so it allocates little: the lists it walks are scratch fields reused from decision
 * to decision, and what stays fixed during a decision (rates, ranks' priors) is computed once.
 */
export class StreamingScheduler {
  private readonly total: number;
  private readonly batch: number;
  private readonly pipeline: number;
  /** AP requests by reason. */
  readonly counters: ApRequestCounters;
  private readonly peers: string[] = [];
  private readonly failed = new Set<string>();
  private lookupDone = false;
  private seekPending = false;
  /** The latest decision was for a prefetch (the file plays next). */
  private prefetching = false;
  /** Since playback (re)started, the buffer reached `emergencyBufferMs` (or the end of the track). */
  private bufferEstablished = false;
  /** Live requests by id; ids only grow, so this is also the order sent. */
  private readonly requests = new Map<number, LiveRequest>();
  /** Chunk index -> the live request that asked for it. */
  private readonly owner: (LiveRequest | undefined)[];
  private readonly stats = new Map<string, SourceStats>();
  private readonly pendingCancel: number[] = [];
  private nextId = 1;
  /** Decisions taken so far: tags the sources listed in the current one (`SourceStats.seenIn`). */
  private decisions = 0;
  // Scratch lists, reused so a decision allocates only what it returns: each is valid up to a
  // count kept beside it (never shortened, which costs more than it saves), and none is used by
  // two loops at once. They are shared by every scheduler of the process (`SCRATCH`): a decision
  // runs to its end before another starts (`next` calls nothing outside), and a download made
  // ten arrays of its own that outlived the young generation.
  /** The usable peers listed in the current decision's input (`Decision.peers`). */
  private readonly peerScratch = SCRATCH.peerScratch;
  private readonly peerStatsScratch = SCRATCH.peerStatsScratch;
  /** Chunk indices about to be sent (`sendRuns`). */
  private readonly chunkScratch = SCRATCH.chunkScratch;
  /** The greedy assignment's sources, and per source (same index) what stays fixed while it runs. */
  private readonly eligible = SCRATCH.eligible;
  private readonly eligibleStats = SCRATCH.eligibleStats;
  /**
   * Measured rate, else the hint; NaN: neither (the source is tried). NaN rather than undefined
   * keeps the array one of unboxed doubles: a double stored among other kinds of value is boxed.
   */
  private readonly eligibleRate = SCRATCH.eligibleRate;
  /** The rate ranks use: measured, else hinted, else the best known (`bestRate`). */
  private readonly eligibleRankRate = SCRATCH.eligibleRankRate;
  /** The lowest urgency value among the source's requests with chunks to come (`mostUrgentIn`). */
  private readonly eligibleMostUrgent = SCRATCH.eligibleMostUrgent;
  /** Whether the source may take the chunk at hand (`canTake` with nothing more assigned). */
  private readonly eligibleAble = SCRATCH.eligibleAble;
  private lastNow = -Infinity;
  /**
   * Due time (ms) and urgency of the chunk `dueAt` was asked about last in this decision
   * (`Decision.dueChunk`). In a typed array: the greedy assignment asks for every chunk of every
   * decision, and a number stored in an object field or returned from a call can be boxed.
   */
  private readonly dueVals = SCRATCH.dueVals;
  private wake: number | undefined;
  private peersChanged = 0;
  /** The latest decision's time and the part of its wake-up that is not a request's slow check (`recheckWake`). */
  private decidedAt = -Infinity;
  private wakeBesidesSlow: number | undefined;

  constructor(
    private readonly track: PlaybackTrack,
    private readonly config: StreamingConfig,
    opts: StreamingSchedulerOptions = {},
  ) {
    if (!(config.chunkSize > 0)) throw new RangeError(`chunkSize must be > 0, got ${config.chunkSize}`);
    this.total = Math.ceil(track.bytes / config.chunkSize);
    this.owner = new Array<LiveRequest | undefined>(this.total).fill(undefined);
    this.batch = Math.max(1, Math.floor(opts.batchChunks ?? 32));
    this.pipeline = Math.max(1, Math.floor(opts.pipeline ?? 3));
    this.counters = opts.counters ?? newApRequestCounters();
  }

  /** Peers found (tracker or overlay) that are thought to have the file. */
  addPeers(peerIds: readonly string[]): void {
    for (const id of peerIds) {
      if (id !== SERVER && !this.peers.includes(id) && !this.failed.has(id)) {
        this.peers.push(id);
        this.peersChanged++;
      }
    }
  }

  /** The tracker answered. Kept for the runtime's call pattern: a random access never waits for it. */
  trackerAnswered(): void {}

  /** The lookup for peers is over (found or not): with no peer connected, the AP serves the whole file. */
  lookupFinished(): void {
    this.lookupDone = true;
  }

  /**
   * A peer refused, lacked the file, failed or disconnected: it is used no more for this file, and
   * its requests are cancelled in the next decision (their chunks go elsewhere).
   */
  peerFailed(peerId: string): void {
    if (peerId === SERVER) return;
    this.failed.add(peerId);
    const i = this.peers.indexOf(peerId);
    if (i >= 0) {
      this.peers.splice(i, 1);
      this.peersChanged++;
    }
    // Dropping the request at hand while walking the map is safe: the walk goes on with the next.
    for (const r of this.requests.values()) {
      if (r.source !== peerId) continue;
      this.drop(r, this.lastNow);
      this.pendingCancel.push(r.id);
    }
  }

  /** Peers still usable for this file, in the order found (cheaper than {@link usablePeers} when the order does not matter). */
  peerIds(): readonly string[] {
    return this.peers;
  }

  /**
   * How many times {@link peerIds} has changed (a peer added or dropped): a runtime that builds
   * its input's sources from it can keep them while this and its links stay the same.
   */
  get peerListVersion(): number {
    return this.peersChanged;
  }

  /** Peers still usable for this file, best first (demoted last, then by expected download time). */
  usablePeers(): readonly string[] {
    const now = this.lastNow;
    return [...this.peers].sort((a, b) => this.rank(a, b, now, NO_HINTS, this.config.chunkSize));
  }

  /**
   * The listener sought within the file: the next decision is a random access from its
   * `positionMs` (report `playing: false` until the new play starts). Peer requests wholly behind
   * the new point are cancelled then, so the peers turn to the audio the listener wants now.
   */
  seek(): void {
    this.seekPending = true;
  }

  /** Chunk `index` of request `requestId` arrived (before it is written): progress and rate. */
  chunkArrived(now: number, requestId: number, index: number): void {
    if (now > this.lastNow) this.lastNow = now;
    const r = this.requests.get(requestId);
    if (!r || index < r.first || index >= r.first + r.count || hasArrived(r, index - r.first)) return;
    const s = r.stats;
    this.settle(s, now);
    markArrived(r, index - r.first);
    r.missing--;
    r.lastArrivalAt = now;
    const bytes = this.chunkBytes(index);
    r.missingBytes -= bytes;
    s.bytes += bytes;
    s.outstandingBytes -= bytes;
    s.lastArrivalAt = now;
    s.busyAtLastArrival = s.busyMs;
    s.demoted = false;
    if (r.missing === 0) s.active--;
  }

  /**
   * Request `requestId` is over: every chunk it brought is written (`held`), or it `failed`. A
   * failed peer request makes the peer unusable for this file; a failed AP request demotes the AP
   * until it delivers again. Ids of cancelled requests are ignored.
   */
  requestEnded(now: number, requestId: number, ok: boolean): void {
    if (now > this.lastNow) this.lastNow = now;
    const r = this.requests.get(requestId);
    if (!r) return;
    this.drop(r, now);
    if (ok) return;
    if (r.source === SERVER) this.source(SERVER, now).demoted = true;
    else this.peerFailed(r.source);
  }

  /**
   * Average rate received from a source by this download, bytes per ms; undefined before its first
   * chunk. The runtime may keep it per peer and pass it as `rateHint` to later downloads.
   */
  rateOf(sourceId: string, now: number): number | undefined {
    const s = this.stats.get(sourceId);
    return s ? this.rateAt(s, now) : undefined;
  }

  /**
   * {@link rateOf} of a known source. At a fixed `now` it does not change when requests are sent or
   * cancelled: `settle` moves busy time from the running silence into `busyMs` without changing
   * their sum. So a decision may compute it once per source.
   */
  private rateAt(s: SourceStats, now: number): number | undefined {
    if (s.bytes === 0) return undefined;
    const busy = s.busyMs + (s.active > 0 ? Math.max(0, now - s.busyMark) : 0);
    return s.bytes / Math.max(1, busy);
  }

  /**
   * When the scheduler next wants to be asked although nothing happened (a request may turn slow,
   * the buffer may cross a threshold, the AP window may take in a chunk, a prefetch reaches its
   * fallback time); undefined when no such moment is pending. As of the latest `next`.
   */
  wakeAt(): number | undefined {
    return this.wake;
  }

  /**
   * {@link wakeAt} as the latest decision would have set it had it known the chunks that arrived
   * since (`chunkArrived`): a request they show to be progressing is not due its slow check yet.
   * The other moments stay as that decision set them (more audio held only moves a buffer mark
   * later, so they are never late). For a runtime that takes in arrivals in batches between
   * decisions: when its wake-up comes and this is still in the future, nothing is due, and it can
   * wait until then instead of deciding. Only arrivals count here: after anything else (a request
   * ended or failed, a peer failed, a seek, new peers) the runtime decides anyway.
   */
  recheckWake(): number | undefined {
    const now = this.decidedAt;
    let at = this.wakeBesidesSlow;
    for (const r of this.requests.values()) if (r.missing > 0) at = laterThan(now, at, this.slowCheckAt(r));
    return at;
  }

  /** The decision now. The runtime cancels `cancel`, sends `assign`, and applies `emergency`. */
  next(now: number, input: StreamInput): StreamDecision {
    if (now > this.lastNow) this.lastNow = now;
    now = this.lastNow;
    const duration = this.track.durationMs;
    const positionMs = Math.min(Math.max(0, input.positionMs), Math.max(0, duration));
    const playbackChunk = Math.min(Math.floor(startByteFor(this.track, positionMs) / this.config.chunkSize), Math.max(0, this.total - 1));
    const bufferedAheadMs = this.bufferedAhead(input, positionMs, playbackChunk);
    const prefetch = input.startsInMs !== undefined;
    const startsInMs = prefetch ? Math.max(0, input.startsInMs ?? 0) : 0;
    const mode = this.modeOf(input, prefetch, bufferedAheadMs, duration - positionMs);
    // The sources listed: each gets its stats (so ranks see it) and is tagged with this decision,
    // which is how the peers connected now are picked out of those found, in the order found.
    const tag = ++this.decisions;
    const sources = input.sources;
    let ap: SourceStats | undefined;
    let hinted = false;
    for (let k = 0; k < sources.length; k++) {
      const src = sources[k]!;
      const s = this.source(src.id, now);
      s.seenIn = tag;
      if (src.id === SERVER) ap = s;
      if (src.rateHint !== undefined && src.rateHint > 0) hinted = true;
    }
    const peers = this.peerScratch;
    const peerStats = this.peerStatsScratch;
    let peerCount = 0;
    for (let k = 0; k < this.peers.length; k++) {
      const p = this.peers[k]!;
      const s = this.stats.get(p);
      if (s?.seenIn !== tag) continue;
      peers[peerCount] = p;
      peerStats[peerCount++] = s;
    }
    let hints = NO_HINTS;
    if (hinted) {
      // The latest hint of a source listed twice counts.
      const m = new Map<string, number>();
      for (let k = 0; k < sources.length; k++) {
        const src = sources[k]!;
        if (src.rateHint !== undefined && src.rateHint > 0) m.set(src.id, src.rateHint);
      }
      hints = m;
    }
    const d: Decision = {
      now,
      input,
      positionMs,
      playbackChunk,
      startsInMs,
      peers,
      peerStats,
      peerCount,
      ap,
      peersDelivering: peerCount > 0,
      hints,
      out: { cancel: this.pendingCancel.length > 0 ? this.pendingCancel.splice(0) : [], assign: [], emergency: mode === 'emergency', mode, bufferedAheadMs },
      dueChunk: -1,
    };
    if (this.prefetching && !prefetch) this.reprioritise(d);
    this.prefetching = prefetch;
    const plan = this.apPlan(d, mode, bufferedAheadMs);

    this.cancelStale(d);
    this.resendSlow(d);
    if (plan && (mode === 'low' || mode === 'emergency' || mode === 'prefetch')) this.takeOverLate(d);
    if (mode === 'starting') this.firstSeconds(d);
    this.assignGreedy(d, plan);
    this.wake = this.computeWake(d, plan, bufferedAheadMs);
    return d.out;
  }

  private modeOf(input: StreamInput, prefetch: boolean, bufferedMs: number, remainingMs: number): StreamMode {
    if (prefetch || !input.playing) {
      this.bufferEstablished = false;
      return prefetch ? 'prefetch' : 'starting';
    }
    const underEmergency = bufferedMs < Math.min(this.config.emergencyBufferMs, remainingMs);
    if (!underEmergency) this.bufferEstablished = true;
    // Emergency is a buffer that *fell* under the mark (lectures: "if the buffer becomes too low").
    // Just after a start the buffer is still rising on the first seconds already asked for: low,
    // not emergency, so a pick does not stop this client's uploads to its peers.
    if (underEmergency && this.bufferEstablished) return 'emergency';
    if (bufferedMs < Math.min(this.config.lowBufferMs, remainingMs)) return 'low';
    return 'comfortable';
  }

  /** Whether, why and how far ahead the AP may serve in the greedy assignment of this decision. */
  private apPlan(d: Decision, mode: StreamMode, bufferedMs: number): ApPlan | undefined {
    const c = this.config;
    const noPeerAtAll = !d.peersDelivering && this.lookupDone;
    switch (mode) {
      case 'prefetch':
        if (d.startsInMs > c.prefetchApFallbackMs) return undefined;
        if (!d.peersDelivering) return { reason: 'prefetch-fallback', windowMs: c.randomAccessPrefixMs };
        if (d.startsInMs + bufferedMs < c.lowBufferMs) return { reason: 'prefetch-fallback', windowMs: c.apMaxAheadMs };
        return undefined;
      case 'starting':
        // The first seconds go to the AP separately (firstSeconds); beyond them only without peers.
        return noPeerAtAll ? { reason: 'no-peer', windowMs: Infinity } : undefined;
      case 'emergency':
        return { reason: 'emergency', windowMs: noPeerAtAll ? Infinity : c.apMaxAheadMs };
      case 'low':
        return { reason: d.peersDelivering ? 'slow-peer' : 'no-peer', windowMs: noPeerAtAll ? Infinity : c.apMaxAheadMs };
      case 'comfortable':
        return noPeerAtAll ? { reason: 'no-peer', windowMs: Infinity } : undefined;
    }
  }

  /**
   * Cancels requests that no longer serve the listener: after a seek, peer requests wholly behind
   * the new point; while a peer delivers, AP requests wholly outside the AP window (a seek moved
   * it, or a peer appeared while the AP was serving the whole file).
   */
  private cancelStale(d: Decision): void {
    const seek = this.seekPending;
    this.seekPending = false;
    const apLimit = this.limitByte(d, this.config.apMaxAheadMs);
    // Only the request at hand is cancelled: the walk may go on in the map.
    for (const r of this.requests.values()) {
      if (r.missing === 0) continue;
      if (r.source === SERVER) {
        // After a seek, AP requests carry urgencies counted from the old playback point: the AP,
        // serving the most urgent first, would bring the old point's audio before the new one's.
        // They are dropped; the random access at the new point asks afresh.
        if (seek || (d.peersDelivering && !this.missingInWindow(d, r, apLimit))) this.cancel(d, r);
      } else if (seek && this.missingAllBefore(r, d.playbackChunk)) {
        this.cancel(d, r);
      }
    }
  }

  /** Re-sends requests that got nothing for too long: urgent chunks to the AP, the rest to other peers. */
  private resendSlow(d: Decision): void {
    const apLimit = d.peersDelivering ? this.limitByte(d, this.config.apMaxAheadMs) : Infinity;
    const end = this.nextId;
    for (const r of this.requests.values()) {
      if (r.id >= end) break; // re-sent by this walk (ids grow with the map's order)
      if (r.missing === 0 || d.now - this.silentSince(r) <= this.slowLimitMs(r)) continue;
      r.stats.demoted = true;
      const otherPeer = this.goodPeerBesides(d, r.source);
      if (r.source === SERVER) {
        if (otherPeer) this.cancel(d, r);
        continue;
      }
      const urgent = this.chunkScratch;
      let n = 0;
      for (let j = 0; j < r.count; j++) {
        const i = r.first + j;
        if (!hasArrived(r, j) && this.dueInMs(d, i) < this.config.lowBufferMs && this.inWindow(d, i, apLimit)) urgent[n++] = i;
      }
      if (n > 0 && d.ap && !d.ap.demoted) {
        this.cancel(d, r);
        this.sendRuns(d, SERVER, urgent, n, 'slow-peer');
      } else if (otherPeer) {
        this.cancel(d, r);
      }
    }
  }

  /** Whether a peer of the decision other than `source` is not demoted. */
  private goodPeerBesides(d: Decision, source: string | undefined): boolean {
    for (let k = 0; k < d.peerCount; k++) if (d.peers[k] !== source && !d.peerStats[k]!.demoted) return true;
    return false;
  }

  /**
   * With the buffer low, a peer request with a chunk in the AP window that will arrive only after
   * the buffer fell under `emergencyBufferMs` (at the peer's measured rate, behind what the peer
   * serves first) goes to the AP, if the AP would bring that chunk sooner.
   */
  private takeOverLate(d: Decision): void {
    const ap = d.ap;
    if (!ap || ap.demoted) return;
    const apLimit = this.limitByte(d, this.config.apMaxAheadMs);
    const apRate = this.rateAt(ap, d.now) ?? d.hints.get(SERVER);
    const end = this.nextId;
    for (const r of this.requests.values()) {
      if (r.id >= end) break; // sent by this walk (ids grow with the map's order)
      if (r.source === SERVER || r.missing === 0) continue;
      const rate = this.rateAt(r.stats, d.now);
      if (rate === undefined) continue; // not measured yet: the slow-request rule watches it
      // Its missing chunks in order: when would the peer bring each (behind what it serves
      // first), when would the AP (behind what it has to send)?
      let ahead = this.bytesBefore(r.stats, r.urgency, r.id);
      let apBytes = ap.outstandingBytes;
      let late = false;
      for (let j = 0; j < r.count; j++) {
        if (hasArrived(r, j)) continue;
        const i = r.first + j;
        ahead += this.chunkBytes(i);
        if (!this.inWindow(d, i, apLimit)) continue;
        apBytes += this.chunkBytes(i);
        const peerEta = ahead / rate;
        const apEta = apRate === undefined ? 0 : apBytes / apRate;
        if (peerEta > this.dueInMs(d, i) - this.config.emergencyBufferMs && apEta < peerEta) {
          late = true;
          break;
        }
      }
      if (!late) continue;
      const chunks = this.chunkScratch;
      let n = 0;
      for (let j = 0; j < r.count; j++) if (!hasArrived(r, j) && this.inWindow(d, r.first + j, apLimit)) chunks[n++] = r.first + j;
      this.cancel(d, r);
      this.sendRuns(d, SERVER, chunks, n, 'slow-peer');
    }
  }

  /** Random access: the missing first seconds from the playback point go to the AP at once. */
  private firstSeconds(d: Decision): void {
    if (!d.ap) return;
    const apDemoted = d.ap.demoted;
    if (apDemoted && this.goodPeerBesides(d, undefined)) return; // a slow AP: peers take them
    const c = this.config;
    const windowMs = d.peersDelivering ? Math.min(c.randomAccessPrefixMs, c.apMaxAheadMs) : c.randomAccessPrefixMs;
    const limit = this.limitByte(d, windowMs);
    const chunks = this.chunkScratch;
    let n = 0;
    for (let i = d.playbackChunk; i < this.total && this.inWindow(d, i, limit); i++) if (!this.covered(d, i)) chunks[n++] = i;
    this.sendRuns(d, SERVER, chunks, n, 'first-seconds');
  }

  /**
   * The most urgent missing chunk to the source expected to deliver it first, greedily: peers
   * always, the AP as the plan allows; demoted sources only when no other source could take it.
   * While the AP can step in, a peer is not given a chunk it would bring (at its measured rate,
   * behind what it already has to send) later than `lowBufferMs` before the chunk is due, so that
   * peers alone keep the buffer comfortable: the AP takes those chunks once the buffer is low and
   * they are in its window, and the peer takes the first chunks it can bring in time (P2P'10: with
   * a low buffer, "estimate at what point p2p download could resume").
   */
  private assignGreedy(d: Decision, plan: ApPlan | undefined): void {
    const eligible = this.eligible;
    let m = 0;
    for (let k = 0; k < d.peerCount; k++) eligible[m++] = d.peers[k]!;
    if (plan && d.ap) eligible[m++] = SERVER;
    if (m === 0) return;
    const apLimit = plan ? this.limitByte(d, plan.windowMs) : 0;
    const apFallback = d.ap !== undefined && !d.ap.demoted;
    // Per source, filled in at the first missing chunk (often there is none): its rate and the
    // rate it is ranked by, fixed while the assignment runs (sending does not change a rate at a
    // fixed time, see rateAt), and its most urgent request, updated after each send to it. What
    // else sending changes (active requests, outstanding bytes) is read from the stats.
    const st = this.eligibleStats;
    const rates = this.eligibleRate;
    const rankRates = this.eligibleRankRate;
    const mostUrgent = this.eligibleMostUrgent;
    const able = this.eligibleAble;
    let ready = false;
    // In an emergency the AP is the dependable source (lectures: it "helps in the case the client
    // fails to find a reliable and fast set of peers"); otherwise a tie goes to the peer, which costs nothing.
    const preferAp = plan?.reason === 'emergency';
    const total = this.total;
    const from = d.playbackChunk;
    // From the playback point to the end, then from the start to the playback point.
    for (let k = 0; k < total; k++) {
      const i = from + k < total ? from + k : from + k - total;
      if (this.covered(d, i)) continue;
      if (!ready) {
        ready = true;
        let prior: number | undefined;
        for (let e = 0; e < m; e++) {
          const id = eligible[e]!;
          const s = e < d.peerCount ? d.peerStats[e]! : d.ap!;
          const rate = this.rateAt(s, d.now) ?? d.hints.get(id);
          // Not measured, no hint: ranked as fast as the best source known (so new peers get tried).
          if (rate === undefined && prior === undefined) prior = this.bestRate(d.now, d.hints);
          st[e] = s;
          rates[e] = rate ?? NaN;
          rankRates[e] = rate ?? prior!;
          mostUrgent[e] = this.mostUrgentIn(s);
        }
      }
      // Urgency never decreases along the order and pipelines only fill: nobody takes more.
      let room = false;
      for (let e = 0; e < m; e++) {
        if (this.hasRoom(d, st[e]!, mostUrgent[e]!, i)) {
          room = true;
          break;
        }
      }
      if (!room) return;
      let good = 0;
      for (let e = 0; e < m; e++) {
        const ok = this.canTake(d, eligible[e]!, st[e]!, rates[e], i, 0, apLimit, apFallback);
        able[e] = ok;
        if (ok && !st[e]!.demoted) good++;
      }
      // The best of the good sources with room (of all able ones when none is good), first on ties.
      let best = -1;
      const bytesI = this.chunkBytes(i);
      for (let e = 0; e < m; e++) {
        if (!able[e]) continue;
        const s = st[e]!;
        if (good > 0 && s.demoted) continue;
        if (!this.hasRoom(d, s, mostUrgent[e]!, i)) continue;
        if (best >= 0) {
          const b = st[best]!;
          const order = compareSources(
            s.demoted,
            s.outstandingBytes,
            rankRates[e]!,
            eligible[e] === SERVER,
            b.demoted,
            b.outstandingBytes,
            rankRates[best]!,
            eligible[best] === SERVER,
            bytesI,
            preferAp,
          );
          if (order >= 0) continue;
        }
        best = e;
      }
      if (best < 0) continue;
      const id = eligible[best]!;
      const s = st[best]!;
      let n = 1;
      let bytes = bytesI;
      while (n < this.batch && i + n < total && !this.covered(d, i + n) && this.canTake(d, id, s, rates[best], i + n, bytes, apLimit, apFallback)) bytes += this.chunkBytes(i + n++);
      this.send(d, id, i, n, id === SERVER ? plan?.reason : undefined);
      mostUrgent[best] = this.mostUrgentIn(s);
      // Chunks i + 1 .. i + n - 1 are covered now: the next one to look at follows them.
      k += n - 1;
    }
  }

  /**
   * Whether source `id` (stats `s`, rate `rate` as in the greedy assignment) may take chunk `i`
   * after `extraBytes` more assigned to it in this run: the AP within its window; a peer always
   * when the AP cannot step in or its rate is unknown (try it), else if it would bring the chunk
   * at least `lowBufferMs` before it is due.
   */
  private canTake(d: Decision, id: string, s: SourceStats, rate: number, i: number, extraBytes: number, apLimit: number, apFallback: boolean): boolean {
    if (id === SERVER) return this.inWindow(d, i, apLimit);
    if (!apFallback) return true;
    if (Number.isNaN(rate)) return true; // not measured: try it
    this.dueAt(d, i);
    const before = this.bytesBefore(s, this.dueVals[1]!, Infinity);
    return (before + extraBytes + this.chunkBytes(i)) / rate <= this.dueVals[0]! - this.config.lowBufferMs;
  }

  /**
   * Whether a source (stats `s`, most urgent request `mostUrgent`) has room for a request for
   * chunk `i`. A full pipeline still takes a request more urgent than all it has (up to twice the
   * depth): the uploader serves it first, so a lost peer's or a seek's chunks need not wait.
   */
  private hasRoom(d: Decision, s: SourceStats, mostUrgent: number, i: number): boolean {
    const active = s.active;
    if (active < this.pipeline) return true;
    if (active >= 2 * this.pipeline) return false;
    this.dueAt(d, i);
    return this.dueVals[1]! < mostUrgent;
  }

  /** When to be asked again without an event; only moments after `now`. */
  private computeWake(d: Decision, plan: ApPlan | undefined, bufferedMs: number): number | undefined {
    const c = this.config;
    const now = d.now;
    let at: number | undefined;
    const mode = d.out.mode;
    if (mode === 'comfortable' || mode === 'low' || mode === 'emergency') {
      const remaining = this.track.durationMs - d.positionMs;
      if (bufferedMs < remaining) {
        // Modes change once the buffer is strictly under a mark: 1 ms past the crossing.
        if (bufferedMs >= c.lowBufferMs) at = laterThan(now, at, now + bufferedMs - c.lowBufferMs + 1);
        if (bufferedMs >= c.emergencyBufferMs) at = laterThan(now, at, now + bufferedMs - c.emergencyBufferMs + 1);
      }
      if (plan && Number.isFinite(plan.windowMs) && d.ap && d.ap.active < this.pipeline) {
        // The window moves with the playback point: when does it take in the next missing chunk?
        const limit = this.limitByte(d, plan.windowMs);
        for (let i = d.playbackChunk; i < this.total; i++) {
          if (this.inWindow(d, i, limit) || this.covered(d, i)) continue;
          at = laterThan(now, at, now + this.msCovering(this.chunkEnd(i)) - plan.windowMs - d.positionMs);
          break;
        }
      }
    } else if (mode === 'prefetch') {
      at = laterThan(now, at, now + d.startsInMs - c.prefetchApFallbackMs);
      at = laterThan(now, at, now + d.startsInMs + bufferedMs - c.lowBufferMs + 1);
    }
    this.decidedAt = now;
    this.wakeBesidesSlow = at;
    for (const r of this.requests.values()) if (r.missing > 0) at = laterThan(now, at, this.slowCheckAt(r));
    return at;
  }

  /** When a request turns slow if nothing arrives for it meanwhile (1 ms past its limit). */
  private slowCheckAt(r: LiveRequest): number {
    return this.silentSince(r) + this.slowLimitMs(r) + 1;
  }

  private send(d: Decision, source: string, first: number, count: number, reason: ApReason | undefined): void {
    const urgency = this.urgencyOf(d, first);
    const s = this.source(source, d.now);
    const r: LiveRequest = {
      id: this.nextId++,
      source,
      stats: s,
      first,
      count,
      sentAt: d.now,
      urgency,
      lastArrivalAt: undefined,
      arrivedLow: 0,
      arrivedHigh: count > 32 ? new Uint8Array(count - 32) : undefined,
      missing: count,
      missingBytes: 0,
    };
    this.requests.set(r.id, r);
    this.settle(s, d.now);
    s.active++;
    s.reqs.push(r);
    for (let i = first; i < first + count; i++) {
      this.owner[i] = r;
      const bytes = this.chunkBytes(i);
      s.outstandingBytes += bytes;
      r.missingBytes += bytes;
    }
    const a: StreamAssignment = { id: r.id, source, first, count, urgency };
    if (source === SERVER) {
      const why = reason ?? 'no-peer';
      a.reason = why;
      this.counters.requests[why]++;
      this.counters.chunks[why] += count;
    }
    d.out.assign.push(a);
  }

  /** Sends the first `count` of ascending `chunks` to `source` in runs of consecutive chunks, at most `batch` each. */
  private sendRuns(d: Decision, source: string, chunks: readonly number[], count: number, reason: ApReason | undefined): void {
    let k = 0;
    while (k < count) {
      const first = chunks[k]!;
      let n = 1;
      while (n < this.batch && k + n < count && chunks[k + n] === first + n) n++;
      this.send(d, source, first, n, reason);
      k += n;
    }
  }

  private cancel(d: Decision, r: LiveRequest): void {
    this.drop(r, d.now);
    d.out.cancel.push(r.id);
  }

  /**
   * The file stopped being a prefetch (its play started, or the listener skipped to it): peer
   * requests sent meanwhile carry urgencies counted from a start that was seconds away, so a peer
   * serving the most urgent first would put them behind the new ones. They are re-sent to the
   * same peer with urgencies from the playback point (still on their way: not the AP's to bring).
   */
  private reprioritise(d: Decision): void {
    const end = this.nextId;
    for (const r of this.requests.values()) {
      if (r.id >= end) break; // re-sent by this walk (ids grow with the map's order)
      if (r.source === SERVER || r.missing === 0) continue;
      const missing = this.chunkScratch;
      let n = 0;
      for (let j = 0; j < r.count; j++) if (!hasArrived(r, j)) missing[n++] = r.first + j;
      this.cancel(d, r);
      this.sendRuns(d, r.source, missing, n, undefined);
    }
  }

  /** Forgets a request: its chunks not arrived are missing again. */
  private drop(r: LiveRequest, now: number): void {
    if (!this.requests.delete(r.id)) return;
    const s = r.stats;
    this.settle(s, now);
    if (r.missing > 0) s.active--;
    const k = s.reqs.indexOf(r);
    if (k >= 0) s.reqs.splice(k, 1);
    for (let i = r.first; i < r.first + r.count; i++) {
      if (!hasArrived(r, i - r.first)) s.outstandingBytes -= this.chunkBytes(i);
      if (this.owner[i] === r) this.owner[i] = undefined;
    }
  }

  private source(id: string, now: number): SourceStats {
    let s = this.stats.get(id);
    if (!s) {
      s = { bytes: 0, busyMs: 0, busyMark: now, busyAtLastArrival: 0, lastArrivalAt: undefined, active: 0, outstandingBytes: 0, demoted: false, reqs: [], seenIn: 0 };
      this.stats.set(id, s);
    }
    return s;
  }

  /** Adds the busy time up to `now`. */
  private settle(s: SourceStats, now: number): void {
    const t = Math.max(now, s.busyMark);
    if (s.active > 0) s.busyMs += t - s.busyMark;
    s.busyMark = t;
  }

  /**
   * Orders sources a before b (negative) by expected time to deliver `extraBytes` more: demoted
   * ones last, then outstanding bytes / rate, then peers before the AP (or the AP first when
   * `preferAp`). A source not measured yet is assumed as fast as its hint, else as the best source
   * measured (so new peers get tried). The greedy assignment orders its sources the same way
   * ({@link compareSources}), with the rates computed once per decision.
   */
  private rank(a: string, b: string, now: number, hints: ReadonlyMap<string, number>, extraBytes: number, preferAp = false): number {
    const sa = this.source(a, now);
    const sb = this.source(b, now);
    if (sa.demoted !== sb.demoted) return sa.demoted ? 1 : -1;
    const prior = this.bestRate(now, hints);
    const ra = this.rateAt(sa, now) ?? hints.get(a) ?? prior;
    const rb = this.rateAt(sb, now) ?? hints.get(b) ?? prior;
    return compareSources(sa.demoted, sa.outstandingBytes, ra, a === SERVER, sb.demoted, sb.outstandingBytes, rb, b === SERVER, extraBytes, preferAp);
  }

  private bestRate(now: number, hints: ReadonlyMap<string, number>): number {
    let best = 0;
    for (const s of this.stats.values()) best = Math.max(best, this.rateAt(s, now) ?? 0);
    for (const h of hints.values()) best = Math.max(best, h);
    return best > 0 ? best : 1;
  }

  /**
   * Bytes a source sends before a request of urgency `u` and id `id`: the chunks still to come of
   * its requests at least as urgent (uploaders serve lower values first, ties in order sent).
   */
  private bytesBefore(s: SourceStats, u: number, id: number): number {
    let bytes = 0;
    const reqs = s.reqs;
    for (let k = 0; k < reqs.length; k++) {
      const q = reqs[k]!;
      if (q.id === id || q.missing === 0) continue;
      if (q.urgency < u || (q.urgency === u && q.id < id)) bytes += q.missingBytes;
    }
    return bytes;
  }

  /** The lowest urgency value among a source's requests with chunks to come; Infinity if none. */
  private mostUrgentIn(s: SourceStats): number {
    let u = Infinity;
    const reqs = s.reqs;
    for (let k = 0; k < reqs.length; k++) if (reqs[k]!.missing > 0 && reqs[k]!.urgency < u) u = reqs[k]!.urgency;
    return u;
  }

  /** Since when a request has been waiting without progress: its source sending other chunks counts as progress (it is queued). */
  private silentSince(r: LiveRequest): number {
    return Math.max(r.sentAt, r.lastArrivalAt ?? -Infinity, r.stats.lastArrivalAt ?? -Infinity);
  }

  /** How long a request may stay silent: `slowRequestFactor` chunk-times at the source's rate before this silence, at least `slowRequestMinMs`. */
  private slowLimitMs(r: LiveRequest): number {
    const s = r.stats;
    const rate = s.bytes > 0 ? s.bytes / Math.max(1, s.busyAtLastArrival) : undefined;
    const chunkTime = rate === undefined ? 0 : this.config.chunkSize / rate;
    return Math.max(this.config.slowRequestMinMs, this.config.slowRequestFactor * chunkTime);
  }

  /** Whether a chunk of `r` not arrived yet lies in the window ending at `limit`. */
  private missingInWindow(d: Decision, r: LiveRequest, limit: number): boolean {
    for (let j = 0; j < r.count; j++) if (!hasArrived(r, j) && this.inWindow(d, r.first + j, limit)) return true;
    return false;
  }

  /** Whether every chunk of `r` not arrived yet lies before chunk `end`. */
  private missingAllBefore(r: LiveRequest, end: number): boolean {
    for (let j = 0; j < r.count; j++) if (!hasArrived(r, j) && r.first + j >= end) return false;
    return true;
  }

  /** Held, or asked for by a live request. */
  private covered(d: Decision, i: number): boolean {
    return this.owner[i] !== undefined || d.input.held(i);
  }

  private chunkBytes(i: number): number {
    return Math.max(0, Math.min(this.config.chunkSize, this.track.bytes - i * this.config.chunkSize));
  }

  private chunkEnd(i: number): number {
    return Math.min((i + 1) * this.config.chunkSize, this.track.bytes);
  }

  /** Time until chunk `i` plays, ms; Infinity behind the playback point. */
  private dueInMs(d: Decision, i: number): number {
    if (i < d.playbackChunk) return Infinity;
    return d.startsInMs + Math.max(0, audioTimeAt(this.track, i * this.config.chunkSize) - d.positionMs);
  }

  /**
   * Puts {@link dueInMs} of chunk `i` and its urgency in `dueVals`, where they stay until another
   * chunk is asked about. Returns nothing: a number returned from a call the compiler does not
   * inline is boxed, and this runs for every chunk of every decision.
   */
  private dueAt(d: Decision, i: number): void {
    if (d.dueChunk !== i) {
      const due = this.dueInMs(d, i);
      d.dueChunk = i;
      this.dueVals[0] = due;
      this.dueVals[1] = Number.isFinite(due) ? Math.min(LEAST_URGENT - 1, Math.floor(due / Math.max(1, this.config.urgencyStepMs))) : LEAST_URGENT;
    }
  }

  private urgencyOf(d: Decision, i: number): number {
    this.dueAt(d, i);
    return this.dueVals[1]!;
  }

  /**
   * The end of the bytes holding audio at most `windowMs` ahead of the playback point: the start of
   * the page that holds the audio at that time (or the end of the file past its end, or Infinity).
   */
  private limitByte(d: Decision, windowMs: number): number {
    if (!Number.isFinite(windowMs)) return Infinity;
    const t = d.positionMs + windowMs;
    return t >= this.track.durationMs ? this.track.bytes : startByteFor(this.track, t);
  }

  /** Whether chunk `i` lies wholly in the window ending at `limit` (Infinity: any chunk of the file). */
  private inWindow(d: Decision, i: number, limit: number): boolean {
    if (limit === Infinity) return true;
    return i >= d.playbackChunk && this.chunkEnd(i) <= limit;
  }

  /** The earliest playback time whose `limitByte` (with a zero window) reaches `byte`. */
  private msCovering(byte: number): number {
    const t = this.track;
    if (byte >= t.bytes) return t.durationMs;
    const index = t.seekIndex;
    if (index.length === 0) return t.bytes > 0 ? Math.ceil((t.durationMs * byte) / t.bytes) : t.durationMs;
    for (let k = 0; k < index.length; k++) if (index[k]!.byte >= byte) return index[k]!.ms;
    return t.durationMs;
  }

  /** Audio held contiguously from the playback point, ms. */
  private bufferedAhead(input: StreamInput, positionMs: number, playbackChunk: number): number {
    let i = playbackChunk;
    while (i < this.total && input.held(i)) i++;
    const end = Math.min(i * this.config.chunkSize, this.track.bytes);
    return Math.max(0, audioTimeAt(this.track, end) - positionMs);
  }
}

/** The earliest of `at` and `t`, counting `t` only if it is a moment after `now` (undefined: none yet). */
function laterThan(now: number, at: number | undefined, t: number): number | undefined {
  if (!(t > now) || !Number.isFinite(t)) return at;
  return at === undefined ? t : Math.min(at, t);
}

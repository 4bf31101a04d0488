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
  readonly first: number;
  readonly count: number;
  readonly sentAt: number;
  readonly urgency: number;
  lastArrivalAt: number | undefined;
  readonly arrived: boolean[];
  /** Chunks not arrived yet, and their bytes. */
  missing: number;
  missingBytes: number;
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
  peers: string[];
  apConnected: boolean;
  /** A usable peer is connected: the AP is held to `apMaxAheadMs`. */
  peersDelivering: boolean;
  hints: Map<string, number>;
  out: StreamDecision;
}

/**
 * One download's streaming state: its peers, its requests and what each source delivered. See the
 * file comment for the rules.
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
  private readonly requests = new Map<number, LiveRequest>();
  /** Chunk index -> the live request that asked for it. */
  private readonly owner: (LiveRequest | undefined)[];
  private readonly stats = new Map<string, SourceStats>();
  private readonly pendingCancel: number[] = [];
  private nextId = 1;
  /** Scratch list of one step of the greedy assignment. */
  private readonly scratch: string[] = [];
  private lastNow = -Infinity;
  private wake: number | undefined;

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
    for (const id of peerIds) if (id !== SERVER && !this.peers.includes(id) && !this.failed.has(id)) this.peers.push(id);
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
    if (i >= 0) this.peers.splice(i, 1);
    for (const r of [...this.requests.values()]) {
      if (r.source !== peerId) continue;
      this.drop(r, this.lastNow);
      this.pendingCancel.push(r.id);
    }
  }

  /** Peers still usable for this file, in the order found (cheaper than {@link usablePeers} when the order does not matter). */
  peerIds(): readonly string[] {
    return this.peers;
  }

  /** Peers still usable for this file, best first (demoted last, then by expected download time). */
  usablePeers(): readonly string[] {
    const now = this.lastNow;
    return [...this.peers].sort((a, b) => this.rank(a, b, now, new Map(), this.config.chunkSize));
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
    if (!r || index < r.first || index >= r.first + r.count || r.arrived[index - r.first]) return;
    const s = this.source(r.source, now);
    this.settle(s, now);
    r.arrived[index - r.first] = true;
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
    if (!s || s.bytes === 0) return undefined;
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
    const ids = new Set(input.sources.map((s) => s.id));
    const peers = this.peers.filter((p) => ids.has(p));
    const d: Decision = {
      now,
      input,
      positionMs,
      playbackChunk,
      startsInMs,
      peers,
      apConnected: ids.has(SERVER),
      peersDelivering: peers.length > 0,
      hints: new Map(input.sources.filter((s) => s.rateHint !== undefined && s.rateHint > 0).map((s) => [s.id, s.rateHint!])),
      out: { cancel: this.pendingCancel.splice(0), assign: [], emergency: mode === 'emergency', mode, bufferedAheadMs },
    };
    for (const id of ids) this.source(id, now);
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
    for (const r of [...this.requests.values()]) {
      if (r.missing === 0) continue;
      const missing = this.missingOf(r);
      if (r.source === SERVER) {
        // After a seek, AP requests carry urgencies counted from the old playback point: the AP,
        // serving the most urgent first, would bring the old point's audio before the new one's.
        // They are dropped; the random access at the new point asks afresh.
        if (seek || (d.peersDelivering && !missing.some((i) => this.inWindow(d, i, apLimit)))) this.cancel(d, r);
      } else if (seek && missing.every((i) => i < d.playbackChunk)) {
        this.cancel(d, r);
      }
    }
  }

  /** Re-sends requests that got nothing for too long: urgent chunks to the AP, the rest to other peers. */
  private resendSlow(d: Decision): void {
    const apLimit = d.peersDelivering ? this.limitByte(d, this.config.apMaxAheadMs) : Infinity;
    for (const r of [...this.requests.values()]) {
      if (r.missing === 0 || d.now - this.silentSince(r) <= this.slowLimitMs(r)) continue;
      const s = this.source(r.source, d.now);
      s.demoted = true;
      const otherPeer = d.peers.some((p) => p !== r.source && !this.source(p, d.now).demoted);
      if (r.source === SERVER) {
        if (otherPeer) this.cancel(d, r);
        continue;
      }
      const missing = this.missingOf(r);
      const urgent = missing.filter((i) => this.dueInMs(d, i) < this.config.lowBufferMs && this.inWindow(d, i, apLimit));
      if (urgent.length > 0 && d.apConnected && !this.source(SERVER, d.now).demoted) {
        this.cancel(d, r);
        this.sendRuns(d, SERVER, urgent, 'slow-peer');
      } else if (otherPeer) {
        this.cancel(d, r);
      }
    }
  }

  /**
   * With the buffer low, a peer request with a chunk in the AP window that will arrive only after
   * the buffer fell under `emergencyBufferMs` (at the peer's measured rate, behind what the peer
   * serves first) goes to the AP, if the AP would bring that chunk sooner.
   */
  private takeOverLate(d: Decision): void {
    if (!d.apConnected || this.source(SERVER, d.now).demoted) return;
    const apLimit = this.limitByte(d, this.config.apMaxAheadMs);
    const apRate = this.rateOf(SERVER, d.now) ?? d.hints.get(SERVER);
    for (const r of [...this.requests.values()]) {
      if (r.source === SERVER || r.missing === 0 || !this.requests.has(r.id)) continue;
      const rate = this.rateOf(r.source, d.now);
      if (rate === undefined) continue; // not measured yet: the slow-request rule watches it
      const missing = this.missingOf(r);
      let ahead = this.bytesBefore(r.source, r.urgency, r.id);
      let apBytes = this.source(SERVER, d.now).outstandingBytes;
      const late = missing.some((i) => {
        ahead += this.chunkBytes(i);
        if (!this.inWindow(d, i, apLimit)) return false;
        apBytes += this.chunkBytes(i);
        const peerEta = ahead / rate;
        const apEta = apRate === undefined ? 0 : apBytes / apRate;
        return peerEta > this.dueInMs(d, i) - this.config.emergencyBufferMs && apEta < peerEta;
      });
      if (!late) continue;
      this.cancel(d, r);
      this.sendRuns(d, SERVER, missing.filter((i) => this.inWindow(d, i, apLimit)), 'slow-peer');
    }
  }

  /** Random access: the missing first seconds from the playback point go to the AP at once. */
  private firstSeconds(d: Decision): void {
    if (!d.apConnected) return;
    const apDemoted = this.source(SERVER, d.now).demoted;
    if (apDemoted && d.peers.some((p) => !this.source(p, d.now).demoted)) return; // a slow AP: peers take them
    const c = this.config;
    const windowMs = d.peersDelivering ? Math.min(c.randomAccessPrefixMs, c.apMaxAheadMs) : c.randomAccessPrefixMs;
    const limit = this.limitByte(d, windowMs);
    const chunks: number[] = [];
    for (let i = d.playbackChunk; i < this.total && this.inWindow(d, i, limit); i++) if (!this.covered(d, i)) chunks.push(i);
    this.sendRuns(d, SERVER, chunks, 'first-seconds');
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
    const eligible = [...d.peers];
    if (plan && d.apConnected) eligible.push(SERVER);
    if (eligible.length === 0) return;
    const apLimit = plan ? this.limitByte(d, plan.windowMs) : 0;
    const apFallback = d.apConnected && !this.source(SERVER, d.now).demoted;
    /** Whether `id` may take chunk `i` after `extraBytes` more assigned to it in this run. */
    const canTake = (id: string, i: number, extraBytes: number) => {
      if (id === SERVER) return this.inWindow(d, i, apLimit);
      if (!apFallback) return true;
      const rate = this.rateOf(id, d.now) ?? d.hints.get(id);
      if (rate === undefined) return true; // not measured: try it
      const before = this.bytesBefore(id, this.urgencyOf(d, i), Infinity);
      return (before + extraBytes + this.chunkBytes(i)) / rate <= this.dueInMs(d, i) - this.config.lowBufferMs;
    };
    /**
     * A full pipeline still takes a request more urgent than all it has (up to twice the depth):
     * the uploader serves it first, so a lost peer's or a seek's chunks need not wait.
     */
    const hasRoom = (id: string, i: number) => {
      const active = this.source(id, d.now).active;
      return active < this.pipeline || (active < 2 * this.pipeline && this.urgencyOf(d, i) < this.mostUrgentAt(id));
    };
    // In an emergency the AP is the dependable source (lectures: it "helps in the case the client
    // fails to find a reliable and fast set of peers"); otherwise a tie goes to the peer, which costs nothing.
    const preferAp = plan?.reason === 'emergency';
    const able = this.scratch;
    const total = this.total;
    const from = d.playbackChunk;
    // From the playback point to the end, then from the start to the playback point.
    for (let k = 0; k < total; k++) {
      const i = from + k < total ? from + k : from + k - total;
      if (this.covered(d, i)) continue;
      // Urgency never decreases along the order and pipelines only fill: nobody takes more.
      let room = false;
      for (let e = 0; e < eligible.length; e++) {
        if (hasRoom(eligible[e]!, i)) {
          room = true;
          break;
        }
      }
      if (!room) return;
      able.length = 0;
      let good = 0;
      for (let e = 0; e < eligible.length; e++) {
        const id = eligible[e]!;
        if (!canTake(id, i, 0)) continue;
        able.push(id);
        if (!this.source(id, d.now).demoted) good++;
      }
      // The best of the good sources with room (of all able ones when none is good), first on ties.
      let best: string | undefined;
      const bytesI = this.chunkBytes(i);
      for (let e = 0; e < able.length; e++) {
        const id = able[e]!;
        if (good > 0 && this.source(id, d.now).demoted) continue;
        if (!hasRoom(id, i)) continue;
        if (best === undefined || this.rank(id, best, d.now, d.hints, bytesI, preferAp) < 0) best = id;
      }
      if (best === undefined) continue;
      let n = 1;
      let bytes = bytesI;
      while (n < this.batch && i + n < total && !this.covered(d, i + n) && canTake(best, i + n, bytes)) bytes += this.chunkBytes(i + n++);
      this.send(d, best, i, n, best === SERVER ? plan?.reason : undefined);
    }
  }

  /** When to be asked again without an event; only moments after `now`. */
  private computeWake(d: Decision, plan: ApPlan | undefined, bufferedMs: number): number | undefined {
    const c = this.config;
    const at: number[] = [];
    for (const r of this.requests.values()) if (r.missing > 0) at.push(this.silentSince(r) + this.slowLimitMs(r) + 1);
    const mode = d.out.mode;
    if (mode === 'comfortable' || mode === 'low' || mode === 'emergency') {
      const remaining = this.track.durationMs - d.positionMs;
      if (bufferedMs < remaining) {
        // Modes change once the buffer is strictly under a mark: 1 ms past the crossing.
        for (const threshold of [c.lowBufferMs, c.emergencyBufferMs]) if (bufferedMs >= threshold) at.push(d.now + bufferedMs - threshold + 1);
      }
      if (plan && Number.isFinite(plan.windowMs) && d.apConnected && this.source(SERVER, d.now).active < this.pipeline) {
        // The window moves with the playback point: when does it take in the next missing chunk?
        const limit = this.limitByte(d, plan.windowMs);
        for (let i = d.playbackChunk; i < this.total; i++) {
          if (this.inWindow(d, i, limit) || this.covered(d, i)) continue;
          at.push(d.now + this.msCovering(this.chunkEnd(i)) - plan.windowMs - d.positionMs);
          break;
        }
      }
    } else if (mode === 'prefetch') {
      at.push(d.now + d.startsInMs - c.prefetchApFallbackMs, d.now + d.startsInMs + bufferedMs - c.lowBufferMs + 1);
    }
    const future = at.filter((t) => t > d.now && Number.isFinite(t));
    return future.length > 0 ? Math.min(...future) : undefined;
  }

  private send(d: Decision, source: string, first: number, count: number, reason: ApReason | undefined): void {
    const urgency = this.urgencyOf(d, first);
    const r: LiveRequest = { id: this.nextId++, source, first, count, sentAt: d.now, urgency, lastArrivalAt: undefined, arrived: new Array<boolean>(count).fill(false), missing: count, missingBytes: 0 };
    this.requests.set(r.id, r);
    const s = this.source(source, d.now);
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

  /** Sends ascending `chunks` to `source` in runs of consecutive chunks, at most `batch` each. */
  private sendRuns(d: Decision, source: string, chunks: readonly number[], reason: ApReason | undefined): void {
    let k = 0;
    while (k < chunks.length) {
      const first = chunks[k]!;
      let n = 1;
      while (n < this.batch && k + n < chunks.length && chunks[k + n] === first + n) n++;
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
    for (const r of [...this.requests.values()]) {
      if (r.source === SERVER || r.missing === 0) continue;
      const missing = this.missingOf(r);
      this.cancel(d, r);
      this.sendRuns(d, r.source, missing, undefined);
    }
  }

  /** Forgets a request: its chunks not arrived are missing again. */
  private drop(r: LiveRequest, now: number): void {
    if (!this.requests.delete(r.id)) return;
    const s = this.source(r.source, now);
    this.settle(s, now);
    if (r.missing > 0) s.active--;
    const k = s.reqs.indexOf(r);
    if (k >= 0) s.reqs.splice(k, 1);
    for (let i = r.first; i < r.first + r.count; i++) {
      if (!r.arrived[i - r.first]) s.outstandingBytes -= this.chunkBytes(i);
      if (this.owner[i] === r) this.owner[i] = undefined;
    }
  }

  private source(id: string, now: number): SourceStats {
    let s = this.stats.get(id);
    if (!s) {
      s = { bytes: 0, busyMs: 0, busyMark: now, busyAtLastArrival: 0, lastArrivalAt: undefined, active: 0, outstandingBytes: 0, demoted: false, reqs: [] };
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
   * measured (so new peers get tried).
   */
  private rank(a: string, b: string, now: number, hints: ReadonlyMap<string, number>, extraBytes: number, preferAp = false): number {
    const sa = this.source(a, now);
    const sb = this.source(b, now);
    if (sa.demoted !== sb.demoted) return sa.demoted ? 1 : -1;
    const prior = this.bestRate(now, hints);
    const ea = (sa.outstandingBytes + extraBytes) / (this.rateOf(a, now) ?? hints.get(a) ?? prior);
    const eb = (sb.outstandingBytes + extraBytes) / (this.rateOf(b, now) ?? hints.get(b) ?? prior);
    if (ea !== eb) return ea < eb ? -1 : 1;
    return (Number(a === SERVER) - Number(b === SERVER)) * (preferAp ? -1 : 1);
  }

  private bestRate(now: number, hints: ReadonlyMap<string, number>): number {
    let best = 0;
    for (const id of this.stats.keys()) best = Math.max(best, this.rateOf(id, now) ?? 0);
    for (const h of hints.values()) best = Math.max(best, h);
    return best > 0 ? best : 1;
  }

  /**
   * Bytes a source sends before a request of urgency `u` and id `id`: the chunks still to come of
   * its requests at least as urgent (uploaders serve lower values first, ties in order sent).
   */
  private bytesBefore(source: string, u: number, id: number): number {
    const s = this.stats.get(source);
    if (!s) return 0;
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
  private mostUrgentAt(source: string): number {
    let u = Infinity;
    const reqs = this.stats.get(source)?.reqs;
    if (reqs) for (let k = 0; k < reqs.length; k++) if (reqs[k]!.missing > 0 && reqs[k]!.urgency < u) u = reqs[k]!.urgency;
    return u;
  }

  /** Since when a request has been waiting without progress: its source sending other chunks counts as progress (it is queued). */
  private silentSince(r: LiveRequest): number {
    const s = this.stats.get(r.source);
    return Math.max(r.sentAt, r.lastArrivalAt ?? -Infinity, s?.lastArrivalAt ?? -Infinity);
  }

  /** How long a request may stay silent: `slowRequestFactor` chunk-times at the source's rate before this silence, at least `slowRequestMinMs`. */
  private slowLimitMs(r: LiveRequest): number {
    const s = this.stats.get(r.source);
    const rate = s && s.bytes > 0 ? s.bytes / Math.max(1, s.busyAtLastArrival) : undefined;
    const chunkTime = rate === undefined ? 0 : this.config.chunkSize / rate;
    return Math.max(this.config.slowRequestMinMs, this.config.slowRequestFactor * chunkTime);
  }

  private missingOf(r: LiveRequest): number[] {
    const out: number[] = [];
    for (let k = 0; k < r.count; k++) if (!r.arrived[k]) out.push(r.first + k);
    return out;
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

  private urgencyOf(d: Decision, i: number): number {
    const due = this.dueInMs(d, i);
    if (!Number.isFinite(due)) return LEAST_URGENT;
    return Math.min(LEAST_URGENT - 1, Math.floor(due / Math.max(1, this.config.urgencyStepMs)));
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
    const p = index.find((s) => s.byte >= byte);
    return p ? p.ms : t.durationMs;
  }

  /** Audio held contiguously from the playback point, ms. */
  private bufferedAhead(input: StreamInput, positionMs: number, playbackChunk: number): number {
    let i = playbackChunk;
    while (i < this.total && input.held(i)) i++;
    const end = Math.min(i * this.config.chunkSize, this.track.bytes);
    return Math.max(0, audioTimeAt(this.track, end) - positionMs);
  }
}

/**
 * The simulated world (issue 5): an AP with the tracker core and a population of clients, each
 * running the product's cores — `Neighbours`, `OverlaySearch`, `UploadSlots`, `CachePolicy`,
 * `PlayQueue`, and per download a `StreamingScheduler`, per play a `PlaybackClock` — over the
 * event engine and the network model. The glue mirrors the real runtime step by step:
 * `src/client/track-fetcher.ts` (pump: ask the scheduler, cancel, send, wake),
 * `src/client/peer-lookup.ts` (tracker + overlay in parallel, up to 3 peers per lookup, dial or
 * connect-back), `src/client/peer-node.ts` (serve complete files, upload slots, pruning),
 * `src/client/daemon.ts` (play queue, prefetch from 30 s before the end), `src/client/plays.ts`
 * (played bytes by source) and `src/server/peer-services.ts` (announce, query). No policy is
 * re-implemented here: every decision is a core's.
 *
 * Simplifications (documented in the report's `model`): a request reaches its source one RTT
 * after it is sent and data flows from then on (the response's propagation is folded into the
 * request's); a cancel takes effect at once; overlay search messages are processed in time order
 * within the search (a local event queue) at the moment the search starts, so the dedup memories
 * of other clients see the whole flood at that instant; the AP never fails; plays always start
 * at the beginning of a track (no seeks).
 */
import type { TunemeshConfig } from '../core/config.ts';
import { CachePolicy } from '../core/cache-policy.ts';
import { NeighbourCounters, Neighbours, NEIGHBOUR_BUCKET_MS } from '../core/neighbours.ts';
import { OverlaySearch, type PeerFoundMessage } from '../core/overlay-search.ts';
import { UploadSlots } from '../core/upload-slots.ts';
import { PlayQueue, type QueueEntry } from '../core/play-queue.ts';
import { PlaybackClock, startByteFor, type PlaybackTrack } from '../core/playback-clock.ts';
import { StreamingScheduler, SERVER, newApRequestCounters, type StreamInput, type StreamMode, type StreamSource } from '../core/streaming-scheduler.ts';
import { Tracker } from '../core/tracker.ts';
import { randomInt, seededRng, type Rng } from '../core/clock.ts';
import type { PeerAddress } from '../protocol/messages.ts';
import { mix32, type Engine, type SimEvent, type Timer } from './engine.ts';
import { Network, pairRttMs, CONNECT_RTTS, type Flow } from './network.ts';
import { FileSet } from './file-set.ts';
import { Catalog, Population, WORKLOAD, activityAt, exponential, nextLogin, onlineShareAt, sessionLength } from './workload.ts';

/** Chunk requests of the product are 32 × 16 kB; the simulator keeps the bytes per request. */
const PRODUCT_REQUEST_BYTES = 32 * 16 * 1024;
const EMPTY_INDEX: PlaybackTrack['seekIndex'] = [];
const SRC_SERVER = 1;
/** Listener marks (prefetch, 30 s / 10 s, leaving) are this close at worst, ms. */
const MARK_EPS_MS = 0.01;
const SRC_PEER = 2;
const NO_HOLDERS = new FileSet();
const AP_SOURCE: StreamSource = { id: SERVER };
const NO_FILES: readonly string[] = [];
/** The neighbour list a flood's searcher gives its core (see `World.searchFlood`). */
const NO_PEERS: readonly string[] = [];
const byArrival = (a: Req, b: Req): number => a.arriveAt - b.arriveAt;
/** Fields of a client's flood state (World.floodState). */
const F_SEEN = 0;
const F_MARK = 1;
const F_AT = 2;
const F_FROM = 3;

export interface WorldOptions {
  peers: number;
  seed: number;
  natCountry: string;
  tracker: boolean;
  overlay: boolean;
  prefetch: boolean;
  /** Everyone logs in over the first 10 minutes and stays online (see {@link SimParams.allOnline}). */
  allOnline?: boolean;
  config: TunemeshConfig;
  /**
   * Chunks per delivery event of a flow while its download is comfortable (its play runs with the
   * buffer above the low mark, or it is a prefetch); 1 otherwise. Above 1, a download takes in the
   * chunks its flows completed so far before each decision, play timer and cancel, so a decision
   * sees what it would have seen with one event per chunk; only decisions that a single arrival
   * would have triggered in between move to the next event.
   */
  deliveryStep: number;
}

interface QEntry extends QueueEntry {
  track: number;
}

/** The requests (jobs) one source serves one downloader, one at a time, most urgent first (the chunk pump). */
interface Pair {
  jobs: Req[];
  active: Req | null;
  /**
   * Requests on their way to the source, sent while it was serving this downloader a chunk of the
   * same file, in the order sent (= order of arrival: one RTT per pair). Their arrival would only
   * queue them behind the active job (the downloader holds the uploader's slot, and the file is
   * complete and pinned there), so it is not an event of its own: they join `jobs` when the active
   * job ends (those arrived by then, in order of arrival among the jobs), or become arrival events
   * again if the pair stops serving first. Before the uploader evicts, the arrived ones take their
   * pins and those on their way for a file it evicts become arrival events (`settleTransit`), so
   * what an arrival event would have changed is in place whenever it is looked at: the reports are
   * the same as with an event per arrival. Empty whenever `active` is null. (About a fifth of all
   * events were such arrivals.)
   */
  transit: Req[];
}

/** A chunk request; it is its own arrival event ({@link Timer}). */
interface Req extends Timer {
  id: number;
  /** -1: the AP. */
  source: number;
  first: number;
  count: number;
  urgency: number;
  d: Download;
  /**
   * The source took it in (a job of `pair`, waiting or active); false before it arrives, and once
   * the source dropped it (refused, link closed).
   */
  atSource: boolean;
  /** Its pair at the source, once it arrived there. */
  pair: Pair | null;
  /** The transfer serving it while it is its pair's active job and `atSource`. */
  flow: Flow | null;
  /** Cancelled or ended: late events for it are ignored. */
  over: boolean;
  /** When it reaches its source. */
  arriveAt: number;
  /**
   * Bytes from a peer taken in but not yet recorded in the neighbour counters of the two ends, all
   * in neighbour bucket `pendBucket`, the last at `pendT` (see {@link World.recordPending}).
   */
  pendBytes: number;
  pendBucket: number;
  pendT: number;
}

/** A file downloading; it is its own wake-up event ({@link Timer}): the scheduler's `wakeAt`. */
interface Download extends Timer {
  c: Client;
  file: number;
  track: PlaybackTrack;
  total: number;
  held: Uint8Array;
  sources: Uint8Array;
  scheduler: StreamingScheduler;
  /**
   * Its requests not over, in the order sent (ids grow). A list, not a map: a handful at a time,
   * and a small map that is added to and deleted from all the time makes a new table every few
   * requests.
   */
  requests: Req[];
  emergency: boolean;
  active: boolean;
  /** Units per delivery event of its flows now: 1 while its play or its buffer needs every arrival, else the run's `deliveryStep`. */
  step: number;
  /** The scheduler's mode at the latest decision. */
  mode: StreamMode;
  /** Chunks were taken in by a flush and the play's clock has not been told yet. */
  untold: boolean;
  /** The scheduler's input, refilled at every decision (`inputOf`) rather than made anew. */
  input: StreamInput;
  /**
   * The scheduler's `peerListVersion` and the client's `linkVersion` when the input's sources were
   * last made: while both stay the same, so do the sources (-1: never made).
   */
  inputPeers: number;
  inputLinks: number;
}

/** A play; it is its own timer ({@link Timer}): a stall, the end, a listener mark or leaving. */
interface Play extends Timer {
  c: Client;
  file: number;
  track: number;
  info: PlaybackTrack;
  access: 'random' | 'sequential';
  clock: PlaybackClock;
  /** Chunks held at the request (or before the prefetch): played from them is the cache source. Null: the whole file was cached. */
  presentAtStart: Uint8Array | null;
  sources: Uint8Array | null;
  /** Position the listener leaves at (Infinity: plays to the end). */
  leaveAtMs: number;
  prefetchChecked: boolean;
  reached30: boolean;
  reached10: boolean;
  hasNextAt30: boolean;
  hasNextAt10: boolean;
  ended: boolean;
}

interface Client {
  u: number;
  id: string;
  self: PeerAddress;
  online: boolean;
  loginAt: number;
  sessionEnd: number;
  listenUntil: number;
  cache: CachePolicy;
  /** Chunk bitmaps of files in the cache that are not complete. */
  partial: Map<number, Uint8Array>;
  /**
   * How many files the cache holds complete (in `cache` and not in `partial`); which ones is in the
   * world's per-file index (`World.holdersOf`). The invariant checks compare it with the cache.
   */
  completeCount: number;
  /** Which source brought each chunk of a file downloaded in this session (track-fetcher.sources), while a play or download needs it. */
  srcs: Map<number, Uint8Array>;
  neighbours: Neighbours;
  /** Changes whenever a link opens or closes (`World.addTarget`, `World.removeTarget`): see `Download.inputPeers`. */
  linkVersion: number;
  search: OverlaySearch;
  uploads: UploadSlots;
  serving: Map<number, Pair>;
  queue: PlayQueue<QEntry>;
  downloads: Map<number, Download>;
  play: Play | null;
  prefetch: { file: number; heldBefore: Uint8Array | null } | null;
  emergency: boolean;
  pruneEvent: SimEvent | null;
  activityEvent: SimEvent | null;
}

/** Counters the report is made of. */
export interface WorldStats {
  played: { server: number; peer: number; cache: number };
  bytesPlayed: number;
  latencies: { random: number[]; sequential: number[] };
  plays: number;
  playsWithStutter: number;
  access: { sequential: number; random: number };
  next30: { reached: number; played: number };
  next10: { reached: number; played: number };
  trackerQueries: number;
  trackerFound: number;
  apBytes: number;
  connectBacks: number;
  dialFailures: number;
}

export class World {
  readonly catalog: Catalog;
  readonly pop: Population;
  readonly tracker: Tracker;
  readonly net: Network;
  private readonly clients: (Client | undefined)[];
  private readonly apServing = new Map<number, Pair>();
  private readonly fileIds: string[] = [];
  private readonly apNode: number;
  /** Listener choices: one stream per user, so timing differences elsewhere do not change what a user plays. */
  private readonly rngUsers: (Rng | undefined)[];
  private readonly userSeed: number;
  private readonly rngSession: Rng;
  private readonly rngTracker: Rng;
  private readonly rngSearch: Rng;
  private readonly rttSeed: number;
  private readonly batchChunks: number;
  /** `deliveryStep` > 1: flows of comfortable downloads report in batches (see {@link WorldOptions.deliveryStep}). */
  private readonly lazy: boolean;
  /** Set while units are taken in by a flush: accounting only, no decision. */
  private flushing = false;
  /** The message queue of one overlay search, reused. */
  private readonly floodQueue = new LocalQueue();
  /** The answers of one overlay search, reused. */
  private readonly foundQueue = new LocalQueue();
  /** The clients only last-hop copies reached in the current flood, in order of first reach. */
  private floodLate = new Int32Array(1024);
  /**
   * Per client, its state in the latest floods, in one array so that a visit touches one cache
   * line (a flood looks at D² ≈ 1 000–2 500 clients scattered over memory), at `4 * client` +:
   * - {@link F_SEEN}: the number of the latest flood whose query it took in (its dedup memory
   *   holds that query id);
   * - {@link F_MARK}: `2 * flood` if a last-hop copy reached it and it holds the file (see
   *   searchFlood);
   * - {@link F_AT}, {@link F_FROM}: when the searcher's own copy reaches it (Infinity: after the
   *   wait), or when the first last-hop copy did and from whom.
   */
  private readonly floodState: Float64Array;
  /**
   * Per client, 1 while it is a neighbour of the current flood's searcher: one byte per client, so
   * the question a flood asks of every client its forwarders reach (a thousand or more) stays
   * within the CPU's cache, and the state above is read only for the clients that do something
   * with the query.
   */
  private readonly floodDirect: Uint8Array;
  private floodNumber = 0;
  /**
   * Per client, `neighbours.searchTargets()` as node numbers, in the same order (the order links
   * were made): client u's are `targetsOf[u * targetStride ..]`, `targetCountOf[u]` of them. Kept
   * up to date by `link` and `closeLink` rather than made anew from the core's list, since a flood
   * reads them at every client it visits and links change between most of those visits; in one
   * array with room for the hard limit per client, so a flood's visit reads the list straight
   * (not through the client's object and a typed array of its own, three scattered memory
   * accesses) and a new link never reallocates. The invariant checks compare them with the core's
   * list.
   */
  private readonly targetsOf: Int32Array;
  /** All clients' neighbour counters, in one store (see {@link NeighbourCounters}). */
  private readonly neighbourCounters = new NeighbourCounters();
  private readonly targetCountOf: Int32Array;
  private readonly targetStride: number;
  /** The neighbours a flood's answers came through, in order of first answer, and per client how many (zero between floods). */
  private floodVia = new Int32Array(64);
  private readonly floodViaCount: Int32Array;
  /**
   * Per client, its overlay core, as a dense array: a flood visits thousands of clients, and
   * reading it straight from here rather than through each client's object saves memory accesses
   * scattered over the heap on every visit.
   */
  private readonly searchOf: OverlaySearch[] = [];
  /** Per client, its address (`Client.self`), as a dense array for the same reason: a flood's answers name it. */
  private readonly selfOf: PeerAddress[] = [];
  /**
   * Per file, the clients whose cache holds it complete: the index every overlay query ("do you
   * hold this file complete?") and every upload reads, kept in step with the caches (warm-up,
   * completion, eviction). Per file rather than per client, so that a flood, which asks the
   * question of a thousand clients or more about one file, reads one table that stays in the CPU's
   * cache instead of one scattered table per client.
   */
  private readonly holdersOf: (FileSet | undefined)[] = [];
  /** The scheduler's source entry of each client as a peer, made once. */
  private readonly peerSources: (StreamSource | undefined)[] = [];
  private nextReq = 1;
  readonly stats: WorldStats = {
    played: { server: 0, peer: 0, cache: 0 },
    bytesPlayed: 0,
    latencies: { random: [], sequential: [] },
    plays: 0,
    playsWithStutter: 0,
    access: { sequential: 0, random: 0 },
    next30: { reached: 0, played: 0 },
    next10: { reached: 0, played: 0 },
    trackerQueries: 0,
    trackerFound: 0,
    apBytes: 0,
    connectBacks: 0,
    dialFailures: 0,
  };
  readonly violations: string[] = [];
  private violationCount = 0;
  readonly apCounters = newApRequestCounters();

  constructor(
    private readonly engine: Engine,
    private readonly opts: WorldOptions,
  ) {
    const n = opts.peers;
    const tracks = Math.max(WORKLOAD.minTracks, Math.round(n * WORKLOAD.tracksPerUser));
    this.catalog = new Catalog(tracks, engine.rng('catalog'));
    this.pop = new Population(n, opts.natCountry, this.catalog, opts.config, engine.rng('population'));
    this.tracker = new Tracker(opts.config);
    this.apNode = n;
    const up = new Float64Array(n + 1);
    const down = new Float64Array(n + 1);
    up.set(this.pop.up);
    down.set(this.pop.down);
    up[n] = (Math.max(1, n) * WORKLOAD.apUpBitsPerUser) / 8 / 1000;
    down[n] = up[n]!;
    this.net = new Network(engine, { up, down, apNode: n });
    this.clients = new Array<Client | undefined>(n);
    this.rngUsers = new Array<Rng | undefined>(n);
    this.userSeed = engine.rng('listener').next() * 4294967296;
    this.rngSession = engine.rng('sessions');
    this.rngTracker = engine.rng('tracker');
    this.rngSearch = engine.rng('search');
    this.rttSeed = engine.rng('rtt').next() * 4294967296;
    this.batchChunks = Math.max(1, Math.round(PRODUCT_REQUEST_BYTES / opts.config.chunkSize));
    this.lazy = opts.deliveryStep > 1;
    this.floodState = new Float64Array(4 * n);
    this.floodDirect = new Uint8Array(n);
    this.floodViaCount = new Int32Array(n);
    this.targetStride = opts.config.neighbourHardLimit;
    this.targetsOf = new Int32Array(n * this.targetStride);
    this.targetCountOf = new Int32Array(n);
  }

  // ---------------------------------------------------------------- set-up

  /** Warm caches (each user's library, most recently played first until the cache is full), the tracker's memory of them, and the first logins. */
  start(): void {
    const n = this.pop.n;
    const order = new Int32Array(n);
    for (let u = 0; u < n; u++) order[u] = u;
    const rng = this.engine.rng('warm');
    for (let u = n - 1; u > 0; u--) {
      const j = randomInt(rng, u + 1);
      const t = order[u]!;
      order[u] = order[j]!;
      order[j] = t;
    }
    // The warm caches, and what the tracker heard of them (announces happen on plays). Who holds
    // what is noted as pairs and indexed per file afterwards, each file's index built in one go
    // (millions of holdings at the larger sizes, scattered over the indexes in this order).
    let librarySlots = 0;
    for (let u = 0; u < n; u++) librarySlots += this.pop.librarySize(u);
    const warmFile = new Int32Array(librarySlots);
    const warmHolder = new Int32Array(librarySlots);
    let m = 0;
    for (let k = 0; k < n; k++) {
      const u = order[k]!;
      const c = this.client(u);
      const size = this.pop.librarySize(u);
      for (let i = 0; i < size; i++) {
        const file = this.catalog.fileOf(this.pop.libraryTrack(u, i), this.pop.quality[u]!);
        const id = this.fileId(file);
        if (c.cache.has(id)) continue;
        const bytes = this.catalog.bytesOf(file);
        if (c.cache.used + bytes > c.cache.limit) break;
        c.cache.add(id, bytes, -1 - i);
        c.completeCount++; // a file new to this cache is new to its holders
        warmFile[m] = file;
        warmHolder[m++] = u;
      }
    }
    this.indexWarmHolders(warmFile, warmHolder, m);
    this.announceWarm(warmFile, warmHolder, m);
    const share = this.opts.allOnline ? 1 : onlineShareAt(0);
    for (let u = 0; u < n; u++) {
      if (this.rngSession.next() < share) {
        // Already logged in at the start: they log in over the first 10 minutes.
        this.engine.at(this.rngSession.next() * 600_000, () => this.login(this.client(u)));
      } else {
        this.engine.at(nextLogin(0, this.rngSession), () => this.login(this.client(u)));
      }
    }
  }

  /** Builds each file's index of holders from the warm caches' (file, holder) pairs, file by file. */
  private indexWarmHolders(warmFile: Int32Array, warmHolder: Int32Array, m: number): void {
    const files = this.catalog.files;
    const start = new Int32Array(files + 1);
    for (let k = 0; k < m; k++) start[warmFile[k]! + 1]!++;
    for (let f = 0; f < files; f++) start[f + 1]! += start[f]!;
    const next = start.slice(0, files);
    const byFile = new Int32Array(m);
    for (let k = 0; k < m; k++) byFile[next[warmFile[k]!]!++] = warmHolder[k]!;
    for (let f = 0; f < files; f++) {
      const from = start[f]!;
      const to = start[f + 1]!;
      if (to === from) continue;
      const set = new FileSet(to - from, this.pop.n);
      for (let j = from; j < to; j++) set.add(byFile[j]!);
      this.holdersOf[f] = set;
    }
  }

  /**
   * The tracker hears the warm caches' announces, in order. A list keeps the latest
   * `trackerMemory` peers of a file and each cache announces a file once, so only each file's
   * last `trackerMemory` announces leave a trace: the others are skipped, which leaves the same
   * lists and the same order of files by last announce (all of a file's announces, when the
   * tracker may have to forget files).
   */
  private announceWarm(warmFile: Int32Array, warmHolder: Int32Array, m: number): void {
    const config = this.opts.config;
    const files = this.catalog.files;
    const keep = new Uint8Array(m);
    if (files <= config.trackerMaxFiles) {
      const kept = new Int32Array(files);
      for (let k = m - 1; k >= 0; k--) {
        const f = warmFile[k]!;
        if (kept[f]! < config.trackerMemory) {
          kept[f]!++;
          keep[k] = 1;
        }
      }
    } else keep.fill(1);
    for (let k = 0; k < m; k++) if (keep[k] === 1) this.tracker.announce(this.fileId(warmFile[k]!), this.clients[warmHolder[k]!]!.id);
  }

  private client(u: number): Client {
    let c = this.clients[u];
    if (c) return c;
    const id = String(u);
    const config = this.opts.config;
    c = {
      u,
      id,
      self: { peerId: id, host: 'sim', port: this.pop.reachable[u] ? 1 : 0 },
      online: false,
      loginAt: 0,
      sessionEnd: 0,
      listenUntil: 0,
      cache: new CachePolicy(this.pop.cacheBytes[u]!),
      partial: new Map(),
      completeCount: 0,
      srcs: new Map(),
      neighbours: new Neighbours(config, this.neighbourCounters),
      linkVersion: 0,
      search: new OverlaySearch({ config, rng: this.rngSearch }),
      uploads: new UploadSlots(config),
      serving: new Map(),
      queue: new PlayQueue<QEntry>(config),
      downloads: new Map(),
      play: null,
      prefetch: null,
      emergency: false,
      pruneEvent: null,
      activityEvent: null,
    };
    this.clients[u] = c;
    this.searchOf[u] = c.search;
    this.selfOf[u] = c.self;
    return c;
  }

  private userRng(u: number): Rng {
    return (this.rngUsers[u] ??= seededRng(mix32((this.userSeed + Math.imul(u, 0x9e3779b1)) >>> 0)));
  }

  private fileId(file: number): string {
    return (this.fileIds[file] ??= `f${file}`);
  }

  private fileOfId(id: string): number {
    return Number(id.slice(1));
  }

  // ---------------------------------------------------------------- sessions

  private login(c: Client): void {
    const now = this.engine.now();
    c.online = true;
    c.loginAt = now;
    c.sessionEnd = now + sessionLength(this.rngSession);
    if (this.opts.allOnline) c.sessionEnd = Infinity; // online to the end of the run
    else this.engine.at(c.sessionEnd, () => this.logout(c));
    if (this.rngSession.next() < 0.7) this.startListening(c);
    else this.goIdle(c);
  }

  private logout(c: Client): void {
    if (!c.online) return;
    const now = this.engine.now();
    this.engine.cancel(c.activityEvent);
    this.engine.cancel(c.pruneEvent);
    c.pruneEvent = null;
    if (c.play) this.endPlay(c.play, 'stopped');
    c.prefetch = null;
    for (const d of [...c.downloads.values()]) this.finishDownload(d);
    c.srcs.clear();
    for (const p of c.neighbours.ids()) this.closeLink(c, this.clients[Number(p)]!);
    c.online = false;
    c.queue.clear();
    if (c.emergency) {
      c.emergency = false;
      c.uploads.setEmergency(false);
    }
    this.engine.at(nextLogin(now, this.rngSession), () => this.login(c));
  }

  private startListening(c: Client): void {
    c.listenUntil = this.engine.now() + exponential(this.rngSession, WORKLOAD.listenMinutes * 60_000);
    this.randomPick(c);
  }

  private goIdle(c: Client): void {
    const now = this.engine.now();
    const until = now + exponential(this.rngSession, WORKLOAD.idleMinutes * 60_000);
    if (until >= c.sessionEnd) return; // idle until logout
    c.activityEvent = this.engine.at(until, () => {
      c.activityEvent = null;
      if (c.online) this.startListening(c);
    });
  }

  /** The listener picks a track: from the library or the catalog; its album becomes the queue. */
  private randomPick(c: Client): void {
    const rng = this.userRng(c.u);
    const lib = this.pop.librarySize(c.u);
    const track = lib > 0 && rng.next() < WORKLOAD.libraryPick ? this.pop.libraryTrack(c.u, randomInt(rng, lib)) : this.catalog.sample(rng);
    const q = this.pop.quality[c.u]!;
    const entries = this.catalog.queueFrom(track).map((t): QEntry => ({ id: String(t), fileId: this.fileId(this.catalog.fileOf(t, q)), durationMs: this.catalog.durationMs[t]!, track: t }));
    c.queue.set(entries, 0);
    this.startPlay(c, entries[0]!, 'random');
  }

  /** What the listener does when a play ends or is left. */
  private afterPlay(c: Client, finished: boolean): void {
    if (!c.online) return;
    const now = this.engine.now();
    // A listening period ends when the listener leaves a track (an album plays on to its next track).
    if (!finished && now >= c.listenUntil) {
      c.queue.clear();
      this.dropPrefetch(c);
      this.goIdle(c);
      return;
    }
    const next = c.queue.upcoming;
    if (finished && next) {
      c.queue.played(next.id);
      this.startPlay(c, next, 'sequential');
    } else {
      this.dropPrefetch(c);
      this.randomPick(c);
    }
  }

  // ---------------------------------------------------------------- plays

  private trackInfo(file: number): PlaybackTrack {
    return { durationMs: this.catalog.durationMs[file >> 1]!, bytes: this.catalog.bytesOf(file), seekIndex: EMPTY_INDEX, bitrate: this.catalog.bitrateOf(file) };
  }

  private isComplete(c: Client, file: number): boolean {
    return this.holdersOf[file]?.has(c.u) === true;
  }

  /** The client's cache now holds `file` complete. */
  private addComplete(c: Client, file: number): void {
    if ((this.holdersOf[file] ??= new FileSet(8, this.pop.n)).add(c.u)) c.completeCount++;
  }

  private dropComplete(c: Client, file: number): void {
    if (this.holdersOf[file]?.delete(c.u)) c.completeCount--;
  }

  private startPlay(c: Client, entry: QEntry, access: 'random' | 'sequential'): void {
    const now = this.engine.now();
    const file = this.catalog.fileOf(entry.track, this.pop.quality[c.u]!);
    const id = this.fileId(file);
    const info = this.trackInfo(file);
    let presentAtStart: Uint8Array | null;
    if (c.prefetch?.file === file) {
      presentAtStart = c.prefetch.heldBefore;
      c.prefetch = null;
    } else {
      this.dropPrefetch(c);
      presentAtStart = this.isComplete(c, file) ? null : (c.partial.get(file)?.slice() ?? new Uint8Array(this.chunks(info)));
    }
    c.cache.touch(id, now);
    c.cache.pin(id);
    const d = this.isComplete(c, file) ? undefined : this.want(c, file, info);
    if (d && this.lazy) this.flush(d); // a prefetch's chunks completed so far
    const held = d?.held ?? c.partial.get(file);
    const clock = new PlaybackClock({ track: info, startMs: 0, requestedAt: now, config: this.opts.config, contiguousEndByte: this.contiguousEnd(info, held) });
    const p: Play = {
      c,
      file,
      track: entry.track,
      info,
      access,
      clock,
      presentAtStart,
      sources: c.srcs.get(file) ?? null,
      leaveAtMs: this.leavePosition(this.userRng(c.u), info.durationMs),
      prefetchChecked: false,
      reached30: false,
      reached10: false,
      hasNextAt30: false,
      hasNextAt10: false,
      timerSlot: -1,
      ended: false,
    };
    c.play = p;
    this.stats.access[access]++;
    if (d) this.pump(d);
    this.schedulePlay(p);
  }

  /** Where the listener leaves the track (Infinity: plays it to the end): the workload's skip model. */
  private leavePosition(rng: Rng, durationMs: number): number {
    const w = WORKLOAD;
    if (durationMs > 30_000 && rng.next() < w.leaveEarly) return rng.next() * (durationMs - 30_000);
    const in30to10 = 1 - (1 - w.leaveIn30) / (1 - w.leaveIn10);
    if (rng.next() < in30to10) return durationMs - 10_000 - rng.next() * 20_000;
    if (rng.next() < w.leaveIn10) return durationMs - rng.next() * 10_000;
    return Infinity;
  }

  private chunks(info: PlaybackTrack): number {
    return Math.ceil(info.bytes / this.opts.config.chunkSize);
  }

  /** End of the contiguous run of held bytes from the start (`held` undefined: complete). */
  private contiguousEnd(info: PlaybackTrack, held: Uint8Array | undefined): number {
    if (!held) return info.bytes;
    let i = 0;
    while (i < held.length && held[i]) i++;
    return Math.min(info.bytes, i * this.opts.config.chunkSize);
  }

  /** The next moment the play needs attention: a stall or the end, a listener mark, or leaving. */
  private schedulePlay(p: Play): void {
    this.engine.unschedule(p);
    if (p.ended) return;
    const now = this.engine.now();
    const clock = p.clock;
    let at = clock.nextEventAt(now) ?? Infinity;
    if (clock.state === 'playing') {
      const pos = clock.positionMs(now);
      const dur = p.info.durationMs;
      // The nearest mark still ahead (a mark passed already counts as MARK_EPS_MS away).
      let mark = p.leaveAtMs;
      if (!p.prefetchChecked) mark = Math.min(mark, dur - this.opts.config.prefetchPeerSearchMs);
      if (!p.reached30) mark = Math.min(mark, dur - 30_000);
      if (!p.reached10) mark = Math.min(mark, dur - 10_000);
      if (Number.isFinite(mark)) at = Math.min(at, now + Math.max(MARK_EPS_MS, mark - pos));
    }
    if (Number.isFinite(at)) this.engine.schedule(p, at, this.playTimer);
  }

  private readonly playTimer = (p: Play): void => this.onPlayTimer(p);

  private onPlayTimer(p: Play): void {
    if (p.ended) return;
    const now = this.engine.now();
    const d = this.lazy ? p.c.downloads.get(p.file) : undefined;
    if (d) this.flush(d);
    if (p.ended) return;
    p.clock.tick(now);
    if (d) this.refreshStep(d);
    this.checkMarks(p);
    if (!p.ended && p.clock.state === 'ended') this.endPlay(p, 'finished');
    else this.schedulePlay(p);
  }

  private checkMarks(p: Play): void {
    const now = this.engine.now();
    const c = p.c;
    // A mark within MARK_EPS_MS counts as reached (the timer cannot land closer on a float clock).
    const pos = p.clock.positionMs(now) + MARK_EPS_MS;
    const dur = p.info.durationMs;
    if (!p.prefetchChecked && pos >= dur - this.opts.config.prefetchPeerSearchMs) {
      p.prefetchChecked = true;
      this.checkPrefetch(c, p);
    }
    if (!p.reached30 && pos >= dur - 30_000) {
      p.reached30 = true;
      p.hasNextAt30 = c.queue.upcoming !== undefined;
      if (p.hasNextAt30) this.stats.next30.reached++;
    }
    if (!p.reached10 && pos >= dur - 10_000) {
      p.reached10 = true;
      p.hasNextAt10 = c.queue.upcoming !== undefined;
      if (p.hasNextAt10) this.stats.next10.reached++;
    }
    if (pos >= p.leaveAtMs && p.clock.state !== 'ended') this.endPlay(p, 'left');
  }

  /** Prefetch (daemon.checkPrefetch): from 30 s before the end, the queue's next track downloads. */
  private checkPrefetch(c: Client, p: Play): void {
    if (!this.opts.prefetch || c.prefetch) return;
    const remaining = Math.max(0, p.info.durationMs - p.clock.positionMs(this.engine.now()));
    const target = c.queue.prefetchTarget(remaining);
    if (!target) return;
    const file = this.catalog.fileOf(target.track.track, this.pop.quality[c.u]!);
    if (this.isComplete(c, file)) return;
    c.prefetch = { file, heldBefore: c.partial.get(file)?.slice() ?? null };
    const info = this.trackInfo(file);
    if (!c.prefetch.heldBefore) c.prefetch.heldBefore = new Uint8Array(this.chunks(info));
    const d = this.want(c, file, info);
    if (d) this.pump(d);
  }

  private dropPrefetch(c: Client): void {
    const pf = c.prefetch;
    if (!pf) return;
    c.prefetch = null;
    if (c.play?.file === pf.file) return;
    const d = c.downloads.get(pf.file);
    if (d) this.finishDownload(d);
    c.srcs.delete(pf.file);
  }

  /** A play ends: its figures and its played bytes by source (plays.ts), then the listener moves on. */
  private endPlay(p: Play, how: 'finished' | 'left' | 'stopped'): void {
    if (p.ended) return;
    p.ended = true;
    this.engine.unschedule(p);
    const c = p.c;
    const now = this.engine.now();
    const s = how === 'finished' ? p.clock.summary() : p.clock.stop(now);
    if (c.play === p) c.play = null;
    c.cache.unpin(this.fileId(p.file));
    if (s.latencyMs !== null) {
      this.stats.plays++;
      this.stats.latencies[p.access].push(s.latencyMs);
      if (s.stutters > 0) this.stats.playsWithStutter++;
    }
    // Played bytes: [0, byte at the played position), counted once per chunk by its source.
    const endByte = how === 'finished' ? p.info.bytes : startByteFor(p.info, Math.min(p.info.durationMs, s.startMs + s.playedMs));
    this.countPlayed(p, endByte);
    // Was the next track played? (the sequential play follows right away if so)
    const sequentialNext = how === 'finished' && c.online && c.queue.upcoming !== undefined;
    if (p.hasNextAt30 && sequentialNext) this.stats.next30.played++;
    if (p.hasNextAt10 && sequentialNext) this.stats.next10.played++;
    // The listener left the track: its download stops unless complete (daemon.leave).
    const d = c.downloads.get(p.file);
    if (d && c.prefetch?.file !== p.file) this.finishDownload(d);
    if (c.prefetch?.file !== p.file) c.srcs.delete(p.file);
    if (how !== 'stopped') this.afterPlay(c, how === 'finished');
  }

  private countPlayed(p: Play, endByte: number): void {
    const size = this.opts.config.chunkSize;
    const c = p.c;
    const held = c.partial.get(p.file);
    const complete = this.isComplete(c, p.file);
    let sum = 0;
    for (let i = 0; i * size < endByte; i++) {
      const bytes = Math.min(endByte, (i + 1) * size) - i * size;
      if (!complete && !(held && held[i])) this.violation(`client ${c.id} played chunk ${i} of ${this.fileId(p.file)} it does not hold`);
      let src: 'cache' | 'server' | 'peer' = 'cache';
      if (p.presentAtStart !== null && !p.presentAtStart[i]) {
        const k = p.sources?.[i] ?? 0;
        if (k === SRC_SERVER) src = 'server';
        else if (k === SRC_PEER) src = 'peer';
        else this.violation(`client ${c.id} played chunk ${i} of ${this.fileId(p.file)} with no known source`);
      }
      this.stats.played[src] += bytes;
      sum += bytes;
    }
    this.stats.bytesPlayed += endByte;
    if (sum !== endByte) this.violation(`play of ${this.fileId(p.file)}: ${sum} bytes counted by source, ${endByte} played`);
  }

  /** The scheduler's view of where the listener is (daemon: plays first, then the prefetch). */
  /** Fills the download's scheduler input for a decision now: where the listener is, and the sources. */
  private inputOf(d: Download, now: number): StreamInput {
    const input = d.input;
    const c = d.c;
    const p = c.play;
    input.positionMs = 0;
    input.playing = false;
    input.startsInMs = undefined;
    if (p && p.file === d.file && !p.ended) {
      const st = p.clock.state;
      input.positionMs = p.clock.positionMs(now);
      input.playing = st === 'playing' || st === 'stalled';
    } else if (c.prefetch?.file === d.file) {
      input.startsInMs = p && !p.ended ? Math.max(0, p.info.durationMs - p.clock.positionMs(now)) : 0;
    }
    // The AP, and the peers found for the file that are still connected.
    if (d.inputPeers === d.scheduler.peerListVersion && d.inputLinks === c.linkVersion) return input;
    d.inputPeers = d.scheduler.peerListVersion;
    d.inputLinks = c.linkVersion;
    this.fillSources(d, input.sources as StreamSource[]);
    return input;
  }

  /** `out` becomes the AP, then the peers the download's scheduler found that are still connected, in its order. */
  private fillSources(d: Download, out: StreamSource[]): void {
    out.length = 0;
    out.push(AP_SOURCE);
    const peers = d.scheduler.peerIds();
    for (let k = 0; k < peers.length; k++) {
      const id = peers[k]!;
      if (d.c.neighbours.has(id)) out.push((this.peerSources[Number(id)] ??= { id }));
    }
  }

  // ---------------------------------------------------------------- downloads (track-fetcher.ts)

  /** Makes sure the file is downloading; undefined when it is complete. */
  private want(c: Client, file: number, info: PlaybackTrack): Download | undefined {
    if (this.isComplete(c, file)) return undefined;
    let d = c.downloads.get(file);
    if (d) return d;
    const id = this.fileId(file);
    let held = c.partial.get(file);
    if (!held) {
      // Room for the whole file (the disk cache reserves it), least recently played first.
      if (c.cache.used + info.bytes > c.cache.limit) this.settleTransit(c, NO_FILES);
      const victims = c.cache.evictionsToFit(info.bytes);
      if (victims.length > 0) this.settleTransit(c, victims);
      for (const victim of victims) this.evict(c, victim);
      held = new Uint8Array(this.chunks(info));
      c.partial.set(file, held);
      c.cache.add(id, info.bytes, this.engine.now());
    }
    c.cache.pin(id);
    d = {
      c,
      file,
      track: info,
      total: held.length,
      held,
      sources: c.srcs.get(file) ?? new Uint8Array(held.length),
      scheduler: new StreamingScheduler(info, this.opts.config, { batchChunks: this.batchChunks, counters: this.apCounters }),
      requests: [],
      timerSlot: -1,
      emergency: false,
      active: true,
      step: 1,
      mode: 'starting',
      untold: false,
      input: { positionMs: 0, playing: false, held: (i) => held[i] === 1, sources: [AP_SOURCE] },
      inputPeers: -1,
      inputLinks: -1,
    };
    c.downloads.set(file, d);
    c.srcs.set(file, d.sources);
    this.lookup(d);
    return d;
  }

  private evict(c: Client, id: string): void {
    c.cache.remove(id);
    const file = this.fileOfId(id);
    c.partial.delete(file);
    this.dropComplete(c, file);
  }

  private readonly wakeDownload = (d: Download): void => this.wake(d);

  /**
   * A download's wake-up. With batched delivery its flows may have completed chunks not reported
   * yet: taken in, they can show that the request the wake-up was for is progressing
   * (`recheckWake`). Then nothing is due: it waits for the new moment without a decision (three in
   * four wake-ups of a large run, nine in ten of whose decisions sent nothing). Decisions come
   * with reports, and at wake-ups still due; one that such a wake-up would have made on other
   * grounds waits for the next report, like any other with batched delivery (checked against one
   * event per chunk: docs/simulation.md, Scale).
   */
  private wake(d: Download): void {
    if (this.lazy) {
      this.flush(d);
      if (!d.active) return;
      const at = d.scheduler.recheckWake();
      const now = this.engine.now();
      if (at === undefined || at > now) {
        if (at !== undefined) this.engine.schedule(d, at, this.wakeDownload);
        return;
      }
    }
    this.pump(d);
  }

  private pump(d: Download): void {
    if (!d.active) return;
    if (this.lazy) {
      this.flush(d);
      if (!d.active) return;
    }
    const c = d.c;
    const now = this.engine.now();
    const decision = d.scheduler.next(now, this.inputOf(d, now));
    for (const id of decision.cancel) {
      const r = requestOf(d, id);
      if (r) this.cancelReq(r);
    }
    for (const a of decision.assign) this.send(d, a.id, a.source, a.first, a.count, a.urgency);
    if (decision.emergency !== d.emergency) {
      d.emergency = decision.emergency;
      this.updateEmergency(c);
    }
    const wakeAt = d.scheduler.wakeAt();
    if (wakeAt !== undefined) this.engine.schedule(d, Math.max(wakeAt, now + 1), this.wakeDownload);
    else this.engine.unschedule(d);
    d.mode = decision.mode;
    if (this.lazy) this.refreshStep(d);
  }

  /**
   * Takes in the chunks the download's flows completed by now (lazy delivery): held, sources and
   * the scheduler's arrivals, and the play's clock learns the new audio. No decision is made.
   */
  private flush(d: Download): void {
    for (const r of d.requests) {
      const f = r.flow;
      if (f) this.takeIn(f);
    }
    if (!d.untold) return;
    d.untold = false;
    const p = d.c.play;
    if (p && p.file === d.file && !p.ended) {
      const now = this.engine.now();
      p.clock.onAvailable(now, this.contiguousEnd(d.track, d.held));
      this.engine.unschedule(p);
      if (p.clock.state === 'ended') this.engine.schedule(p, now, this.playTimer);
      else this.schedulePlay(p);
    }
  }

  /** Accounts the units a flow completed by now (lazy delivery); the downloader decides later. */
  private takeIn(f: Flow): void {
    if (!this.lazy || !f.active) return;
    const was = this.flushing;
    this.flushing = true;
    this.net.flush(f);
    this.flushing = was;
  }

  /** One event per chunk while the play waits for audio or the buffer is under the low mark; batches otherwise. */
  private refreshStep(d: Download): void {
    const p = d.c.play;
    const playing = p !== null && p.file === d.file && !p.ended;
    const calm = d.mode === 'prefetch' ? !playing : d.mode === 'comfortable' && playing && p.clock.state === 'playing';
    const step = calm ? this.opts.deliveryStep : 1;
    if (step === d.step) return;
    d.step = step;
    for (const r of d.requests) {
      const f = r.flow;
      if (f && f.active) this.net.setStep(f, step);
    }
  }

  private updateEmergency(c: Client): void {
    let on = false;
    for (const d of c.downloads.values()) if (d.emergency) on = true;
    if (on === c.emergency) return;
    c.emergency = on;
    // Emergency mode: stop uploading; peers served or waiting are refused (peer-node.refuseWaiting).
    for (const peer of c.uploads.setEmergency(on)) {
      const pair = c.serving.get(Number(peer));
      if (pair) this.failPair(pair);
    }
  }

  private finishDownload(d: Download): void {
    if (!d.active) return;
    d.active = false;
    const c = d.c;
    this.engine.unschedule(d);
    for (const r of [...d.requests]) this.cancelReq(r);
    if (c.downloads.get(d.file) === d) c.downloads.delete(d.file);
    c.cache.unpin(this.fileId(d.file));
    if (d.emergency) {
      d.emergency = false;
      this.updateEmergency(c);
    }
  }

  /** Sends a request: to the AP, or to a connected peer; it reaches the source one RTT later. */
  private send(d: Download, id: number, source: string, first: number, count: number, urgency: number): void {
    const c = d.c;
    const src = source === SERVER ? -1 : Number(source);
    const rtt = src < 0 ? this.pop.apRttMs[c.u]! : this.rtt(c.u, src);
    const r: Req = { id, source: src, first, count, urgency, d, atSource: false, pair: null, flow: null, over: false, arriveAt: this.engine.now() + rtt, timerSlot: -1, pendBytes: 0, pendBucket: -1, pendT: 0 };
    d.requests.push(r);
    const pair = src < 0 ? this.apServing.get(c.u) : this.clients[src]!.serving.get(c.u);
    if (pair !== undefined && pair.active !== null && (src < 0 || pair.active.d.file === d.file)) pair.transit.push(r);
    else this.engine.schedule(r, r.arriveAt, this.arriveReq);
  }

  private readonly arriveReq = (r: Req): void => this.arrive(r);

  /** A request reaches its source. */
  private arrive(r: Req): void {
    if (r.over) return;
    if (r.source < 0) this.apReceive(r, true);
    else this.peerReceive(this.clients[r.source]!, r, true);
  }

  /** The requests of a pair's `transit` that arrived by now join its jobs (the active job just ended). */
  private admitTransit(from: number, pair: Pair): void {
    const now = this.engine.now();
    const transit = pair.transit;
    let k = 0;
    for (; k < transit.length; k++) {
      const r = transit[k]!;
      if (r.arriveAt > now) break;
      if (r.over) continue;
      if (from === this.apNode) this.apReceive(r, false);
      else this.peerReceive(this.clients[from]!, r, false);
    }
    if (k === 0) return;
    transit.splice(0, k);
    // Jobs in order of arrival, as arrival events would have queued them (a request for another
    // file, which arrives as an event, may have arrived after these).
    pair.jobs.sort(byArrival);
  }

  /**
   * Before an uploader evicts: the requests that reached it by now hold their pins (an arrival
   * event would have pinned their file), and those still on their way for a file it is about to
   * evict arrive as events (and are refused then, as they would have been).
   */
  private settleTransit(up: Client, evicting: readonly string[]): void {
    for (const pair of up.serving.values()) {
      if (pair.transit.length === 0) continue;
      this.admitTransit(up.u, pair);
      const keep: Req[] = [];
      for (const r of pair.transit) {
        if (r.over) continue;
        if (evicting.includes(this.fileId(r.d.file))) this.engine.schedule(r, r.arriveAt, this.arriveReq);
        else keep.push(r);
      }
      pair.transit = keep;
    }
  }

  /**
   * The pair stops serving: requests still on their way arrive as events of their own; those that
   * arrived by now (they would be among its jobs) go to `arrived`, or are dropped as its jobs are.
   */
  private releaseTransit(pair: Pair, arrived?: (r: Req) => void): void {
    const now = this.engine.now();
    for (const r of pair.transit) {
      if (r.over) continue;
      if (r.arriveAt > now) this.engine.schedule(r, r.arriveAt, this.arriveReq);
      else arrived?.(r);
    }
    pair.transit.length = 0;
  }

  /** The AP takes a request (`start`: and starts serving it if idle; false while it picks its next job). */
  private apReceive(r: Req, start: boolean): void {
    const u = r.d.c.u;
    let pair = this.apServing.get(u);
    if (!pair) this.apServing.set(u, (pair = { jobs: [], active: null, transit: [] }));
    r.atSource = true;
    r.pair = pair;
    pair.jobs.push(r);
    if (start && !pair.active) this.startNext(this.apNode, u, pair);
  }

  /**
   * peer-node.serve: only complete files, at most `maxUploads` peers at once, a short wait queue
   * (`start` as in {@link apReceive}).
   */
  private peerReceive(up: Client, r: Req, start: boolean): void {
    const c = r.d.c;
    const now = this.engine.now();
    if (!up.online || !up.neighbours.has(c.id) || !this.isComplete(up, r.d.file)) {
      this.failReq(r);
      return;
    }
    const grant = up.uploads.tryAcquire(c.id, r.urgency, now);
    if (grant === 'refused') {
      this.failReq(r);
      return;
    }
    let pair = up.serving.get(c.u);
    if (!pair) up.serving.set(c.u, (pair = { jobs: [], active: null, transit: [] }));
    r.atSource = true;
    r.pair = pair;
    up.cache.pin(this.fileId(r.d.file));
    pair.jobs.push(r);
    if (start && grant === 'granted' && !pair.active) this.startNext(up.u, c.u, pair);
  }

  /** Starts the most urgent waiting job of a pair as a flow (or frees the slot when none waits). */
  private startNext(from: number, to: number, pair: Pair): void {
    if (pair.active) return;
    if (pair.transit.length > 0) {
      this.admitTransit(from, pair);
      if (pair.jobs.length === 0) this.releaseTransit(pair);
    }
    if (pair.jobs.length === 0) {
      this.pairIdle(from, to);
      return;
    }
    let best = 0;
    for (let k = 1; k < pair.jobs.length; k++) if (pair.jobs[k]!.urgency < pair.jobs[best]!.urgency) best = k;
    const jobs = pair.jobs;
    const r = jobs[best]!;
    for (let k = best; k < jobs.length - 1; k++) jobs[k] = jobs[k + 1]!;
    jobs.pop();
    pair.active = r;
    const size = this.opts.config.chunkSize;
    const bytes = Math.min(r.d.track.bytes, (r.first + r.count) * size) - r.first * size;
    r.flow = this.net.start(from, to, size, bytes, r.d.step, this.flowSink, r);
  }

  /** A pair has nothing to send: the uploader's slot goes to the next waiting peer (peer-node.releaseSlot). */
  private pairIdle(from: number, to: number): void {
    if (from === this.apNode) {
      this.apServing.delete(to);
      return;
    }
    const up = this.clients[from]!;
    up.serving.delete(to);
    const id = this.clients[to]!.id;
    let next = up.uploads.holds(id) ? up.uploads.release(id) : (up.uploads.cancel(id), undefined);
    while (next !== undefined) {
      const pair = up.serving.get(Number(next));
      if (pair && pair.jobs.length > 0) {
        this.startNext(from, Number(next), pair);
        return;
      }
      next = up.uploads.release(next);
    }
  }

  private readonly flowSink = (f: Flow, first: number, times: readonly number[], end: boolean): void => this.onUnits(f.from, f.to, f.owner as Req, first, times, end);

  /** Chunks of request `r` (its pair's active job, from `from` to `to`) arrived. */
  private onUnits(from: number, to: number, r: Req, first: number, times: readonly number[], end: boolean): void {
    const pair = r.pair!;
    const d = r.d;
    const size = this.opts.config.chunkSize;
    const fromAp = from === this.apNode;
    for (let k = 0; k < times.length; k++) {
      const i = r.first + first + k;
      const t = times[k]!;
      const bytes = Math.min(size, d.track.bytes - i * size);
      d.scheduler.chunkArrived(t, r.id, i);
      if (!d.held[i]) {
        d.held[i] = 1;
        d.sources[i] = fromAp ? SRC_SERVER : SRC_PEER;
      }
      if (fromAp) {
        this.stats.apBytes += bytes;
        continue;
      }
      const bucket = Math.floor(t / NEIGHBOUR_BUCKET_MS);
      if (bucket !== r.pendBucket) {
        this.recordPending(r);
        r.pendBucket = bucket;
      }
      r.pendBytes += bytes;
      r.pendT = t;
    }
    if (end) {
      this.recordPending(r);
      r.over = true;
      dropRequest(d, r);
      d.scheduler.requestEnded(this.engine.now(), r.id, true);
      if (!fromAp) this.clients[from]!.cache.unpin(this.fileId(d.file));
      pair.active = null;
      this.startNext(from, to, pair);
    }
    if (this.flushing) d.untold = true;
    else this.arrived(d);
  }

  /**
   * Records the bytes of a peer request taken in so far in the neighbour counters of both ends
   * (the utility criteria of pruning). The bytes of one request within one neighbour bucket are
   * recorded as one sum (`Neighbours` allows this: see `NEIGHBOUR_BUCKET_MS`), when the request
   * ends or is cancelled, when its chunks reach the next bucket, before either end prunes (the
   * only reader of the counters), and before the link closes. Two scattered records per request
   * and bucket, instead of two per delivery event.
   */
  private recordPending(r: Req): void {
    const bytes = r.pendBytes;
    if (bytes === 0) return;
    r.pendBytes = 0;
    const up = this.clients[r.source]!;
    const down = r.d.c;
    down.neighbours.recordReceived(up.id, bytes, r.pendT);
    up.neighbours.recordSent(down.id, bytes, r.pendT);
  }

  /** Records what a client's transfers to and from peers have pending (before it prunes). */
  private recordPendingOf(c: Client): void {
    for (const d of c.downloads.values()) for (const r of d.requests) this.recordPending(r);
    for (const pair of c.serving.values()) if (pair.active) this.recordPending(pair.active);
  }

  /** New chunks are held: the play learns, the file may be complete (announce), the scheduler decides. */
  private arrived(d: Download): void {
    const c = d.c;
    const now = this.engine.now();
    let complete = d.active;
    if (complete) for (let i = 0; i < d.held.length; i++) if (!d.held[i]) { complete = false; break; }
    if (complete) {
      c.partial.delete(d.file);
      this.addComplete(c, d.file);
      this.finishDownload(d);
      // peer-services.announce: a client that downloaded a file it plays reports it.
      this.tracker.announce(this.fileId(d.file), c.id);
    }
    const p = c.play;
    d.untold = false;
    if (p && p.file === d.file && !p.ended) {
      p.clock.onAvailable(now, this.contiguousEnd(d.track, d.held));
      this.checkMarks(p);
      if (!p.ended && p.clock.state === 'ended') this.endPlay(p, 'finished');
      else this.schedulePlay(p);
    }
    this.pump(d);
  }

  /** The source refused or cannot serve: the downloader learns one one-way delay later. */
  private failReq(r: Req): void {
    const d = r.d;
    const owd = (r.source < 0 ? this.pop.apRttMs[d.c.u]! : this.rtt(d.c.u, r.source)) / 2;
    r.atSource = false;
    r.flow = null;
    this.engine.after(owd, () => {
      if (r.over || !d.active) return;
      r.over = true;
      dropRequest(d, r);
      d.scheduler.requestEnded(this.engine.now(), r.id, false);
      this.pump(d);
    });
  }

  /** Every job of a pair is refused (emergency at the uploader). */
  private failPair(pair: Pair): void {
    const jobs = pair.active ? [pair.active, ...pair.jobs] : [...pair.jobs];
    for (const j of jobs) {
      if (j.flow) {
        this.takeIn(j.flow);
        this.net.cancel(j.flow);
      }
      this.recordPending(j);
      const up = j.source >= 0 ? this.clients[j.source] : undefined;
      up?.cache.unpin(this.fileId(j.d.file));
      this.failReq(j);
    }
    this.releaseTransit(pair, (r) => this.failReq(r));
    pair.jobs.length = 0;
    pair.active = null;
    const first = jobs[0];
    if (first && first.source >= 0) this.clients[first.source]!.serving.delete(first.d.c.u);
  }

  /** The downloader cancels a request (track-fetcher: r.cancel()). */
  private cancelReq(r: Req): void {
    if (r.over) return;
    r.over = true;
    dropRequest(r.d, r);
    if (!r.atSource) return;
    this.recordPending(r);
    const flow = r.flow;
    r.atSource = false;
    r.flow = null;
    const from = r.source < 0 ? this.apNode : r.source;
    const to = r.d.c.u;
    const pair = r.source < 0 ? this.apServing.get(to) : this.clients[from]!.serving.get(to);
    if (r.source >= 0) this.clients[from]!.cache.unpin(this.fileId(r.d.file));
    if (!pair) return;
    if (pair.active === r) {
      if (flow) this.net.cancel(flow);
      pair.active = null;
      this.startNext(from, to, pair);
    } else {
      const k = pair.jobs.indexOf(r);
      if (k >= 0) pair.jobs.splice(k, 1);
      if (!pair.active && pair.jobs.length === 0) this.pairIdle(from, to);
    }
  }

  // ---------------------------------------------------------------- links (peer-node.ts)

  private rtt(a: number, b: number): number {
    return pairRttMs(a, b, this.rttSeed, WORKLOAD.peerRttMin, WORKLOAD.peerRttMax);
  }

  /** Adds the link to both neighbour sets; false if either refuses (hard limit). */
  private link(dialer: Client, other: Client): boolean {
    const now = this.engine.now();
    if (dialer.neighbours.has(other.id)) return true;
    if (!other.neighbours.canAccept()) return false;
    if (dialer.neighbours.add(other.id, { direction: 'out', role: 'peer', now }) !== 'added') return false;
    if (other.neighbours.add(dialer.id, { direction: 'in', role: 'peer', now }) !== 'added') {
      dialer.neighbours.remove(other.id);
      return false;
    }
    this.addTarget(dialer, other.u);
    this.addTarget(other, dialer.u);
    this.schedulePrune(dialer);
    this.schedulePrune(other);
    return true;
  }

  /** A link closes: neighbour sets, uploads over it, and downloads using it (peerFailed). */
  private closeLink(a: Client, b: Client): void {
    // What was taken in counts; what the flows carried since is taken in below, after the link
    // closed, and counts for no neighbour.
    const ab = a.serving.get(b.u)?.active;
    if (ab) this.recordPending(ab);
    const ba = b.serving.get(a.u)?.active;
    if (ba) this.recordPending(ba);
    if (a.neighbours.remove(b.id)) this.removeTarget(a, b.u);
    if (b.neighbours.remove(a.id)) this.removeTarget(b, a.u);
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const pair = x.serving.get(y.u);
      if (pair) {
        const jobs = pair.active ? [pair.active, ...pair.jobs] : [...pair.jobs];
        for (const j of jobs) {
          if (j.flow) {
            this.takeIn(j.flow);
            this.net.cancel(j.flow);
          }
          j.pendBytes = 0;
          x.cache.unpin(this.fileId(j.d.file));
          j.atSource = false;
          j.flow = null;
        }
        this.releaseTransit(pair);
        pair.jobs.length = 0;
        pair.active = null;
        this.pairIdle(x.u, y.u);
      }
    }
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      for (const d of [...x.downloads.values()]) {
        let uses = false;
        for (const r of d.requests) if (r.source === y.u) uses = true;
        if (!uses && !d.scheduler.peerIds().includes(y.id)) continue;
        d.scheduler.peerFailed(y.id);
        if (x.online) this.pump(d);
      }
    }
  }

  private schedulePrune(c: Client): void {
    if (c.pruneEvent || c.neighbours.count <= c.neighbours.pruneTarget) return;
    const interval = this.opts.config.neighbourPruneIntervalMs;
    const now = this.engine.now();
    const at = c.loginAt + Math.ceil((now - c.loginAt + 1) / interval) * interval;
    c.pruneEvent = this.engine.at(at, () => {
      c.pruneEvent = null;
      if (!c.online) return;
      this.recordPendingOf(c);
      for (const id of c.neighbours.prune(this.engine.now())) this.closeLink(c, this.clients[Number(id)]!);
      this.schedulePrune(c);
    });
  }

  /** Connects to a peer (peer-lookup.reach): dial it, else have it dial us through the AP. */
  private reach(c: Client, p: Client, cb: (ok: boolean) => void): void {
    if (c.neighbours.has(p.id)) {
      cb(true);
      return;
    }
    const rtt = this.rtt(c.u, p.u);
    const connectBack = () => {
      if (!this.pop.reachable[c.u]) {
        cb(false);
        return;
      }
      this.stats.connectBacks++;
      const delay = this.pop.apRttMs[c.u]! / 2 + this.pop.apRttMs[p.u]! / 2 + CONNECT_RTTS * rtt;
      this.engine.after(Math.min(delay, this.opts.config.connectBackWaitMs), () => {
        if (!c.online) return cb(false);
        if (delay > this.opts.config.connectBackWaitMs || !p.online) return cb(false);
        // The target dials us: it must accept (connect-back checks its hard limit), and so must we.
        cb(c.neighbours.canAccept() && this.link(p, c));
      });
    };
    if (this.pop.reachable[p.u] && c.neighbours.canDial()) {
      this.engine.after(CONNECT_RTTS * rtt, () => {
        if (!c.online) return cb(false);
        if (p.online && this.link(c, p)) return cb(true);
        this.stats.dialFailures++;
        connectBack();
      });
    } else {
      connectBack();
    }
  }

  // ---------------------------------------------------------------- lookups (peer-lookup.ts)

  private lookup(d: Download): void {
    const c = d.c;
    const fileId = this.fileId(d.file);
    let connected = 0;
    const tried = new Set<number>();
    let branches = 2;
    const found = (p: Client) => {
      if (!d.active) return;
      d.scheduler.addPeers([p.id]);
      this.pump(d);
    };
    const branchDone = () => {
      if (--branches === 0 && d.active) {
        d.scheduler.lookupFinished();
        this.pump(d);
      }
    };
    const tryPeers = (list: readonly number[], done: () => void) => {
      let k = 0;
      const next = (): void => {
        while (k < list.length) {
          if (connected >= this.opts.config.lookupPeers || !d.active || !c.online) break;
          const u = list[k++]!;
          if (tried.has(u) || u === c.u) continue;
          tried.add(u);
          const p = this.clients[u]!;
          this.reach(c, p, (ok) => {
            if (ok && d.active) {
              connected++;
              c.neighbours.recordWantedTrack(p.id, this.engine.now());
              found(p);
            }
            next();
          });
          return;
        }
        done();
      };
      next();
    };
    // Tracker: one round trip to the AP.
    this.engine.after(this.pop.apRttMs[c.u]!, () => {
      if (!d.active) return branchDone();
      // Without the tracker (overlay only) nothing is asked: no query is counted.
      if (this.opts.tracker) this.stats.trackerQueries++;
      const peers = this.opts.tracker ? this.tracker.query(fileId, (id) => this.clients[Number(id)]?.online === true, this.rngTracker, c.id) : [];
      if (peers.length > 0) this.stats.trackerFound++;
      tryPeers(
        peers.map((id) => Number(id)),
        () => {
          if (d.active) d.scheduler.trackerAnswered();
          branchDone();
        },
      );
    });
    // Overlay: a 2-hop flood; holders that answer within `searchWaitMs` are tried.
    if (!this.opts.overlay) {
      branchDone();
      return;
    }
    const holders = this.searchFlood(c, fileId);
    if (holders === null) {
      branchDone();
      return;
    }
    this.engine.after(this.opts.config.searchWaitMs, () => {
      c.search.finish(holders.queryId, this.engine.now());
      if (!d.active || !c.online) return branchDone();
      tryPeers(holders.peers, branchDone);
    });
  }

  /**
   * Runs one overlay search through the cores of every client it reaches, in time order, at the
   * moment it starts; returns the holders whose answers reach the searcher within the wait, in
   * order of arrival. Null when the searcher has no neighbours (the search closes at once, as
   * peer-node.searchFile does).
   *
   * Each client does with a query what `OverlaySearch.onQuery` does, through its parts
   * (`admitQuery`, then the answer and the forwards), with the messages kept in typed arrays: a
   * flood reaches thousands of clients. A client takes in the first copy of the query to reach it
   * (by time, then by order of sending) and drops later ones. Queries on their last hop are
   * forwarded no further, so for a client that only such queries can reach (not a neighbour of
   * the searcher, when `searchHops` ≤ 2) only the first copy matters: it is found by comparing
   * arrival times as the copies are sent, and the client takes it in after the queue of the other
   * queries is empty, instead of every copy going through the time-ordered queue. Answers do not
   * change any client's dedup memory, so they are routed last, in their own time order.
   *
   * Such a last-hop client's core is asked only for its answer (`answerFor`), not to admit the
   * query into its dedup memory: within a flood that happens at one instant, the first copy of a
   * fresh query id is always admitted (`floodState` is the duplicate check), and what the memory
   * would keep of it is never read again (the client forwards nothing, and its answer goes straight
   * to the neighbour the copy came from, so it needs no route back). Skipping it leaves every
   * decision the same and saves a scattered memory write at each of the thousand or more clients a
   * flood reaches; the forwarders, whose memory routes the answers back, still admit the query.
   */
  private searchFlood(c: Client, fileId: string): { queryId: number; peers: number[] } | null {
    const now = this.engine.now();
    const targets = this.targetsOf;
    const stride = this.targetStride;
    const targetCountOf = this.targetCountOf;
    const ownBase = c.u * stride;
    const ownCount = targetCountOf[c.u]!;
    // The core opens the search; the copies it would send (the query with `searchHops` left, to
    // each search target) are made here, so it is given no list to build them from.
    const { queryId } = c.search.start(fileId, NO_PEERS, now);
    if (ownCount === 0) {
      c.search.finish(queryId, now);
      return null;
    }
    const fileIdOfMsg = fileId;
    const deadline = now + this.opts.config.searchWaitMs;
    const q = this.floodQueue;
    const fq = this.foundQueue;
    q.reset();
    fq.reset();
    const st = this.floodState;
    const flood = ++this.floodNumber;
    const firstMark = 2 * flood;
    const direct = this.floodDirect;
    st[4 * c.u + F_SEEN] = flood; // the searcher remembers its own id (OverlaySearch.start)
    let late = this.floodLate;
    let lateCount = 0;
    const searchHops = this.opts.config.searchHops;
    const lastHopDeferred = searchHops <= 2;
    // The searcher's neighbours get its query first (the lowest sequence numbers): a later copy
    // reaching one of them no earlier than that loses, and is not queued. Messages arriving after
    // the deadline are never processed (the loops below stop there): not queued either.
    for (let k = 0; k < ownCount; k++) {
      const to = targets[ownBase + k]!;
      const at = now + this.rtt(c.u, to) / 2;
      direct[to] = 1;
      st[4 * to + F_AT] = at <= deadline ? at : Infinity;
      if (at <= deadline) q.push(at, c.u, to, searchHops, null);
    }
    const peers: number[] = [];
    const file = this.fileOfId(fileId);
    const clients = this.clients;
    // No holder at all: nobody answers (the flood still runs: forwarders remember the query).
    const holders = this.holdersOf[file] ?? NO_HOLDERS;
    const searchOf = this.searchOf;
    // Links do not change during the flood (one instant), and they are symmetric: every message
    // goes to an online neighbour of its sender, which has the sender as a neighbour.
    while (q.pop()) {
      const t = q.at;
      const toU = q.toNode;
      const fromU = q.fromNode;
      const hops = q.aux;
      // A client that took the query in already drops it again as a duplicate (its dedup memory
      // holds the id for the whole flood: nothing else happens meanwhile), with no state change:
      // such queries are not handed to its core.
      if (st[4 * toU + F_SEEN] === flood) continue;
      st[4 * toU + F_SEEN] = flood;
      const search = searchOf[toU]!;
      if (!search.admitQuery(clients[fromU]!.id, queryId, hops)) continue;
      if (holders.has(toU)) {
        const at = t + this.rtt(toU, fromU) / 2;
        if (at <= deadline) {
          if (lastHopDeferred) fq.push(at, toU, fromU, toU * 4 + (searchHops - hops + 1), null);
          else fq.push(at, toU, fromU, 0, search.answerFor(queryId, fileIdOfMsg, hops, this.selfOf[toU]!));
        }
      }
      if (hops <= 1) continue;
      const next = hops - 1;
      const listBase = toU * stride;
      const listEnd = listBase + targetCountOf[toU]!;
      for (let k = listBase; k < listEnd; k++) {
        const y = targets[k]!;
        if (y === fromU) continue;
        const b = 4 * y;
        if (direct[y] === 1) {
          if (st[b + F_SEEN] === flood) continue;
          const at = t + this.rtt(toU, y) / 2;
          if (at <= deadline && at < st[b + F_AT]!) q.push(at, toU, y, next, null);
        } else if (next === 1 && lastHopDeferred) {
          // Only last-hop copies reach y, and a client that does not hold the file does nothing
          // with one (it forwards no last-hop copy and has no answer): nothing of its copies is
          // ever read, so they are not looked at. A holder keeps the first (ties go to the one
          // sent first).
          if (!holders.has(y)) continue;
          const at = t + this.rtt(toU, y) / 2;
          if (at > deadline) continue;
          if (st[b + F_MARK] === firstMark) {
            if (at < st[b + F_AT]!) {
              st[b + F_AT] = at;
              st[b + F_FROM] = toU;
            }
          } else {
            st[b + F_MARK] = firstMark;
            st[b + F_AT] = at;
            st[b + F_FROM] = toU;
            if (lateCount === late.length) {
              const grown = new Int32Array(late.length * 2);
              grown.set(late);
              this.floodLate = late = grown;
            }
            late[lateCount++] = y;
          }
        } else if (st[b + F_SEEN] !== flood) {
          const at = t + this.rtt(toU, y) / 2;
          if (at <= deadline) q.push(at, toU, y, next, null);
        }
      }
    }
    for (let k = 0; k < ownCount; k++) direct[targets[ownBase + k]!] = 0;
    // The holders only last-hop copies reached take in the first one, and answer.
    for (let k = 0; k < lateCount; k++) {
      const y = late[k]!;
      const b = 4 * y;
      const fromU = st[b + F_FROM]!;
      st[b + F_SEEN] = flood;
      const at = st[b + F_AT]! + this.rtt(y, fromU) / 2;
      // Its answer, distance `searchHops` (made when it reaches the searcher, see below).
      if (at <= deadline) fq.push(at, y, fromU, y * 4 + searchHops, null);
    }
    // Answers: routed back along the path; the searcher records them in order of arrival.
    if (lastHopDeferred) this.takeAnswers(c, queryId, fileIdOfMsg, deadline, peers);
    else {
      while (fq.pop()) {
        const t = fq.at;
        const toU = fq.toNode;
        const fromU = fq.fromNode;
        const out = searchOf[toU]!.onFound(clients[fromU]!.id, fq.msg!, t);
        if ('result' in out) {
          clients[toU]!.neighbours.recordPeersFound(clients[fromU]!.id, 1, now);
          peers.push(Number(out.result.holder.peerId));
        } else {
          for (let k = 0; k < out.length; k++) {
            const s = out[k]!;
            const y = Number(s.to);
            const at = t + this.rtt(toU, y) / 2;
            if (at <= deadline) fq.push(at, toU, y, 0, s.msg as PeerFoundMessage);
          }
        }
      }
    }
    return { queryId, peers };
  }

  /**
   * The answers of a flood of at most two hops, in the found queue as `4 * holder + distance`,
   * routed to the searcher `c` and taken in order of arrival: the holders go to `peers`.
   *
   * A forwarder passes an answer on without its core being asked: its `onFound` is a pure lookup
   * with a known result (it admitted the query in this flood, from the searcher, since only the
   * searcher sends copies with two hops left, nothing else touched its dedup memory since, and it
   * has no open search of that id, or it would have refused the query), so the route is taken
   * and the queue is the same.
   *
   * The searcher's core records the first answer at each distance (`onFound`). The later ones it
   * would only append to the search's results, which nothing in the simulator reads: the holders
   * are taken from the queue, and the counts the core keeps (found at distance 1, at 2, not found)
   * are settled by the first answer at each distance. Each holder answers once (it took the query
   * in once), so no answer would be a duplicate. The answers count for the neighbours they came
   * through (`recordPeersFound`) summed per neighbour: whole numbers, so the counters come out the
   * same.
   */
  private takeAnswers(c: Client, queryId: number, fileId: string, deadline: number, peers: number[]): void {
    const fq = this.foundQueue;
    const hops = this.opts.config.searchHops;
    const targetCount = this.targetCountOf[c.u]!;
    if (this.floodVia.length < targetCount) this.floodVia = new Int32Array(2 * targetCount);
    const via = this.floodVia;
    const viaCount = this.floodViaCount;
    let vias = 0;
    let told = 0; // bit d: the core has been told of an answer at distance d
    while (fq.pop()) {
      const t = fq.at;
      const toU = fq.toNode;
      const fromU = fq.fromNode;
      if (toU !== c.u) {
        const at = t + this.rtt(toU, c.u) / 2;
        if (at <= deadline) fq.push(at, toU, c.u, fq.aux, null);
        continue;
      }
      const holder = fq.aux >> 2;
      const distance = fq.aux & 3;
      if ((told & (1 << distance)) === 0) {
        told |= 1 << distance;
        const msg = c.search.answerFor(queryId, fileId, hops - distance + 1, this.selfOf[holder]!);
        const out = c.search.onFound(this.clients[fromU]!.id, msg, t);
        if (!('result' in out)) throw new Error(`sim: the searcher's core did not take the first answer at distance ${distance}`);
      }
      peers.push(holder);
      if (viaCount[fromU]++ === 0) via[vias++] = fromU;
    }
    const now = this.engine.now();
    for (let k = 0; k < vias; k++) {
      const u = via[k]!;
      c.neighbours.recordPeersFound(this.clients[u]!.id, viaCount[u]!, now);
      viaCount[u] = 0;
    }
  }

  // ---------------------------------------------------------------- sampling

  /** Calls `fn` with every online client. */
  forEachOnline(fn: (c: { neighbours: number; hoursSinceLogin: number; uploads: number; uploadFlows: number; cacheUsed: number; cacheLimit: number; id: string; targetsAgree: boolean; sourcesAgree: boolean }) => void): void {
    const now = this.engine.now();
    for (const c of this.clients) {
      if (!c || !c.online) continue;
      fn({ neighbours: c.neighbours.count, hoursSinceLogin: (now - c.loginAt) / 3_600_000, uploads: c.uploads.active, uploadFlows: this.net.uploads(c.u), cacheUsed: c.cache.used, cacheLimit: c.cache.limit, id: c.id, targetsAgree: this.targetsAgree(c), sourcesAgree: this.sourcesAgree(c) });
    }
  }

  /**
   * Whether each download's kept sources, where they are marked current, are the connected peers
   * among those its scheduler found, in its order (what `inputOf` would make anew).
   */
  private sourcesAgree(c: Client): boolean {
    for (const d of c.downloads.values()) {
      if (d.inputPeers !== d.scheduler.peerListVersion || d.inputLinks !== c.linkVersion) continue;
      const kept = d.input.sources;
      const fresh: StreamSource[] = [];
      this.fillSources(d, fresh);
      if (fresh.length !== kept.length || fresh.some((s, k) => s !== kept[k])) return false;
    }
    return true;
  }

  /** Whether the client's search targets (kept by the world) are its core's, in the same order. */
  private targetsAgree(c: Client): boolean {
    const ids = c.neighbours.searchTargets();
    const base = c.u * this.targetStride;
    if (ids.length !== this.targetCountOf[c.u]) return false;
    for (let k = 0; k < ids.length; k++) if (Number(ids[k]) !== this.targetsOf[base + k]) return false;
    return true;
  }

  /** Appends a new neighbour to the client's search targets (see {@link targetsOf}). */
  private addTarget(c: Client, u: number): void {
    const n = this.targetCountOf[c.u]!;
    // The core refuses links past the hard limit, so this is a broken invariant, not a full list.
    if (n === this.targetStride) throw new Error(`sim: client ${c.id} has more search targets than the hard limit`);
    this.targetsOf[c.u * this.targetStride + n] = u;
    this.targetCountOf[c.u] = n + 1;
    c.linkVersion++;
  }

  /** Takes a former neighbour out of the client's search targets, keeping the others' order. */
  private removeTarget(c: Client, u: number): void {
    const t = this.targetsOf;
    const base = c.u * this.targetStride;
    const end = base + this.targetCountOf[c.u]!;
    let k = base;
    while (k < end && t[k] !== u) k++;
    if (k === end) return;
    t.copyWithin(k, k + 1, end);
    this.targetCountOf[c.u]--;
    c.linkVersion++;
  }

  /** Every client's cache, online or not (they keep it). */
  forEachCache(fn: (id: string, used: number, limit: number, indexed: boolean) => void): void {
    for (const c of this.clients) if (c) fn(c.id, c.cache.used, c.cache.limit, c.completeCount === c.cache.count - c.partial.size);
  }

  searchStats(): { searches: number; foundAt1: number; foundAt2: number; notFound: number } {
    const s = { searches: 0, foundAt1: 0, foundAt2: 0, notFound: 0 };
    for (const c of this.clients) {
      if (!c) continue;
      const x = c.search.stats();
      s.searches += x.searches;
      s.foundAt1 += x.foundAt1;
      s.foundAt2 += x.foundAt2;
      s.notFound += x.notFound;
    }
    return s;
  }

  /** Ends the plays still running (their figures count) at the end of the run. */
  finishPlays(): void {
    for (const c of this.clients) if (c?.play) this.endPlay(c.play, 'stopped');
  }

  violation(msg: string): void {
    this.violationCount++;
    if (this.violations.length < 100) this.violations.push(msg);
  }

  get violationTotal(): number {
    return this.violationCount;
  }

  /** Relative login activity now (for tests and the report's model). */
  activity(): number {
    return activityAt(this.engine.now());
  }
}

/** The download's live request with scheduler id `id`. */
function requestOf(d: Download, id: number): Req | undefined {
  const list = d.requests;
  for (let k = 0; k < list.length; k++) if (list[k]!.id === id) return list[k];
  return undefined;
}

/** Takes a request off its download's list (keeping the others in order). */
function dropRequest(d: Download, r: Req): void {
  const k = d.requests.indexOf(r);
  if (k >= 0) d.requests.splice(k, 1);
}

/**
 * A time-ordered queue for the messages of one search, reused: messages in parallel arrays, the
 * heap holds their indices, and a message's index is its sequence number (ties in push order).
 * A query is its hops left (`aux`); an answer is its message object, or, in a flood of at most
 * two hops, `4 × holder + distance` in `aux` (see `World.takeAnswers`).
 */
class LocalQueue {
  private t = new Float64Array(1024);
  private from = new Int32Array(1024);
  private to = new Int32Array(1024);
  private auxs = new Int32Array(1024);
  private msgs: (PeerFoundMessage | null)[] = [];
  private heap = new Int32Array(1024);
  private size = 0;
  private count = 0;
  /** The message popped last. */
  at = 0;
  fromNode = 0;
  toNode = 0;
  aux = 0;
  msg: PeerFoundMessage | null = null;

  reset(): void {
    this.size = 0;
    this.count = 0;
    this.msgs.length = 0;
    this.msg = null;
  }

  push(t: number, from: number, to: number, aux: number, msg: PeerFoundMessage | null): void {
    const k = this.count++;
    if (k === this.t.length) this.grow();
    this.t[k] = t;
    this.from[k] = from;
    this.to[k] = to;
    this.auxs[k] = aux;
    this.msgs[k] = msg;
    const h = this.heap;
    const ts = this.t;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const q = h[p]!;
      if (!(t < ts[q]! || (t === ts[q]! && k < q))) break;
      h[i] = q;
      i = p;
    }
    h[i] = k;
  }

  /** Pops the earliest message into `at`, `fromNode`, `toNode`, `aux`, `msg`; false when empty. */
  pop(): boolean {
    if (this.size === 0) return false;
    const h = this.heap;
    const ts = this.t;
    const top = h[0]!;
    const last = h[--this.size]!;
    const n = this.size;
    if (n > 0) {
      const lt = ts[last]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        if (r < n) {
          const a = h[r]!;
          const b = h[l]!;
          if (ts[a]! < ts[b]! || (ts[a]! === ts[b]! && a < b)) c = r;
        }
        const hc = h[c]!;
        if (!(ts[hc]! < lt || (ts[hc]! === lt && hc < last))) break;
        h[i] = hc;
        i = c;
      }
      h[i] = last;
    }
    this.at = ts[top]!;
    this.fromNode = this.from[top]!;
    this.toNode = this.to[top]!;
    this.aux = this.auxs[top]!;
    this.msg = this.msgs[top]!;
    return true;
  }

  private grow(): void {
    const n = this.t.length * 2;
    this.t = grown(this.t, new Float64Array(n));
    this.from = grown(this.from, new Int32Array(n));
    this.to = grown(this.to, new Int32Array(n));
    this.auxs = grown(this.auxs, new Int32Array(n));
    this.heap = grown(this.heap, new Int32Array(n));
  }
}

/** `bigger` holding `old`'s values at its start (for growing the typed arrays of a queue). */
function grown<T extends Float64Array | Int32Array>(old: T, bigger: T): T {
  bigger.set(old);
  return bigger;
}

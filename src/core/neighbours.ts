/**
 * The client's neighbour set: the peers it holds a connection to, the limits on how many, how
 * useful each link has been, and which links to drop when there are too many (DESIGN §3,
 * "neighbour limits", "eviction utility", "mobile leecher").
 *
 * Published rules (Goldmann & Kreitz, P2P'11, §III-C "Neighbor Selection"):
 * - "The client does not make new connections above the soft limit (but still accepts incoming
 *   connection requests)" and "never go[es] above the hard limit"; 50 and 60.
 * - It "periodically prunes its connections to keep itself below the soft limit (with some
 *   headroom for new connections)".
 * - Whom to drop: "The client sorts all its connected peers according to 6 criteria [...]. For
 *   each criterion, the top scoring peer in that criterion gets a number of points, the second
 *   peer a slightly lower number, and so on (with slightly different weights for the different
 *   criteria). Peers with a raw score of 0 for a criterion do not get any points for that
 *   criterion. The peers points are then summed over all the criteria, and the peers with the
 *   least total scores are disconnected."
 * - Leechers (thesis ch. 10, §VI-B): "Connections to neighbors flagged as leechers are never used
 *   to send queries", and a client switches peer⇄leecher "without the need of a disconnection".
 *
 * Pure: time is an argument (ms), no I/O. The runtime calls `prune` every
 * `neighbourPruneIntervalMs` and closes the links it returns.
 */
import type { NeighbourUtilityWeights, TunemeshConfig } from './config.ts';

/** Who opened the connection: we dialled (`out`) or the peer did (`in`). */
export type Direction = 'in' | 'out';

/** A full peer, or a mobile leecher that downloads but never serves nor routes (thesis ch. 10). */
export type Role = 'peer' | 'leecher';

/** The slice of the config the neighbour set reads. */
export type NeighboursConfig = Pick<
  TunemeshConfig,
  'neighbourSoftLimit' | 'neighbourHardLimit' | 'neighbourPruneHeadroom' | 'neighbourPruneGraceMs' | 'neighbourUtilityWeights'
>;

/** What `add` did: `duplicate` (one connection per pair: close the new link) or `full` (hard limit). */
export type AddResult = 'added' | 'duplicate' | 'full';

/** A neighbour's raw score in each criterion of the eviction utility (P2P'11): bytes, peers, tracks. */
export type Usefulness = Record<keyof NeighbourUtilityWeights, number>;

/** How a connection came about, given to `add`. */
export interface NewNeighbour {
  direction: Direction;
  role: Role;
  /** When the connection was established, ms. */
  now: number;
}

// Usefulness is kept per neighbour in time buckets, not as event logs, so the cost per neighbour
// is fixed whatever the traffic (the simulator holds millions of links): six rings of ten
// Float32 buckets, 240 bytes. The 10-minute windows of P2P'11 use 1-minute buckets, the
// 60-minute ones 6-minute buckets. A window is the current bucket plus the nine before it, so
// "the last 10 minutes" covers between 9 and 10 minutes and "the last 60 minutes" between 54 and
// 60: an event is never counted longer than the paper says, and at least 90 % of it.
// Float32 rather than integers: a busy loopback link can move more than 4 GiB in one bucket, and
// a float saturates gracefully where a Uint32 would wrap; its rounding (below 1e-7 of the sum)
// cannot change a ranking that matters.
const FINE_MS = 60_000;
/**
 * Amounts recorded for one neighbour at times within one interval of this length (aligned at 0)
 * land in the same buckets of every window, so a caller with many small amounts in one such
 * interval (the simulator, a chunk at a time) may record their sum once, at any of their times.
 */
export const NEIGHBOUR_BUCKET_MS = FINE_MS;
const FINE_CELLS = 10;
const COARSE_MS = 6 * 60_000;
const COARSE_CELLS = 10;
// Layout of one neighbour's counters (a block of `NEIGHBOUR_COUNTER_CELLS` Float32 cells).
const SENT_FINE = 0;
const RECEIVED_FINE = SENT_FINE + FINE_CELLS;
const WANTED_FINE = RECEIVED_FINE + FINE_CELLS;
const SENT_COARSE = WANTED_FINE + FINE_CELLS;
const RECEIVED_COARSE = SENT_COARSE + COARSE_CELLS;
const PEERS_COARSE = RECEIVED_COARSE + COARSE_CELLS;
const STRIDE = PEERS_COARSE + COARSE_CELLS;
/** Float32 cells of one neighbour's counters: six rings of ten buckets. */
export const NEIGHBOUR_COUNTER_CELLS = STRIDE;
/** Blocks per page of a {@link NeighbourCounters} made by a neighbour set for itself: a page holds the hard limit's 60. */
const OWN_PAGE_BLOCKS = 64;
const FINE_RINGS = [SENT_FINE, RECEIVED_FINE, WANTED_FINE] as const;
const COARSE_RINGS = [SENT_COARSE, RECEIVED_COARSE, PEERS_COARSE] as const;

/** The six criteria of P2P'11, each a ring of buckets and the weight that scores it. */
const CRITERIA: readonly { offset: number; cells: number; weight: keyof NeighbourUtilityWeights }[] = [
  { offset: SENT_FINE, cells: FINE_CELLS, weight: 'sent10m' },
  { offset: SENT_COARSE, cells: COARSE_CELLS, weight: 'sent60m' },
  { offset: RECEIVED_FINE, cells: FINE_CELLS, weight: 'received10m' },
  { offset: RECEIVED_COARSE, cells: COARSE_CELLS, weight: 'received60m' },
  { offset: PEERS_COARSE, cells: COARSE_CELLS, weight: 'peersFound60m' },
  { offset: WANTED_FINE, cells: FINE_CELLS, weight: 'wantedTracks10m' },
];

// Scratch space of `score` and `prune`, grown when needed and shared by all instances (the calls
// never nest): the simulator scores every client each prune interval, and these calls then
// allocate only what they return. `scoreList` may keep a few dozen stale references to
// neighbours of any instance until they are overwritten, which is harmless.
let scoreList: Neighbour[] = [];
let scoreTotals = new Float64Array(64);
let scoreRaw = new Float64Array(64);
let scoreOrder = new Int32Array(64);
let scoreBase = new Int32Array(64);

interface Neighbour {
  readonly id: string;
  readonly direction: Direction;
  role: Role;
  readonly connectedAt: number;
  /** This neighbour's block of counters in the store. */
  readonly block: number;
  /** The page its counters are in, and where they start in it. */
  readonly cells: Float32Array;
  readonly base: number;
  /**
   * The newest fine and coarse buckets its ring cells are cleared for: cells of buckets that fell
   * out of the windows are cleared when the neighbour is next recorded or read (`sync`), not for
   * every neighbour as time moves on (most neighbours are idle in any one minute, and clearing
   * them all every minute was a scattered write per neighbour).
   */
  fineAt: number;
  coarseAt: number;
}

/**
 * Where neighbour sets keep their neighbours' usefulness counters: blocks of
 * {@link NEIGHBOUR_COUNTER_CELLS} Float32 cells, one per neighbour, in pages of a fixed number of
 * blocks. A block freed when a neighbour goes is reused for the next, so recording traffic and
 * adding neighbours allocate nothing once the pages exist.
 *
 * A neighbour set makes its own store unless given one. A process with many neighbour sets (the
 * simulator: one per client, 100 000 of them) shares one store with large pages: a set of its own
 * per client meant a typed array per client, reallocated and copied as its neighbours grew in
 * number, and each such allocation outside the JS heap costs microseconds and weighs on the
 * garbage collector. Blocks of a set that is dropped without removing its neighbours are not
 * returned; the simulator removes every neighbour as its link closes.
 */
export class NeighbourCounters {
  private readonly pageBlocks: number;
  private readonly pages: Float32Array[] = [];
  private readonly free: number[] = [];
  /** Blocks ever handed out: those at or past it have never been used (their cells are 0). */
  private used = 0;

  /** @param pageBlocks blocks per page (memory is taken a page at a time) */
  constructor(pageBlocks = 4096) {
    if (!Number.isInteger(pageBlocks) || pageBlocks < 1) throw new RangeError(`pageBlocks must be a positive integer, got ${pageBlocks}`);
    this.pageBlocks = pageBlocks;
  }

  /** Blocks in use. */
  get inUse(): number {
    return this.used - this.free.length;
  }

  /** A block with all cells 0. */
  take(): number {
    const reused = this.free.pop();
    if (reused !== undefined) {
      const base = this.baseOf(reused);
      this.pageOf(reused).fill(0, base, base + STRIDE);
      return reused;
    }
    const block = this.used++;
    if (this.baseOf(block) === 0) this.pages.push(new Float32Array(this.pageBlocks * STRIDE));
    return block;
  }

  /** Gives a block back for reuse. */
  release(block: number): void {
    this.free.push(block);
  }

  /** The page a block's cells are in. */
  pageOf(block: number): Float32Array {
    return this.pages[Math.floor(block / this.pageBlocks)]!;
  }

  /** Where a block's cells start in its page. */
  baseOf(block: number): number {
    return (block % this.pageBlocks) * STRIDE;
  }
}

/**
 * The neighbour set with the limits, usefulness windows and eviction utility of P2P'11.
 *
 * Each neighbour's counters are a block in a {@link NeighbourCounters} store, its own or one
 * shared with other sets; blocks of removed neighbours are reused, so recording traffic allocates
 * nothing.
 */
export class Neighbours {
  private readonly soft: number;
  private readonly hard: number;
  private readonly headroom: number;
  private readonly graceMs: number;
  private readonly weights: Readonly<NeighbourUtilityWeights>;
  private readonly byId = new Map<string, Neighbour>();
  /**
   * The neighbour recorded last, while it is one: records come in runs for the same link (a
   * transfer's reports, a search's answers through one neighbour), and the map lookup they save
   * was the costliest step of a record in a large simulation.
   */
  private lastRecorded: Neighbour | null = null;
  private readonly store: NeighbourCounters;
  // The newest bucket seen; ring cells of older buckets are cleared as time moves past them, so
  // a ring always holds exactly its window.
  private fineBucket = Number.NEGATIVE_INFINITY;
  private coarseBucket = Number.NEGATIVE_INFINITY;
  // Most calls come at times within the newest buckets; these spare them the divisions. Any time
  // up to `steadyUntil` is in no newer bucket (`advance` has nothing to do); any time from
  // `steadyFrom` to `steadyUntil` is in exactly the newest ones, whose ring cells are `fineCell`
  // and `coarseCell`. Empty (+∞..−∞) until the first time is seen. Set by `settle`.
  private steadyFrom = Number.POSITIVE_INFINITY;
  private steadyUntil = Number.NEGATIVE_INFINITY;
  private fineCell = 0;
  private coarseCell = 0;

  /** @param counters where the neighbours' counters are kept (default: a store of its own) */
  constructor(config: NeighboursConfig, counters?: NeighbourCounters) {
    const { neighbourSoftLimit: soft, neighbourHardLimit: hard, neighbourPruneHeadroom: headroom } = config;
    if (!Number.isInteger(soft) || soft < 0) throw new RangeError(`neighbourSoftLimit must be an integer >= 0, got ${soft}`);
    if (!Number.isInteger(hard) || hard < soft) throw new RangeError(`neighbourHardLimit must be an integer >= the soft limit ${soft}, got ${hard}`);
    if (!Number.isInteger(headroom) || headroom < 0 || headroom > soft) {
      throw new RangeError(`neighbourPruneHeadroom must be an integer in 0..${soft}, got ${headroom}`);
    }
    if (!(config.neighbourPruneGraceMs >= 0)) throw new RangeError(`neighbourPruneGraceMs must be >= 0, got ${config.neighbourPruneGraceMs}`);
    for (const c of CRITERIA) {
      const w = config.neighbourUtilityWeights[c.weight];
      if (!(Number.isFinite(w) && w >= 0)) throw new RangeError(`neighbourUtilityWeights.${c.weight} must be a finite number >= 0, got ${w}`);
    }
    this.soft = soft;
    this.hard = hard;
    this.headroom = headroom;
    this.graceMs = config.neighbourPruneGraceMs;
    this.weights = config.neighbourUtilityWeights;
    this.store = counters ?? new NeighbourCounters(OWN_PAGE_BLOCKS);
  }

  /** Number of neighbours. */
  get count(): number {
    return this.byId.size;
  }

  /** The count a prune brings the set down to: the soft limit minus the headroom (P2P'11). */
  get pruneTarget(): number {
    return this.soft - this.headroom;
  }

  /**
   * Whether the client may open a new outgoing connection: only below the soft limit (P2P'11:
   * "does not make new connections above the soft limit"; the lecture notes: "when the soft
   * limit is reached, a client stops establishing new connections").
   */
  canDial(): boolean {
    return this.byId.size < this.soft;
  }

  /**
   * Whether the client may accept an incoming connection: only below the hard limit (P2P'11:
   * clients "never go above the hard limit"; incoming connections are still accepted above the
   * soft limit).
   */
  canAccept(): boolean {
    return this.byId.size < this.hard;
  }

  /**
   * Adds an established connection. Refused at the hard limit whatever its direction. An
   * outgoing connection is not checked against the soft limit here: that rule applies when
   * dialling (`canDial`), and a dial started below it may complete after incoming links took
   * the count over; the next prune restores the headroom.
   */
  add(peerId: string, how: NewNeighbour): AddResult {
    checkTime(how.now);
    if (this.byId.has(peerId)) return 'duplicate';
    if (this.byId.size >= this.hard) return 'full';
    this.advance(how.now);
    const block = this.store.take();
    const cells = this.store.pageOf(block);
    const base = this.store.baseOf(block);
    this.byId.set(peerId, { id: peerId, direction: how.direction, role: how.role, connectedAt: how.now, block, cells, base, fineAt: this.fineBucket, coarseAt: this.coarseBucket });
    return 'added';
  }

  /** Forgets a neighbour (its link closed). False if it was not one. */
  remove(peerId: string): boolean {
    const n = this.byId.get(peerId);
    if (!n) return false;
    this.byId.delete(peerId);
    if (this.lastRecorded === n) this.lastRecorded = null;
    this.store.release(n.block);
    return true;
  }

  /** Whether the peer is a neighbour. */
  has(peerId: string): boolean {
    return this.byId.has(peerId);
  }

  /** The neighbours' ids, in the order they were added. */
  ids(): string[] {
    return Array.from(this.byId.keys());
  }

  /** The neighbour's role, or undefined if it is not a neighbour. */
  role(peerId: string): Role | undefined {
    return this.byId.get(peerId)?.role;
  }

  /** Who opened the connection, or undefined if it is not a neighbour. */
  direction(peerId: string): Direction | undefined {
    return this.byId.get(peerId)?.direction;
  }

  /**
   * A neighbour announced a new role on the open link (thesis ch. 10 §VI-B: switching between
   * peer and leecher "without the need of a disconnection"). Its usefulness history is kept.
   * False if it is not a neighbour.
   */
  setRole(peerId: string, role: Role): boolean {
    const n = this.byId.get(peerId);
    if (!n) return false;
    n.role = role;
    return true;
  }

  /**
   * The neighbours a search query is sent or forwarded to (P2P'11: all neighbours), except
   * leechers (thesis ch. 10: "Connections to neighbors flagged as leechers are never used to send
   * queries") and `except`, the neighbour a forwarded query came from.
   */
  searchTargets(except?: string): string[] {
    const out: string[] = [];
    for (const n of this.byId.values()) if (n.role === 'peer' && n.id !== except) out.push(n.id);
    return out;
  }

  /** We sent `bytes` to the neighbour (criteria: bytes sent in the last 10 and 60 minutes). */
  recordSent(peerId: string, bytes: number, now: number): void {
    this.record(peerId, bytes, now, SENT_FINE, SENT_COARSE);
  }

  /** We received `bytes` from the neighbour (criteria: bytes received in the last 10 and 60 minutes). */
  recordReceived(peerId: string, bytes: number, now: number): void {
    this.record(peerId, bytes, now, RECEIVED_FINE, RECEIVED_COARSE);
  }

  /**
   * A search we sent over this link found `count` peers (criterion: peers found through searches
   * sent over the connection in the last 60 minutes).
   */
  recordPeersFound(peerId: string, count: number, now: number): void {
    this.record(peerId, count, now, -1, PEERS_COARSE);
  }

  /**
   * The neighbour had a track we wanted (criterion: "the number of tracks the peer has that the
   * client has been interested in in the last 10 minutes"). Counted per call: call it once per
   * track and neighbour, e.g. when a search answer or a have-check names the neighbour, not per
   * chunk.
   */
  recordWantedTrack(peerId: string, now: number): void {
    this.record(peerId, 1, now, WANTED_FINE, -1);
  }

  /**
   * The raw scores of one neighbour in the six criteria at `now`, or undefined if it is not a
   * neighbour: what the utility ranks, and what stats show.
   */
  usefulness(peerId: string, now: number): Usefulness | undefined {
    checkTime(now);
    const n = this.byId.get(peerId);
    if (!n) return undefined;
    this.advance(now);
    this.sync(n);
    const out = {} as Usefulness;
    for (const c of CRITERIA) out[c.weight] = sum(n.cells, n.base + c.offset, c.cells);
    return out;
  }

  /**
   * The eviction utility of every neighbour (P2P'11): for each of the six criteria the neighbours
   * are ranked by raw score; with n neighbours the best gets `weight × n` points, the next
   * `weight × (n − 1)`, and so on; neighbours with equal raw scores share the points of the
   * better place, so the result never depends on the order they were added; a raw score of 0
   * gets no points. The utility is the sum over the criteria.
   */
  utilities(now: number): Map<string, number> {
    const n = this.score(now);
    const out = new Map<string, number>();
    for (let i = 0; i < n; i++) out.set(scoreList[i].id, scoreTotals[i]);
    return out;
  }

  /**
   * The neighbours to disconnect, least useful first. Above `pruneTarget` (soft limit minus
   * headroom), the neighbours with the least utility go until the count would be back at the
   * target (P2P'11). Ties go oldest connection first (an old link has had the whole window to
   * prove useful), then by id, so the choice is deterministic. A neighbour connected less than
   * `neighbourPruneGraceMs` ago is never chosen, so a link opened to fetch a file is used before
   * it is judged; if too few are outside their grace period, fewer are chosen and the count stays
   * above the target until a later prune.
   *
   * Asking changes nothing: the caller closes the links and calls `remove` as each closes, so
   * the set always counts the connections that really exist (the limits are about connection
   * state in home routers, P2P'11). Asking again before they closed gives the same answer.
   */
  prune(now: number): string[] {
    checkTime(now);
    const excess = this.byId.size - this.pruneTarget;
    if (excess <= 0) return [];
    const n = this.score(now);
    const list = scoreList;
    const totals = scoreTotals;
    // The `excess` first candidates in the order of `goesBefore`, kept sorted by insertion: that
    // order is total (ids are unique), so this is the prefix a full sort would give.
    const chosen = scoreOrder;
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (!(now - list[i].connectedAt >= this.graceMs)) continue; // in its grace period
      let j: number;
      if (k < excess) j = k++;
      else if (goesBefore(list, totals, i, chosen[k - 1])) j = k - 1; // the last one chosen drops out
      else continue;
      for (; j > 0 && goesBefore(list, totals, i, chosen[j - 1]); j--) chosen[j] = chosen[j - 1];
      chosen[j] = i;
    }
    const out: string[] = [];
    for (let j = 0; j < k; j++) out.push(list[chosen[j]].id);
    return out;
  }

  /**
   * Scores the neighbours: on return `scoreList[0..n)` holds them in insertion order and
   * `scoreTotals[0..n)` their utilities; returns n.
   */
  private score(now: number): number {
    checkTime(now);
    this.advance(now);
    const n = this.byId.size;
    if (scoreTotals.length < n) growScratch(n);
    const list = scoreList;
    const totals = scoreTotals;
    const raw = scoreRaw; // the positive raw scores of one criterion, sorted descending
    const order = scoreOrder; // whose they are
    const bases = scoreBase; // where each neighbour's counters start in its page
    let i = 0;
    for (const nb of this.byId.values()) {
      this.sync(nb);
      list[i] = nb;
      bases[i++] = nb.base;
    }
    totals.fill(0, 0, n);
    for (const c of CRITERIA) {
      const weight = this.weights[c.weight];
      // Adding 0 points changes no total.
      if (weight === 0) continue;
      // Only the places matter, and equal scores share one, so the order among equal scores is
      // free; a raw score of 0 earns nothing and ranks below every other, so it is left out.
      const { offset, cells } = c;
      let count = 0;
      for (i = 0; i < n; i++) {
        const data = list[i]!.cells;
        const from = bases[i] + offset;
        let score = 0;
        for (let k = 0; k < cells; k++) score += data[from + k]; // as in `sum`: same order, same float
        if (!(score > 0)) continue;
        let pos = count++;
        for (; pos > 0 && raw[pos - 1] < score; pos--) {
          raw[pos] = raw[pos - 1];
          order[pos] = order[pos - 1];
        }
        raw[pos] = score;
        order[pos] = i;
      }
      let place = 0;
      for (let pos = 0; pos < count; pos++) {
        if (pos > 0 && raw[pos] !== raw[pos - 1]) place = pos;
        totals[order[pos]] += weight * (n - place);
      }
    }
    return n;
  }

  private record(peerId: string, amount: number, now: number, fineRing: number, coarseRing: number): void {
    if (!(Number.isFinite(amount) && amount >= 0)) throw new RangeError(`amount must be a finite number >= 0, got ${amount}`);
    checkTime(now);
    let n = this.lastRecorded;
    if (n === null || n.id !== peerId) {
      n = this.byId.get(peerId) ?? null;
      // Late events for a link already closed are normal (a chunk in flight when it closed).
      if (n === null) return;
      this.lastRecorded = n;
    }
    if (amount === 0) return;
    const data = n.cells;
    const base = n.base;
    if (now >= this.steadyFrom && now <= this.steadyUntil) {
      // The usual case: a time within the newest buckets.
      if (n.fineAt !== this.fineBucket || n.coarseAt !== this.coarseBucket) this.sync(n);
      if (fineRing >= 0) data[base + fineRing + this.fineCell] += amount;
      if (coarseRing >= 0) data[base + coarseRing + this.coarseCell] += amount;
      return;
    }
    this.advance(now);
    this.sync(n);
    if (fineRing >= 0) {
      const b = Math.floor(now / FINE_MS);
      // An event older than the newest bucket seen still counts if its bucket is in the window.
      if (this.fineBucket - b < FINE_CELLS) data[base + fineRing + mod(b, FINE_CELLS)] += amount;
    }
    if (coarseRing >= 0) {
      const b = Math.floor(now / COARSE_MS);
      if (this.coarseBucket - b < COARSE_CELLS) data[base + coarseRing + mod(b, COARSE_CELLS)] += amount;
    }
  }

  /** Moves the windows forward to `now` (each neighbour's cells of the buckets that fell out are cleared by `sync`). */
  private advance(now: number): void {
    if (now <= this.steadyUntil) return;
    let moved = false;
    const fine = Math.floor(now / FINE_MS);
    if (fine > this.fineBucket) {
      this.fineBucket = fine;
      moved = true;
    }
    const coarse = Math.floor(now / COARSE_MS);
    if (coarse > this.coarseBucket) {
      this.coarseBucket = coarse;
      moved = true;
    }
    if (moved) this.settle();
  }

  /** Clears the neighbour's cells of the buckets that fell out of the windows since it was last synced. */
  private sync(nb: Neighbour): void {
    if (nb.fineAt !== this.fineBucket) {
      clearBuckets(nb, nb.fineAt, this.fineBucket, FINE_CELLS, FINE_RINGS);
      nb.fineAt = this.fineBucket;
    }
    if (nb.coarseAt !== this.coarseBucket) {
      clearBuckets(nb, nb.coarseAt, this.coarseBucket, COARSE_CELLS, COARSE_RINGS);
      nb.coarseAt = this.coarseBucket;
    }
  }

  /**
   * Sets `steadyFrom`, `steadyUntil` and the cells for the newest buckets: from the start of the
   * newest fine bucket to 1 ms before its end. The bounds are checked rather than assumed, since
   * float division may round at huge or fractional times; division and floor are monotonic, so
   * what holds at both bounds holds at every time between them. If a check fails the range is
   * left empty and every call takes the general path.
   */
  private settle(): void {
    const fine = this.fineBucket;
    const coarse = this.coarseBucket;
    const from = Math.max(fine * FINE_MS, coarse * COARSE_MS);
    const until = Math.min((fine + 1) * FINE_MS, (coarse + 1) * COARSE_MS) - 1;
    if (inBuckets(from, fine, coarse) && inBuckets(until, fine, coarse)) {
      this.steadyFrom = from;
      this.steadyUntil = until;
    } else {
      this.steadyFrom = Number.POSITIVE_INFINITY;
      this.steadyUntil = Number.NEGATIVE_INFINITY;
    }
    this.fineCell = mod(fine, FINE_CELLS);
    this.coarseCell = mod(coarse, COARSE_CELLS);
  }
}

/**
 * The order of `prune`: least utility first, then oldest connection, then by id. Equal utilities
 * (also two infinite ones) fall through to the next key, as in a sort by `a − b || …`.
 */
function goesBefore(list: readonly Neighbour[], totals: Float64Array, a: number, b: number): boolean {
  if (totals[a] !== totals[b]) return totals[a] < totals[b];
  const na = list[a];
  const nb = list[b];
  if (na.connectedAt !== nb.connectedAt) return na.connectedAt < nb.connectedAt;
  return na.id < nb.id;
}

/** Whether `t` is in fine bucket `fine` and coarse bucket `coarse`. */
function inBuckets(t: number, fine: number, coarse: number): boolean {
  return Math.floor(t / FINE_MS) === fine && Math.floor(t / COARSE_MS) === coarse;
}

/**
 * Clears in the neighbour's counters the ring cells of buckets `from + 1 .. to` (at most a whole
 * ring). A block taken later starts with all cells 0.
 */
function clearBuckets(nb: Neighbour, from: number, to: number, cells: number, rings: readonly number[]): void {
  const steps = Math.min(to - from, cells);
  const data = nb.cells;
  for (let s = 1; s <= steps; s++) {
    const at = nb.base + mod(to - steps + s, cells);
    for (let r = 0; r < rings.length; r++) data[at + rings[r]!] = 0;
  }
}

/** The sum of a ring's cells, always added in the same order so the float result never varies. */
function sum(data: Float32Array, from: number, cells: number): number {
  let total = 0;
  for (let k = 0; k < cells; k++) total += data[from + k]!;
  return total;
}

function growScratch(n: number): void {
  const size = Math.max(n, 2 * scoreTotals.length);
  scoreTotals = new Float64Array(size);
  scoreRaw = new Float64Array(size);
  scoreOrder = new Int32Array(size);
  scoreBase = new Int32Array(size);
  scoreList = new Array<Neighbour>(size);
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

function checkTime(now: number): void {
  if (!Number.isFinite(now)) throw new RangeError(`time must be a finite number of ms, got ${now}`);
}

// A frozen copy of src/core/neighbours.ts before its optimisation: the equivalence test in
// neighbours.test.ts checks the optimised class against it. Do not edit.
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
import type { NeighbourUtilityWeights, TunemeshConfig } from '../../src/core/config.ts';

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
/** Slots are added this many at a time, so a client with few neighbours holds few counters. */
const SLOT_STEP = 8;

// Layout of one neighbour's counters in the shared Float64Array.
const SENT_FINE = 0;
const RECEIVED_FINE = SENT_FINE + FINE_CELLS;
const WANTED_FINE = RECEIVED_FINE + FINE_CELLS;
const SENT_COARSE = WANTED_FINE + FINE_CELLS;
const RECEIVED_COARSE = SENT_COARSE + COARSE_CELLS;
const PEERS_COARSE = RECEIVED_COARSE + COARSE_CELLS;
const STRIDE = PEERS_COARSE + COARSE_CELLS;
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

interface Neighbour {
  readonly id: string;
  readonly direction: Direction;
  role: Role;
  readonly connectedAt: number;
  /** Index of this neighbour's counters in `counters`. */
  readonly slot: number;
}

/**
 * The neighbour set with the limits, usefulness windows and eviction utility of P2P'11.
 *
 * All neighbours' counters live in one growable Float32Array indexed by slot; slots of removed
 * neighbours are reused, so recording traffic allocates nothing and a client with few neighbours
 * holds few counters.
 */
export class Neighbours {
  private readonly soft: number;
  private readonly hard: number;
  private readonly headroom: number;
  private readonly graceMs: number;
  private readonly weights: Readonly<NeighbourUtilityWeights>;
  private readonly byId = new Map<string, Neighbour>();
  private readonly freeSlots: number[] = [];
  private counters: Float32Array;
  private capacity: number;
  // The newest bucket seen; ring cells of older buckets are cleared as time moves past them, so
  // a ring always holds exactly its window.
  private fineBucket = Number.NEGATIVE_INFINITY;
  private coarseBucket = Number.NEGATIVE_INFINITY;

  constructor(config: NeighboursConfig) {
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
    this.capacity = Math.max(1, Math.min(SLOT_STEP, hard));
    this.counters = new Float32Array(this.capacity * STRIDE);
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
    const slot = this.takeSlot();
    this.counters.fill(0, slot * STRIDE, (slot + 1) * STRIDE);
    this.byId.set(peerId, { id: peerId, direction: how.direction, role: how.role, connectedAt: how.now, slot });
    return 'added';
  }

  /** Forgets a neighbour (its link closed). False if it was not one. */
  remove(peerId: string): boolean {
    const n = this.byId.get(peerId);
    if (!n) return false;
    this.byId.delete(peerId);
    this.freeSlots.push(n.slot);
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
    const base = n.slot * STRIDE;
    const out = {} as Usefulness;
    for (const c of CRITERIA) out[c.weight] = this.sum(base + c.offset, c.cells);
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
    const { list, totals } = this.score(now);
    const out = new Map<string, number>();
    for (let i = 0; i < list.length; i++) out.set(list[i].id, totals[i]);
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
    const { list, totals } = this.score(now);
    const candidates: number[] = [];
    for (let i = 0; i < list.length; i++) if (now - list[i].connectedAt >= this.graceMs) candidates.push(i);
    candidates.sort((a, b) => {
      const na = list[a];
      const nb = list[b];
      return totals[a] - totals[b] || na.connectedAt - nb.connectedAt || (na.id < nb.id ? -1 : na.id > nb.id ? 1 : 0);
    });
    const out: string[] = [];
    for (let k = 0; k < candidates.length && k < excess; k++) out.push(list[candidates[k]].id);
    return out;
  }

  /** The neighbours in insertion order and their utilities, aligned. */
  private score(now: number): { list: Neighbour[]; totals: Float64Array } {
    checkTime(now);
    this.advance(now);
    const list = Array.from(this.byId.values());
    const n = list.length;
    const totals = new Float64Array(n);
    const raw = new Float64Array(n);
    const order = new Int32Array(n);
    for (const c of CRITERIA) {
      const weight = this.weights[c.weight];
      for (let i = 0; i < n; i++) {
        raw[i] = this.sum(list[i].slot * STRIDE + c.offset, c.cells);
        order[i] = i;
      }
      order.sort((a, b) => raw[b] - raw[a]);
      let place = 0;
      for (let pos = 0; pos < n; pos++) {
        const i = order[pos];
        const score = raw[i];
        if (score <= 0) break; // sorted descending: the rest are 0 too, and 0 earns nothing
        if (pos > 0 && score !== raw[order[pos - 1]]) place = pos;
        totals[i] += weight * (n - place);
      }
    }
    return { list, totals };
  }

  private sum(from: number, cells: number): number {
    let total = 0;
    for (let k = 0; k < cells; k++) total += this.counters[from + k];
    return total;
  }

  private record(peerId: string, amount: number, now: number, fineRing: number, coarseRing: number): void {
    if (!(Number.isFinite(amount) && amount >= 0)) throw new RangeError(`amount must be a finite number >= 0, got ${amount}`);
    checkTime(now);
    const n = this.byId.get(peerId);
    // Late events for a link already closed are normal (a chunk in flight when it closed).
    if (!n || amount === 0) return;
    this.advance(now);
    const base = n.slot * STRIDE;
    if (fineRing >= 0) {
      const b = Math.floor(now / FINE_MS);
      // An event older than the newest bucket seen still counts if its bucket is in the window.
      if (this.fineBucket - b < FINE_CELLS) this.counters[base + fineRing + mod(b, FINE_CELLS)] += amount;
    }
    if (coarseRing >= 0) {
      const b = Math.floor(now / COARSE_MS);
      if (this.coarseBucket - b < COARSE_CELLS) this.counters[base + coarseRing + mod(b, COARSE_CELLS)] += amount;
    }
  }

  /** Moves the windows forward to `now`: clears the cells of the buckets that fell out. */
  private advance(now: number): void {
    const fine = Math.floor(now / FINE_MS);
    if (fine > this.fineBucket) {
      this.clearBuckets(this.fineBucket, fine, FINE_CELLS, FINE_RINGS);
      this.fineBucket = fine;
    }
    const coarse = Math.floor(now / COARSE_MS);
    if (coarse > this.coarseBucket) {
      this.clearBuckets(this.coarseBucket, coarse, COARSE_CELLS, COARSE_RINGS);
      this.coarseBucket = coarse;
    }
  }

  /** Clears, in every slot, the ring cells of buckets `from + 1 .. to` (at most a whole ring). */
  private clearBuckets(from: number, to: number, cells: number, rings: readonly number[]): void {
    const steps = Math.min(to - from, cells);
    const data = this.counters;
    for (let s = 1; s <= steps; s++) {
      const cell = mod(to - steps + s, cells);
      for (let slot = 0; slot < this.capacity; slot++) {
        const base = slot * STRIDE + cell;
        for (const ring of rings) data[base + ring] = 0;
      }
    }
  }

  private takeSlot(): number {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    const used = this.byId.size; // no free slot: slots 0..used-1 are all taken
    if (used >= this.capacity) {
      const grown = new Float32Array(Math.min(this.capacity + SLOT_STEP, Math.max(this.hard, 1)) * STRIDE);
      grown.set(this.counters);
      this.counters = grown;
      this.capacity = grown.length / STRIDE;
    }
    return used;
  }
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

function checkTime(now: number): void {
  if (!Number.isFinite(now)) throw new RangeError(`time must be a finite number of ms, got ${now}`);
}

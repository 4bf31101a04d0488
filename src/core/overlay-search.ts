/**
 * The flooded search of the peer overlay (DESIGN §3, P2P'11 §III-B): a query to all neighbours,
 * forwarded once more, duplicates dropped by query id, answers routed back along the path. Sans-IO:
 * it takes received messages and returns the messages to send; the caller owns the links.
 */
import { randomInt, type Rng } from './clock.ts';
import type { TunemeshConfig } from './config.ts';
import type { MessageOf, PeerAddress } from '../protocol/messages.ts';

/** The config fields the search reads. */
export type OverlaySearchConfig = Pick<TunemeshConfig, 'searchHops' | 'searchDedupIds'>;

export type PeerSearchMessage = MessageOf<'peer-search'>;
export type PeerFoundMessage = MessageOf<'peer-found'>;

/**
 * One message to send to a neighbour. Several sends of one step may share the same `msg` object:
 * encode it, do not mutate it.
 */
export interface SearchSend<M = PeerSearchMessage | PeerFoundMessage> {
  /** Peer id of the neighbour. */
  to: string;
  msg: M;
}

/** A holder of the file, found by one of our searches. */
export interface SearchResult {
  queryId: number;
  fileId: string;
  holder: PeerAddress;
  /** Hops from us: 1 = a neighbour, 2 = a neighbour's neighbour (P2P'11's definition). */
  distance: number;
  /** The neighbour the answer arrived from. */
  via: string;
  /** When it arrived (the caller's clock). */
  atMs: number;
}

/** How a search ended, as {@link OverlaySearch.finish} and {@link OverlaySearch.expire} report it. */
export interface SearchOutcome {
  queryId: number;
  fileId: string;
  startedMs: number;
  endedMs: number;
  /** At least one holder answered from distance 1. */
  foundAt1: boolean;
  /** At least one holder answered from distance 2, whether or not one answered from distance 1. */
  foundAt2: boolean;
  /** Every distinct holder that answered, in order of arrival. */
  results: SearchResult[];
}

/**
 * Outcome counts over all closed searches, the figures of P2P'11 §IV-D / Table III.
 *
 * P2P'11 reports, per query, "at least one peer was found at distance 1" (60.4 %) and "at least one
 * peer at distance 2" (77.4 %) beside "returned answers" (81.8 %). The two are not exclusive: 60.4 +
 * 77.4 > 100, and d = 2 is not cumulative either (77.4 < 81.8). So `foundAt2` counts every search with
 * an answer from distance 2, also when one from distance 1 came too, and `found = searches - notFound`
 * is the paper's "any d"; found only at distance 2 is `found - foundAt1`. The three published columns
 * follow directly, which an exclusive "at 2 only if none at 1" would not allow.
 */
export interface SearchStats {
  /** Searches closed (finished or expired). */
  searches: number;
  /** Closed searches with at least one answer from distance 1. */
  foundAt1: number;
  /** Closed searches with at least one answer from distance 2 (not exclusive of `foundAt1`). */
  foundAt2: number;
  /** Closed searches without any answer. */
  notFound: number;
}

/** What a node is asked to do with a received query. */
export interface QueryContext {
  /**
   * Neighbours to forward to. The caller leaves out leechers (thesis ch. 10: nobody routes queries to
   * a leecher); `from` may be included, it is skipped.
   */
  neighbours: readonly string[];
  /**
   * Whether we can serve the file: only complete files count (P2P'10/'11: only complete tracks are
   * served). A leecher's caller answers false.
   */
  have: (fileId: string) => boolean;
  /** Our address, put in the answer so the searcher can connect. */
  self: PeerAddress;
}

/** An answer {@link OverlaySearch.onFound} records for one of our own searches. */
export interface FoundResult {
  result: SearchResult;
}

/** State of one of our open searches. */
interface OpenSearch {
  readonly queryId: number;
  readonly fileId: string;
  readonly startedMs: number;
  readonly results: SearchResult[];
  /** Holders recorded, made on the first answer (most searches of a miss never need it). */
  holders: Set<string> | null;
}

/** Where a remembered query came from: a neighbour's peer id, or {@link OWN} for our own search. */
const OWN: unique symbol = Symbol('own search'); // not a string, so no peer id can be taken for it
const NO_SENDS: readonly SearchSend[] = Object.freeze([]);
const UINT32 = 2 ** 32;

/**
 * One client's part in the overlay search.
 *
 * Published rules (P2P'11 §III-B: "a client sends a search request to all its neighbors in the
 * overlay, who forward the request to all their neighbors ... Search queries sent by clients have a
 * query id associated with them, and peers remember the 50 most recent searches seen, allowing them
 * to ignore duplicate messages"):
 * - a search goes to all neighbours with `hops = searchHops` (2); a receiver with `hops > 1` forwards
 *   it to all its other neighbours with `hops - 1`;
 * - a client remembers the last `searchDedupIds` (50) query ids it saw, including its own, and drops
 *   a query whose id is among them;
 * - a holder answers `peer-found` with `distance = searchHops - hops + 1`, back to the neighbour the
 *   query came from; a forwarder routes an answer back the same way while it still remembers the id.
 *   (The paper does not say how answers travel; routing them back is ours, as in Gnutella, which the
 *   paper names as the model.)
 *
 * Ours: queries with `hops` outside 1..`searchHops`, answers with a `distance` outside that range,
 * and messages whose query id is not a uint32 (the wire's type) are dropped, so a peer cannot widen the flood or push the statistics out of range; a holder that
 * answers twice is recorded once, at its first answer.
 *
 * Costs: the dedup memory is a ring of ids plus an open-addressed index in typed arrays, O(1) per
 * message, fixed size and no allocation; a received query costs one send per neighbour.
 */
export class OverlaySearch {
  private readonly hops: number;
  private readonly dedupCapacity: number;
  private readonly rng: Rng;
  /** Per ring slot, the neighbour its query came from ({@link OWN} for ours). */
  private readonly ringFrom: (string | typeof OWN)[];
  private ringNext = 0;
  private ringCount = 0;
  /**
   * The dedup memory in one array: cells `[0, tableSize)` map a query id to its ring slot + 1 (0:
   * empty), an open-addressed table (linear probing, Fibonacci hashing, at most half full); cells
   * `[tableSize, tableSize + searchDedupIds)` are the ring of the last `searchDedupIds` ids seen,
   * oldest at `ringNext` once full. The table holds exactly the ids in the ring. One typed array
   * rather than a Map: a simulated flood hands a query to thousands of clients, and each remembers
   * it (a Map's delete and insert per message, and the memory it touches, dominated the
   * simulator's time).
   */
  private readonly mem: Uint32Array;
  private readonly tableSize: number;
  private readonly indexShift: number;
  /** Our open searches in start order (time only moves forward), so expiry stops at the first young one. */
  private readonly open = new Map<number, OpenSearch>();
  /**
   * `open.size`, kept beside the other fields: a received query checks it, and reading it from
   * the Map costs two more memory accesses when thousands of clients are visited in a row.
   */
  private openCount = 0;
  private readonly counts: SearchStats = { searches: 0, foundAt1: 0, foundAt2: 0, notFound: 0 };

  constructor(opts: { config: OverlaySearchConfig; rng: Rng }) {
    const { searchHops, searchDedupIds } = opts.config;
    if (!Number.isInteger(searchHops) || searchHops < 1) throw new RangeError(`searchHops must be a positive integer, got ${searchHops}`);
    if (!Number.isInteger(searchDedupIds) || searchDedupIds < 1) {
      throw new RangeError(`searchDedupIds must be a positive integer, got ${searchDedupIds}`);
    }
    this.hops = searchHops;
    this.dedupCapacity = searchDedupIds;
    this.ringFrom = new Array<string | typeof OWN>(searchDedupIds).fill(OWN);
    let bits = 1;
    while (1 << bits < 2 * searchDedupIds && bits < 30) bits++;
    this.tableSize = 1 << bits;
    this.mem = new Uint32Array(this.tableSize + searchDedupIds);
    this.indexShift = 32 - bits;
    this.rng = opts.rng;
  }

  /**
   * Starts a search for `fileId`: a fresh random uint32 query id, sent to every neighbour with
   * `hops = searchHops`. The id goes into our own dedup memory so the query is not answered or
   * forwarded when it comes back to us through a neighbour's neighbour. With no neighbours the search
   * is still opened, and closes as not found.
   */
  start(fileId: string, neighbours: readonly string[], nowMs: number): { queryId: number; sends: SearchSend<PeerSearchMessage>[] } {
    let queryId: number;
    do queryId = randomInt(this.rng, UINT32);
    while (this.slotOf(queryId) >= 0 || this.open.has(queryId));
    this.remember(queryId, OWN);
    this.open.set(queryId, { queryId, fileId, startedMs: nowMs, results: [], holders: null });
    this.openCount = this.open.size;
    const msg: PeerSearchMessage = { type: 'peer-search', queryId, fileId, hops: this.hops };
    const sends: SearchSend<PeerSearchMessage>[] = new Array(neighbours.length);
    for (let i = 0; i < neighbours.length; i++) sends[i] = { to: neighbours[i]!, msg };
    return { queryId, sends };
  }

  /**
   * A neighbour sent us a query. Returns the answer to `from` if we have the file, and the query
   * forwarded to our other neighbours if it has hops left; nothing for a duplicate.
   */
  onQuery(from: string, msg: PeerSearchMessage, ctx: QueryContext, _nowMs: number): readonly SearchSend[] {
    const { queryId, hops } = msg;
    if (!this.admitQuery(from, queryId, hops)) return NO_SENDS;
    const have = ctx.have(msg.fileId);
    if (!have && hops <= 1) return NO_SENDS;
    const sends: SearchSend[] = [];
    if (have) sends.push({ to: from, msg: this.answerFor(queryId, msg.fileId, hops, ctx.self) });
    if (hops > 1) {
      const forward: PeerSearchMessage = { type: 'peer-search', queryId, fileId: msg.fileId, hops: hops - 1 };
      const neighbours = ctx.neighbours;
      for (let i = 0; i < neighbours.length; i++) {
        const to = neighbours[i]!;
        if (to !== from) sends.push({ to, msg: forward });
      }
    }
    return sends;
  }

  /**
   * The first step of {@link onQuery}, without building any message: drops a malformed query or a
   * duplicate (false), else remembers the query as coming from `from` (true). The caller then does
   * what `onQuery` does for a true: answers `from` with {@link answerFor} if it has the file, and
   * if `hops > 1` forwards the query with `hops - 1` to its other neighbours. For a caller that
   * handles thousands of queries at once (the simulator's flood) and keeps its messages in its
   * own arrays: no allocation per query.
   */
  admitQuery(from: string, queryId: number, hops: number): boolean {
    if (!Number.isInteger(hops) || hops < 1 || hops > this.hops || !isUint32(queryId)) return false;
    // Our own id stays out even after the dedup memory forgot it: we never answer ourselves.
    if (this.slotOf(queryId) >= 0 || (this.openCount !== 0 && this.open.has(queryId))) return false;
    this.remember(queryId, from);
    return true;
  }

  /** The answer a holder sends back for a query it admitted with `hops` left (see {@link admitQuery}). */
  answerFor(queryId: number, fileId: string, hops: number, self: PeerAddress): PeerFoundMessage {
    return { type: 'peer-found', queryId, fileId, holder: self, distance: this.hops - hops + 1 };
  }

  /**
   * A neighbour sent us an answer. For one of our open searches it is recorded and returned as
   * `{ result }` (nothing for a holder already recorded); for a query we forwarded it is routed
   * back to the neighbour the query came from; otherwise (unknown, forgotten, or closed) it is dropped.
   * Tell the cases apart with `'result' in out`.
   */
  onFound(from: string, msg: PeerFoundMessage, nowMs: number): readonly SearchSend[] | FoundResult {
    const { queryId, distance } = msg;
    if (!Number.isInteger(distance) || distance < 1 || distance > this.hops || !isUint32(queryId)) return NO_SENDS;
    const search = this.open.get(queryId);
    if (search !== undefined) return this.record(search, from, msg, nowMs);
    const slot = this.slotOf(queryId);
    if (slot < 0) return NO_SENDS;
    const origin = this.ringFrom[slot]!;
    if (origin === OWN) return NO_SENDS;
    return [{ to: origin, msg }];
  }

  /** Closes one of our searches and counts its outcome; undefined when it is not open. */
  finish(queryId: number, nowMs: number): SearchOutcome | undefined {
    const search = this.open.get(queryId);
    if (search === undefined) return undefined;
    return this.close(search, nowMs);
  }

  /** Closes every search started at or before `nowMs - timeoutMs`, oldest first, and returns their outcomes. */
  expire(nowMs: number, timeoutMs: number): SearchOutcome[] {
    const out: SearchOutcome[] = [];
    const cutoff = nowMs - timeoutMs;
    for (const search of this.open.values()) {
      if (search.startedMs > cutoff) break;
      out.push(this.close(search, nowMs));
    }
    return out;
  }

  /** The answers so far of an open search (empty when it is not open). */
  results(queryId: number): readonly SearchResult[] {
    return this.open.get(queryId)?.results ?? [];
  }

  /** Number of our searches still open. */
  get openSearches(): number {
    return this.open.size;
  }

  /** Outcome counts over all closed searches (a copy). */
  stats(): SearchStats {
    return { ...this.counts };
  }

  private record(search: OpenSearch, from: string, msg: PeerFoundMessage, nowMs: number): readonly SearchSend[] | FoundResult {
    // A holder answers a query once (it dedups too); a second answer means its memory overflowed or
    // it misbehaves, and counting it again would skew nothing but waste the caller's work.
    const holders = (search.holders ??= new Set());
    if (holders.has(msg.holder.peerId)) return NO_SENDS;
    holders.add(msg.holder.peerId);
    const result: SearchResult = { queryId: search.queryId, fileId: search.fileId, holder: msg.holder, distance: msg.distance, via: from, atMs: nowMs };
    search.results.push(result);
    return { result };
  }

  private close(search: OpenSearch, nowMs: number): SearchOutcome {
    this.open.delete(search.queryId);
    this.openCount = this.open.size;
    const results = search.results;
    let foundAt1 = false;
    let foundAt2 = false;
    for (let i = 0; i < results.length; i++) {
      if (results[i]!.distance === 1) foundAt1 = true;
      else if (results[i]!.distance === 2) foundAt2 = true;
    }
    const c = this.counts;
    c.searches++;
    if (foundAt1) c.foundAt1++;
    if (foundAt2) c.foundAt2++;
    if (results.length === 0) c.notFound++;
    return { queryId: search.queryId, fileId: search.fileId, startedMs: search.startedMs, endedMs: nowMs, foundAt1, foundAt2, results };
  }

  /** Adds an unseen id to the dedup memory, forgetting the oldest when full. */
  private remember(queryId: number, from: string | typeof OWN): void {
    const slot = this.ringNext;
    const mem = this.mem;
    const base = this.tableSize;
    if (this.ringCount === this.dedupCapacity) this.unindex(mem[base + slot]!);
    else this.ringCount++;
    mem[base + slot] = queryId;
    this.ringFrom[slot] = from;
    this.ringNext = slot + 1 === this.dedupCapacity ? 0 : slot + 1;
    const mask = base - 1;
    let h = this.home(queryId);
    while (mem[h] !== 0) h = (h + 1) & mask;
    mem[h] = slot + 1;
  }

  /** Table position a query id hashes to. */
  private home(queryId: number): number {
    return Math.imul(queryId, 0x9e3779b1) >>> this.indexShift;
  }

  /** Ring slot of a remembered query id, or -1. */
  private slotOf(queryId: number): number {
    const mem = this.mem;
    const base = this.tableSize;
    const mask = base - 1;
    for (let h = this.home(queryId); ; h = (h + 1) & mask) {
      const e = mem[h]!;
      if (e === 0) return -1;
      if (mem[base + e - 1] === queryId) return e - 1;
    }
  }

  /** Removes a remembered id from the table (backward-shift deletion keeps every probe chain whole). */
  private unindex(queryId: number): void {
    const index = this.mem;
    const base = this.tableSize;
    const mask = base - 1;
    let p = this.home(queryId);
    while (index[p] !== 0 && index[base + index[p]! - 1] !== queryId) p = (p + 1) & mask;
    if (index[p] === 0) return;
    index[p] = 0;
    for (let j = (p + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const k = this.home(index[base + index[j]! - 1]!);
      // The entry at j may move to the hole at p unless its home lies cyclically in (p, j].
      const stays = p <= j ? p < k && k <= j : p < k || k <= j;
      if (stays) continue;
      index[p] = index[j]!;
      index[j] = 0;
      p = j;
    }
  }
}

/** Query ids are uint32 on the wire (the codec checks); anything else is dropped. */
function isUint32(x: number): boolean {
  return x >>> 0 === x;
}

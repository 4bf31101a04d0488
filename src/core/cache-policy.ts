/**
 * Which cached files to delete to make room: least recently played first, never a file in use, under
 * a byte limit (DESIGN §3, P2P'10: LRU by last play, 10 % of free disk). Pure bookkeeping: the disk
 * cache asks, then deletes the files and tells the policy.
 */
import type { TunemeshConfig } from './config.ts';

/** What the policy knows of one cached file. */
export interface CachedFile {
  fileId: string;
  /** Bytes the file takes in the cache now (partial files grow). */
  bytes: number;
  /** When it was last played (or added); only the order matters. */
  lastPlayedMs: number;
}

/**
 * LRU by last play, over whole files, with a byte limit and pins.
 *
 * A pin is counted: a file played by the player and downloaded by the fetcher at once is pinned twice
 * and evictable again only after both unpin. Pins are kept by id, so a file may be pinned before it is
 * added and stays pinned across `remove`/`add`.
 *
 * Compact on purpose: the simulator keeps one policy per client with its whole library warmed in
 * (100 000 clients × ~140 files), so a file is not an object but a slot: its id maps to a slot number
 * (a small integer, stored unboxed in the map) and the slot's bytes and last play sit in one array of
 * unboxed doubles, which the garbage collector does not trace. Freed slots are reused.
 */
export class CachePolicy {
  /** Slot of each file, in the order the files were added (the order of `entries()`). */
  private readonly slots = new Map<string, number>();
  /**
   * Per slot: `[2s]` bytes and `[2s + 1]` last play; a free slot's `[2s]` is the next free slot or -1.
   * A plain array, not a Float64Array: growing it stays in the JS heap (a typed array's off-heap buffer
   * costs microseconds to allocate, for each growth of each of 100 000 policies). It starts with a
   * double, popped in the constructor, so that V8 stores its elements as unboxed doubles from the start:
   * an empty literal would start with small integers (file sizes and warm-up times are), stored tagged
   * and scanned by the collector.
   */
  private readonly rec: number[] = [0.5];
  /** First free slot, -1 when none. */
  private freeSlot = -1;
  /** Pin counts, only for pinned files (few: those played or downloaded now). */
  private readonly pins = new Map<string, number>();
  private usedBytes = 0;
  private limitBytes: number;

  /** @param limit the byte limit of the cache */
  constructor(limit: number) {
    this.limitBytes = checkBytes(limit, 'limit');
    this.rec.pop();
  }

  /** Bytes all files take. */
  get used(): number {
    return this.usedBytes;
  }

  /** The byte limit. */
  get limit(): number {
    return this.limitBytes;
  }

  set limit(bytes: number) {
    this.limitBytes = checkBytes(bytes, 'limit');
  }

  /** Number of files. */
  get count(): number {
    return this.slots.size;
  }

  has(fileId: string): boolean {
    return this.slots.has(fileId);
  }

  /** A copy of what the policy knows of `fileId`. */
  get(fileId: string): CachedFile | undefined {
    const s = this.slots.get(fileId);
    return s === undefined ? undefined : { fileId, bytes: this.rec[2 * s]!, lastPlayedMs: this.rec[2 * s + 1]! };
  }

  /** Adds a file (or replaces what is known of it). */
  add(fileId: string, bytes: number, lastPlayedMs: number): void {
    checkBytes(bytes, 'bytes');
    // Removed first, so a re-added file goes to the end of the order, as a new one.
    this.remove(fileId);
    const s = this.allocSlot();
    this.rec[2 * s] = bytes;
    this.rec[2 * s + 1] = lastPlayedMs;
    this.slots.set(fileId, s);
    this.usedBytes += bytes;
  }

  /** The file was played at `nowMs`: it becomes the most recently played. Returns false for an unknown file. */
  touch(fileId: string, nowMs: number): boolean {
    const s = this.slots.get(fileId);
    if (s === undefined) return false;
    this.rec[2 * s + 1] = nowMs;
    return true;
  }

  /** The file now takes `bytes` (a partial file grew). Returns false for an unknown file. */
  resize(fileId: string, bytes: number): boolean {
    checkBytes(bytes, 'bytes');
    const s = this.slots.get(fileId);
    if (s === undefined) return false;
    this.usedBytes += bytes - this.rec[2 * s]!;
    this.rec[2 * s] = bytes;
    return true;
  }

  /** Forgets a file (deleted). Returns false for an unknown file. Its pins stay. */
  remove(fileId: string): boolean {
    const s = this.slots.get(fileId);
    if (s === undefined) return false;
    this.usedBytes -= this.rec[2 * s]!;
    this.slots.delete(fileId);
    this.rec[2 * s] = this.freeSlot;
    this.freeSlot = s;
    return true;
  }

  /** The file is in use (played or downloaded now): it must not be evicted until unpinned. */
  pin(fileId: string): void {
    this.pins.set(fileId, (this.pins.get(fileId) ?? 0) + 1);
  }

  /** Releases one pin; unpinning a file that is not pinned does nothing. */
  unpin(fileId: string): void {
    const n = this.pins.get(fileId) ?? 0;
    if (n <= 1) this.pins.delete(fileId);
    else this.pins.set(fileId, n - 1);
  }

  isPinned(fileId: string): boolean {
    return this.pins.has(fileId);
  }

  /**
   * The files to delete, least recently played first (ties by id), so that `used + incomingBytes <=
   * limit` once they are gone; pinned files are skipped. Empty when it fits already. When even deleting
   * every unpinned file is not enough, all unpinned files are returned: the cache goes over its limit
   * only by files in use. Does not change the policy: the caller deletes the files, then `remove`s them.
   */
  evictionsToFit(incomingBytes: number): string[] {
    checkBytes(incomingBytes, 'incomingBytes');
    let over = this.usedBytes + incomingBytes - this.limitBytes;
    if (over <= 0) return [];
    const rec = this.rec;
    const pins = this.pins.size > 0 ? this.pins : undefined;
    // The unpinned files, as ids, slots and last plays, in the map's order.
    const ids: string[] = [];
    const slots: number[] = [];
    const times: number[] = [];
    let unordered = false;
    this.slots.forEach((s, fileId) => {
      if (pins?.has(fileId)) return;
      const t = rec[2 * s + 1]!;
      if (t !== t) unordered = true; // NaN
      ids.push(fileId);
      slots.push(s);
      times.push(t);
    });
    const n = ids.length;
    const evict: string[] = [];
    let k = 0;
    if (!unordered) {
      // A total order (times, then ids, which differ): usually one or two files make room, so the
      // oldest are picked one by one (a pass each) rather than sorting all; past a few the rest is sorted.
      for (; k < n && over > 0 && k < SELECT_BEFORE_SORT; k++) {
        let m = k;
        for (let i = k + 1; i < n; i++) {
          if (times[i]! < times[m]! || (times[i] === times[m] && ids[i]! < ids[m]!)) m = i;
        }
        evict.push(ids[m]!);
        over -= rec[2 * slots[m]!]!;
        // Position k is done with: the one there takes the picked one's place.
        ids[m] = ids[k]!;
        slots[m] = slots[k]!;
        times[m] = times[k]!;
      }
    }
    // The rest, sorted: past the first few, or all of them when a last play is NaN. NaN compares as a tie
    // with anything, so the order is not total and the answer depends on the sort and on its input: all
    // are then sorted from the map's order with the comparison evictions have always used, so the answer
    // stays the one it always was.
    if (k < n && over > 0) {
      const order: number[] = [];
      for (let i = k; i < n; i++) order.push(i);
      order.sort((a, b) => times[a]! - times[b]! || (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0));
      for (let j = 0; j < order.length && over > 0; j++) {
        evict.push(ids[order[j]!]!);
        over -= rec[2 * slots[order[j]!]!]!;
      }
    }
    return evict;
  }

  /** Every file, in no particular order; each a fresh object (later changes do not show in it). */
  *entries(): IterableIterator<Readonly<CachedFile>> {
    for (const [fileId, s] of this.slots) yield { fileId, bytes: this.rec[2 * s]!, lastPlayedMs: this.rec[2 * s + 1]! };
  }

  /** A free slot: the last freed one, or a new one at the end. */
  private allocSlot(): number {
    const s = this.freeSlot;
    if (s >= 0) {
      this.freeSlot = this.rec[2 * s]!;
      return s;
    }
    this.rec.push(0, 0);
    return this.rec.length / 2 - 1;
  }
}

/** Evictions picked by a pass each (n comparisons) before the rest is sorted (about n·log2(n)). */
const SELECT_BEFORE_SORT = 4;

/**
 * Default cache size for a disk with `freeDiskBytes` free: 10 % of it, capped at 10 GiB, never below
 * 50 MiB (DESIGN §3, P2P'10), whole bytes.
 */
export function defaultCacheSize(
  freeDiskBytes: number,
  config: Pick<TunemeshConfig, 'cacheFractionOfFreeDisk' | 'cacheMaxBytes' | 'cacheMinBytes'>,
): number {
  const share = Number.isFinite(freeDiskBytes) && freeDiskBytes > 0 ? freeDiskBytes * config.cacheFractionOfFreeDisk : 0;
  return Math.floor(Math.max(config.cacheMinBytes, Math.min(config.cacheMaxBytes, share)));
}

function checkBytes(n: number, what: string): number {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`${what} must be a finite number of bytes >= 0, got ${n}`);
  return n;
}

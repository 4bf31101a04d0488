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
 */
export class CachePolicy {
  private readonly files = new Map<string, CachedFile>();
  private readonly pins = new Map<string, number>();
  private usedBytes = 0;
  private limitBytes: number;

  /** @param limit the byte limit of the cache */
  constructor(limit: number) {
    this.limitBytes = checkBytes(limit, 'limit');
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
    return this.files.size;
  }

  has(fileId: string): boolean {
    return this.files.has(fileId);
  }

  /** A copy of what the policy knows of `fileId`. */
  get(fileId: string): CachedFile | undefined {
    const f = this.files.get(fileId);
    return f && { ...f };
  }

  /** Adds a file (or replaces what is known of it). */
  add(fileId: string, bytes: number, lastPlayedMs: number): void {
    checkBytes(bytes, 'bytes');
    this.remove(fileId);
    this.files.set(fileId, { fileId, bytes, lastPlayedMs });
    this.usedBytes += bytes;
  }

  /** The file was played at `nowMs`: it becomes the most recently played. Returns false for an unknown file. */
  touch(fileId: string, nowMs: number): boolean {
    const f = this.files.get(fileId);
    if (!f) return false;
    f.lastPlayedMs = nowMs;
    return true;
  }

  /** The file now takes `bytes` (a partial file grew). Returns false for an unknown file. */
  resize(fileId: string, bytes: number): boolean {
    checkBytes(bytes, 'bytes');
    const f = this.files.get(fileId);
    if (!f) return false;
    this.usedBytes += bytes - f.bytes;
    f.bytes = bytes;
    return true;
  }

  /** Forgets a file (deleted). Returns false for an unknown file. Its pins stay. */
  remove(fileId: string): boolean {
    const f = this.files.get(fileId);
    if (!f) return false;
    this.usedBytes -= f.bytes;
    this.files.delete(fileId);
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
    const candidates = [...this.files.values()]
      .filter((f) => !this.pins.has(f.fileId))
      .sort((a, b) => a.lastPlayedMs - b.lastPlayedMs || (a.fileId < b.fileId ? -1 : a.fileId > b.fileId ? 1 : 0));
    const evict: string[] = [];
    for (const f of candidates) {
      if (over <= 0) break;
      evict.push(f.fileId);
      over -= f.bytes;
    }
    return evict;
  }

  /** Every file, in no particular order. */
  entries(): IterableIterator<Readonly<CachedFile>> {
    return this.files.values();
  }
}

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

/**
 * The tracker of the access point (DESIGN §3, P2P'11 §III-B): per file, a short list of the peers
 * that most recently reported having it, answered as a random selection of those online now.
 * Pure bookkeeping: the AP feeds it announces and asks it with its own view of who is online.
 */
import { randomInt, type Rng } from './clock.ts';
import type { TunemeshConfig } from './config.ts';

/** The config fields the tracker reads. */
export type TrackerConfig = Pick<TunemeshConfig, 'trackerMemory' | 'trackerAnswer' | 'trackerMaxFiles'>;

/** One tracked file: its peers and its place in the list of files by last announce. */
interface FileEntry {
  readonly fileId: string;
  /** Least recent first; at most `trackerMemory` distinct peer ids. */
  readonly peers: string[];
  /** Neighbours in the list of files ordered by last announce (null at the ends). */
  older: FileEntry | null;
  newer: FileEntry | null;
}

/**
 * Per file, the `trackerMemory` peers that most recently announced it.
 *
 * Published rules (P2P'11, "Locating Peers" in §III-B: "the tracker only keeps a list of the 20 most
 * recent peers for each track"; "clients only report to the tracker when they play a track, rather
 * than ... notifying the tracker when a track is evicted from the client cache"; "the tracker replies
 * with a random selection of up to 10 peers who are currently online"):
 * - an announce puts the peer at the most recent end, also when it was listed already;
 * - an announce to a full list drops its least recent peer;
 * - a query answers up to `trackerAnswer` peers drawn uniformly at random from the listed peers that
 *   are online now; offline peers are skipped but stay listed, because the tracker cannot tell an
 *   offline peer from one that will be back with the file still in its cache.
 *
 * Ours: at most `trackerMaxFiles` files are tracked, the least recently announced is forgotten first,
 * so memory stays bounded at `trackerMaxFiles × trackerMemory` entries.
 *
 * Costs: `announce` and `query` are O(`trackerMemory`) with one hash lookup; `forgetPeer` scans every
 * list, which is fine for its only use (a deleted account) and saves a reverse index that every
 * announce would have to maintain.
 */
export class Tracker {
  private readonly byFile = new Map<string, FileEntry>();
  /** Ends of the list of files by last announce. */
  private oldest: FileEntry | null = null;
  private newest: FileEntry | null = null;
  private entries = 0;
  private readonly memory: number;
  private readonly answer: number;
  private readonly maxFiles: number;

  constructor(config: TrackerConfig) {
    this.memory = positiveInt(config.trackerMemory, 'trackerMemory');
    this.answer = nonNegativeInt(config.trackerAnswer, 'trackerAnswer');
    this.maxFiles = positiveInt(config.trackerMaxFiles, 'trackerMaxFiles');
  }

  /** Number of files tracked. */
  get files(): number {
    return this.byFile.size;
  }

  /** Number of (file, peer) entries remembered over all files. */
  get size(): number {
    return this.entries;
  }

  /**
   * `peerId` finished downloading `fileId` while playing it (P2P'11: the only time a client reports).
   * The peer becomes the most recent for the file, and the file the most recently announced.
   */
  announce(fileId: string, peerId: string): void {
    let file = this.byFile.get(fileId);
    if (file === undefined) {
      if (this.byFile.size >= this.maxFiles) this.dropFile(this.oldest!);
      file = { fileId, peers: [peerId], older: null, newer: null };
      this.byFile.set(fileId, file);
      this.link(file);
      this.entries++;
      return;
    }
    if (file !== this.newest) {
      this.unlink(file);
      this.link(file);
    }
    const peers = file.peers;
    const last = peers.length - 1;
    if (peers[last] === peerId) return; // the common repeat: already the most recent
    let i = peers.indexOf(peerId);
    if (i < 0) {
      if (peers.length < this.memory) {
        peers.push(peerId);
        this.entries++;
        return;
      }
      i = 0; // full: the least recent makes room
    }
    // Shift the newer ones down over slot i and put the peer last; at most `trackerMemory` moves.
    for (let j = i; j < last; j++) peers[j] = peers[j + 1]!;
    peers[last] = peerId;
  }

  /**
   * Up to `trackerAnswer` peers that announced `fileId`, drawn uniformly at random among the remembered
   * ones for which `isOnline` holds now, without duplicates and in random order (so askers spread
   * their requests over the holders). `exclude` (the asker) is never answered. Offline peers are
   * skipped, not removed. `isOnline` must not call back into this tracker.
   */
  query(fileId: string, isOnline: (peerId: string) => boolean, rng: Rng, exclude?: string): string[] {
    const file = this.byFile.get(fileId);
    const out: string[] = [];
    if (file === undefined || this.answer === 0) return out;
    const peers = file.peers;
    for (let i = 0; i < peers.length; i++) {
      const p = peers[i]!;
      if (p !== exclude && isOnline(p)) out.push(p);
    }
    // Partial Fisher–Yates: the first k slots become a uniform random k-subset in random order.
    const k = Math.min(this.answer, out.length);
    for (let i = 0; i < k; i++) {
      const j = i + randomInt(rng, out.length - i);
      const t = out[i]!;
      out[i] = out[j]!;
      out[j] = t;
    }
    out.length = k;
    return out;
  }

  /** The peers remembered for `fileId`, most recent first (a copy; for inspection and tests). */
  peers(fileId: string): string[] {
    const file = this.byFile.get(fileId);
    return file === undefined ? [] : file.peers.slice().reverse();
  }

  /**
   * Removes `peerId` from every list, for an account that was deleted (clients never report
   * evictions, so this is the only removal). Files left with no peer are forgotten. Scans all lists.
   * Returns the number of lists it was removed from.
   */
  forgetPeer(peerId: string): number {
    let removed = 0;
    for (let file = this.oldest; file !== null; ) {
      const next = file.newer;
      const i = file.peers.indexOf(peerId);
      if (i >= 0) {
        file.peers.splice(i, 1);
        this.entries--;
        removed++;
        if (file.peers.length === 0) {
          this.unlink(file);
          this.byFile.delete(file.fileId);
        }
      }
      file = next;
    }
    return removed;
  }

  private dropFile(file: FileEntry): void {
    this.unlink(file);
    this.byFile.delete(file.fileId);
    this.entries -= file.peers.length;
  }

  /** Appends `file` as the most recently announced. */
  private link(file: FileEntry): void {
    file.older = this.newest;
    file.newer = null;
    if (this.newest !== null) this.newest.newer = file;
    else this.oldest = file;
    this.newest = file;
  }

  private unlink(file: FileEntry): void {
    if (file.older !== null) file.older.newer = file.newer;
    else this.oldest = file.newer;
    if (file.newer !== null) file.newer.older = file.older;
    else this.newest = file.older;
    file.older = file.newer = null;
  }
}

function positiveInt(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got ${n}`);
  return n;
}

function nonNegativeInt(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${n}`);
  return n;
}

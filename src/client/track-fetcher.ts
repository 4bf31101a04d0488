/**
 * Downloads the files the player wants into the disk cache. Which chunks to ask for, and from
 * which source, is the streaming scheduler's decision (`src/core/streaming-scheduler.ts`); this file carries the
 * decisions out: it finds peers, sends the requests, writes what arrives, and tells the scheduler
 * what happened.
 *
 * Integrity (DESIGN §5, issue 6): every chunk a peer sends is checked against the AP's chunk hashes
 * before it is written to the cache (and so before it is played or served on). A chunk that fails
 * is dropped, the peer is banned and disconnected (`PeerSources.badChunk`), and the scheduler gives
 * its chunks to another source (`peerFailed`, as for a lost peer). Chunks from the AP come over its
 * authenticated link and are written as they arrive, so a random access never waits for the hashes.
 */
import type { TrackInfo } from '../core/track.ts';
import { chunkCount } from '../core/track.ts';
import { StreamingScheduler, SERVER, newApRequestCounters, type ApRequestCounters, type StreamAssignment, type StreamSource } from '../core/streaming-scheduler.ts';
import { audioTimeAt } from '../core/playback-clock.ts';
import type { TunemeshConfig } from '../core/config.ts';
import type { ApConnection, OnChunk } from './ap-connection.ts';
import type { DiskCache } from './disk-cache.ts';
import { verifyChunk, type ChunkHashList } from '../core/chunk-hashes.ts';

/** Where the bytes of a chunk came from. */
export type ChunkSource = 'server' | 'peer';

/** Finds and reaches peers that have a file: the client's overlay side, seen from a download. */
export interface PeerSources {
  /**
   * Looks for peers that have the file (tracker and overlay) and connects to some. Calls
   * `found` with each peer connected, and `finished` once when the download should stop waiting
   * for peers (peers found later may still arrive through `found`).
   */
  lookup(fileId: string, found: (peerId: string) => void, trackerAnswered: () => void, finished: () => void): void;
  isConnected(peerId: string): boolean;
  fetchChunks(peerId: string, fileId: string, first: number, count: number, urgency: number, onChunk: OnChunk): { done: Promise<void>; cancel(): void };
  /** A chunk from `peerId` failed its hash check: drop and ban that peer. */
  badChunk(peerId: string, fileId: string, index: number): void;
}

/** Where the chunk hashes of a file come from (the AP: `ContentAccess`). */
export interface HashSource {
  hashes(fileId: string): Promise<ChunkHashList>;
}

/** Options of {@link TrackFetcher}. */
export interface TrackFetcherOptions {
  /** Chunks per request. @default 32 */
  batchChunks?: number;
  /** Requests in flight per source. @default 3 */
  pipeline?: number;
  /**
   * Where the listener is in a file being played (from the playback clocks), or, for the next
   * track of the play queue, when it starts (`startsInMs`: a prefetch).
   */
  playback?: (fileId: string, now: number) => { positionMs: number; playing: boolean; startsInMs?: number } | undefined;
  /** Emergency mode changed (buffer under 3 s): the client stops uploading while it lasts. */
  onEmergency?: (on: boolean) => void;
  /** Peers to look up and fetch from; without it every chunk comes from the AP. */
  peers?: PeerSources;
  /**
   * The AP's chunk hashes, against which every chunk from a peer is checked. Without it chunks
   * from peers are refused (nothing unverified is written).
   */
  hashes?: HashSource;
  /** Called when a file this process downloaded is complete and verified (the client announces it). */
  onComplete?: (fileId: string) => void;
  log?: (line: string) => void;
}

interface Request {
  id: number;
  source: string;
  first: number;
  count: number;
  cancel(): void;
}

interface Download {
  track: TrackInfo;
  total: number;
  wantFrom: number;
  inFlight: Set<number>;
  requests: Map<number, Request>;
  /** Chunks asked of the AP for a player's probe of the file's end, outside the scheduler. */
  probeInFlight: Set<number>;
  scheduler: StreamingScheduler;
  emergency: boolean;
  /** Consecutive failed AP requests. */
  failures: number;
  wake?: NodeJS.Timeout;
}

/** Consecutive failed AP requests after which a download is dropped. */
const MAX_FAILURES = 3;

export class TrackFetcher {
  private readonly downloads = new Map<string, Download>();
  /** Source of each chunk written by this process, by file: played bytes are counted by it. */
  private readonly sources = new Map<string, Map<number, ChunkSource>>();
  /** Chunk bytes received, by source. */
  readonly received = { server: 0, peer: 0 };
  /** Integrity: peer chunks that failed their hash check, and chunks dropped from the cache by a recheck after a restart. */
  readonly integrity = { badPeerChunks: 0, peersBanned: 0, recheckedFiles: 0, recheckDropped: 0 };
  /** Hash lists resolved, by file, so a chunk is checked without waiting when they are known. */
  private readonly hashLists = new Map<string, ChunkHashList>();
  /** AP requests and chunks by reason (first seconds, emergency, no peer, prefetch fallback, slow peer). */
  readonly apRequests: ApRequestCounters = newApRequestCounters();
  private readonly chunkSize: number;

  constructor(
    private readonly ap: ApConnection,
    private readonly cache: DiskCache,
    private readonly config: TunemeshConfig,
    private readonly opts: TrackFetcherOptions = {},
  ) {
    this.chunkSize = config.chunkSize;
    // Chunks this process fetched mark the files it downloaded (as opposed to found cached).
    cache.on('complete', (fileId: string) => {
      if (this.sources.has(fileId)) this.opts.onComplete?.(fileId);
    });
  }

  /** Which source brought chunk `index` of a file in this process, if any. */
  sourceOf(fileId: string, index: number): ChunkSource | undefined {
    return this.sources.get(fileId)?.get(index);
  }

  /** Files downloading now. */
  get active(): number {
    return this.downloads.size;
  }

  /** Makes sure the file is downloading, from chunk `fromChunk` onwards first. */
  async want(track: TrackInfo, fromChunk: number): Promise<void> {
    if (this.cache.isComplete(track.fileId)) return;
    if (!this.downloads.has(track.fileId)) {
      await this.cache.ensureFile(track.fileId, track.bytes, track);
      if (this.cache.isComplete(track.fileId)) return;
    }
    let d = this.downloads.get(track.fileId);
    if (!d) {
      d = this.startDownload(track, fromChunk);
    } else if (fromChunk !== d.wantFrom) {
      // A seek is a new random access; the scheduler drops what the listener skipped.
      d.wantFrom = fromChunk;
      d.scheduler.seek();
    }
    this.pump(d);
  }

  /**
   * Fetches the chunks holding bytes [start, end) of a file from the AP without moving the
   * download's playback point: for a player probing the end of the file.
   */
  async fetchRange(track: TrackInfo, start: number, end: number): Promise<void> {
    if (this.cache.isComplete(track.fileId)) return;
    await this.cache.ensureFile(track.fileId, track.bytes, track);
    const d = this.downloads.get(track.fileId) ?? this.startDownload(track, 0);
    const first = Math.floor(start / this.chunkSize);
    const last = Math.floor((end - 1) / this.chunkSize);
    for (let i = first; i <= last; i++) {
      if (this.cache.hasChunk(track.fileId, i) || d.inFlight.has(i)) continue;
      let n = 1;
      while (i + n <= last && !this.cache.hasChunk(track.fileId, i + n) && !d.inFlight.has(i + n)) n++;
      this.probe(d, i, n);
      i += n - 1;
    }
    this.pump(d);
  }

  /** Whether the file is downloading now. */
  isDownloading(fileId: string): boolean {
    return this.downloads.has(fileId);
  }

  /**
   * Stops downloading a file nobody listens to any more (the listener skipped it); what arrived
   * stays in the cache, and a later play continues from there.
   */
  drop(fileId: string): void {
    const d = this.downloads.get(fileId);
    if (d) this.finish(d);
  }

  stop(): void {
    for (const d of this.downloads.values()) {
      clearTimeout(d.wake);
      for (const r of d.requests.values()) r.cancel();
    }
    this.downloads.clear();
  }

  private startDownload(track: TrackInfo, fromChunk: number): Download {
    const d: Download = {
      track,
      total: chunkCount(track.bytes, this.chunkSize),
      wantFrom: fromChunk,
      inFlight: new Set(),
      requests: new Map(),
      probeInFlight: new Set(),
      scheduler: new StreamingScheduler(track, this.config, { batchChunks: this.opts.batchChunks, pipeline: this.opts.pipeline, counters: this.apRequests }),
      emergency: false,
      failures: 0,
    };
    this.downloads.set(track.fileId, d);
    const peers = this.opts.peers;
    // The hashes are asked for at once, beside the first chunks from the AP: they only gate
    // chunks from peers, which come later (after the tracker's answer).
    if (peers) void this.hashesOf(track.fileId).catch((err: Error) => this.opts.log?.(`client: chunk hashes of ${track.fileId}: ${err.message}`));
    if (peers) {
      peers.lookup(
        track.fileId,
        (peerId) => {
          d.scheduler.addPeers([peerId]);
          this.pump(d);
        },
        () => {
          d.scheduler.trackerAnswered();
          this.pump(d);
        },
        () => {
          d.scheduler.lookupFinished();
          this.pump(d);
        },
      );
    } else {
      d.scheduler.lookupFinished();
    }
    return d;
  }

  private pump(d: Download): void {
    if (this.downloads.get(d.track.fileId) !== d) return;
    const fileId = d.track.fileId;
    if (this.cache.isComplete(fileId)) {
      this.finish(d);
      return;
    }
    const now = performance.now();
    const sources: StreamSource[] = [];
    if (this.ap.connected) sources.push({ id: SERVER });
    for (const peerId of d.scheduler.usablePeers()) if (this.opts.peers?.isConnected(peerId)) sources.push({ id: peerId });
    const playback = this.opts.playback?.(fileId, now) ?? { positionMs: audioTimeAt(d.track, d.wantFrom * this.chunkSize), playing: false };
    const decision = d.scheduler.next(now, {
      ...playback,
      held: (i) => this.cache.hasChunk(fileId, i) || d.probeInFlight.has(i),
      sources,
    });
    for (const id of decision.cancel) {
      const r = d.requests.get(id);
      if (!r) continue;
      d.requests.delete(id);
      r.cancel();
      for (let i = r.first; i < r.first + r.count; i++) d.inFlight.delete(i);
    }
    for (const a of decision.assign) this.request(d, a);
    if (decision.emergency !== d.emergency) {
      d.emergency = decision.emergency;
      this.opts.onEmergency?.(this.emergency);
    }
    clearTimeout(d.wake);
    const wakeAt = d.scheduler.wakeAt();
    if (wakeAt !== undefined) {
      d.wake = setTimeout(() => this.pump(d), Math.max(1, wakeAt - performance.now()));
      d.wake.unref?.();
    }
  }

  /** True while any download is in emergency mode. */
  get emergency(): boolean {
    for (const d of this.downloads.values()) if (d.emergency) return true;
    return false;
  }

  private finish(d: Download): void {
    clearTimeout(d.wake);
    for (const r of d.requests.values()) r.cancel();
    d.requests.clear();
    if (this.downloads.get(d.track.fileId) === d) this.downloads.delete(d.track.fileId);
    if (d.emergency) {
      d.emergency = false;
      this.opts.onEmergency?.(this.emergency);
    }
  }

  /** A player's probe of the file's end: straight from the AP, outside the scheduler's plan. */
  private probe(d: Download, first: number, count: number): void {
    const fileId = d.track.fileId;
    for (let i = first; i < first + count; i++) d.probeInFlight.add(i);
    const writes: Promise<void>[] = [];
    const handle = this.ap.fetchChunks(fileId, first, count, 0, (index, data) => {
      this.noteSource(fileId, index, 'server', data.length);
      writes.push(this.cache.writeChunk(fileId, index, data));
    });
    handle.done
      .then(() => Promise.all(writes))
      .catch((err: Error) => this.opts.log?.(`client: AP: probe chunks ${first}+${count} of ${fileId}: ${err.message}`))
      .finally(() => {
        for (let i = first; i < first + count; i++) d.probeInFlight.delete(i);
        this.pump(d);
      });
  }

  /** The hash list of a file, asked of the AP once per download (ContentAccess keeps it). */
  private async hashesOf(fileId: string): Promise<ChunkHashList> {
    const known = this.hashLists.get(fileId);
    if (known) return known;
    if (!this.opts.hashes) throw new Error('no chunk hashes: chunks from peers cannot be verified');
    const list = await this.opts.hashes.hashes(fileId);
    this.hashLists.set(fileId, list);
    // Bounded: the lists of files no longer downloading are dropped (ContentAccess keeps its own).
    if (this.hashLists.size > 64) for (const id of this.hashLists.keys()) if (!this.downloads.has(id) && id !== fileId) this.hashLists.delete(id);
    return list;
  }

  /**
   * Checks a chunk from a peer; resolves true when it may be written. A bad chunk bans the peer
   * and makes the scheduler move that peer's chunks elsewhere; a chunk that cannot be checked
   * (the AP did not give the hashes) is dropped and the peer not used for this file.
   */
  private async checkPeerChunk(d: Download, peerId: string, index: number, data: Uint8Array): Promise<boolean> {
    const fileId = d.track.fileId;
    let list: ChunkHashList;
    try {
      list = this.hashLists.get(fileId) ?? (await this.hashesOf(fileId));
    } catch (err) {
      this.opts.log?.(`client: chunk ${index} of ${fileId} from peer ${peerId} dropped: cannot verify it: ${(err as Error).message}`);
      d.scheduler.peerFailed(peerId);
      return false;
    }
    if (verifyChunk(list, index, data)) return true;
    this.integrity.badPeerChunks++;
    this.opts.log?.(`client: chunk ${index} of ${fileId} from peer ${peerId} failed its hash check: peer dropped and banned`);
    d.scheduler.peerFailed(peerId);
    this.integrity.peersBanned++;
    this.opts.peers?.badChunk(peerId, fileId, index);
    return false;
  }

  /**
   * After a restart: checks every complete cached file against the AP's chunk hashes before it is
   * shared again; chunks that fail are dropped and fetched again from the AP (each checked too).
   */
  async recheckCache(hashes: HashSource): Promise<void> {
    for (const fileId of this.cache.uncheckedFiles()) {
      try {
        const list = await hashes.hashes(fileId);
        const dropped = await this.cache.recheck(fileId, (i, data) => verifyChunk(list, i, data));
        this.integrity.recheckedFiles++;
        if (dropped.length === 0) continue;
        this.integrity.recheckDropped += dropped.length;
        this.opts.log?.(`client: cached file ${fileId}: ${dropped.length} chunk(s) failed their hash check after a restart; fetching them again`);
        for (const [first, count] of runs(dropped)) {
          const writes: Promise<void>[] = [];
          const h = this.ap.fetchChunks(fileId, first, count, 255, (index, data) => {
            if (verifyChunk(list, index, data)) writes.push(this.cache.writeChunk(fileId, index, data));
          });
          await h.done;
          await Promise.all(writes);
        }
      } catch (err) {
        this.opts.log?.(`client: recheck of cached file ${fileId}: ${(err as Error).message}`);
      }
    }
  }

  private noteSource(fileId: string, index: number, kind: ChunkSource, bytes: number): void {
    let sources = this.sources.get(fileId);
    if (!sources) this.sources.set(fileId, (sources = new Map()));
    sources.set(index, kind);
    this.received[kind] += bytes;
  }

  /** Sends one request to its source and writes what arrives to the cache. */
  private request(d: Download, a: StreamAssignment): void {
    const fileId = d.track.fileId;
    for (let i = a.first; i < a.first + a.count; i++) d.inFlight.add(i);
    const kind: ChunkSource = a.source === SERVER ? 'server' : 'peer';
    const writes: Promise<void>[] = [];
    let poisoned = false;
    const onChunk: OnChunk = (index, data) => {
      if (kind === 'server') {
        this.noteSource(fileId, index, kind, data.length);
        d.scheduler.chunkArrived(performance.now(), a.id, index);
        writes.push(this.cache.writeChunk(fileId, index, data));
        return;
      }
      // From a peer: nothing is used, cached or served on before it passed its hash check.
      if (poisoned) return;
      const known = this.hashLists.get(fileId);
      const write = (ok: boolean) => {
        if (!ok) {
          poisoned = true;
          return;
        }
        if (poisoned) return;
        this.noteSource(fileId, index, kind, data.length);
        d.scheduler.chunkArrived(performance.now(), a.id, index);
        writes.push(this.cache.writeChunk(fileId, index, data));
      };
      if (known) {
        const ok = verifyChunk(known, index, data);
        if (ok) write(true);
        else writes.push(this.checkPeerChunk(d, a.source, index, data).then(write));
      } else {
        // The hashes are on their way: a copy, since the frame buffer behind `data` is reused.
        const copy = Uint8Array.from(data);
        writes.push(this.checkPeerChunk(d, a.source, index, copy).then(write));
      }
    };
    const handle =
      a.source === SERVER
        ? this.ap.fetchChunks(fileId, a.first, a.count, a.urgency, onChunk)
        : this.opts.peers!.fetchChunks(a.source, fileId, a.first, a.count, a.urgency, onChunk);
    const req: Request = { id: a.id, source: a.source, first: a.first, count: a.count, cancel: handle.cancel };
    d.requests.set(a.id, req);
    let ok = true;
    handle.done
      .then(() => Promise.all(writes))
      .then(
        () => {
          if (a.source === SERVER) d.failures = 0;
        },
        (err: Error) => {
          ok = false;
          this.opts.log?.(`client: ${a.source === SERVER ? 'AP' : `peer ${a.source}`}: chunks ${a.first}+${a.count} of ${fileId}: ${err.name}: ${err.message}`);
          if (a.source === SERVER) d.failures++;
        },
      )
      .finally(() => {
        if (d.requests.get(a.id) !== req) return; // cancelled: the scheduler already moved on
        d.requests.delete(a.id);
        for (let i = a.first; i < a.first + a.count; i++) d.inFlight.delete(i);
        // A failed peer request marks that peer unusable for this file inside the scheduler.
        d.scheduler.requestEnded(performance.now(), a.id, ok);
        if (d.failures >= MAX_FAILURES) {
          // Given up after repeated failures: the next play of the file starts a new download.
          this.finish(d);
          return;
        }
        this.pump(d);
      });
  }
}

/** Consecutive runs `[first, count]` of ascending indices. */
function runs(indices: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const i of indices) {
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === i) last[1]++;
    else out.push([i, 1]);
  }
  return out;
}

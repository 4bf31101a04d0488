/**
 * Downloads the files the player wants into the disk cache. Which chunks to ask for, and from
 * which source, is the scheduler's decision (`src/core/scheduler.ts`); this file carries the
 * decisions out: it finds peers, sends the requests, writes what arrives, and tells the scheduler
 * what happened.
 */
import type { TrackInfo } from '../core/track.ts';
import { chunkCount } from '../core/track.ts';
import { InOrderScheduler, SERVER, type ChunkAssignment, type SourceView } from '../core/scheduler.ts';
import type { ApConnection, OnChunk } from './ap-connection.ts';
import type { DiskCache } from './disk-cache.ts';

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
}

/** Options of {@link TrackFetcher}. */
export interface TrackFetcherOptions {
  /** Chunks per request. @default 32 */
  batchChunks?: number;
  /** Requests in flight per source. @default 3 */
  pipeline?: number;
  /** How long a download waits for the peer lookup before asking the AP, ms. @default 300 */
  lookupWaitMs?: number;
  /** Audio the AP serves from the playback point while the overlay search runs, ms. @default 15000 */
  prefixMs?: number;
  /** Peers to look up and fetch from; without it every chunk comes from the AP. */
  peers?: PeerSources;
  /** Called when a file this process downloaded is complete and verified (the client announces it). */
  onComplete?: (fileId: string) => void;
  log?: (line: string) => void;
}

interface Request {
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
  requests: Set<Request>;
  scheduler: InOrderScheduler;
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

  constructor(
    private readonly ap: ApConnection,
    private readonly cache: DiskCache,
    private readonly chunkSize: number,
    private readonly opts: TrackFetcherOptions = {},
  ) {
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
    } else if (fromChunk !== d.wantFrom && !d.inFlight.has(fromChunk) && !this.cache.hasChunk(track.fileId, fromChunk)) {
      // A seek: drop the requests for audio the listener skipped and start at the new point.
      d.wantFrom = fromChunk;
      for (const r of d.requests) r.cancel();
      d.requests.clear();
      d.inFlight.clear();
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
      this.request(d, { source: SERVER, first: i, count: n });
      i += n - 1;
    }
    this.pump(d);
  }

  stop(): void {
    for (const d of this.downloads.values()) {
      clearTimeout(d.wake);
      for (const r of d.requests) r.cancel();
    }
    this.downloads.clear();
  }

  private startDownload(track: TrackInfo, fromChunk: number): Download {
    const d: Download = {
      track,
      total: chunkCount(track.bytes, this.chunkSize),
      wantFrom: fromChunk,
      inFlight: new Set(),
      requests: new Set(),
      scheduler: new InOrderScheduler(performance.now(), {
        batchChunks: this.opts.batchChunks,
        pipeline: this.opts.pipeline,
        lookupWaitMs: this.opts.peers ? this.opts.lookupWaitMs : 0,
        // About randomAccessPrefixMs of audio (P2P'10: ~15 s from the AP at once).
        prefixChunks: Math.ceil(((track.bitrate / 8) * (this.opts.prefixMs ?? 15_000)) / 1000 / this.chunkSize),
      }),
      failures: 0,
    };
    this.downloads.set(track.fileId, d);
    const peers = this.opts.peers;
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
    const counts = new Map<string, number>();
    for (const r of d.requests) counts.set(r.source, (counts.get(r.source) ?? 0) + 1);
    const connected: SourceView[] = [{ id: SERVER, inFlight: counts.get(SERVER) ?? 0 }];
    for (const peerId of d.scheduler.usablePeers()) {
      if (this.opts.peers?.isConnected(peerId)) connected.push({ id: peerId, inFlight: counts.get(peerId) ?? 0 });
    }
    const wanted = (i: number) => !d.inFlight.has(i) && !this.cache.hasChunk(fileId, i);
    for (const a of d.scheduler.next(performance.now(), d.total, d.wantFrom, wanted, connected)) this.request(d, a);
    clearTimeout(d.wake);
    const wakeAt = d.scheduler.wakeAt();
    if (d.requests.size === 0 && wakeAt !== undefined) {
      d.wake = setTimeout(() => this.pump(d), Math.max(1, wakeAt - performance.now()));
      d.wake.unref?.();
    }
  }

  private finish(d: Download): void {
    clearTimeout(d.wake);
    for (const r of d.requests) r.cancel();
    if (this.downloads.get(d.track.fileId) === d) this.downloads.delete(d.track.fileId);
  }

  /** Sends one request to its source and writes what arrives to the cache. */
  private request(d: Download, a: ChunkAssignment): void {
    const fileId = d.track.fileId;
    for (let i = a.first; i < a.first + a.count; i++) d.inFlight.add(i);
    let sources = this.sources.get(fileId);
    if (!sources) this.sources.set(fileId, (sources = new Map()));
    const kind: ChunkSource = a.source === SERVER ? 'server' : 'peer';
    const writes: Promise<void>[] = [];
    const onChunk: OnChunk = (index, data) => {
      sources.set(index, kind);
      this.received[kind] += data.length;
      writes.push(this.cache.writeChunk(fileId, index, data));
    };
    const handle =
      a.source === SERVER
        ? this.ap.fetchChunks(fileId, a.first, a.count, 0, onChunk)
        : this.opts.peers!.fetchChunks(a.source, fileId, a.first, a.count, 0, onChunk);
    const req: Request = { source: a.source, first: a.first, count: a.count, cancel: handle.cancel };
    d.requests.add(req);
    handle.done
      .then(() => Promise.all(writes))
      .then(
        () => {
          if (a.source === SERVER) d.failures = 0;
        },
        (err: Error) => {
          this.opts.log?.(`client: ${a.source === SERVER ? 'AP' : `peer ${a.source}`}: chunks ${a.first}+${a.count} of ${fileId}: ${err.name}: ${err.message}`);
          // A peer that fails is not asked again for this file: the rest comes from elsewhere.
          if (a.source === SERVER) d.failures++;
          else d.scheduler.peerFailed(a.source);
        },
      )
      .finally(() => {
        if (!d.requests.delete(req)) return; // cancelled by a seek; the new requests run
        for (let i = a.first; i < a.first + a.count; i++) d.inFlight.delete(i);
        if (d.failures >= MAX_FAILURES) {
          // Given up after repeated failures: the next play of the file starts a new download.
          this.finish(d);
          return;
        }
        this.pump(d);
      });
  }
}

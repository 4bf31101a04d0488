/**
 * Downloads the files the player wants into the disk cache. For now every chunk comes from the
 * AP, in order from the playback point; the peers issue adds peer sources behind the same calls.
 */
import type { TrackInfo } from '../core/track.ts';
import { chunkCount } from '../core/track.ts';
import { nextWantedRun, type ChunkRun } from '../core/fetch-plan.ts';
import type { ApConnection } from './ap-connection.ts';
import type { DiskCache } from './disk-cache.ts';

/** Where the bytes of a chunk came from. */
export type ChunkSource = 'server' | 'peer';

/** Options of {@link TrackFetcher}. */
export interface TrackFetcherOptions {
  /** Chunks per request. @default 32 (512 kB: small enough that a seek redirects quickly) */
  batchChunks?: number;
  /** Requests in flight per file, so the link never idles between batches. @default 3 */
  pipeline?: number;
  log?: (line: string) => void;
}

interface Download {
  track: TrackInfo;
  total: number;
  wantFrom: number;
  inFlight: Set<number>;
  requests: Set<{ cancel(): void }>;
  /** Consecutive failed requests. */
  failures: number;
}

/** Consecutive failed requests after which a download is dropped. */
const MAX_FAILURES = 3;

export class TrackFetcher {
  private readonly downloads = new Map<string, Download>();
  /** Source of each chunk written by this process, by file: played bytes are counted by it. */
  private readonly sources = new Map<string, Map<number, ChunkSource>>();
  private readonly batch: number;
  private readonly pipeline: number;

  constructor(
    private readonly ap: ApConnection,
    private readonly cache: DiskCache,
    private readonly chunkSize: number,
    private readonly opts: TrackFetcherOptions = {},
  ) {
    this.batch = opts.batchChunks ?? 32;
    this.pipeline = opts.pipeline ?? 3;
  }

  /** Which source brought chunk `index` of a file in this process, if any. */
  sourceOf(fileId: string, index: number): ChunkSource | undefined {
    return this.sources.get(fileId)?.get(index);
  }

  /** Makes sure the file is downloading, from chunk `fromChunk` onwards first. */
  async want(track: TrackInfo, fromChunk: number): Promise<void> {
    if (this.cache.isComplete(track.fileId)) return;
    let d = this.downloads.get(track.fileId);
    if (!d) {
      await this.cache.ensureFile(track.fileId, track.bytes, track);
      if (this.cache.isComplete(track.fileId)) return;
      d = this.downloads.get(track.fileId);
    }
    if (!d) {
      d = { track, total: chunkCount(track.bytes, this.chunkSize), wantFrom: fromChunk, inFlight: new Set(), requests: new Set(), failures: 0 };
      this.downloads.set(track.fileId, d);
    } else if (fromChunk !== d.wantFrom && !this.isCoveredSoon(d, fromChunk)) {
      // A seek: drop the requests for audio the listener skipped and start at the new point.
      d.wantFrom = fromChunk;
      for (const r of d.requests) r.cancel();
      d.requests.clear();
      d.inFlight.clear();
    }
    this.pump(d);
  }

  /**
   * Fetches the chunks holding bytes [start, end) of a file without moving the download's
   * playback point: for a player probing the end of the file.
   */
  async fetchRange(track: TrackInfo, start: number, end: number): Promise<void> {
    if (this.cache.isComplete(track.fileId)) return;
    await this.cache.ensureFile(track.fileId, track.bytes, track);
    const first = Math.floor(start / this.chunkSize);
    const last = Math.floor((end - 1) / this.chunkSize);
    const d = this.downloads.get(track.fileId);
    const missing = (i: number) => !this.cache.hasChunk(track.fileId, i) && !d?.inFlight.has(i);
    let run = nextWantedRun(missing, last + 1, first, last - first + 1);
    while (run && run.first >= first) {
      this.request(track.fileId, run, d);
      run = nextWantedRun(missing, last + 1, run.first + run.count, last - first + 1);
    }
    if (!d) void this.want(track, 0);
  }

  /** True when chunk `index` is already on its way in the current requests. */
  private isCoveredSoon(d: Download, index: number): boolean {
    return d.inFlight.has(index) || this.cache.hasChunk(d.track.fileId, index);
  }

  private pump(d: Download): void {
    const fileId = d.track.fileId;
    while (d.requests.size < this.pipeline) {
      const run = nextWantedRun((i) => !d.inFlight.has(i) && !this.cache.hasChunk(fileId, i), d.total, d.wantFrom, this.batch);
      if (!run) break;
      this.request(fileId, run, d);
    }
    if (d.requests.size === 0 && this.cache.isComplete(fileId)) this.downloads.delete(fileId);
  }

  /** Asks the AP for a run of chunks and writes them to the cache as they arrive. */
  private request(fileId: string, run: ChunkRun, d: Download | undefined): void {
    for (let i = run.first; i < run.first + run.count; i++) d?.inFlight.add(i);
    let sources = this.sources.get(fileId);
    if (!sources) this.sources.set(fileId, (sources = new Map()));
    const writes: Promise<void>[] = [];
    const req = this.ap.fetchChunks(fileId, run.first, run.count, 0, (index, data) => {
      sources.set(index, 'server');
      writes.push(this.cache.writeChunk(fileId, index, data));
    });
    d?.requests.add(req);
    req.done
      .then(() => Promise.all(writes))
      .then(
        () => {
          if (d) d.failures = 0;
        },
        (err: Error) => {
          this.opts.log?.(`client: fetching ${fileId} chunks ${run.first}+${run.count}: ${err.name}: ${err.message}`);
          if (d) d.failures++;
        },
      )
      .finally(() => {
        if (!d || !d.requests.delete(req)) return; // cancelled by a seek; the new requests run
        for (let i = run.first; i < run.first + run.count; i++) d.inFlight.delete(i);
        if (this.cache.isComplete(fileId) || d.failures >= MAX_FAILURES) {
          // Given up after repeated failures: the next play of the file starts a new download.
          this.downloads.delete(fileId);
        } else if (this.downloads.get(fileId) === d) {
          this.pump(d);
        }
      });
  }

  /** Files downloading now. */
  get active(): number {
    return this.downloads.size;
  }

  stop(): void {
    for (const d of this.downloads.values()) for (const r of d.requests) r.cancel();
    this.downloads.clear();
  }
}

/**
 * The chunk scheduler: decides, for one file being downloaded, which chunks to ask for next and
 * from which source. This is the in-order strategy of the peers issue: the missing chunks from
 * the playback point on (then the ones before it), given to peers that are thought to have the
 * file, with the AP as the fallback when no usable peer is known or the peer lookup took too
 * long. The streaming strategy (DESIGN §3, the next issue) replaces the policy behind the same
 * calls, so the runtime does not change.
 *
 * Pure: time comes in as an argument; no I/O.
 */
import { nextWantedRun, type ChunkRun } from './fetch-plan.ts';

/** The AP's source id. */
export const SERVER = 'server';

/** A place chunks can come from, as the scheduler sees it. */
export interface SourceView {
  /** `'server'` for the AP, else the peer id. */
  id: string;
  /** Requests outstanding at this source for this file. */
  inFlight: number;
}

/** One request the runtime should send. */
export interface ChunkAssignment extends ChunkRun {
  source: string;
}

/** Tunables of the in-order scheduler. */
export interface InOrderSchedulerOptions {
  /** Chunks per request. @default 32 (512 kB: a seek redirects quickly) */
  batchChunks?: number;
  /** Requests in flight per source, so a link never idles between batches. @default 3 */
  pipeline?: number;
  /** How long to wait for the tracker's answer before fetching from the AP, ms. @default 300 */
  lookupWaitMs?: number;
  /**
   * While the overlay search still runs, the AP serves only this many chunks from the playback
   * point (about `randomAccessPrefixMs` of audio, P2P'10); the rest waits for the search's
   * outcome. @default Infinity
   */
  prefixChunks?: number;
}

/**
 * One download's scheduling state: the peers that may have the file, the ones that failed, and
 * whether the lookup for peers is still running.
 */
export class InOrderScheduler {
  private readonly batch: number;
  private readonly pipeline: number;
  private readonly lookupWaitMs: number;
  private readonly prefixChunks: number;
  private readonly peers: string[] = [];
  private readonly failed = new Set<string>();
  private trackerDone = false;
  private lookupDone = false;

  constructor(
    private readonly startedAt: number,
    opts: InOrderSchedulerOptions = {},
  ) {
    this.batch = opts.batchChunks ?? 32;
    this.pipeline = opts.pipeline ?? 3;
    this.lookupWaitMs = opts.lookupWaitMs ?? 300;
    this.prefixChunks = opts.prefixChunks ?? Infinity;
  }

  /** Peers found (tracker or overlay) that are thought to have the file. */
  addPeers(peerIds: readonly string[]): void {
    for (const id of peerIds) if (!this.peers.includes(id) && !this.failed.has(id)) this.peers.push(id);
  }

  /** The tracker answered (peers it named are added, and connected, before this). */
  trackerAnswered(): void {
    this.trackerDone = true;
  }

  /** The lookup for peers is over, tracker and overlay search (found or not). */
  lookupFinished(): void {
    this.trackerDone = true;
    this.lookupDone = true;
  }

  /** A peer refused, lacked the file, sent nothing or disconnected: use it no more for this file. */
  peerFailed(peerId: string): void {
    this.failed.add(peerId);
    const i = this.peers.indexOf(peerId);
    if (i >= 0) this.peers.splice(i, 1);
  }

  /** Peers still usable for this file, best first. */
  usablePeers(): readonly string[] {
    return this.peers;
  }

  /**
   * When the scheduler next wants to be asked although nothing happened: the end of the lookup
   * wait. Undefined when no such moment is pending.
   */
  wakeAt(): number | undefined {
    return this.trackerDone || this.peers.length > 0 ? undefined : this.startedAt + this.lookupWaitMs;
  }

  /**
   * The requests to send now. `wanted(i)`: chunk i is neither held nor requested. `connected`:
   * the sources reachable now with their outstanding requests (the AP is always among them).
   */
  next(now: number, total: number, wantFrom: number, wanted: (i: number) => boolean, connected: readonly SourceView[]): ChunkAssignment[] {
    const out: ChunkAssignment[] = [];
    const claimed = new Set<number>();
    const free = (i: number) => wanted(i) && !claimed.has(i);
    const assign = (source: SourceView): boolean => {
      const run = nextWantedRun(free, total, wantFrom, this.batch);
      if (!run) return false;
      for (let i = run.first; i < run.first + run.count; i++) claimed.add(i);
      out.push({ source: source.id, ...run });
      source.inFlight++;
      return true;
    };
    const peerSources = connected.filter((s) => s.id !== SERVER && this.peers.includes(s.id));
    if (peerSources.length > 0) {
      // Round-robin over the peers that have the file, up to the pipeline depth each.
      for (let round = 0; round < this.pipeline; round++) {
        for (const s of peerSources) if (s.inFlight < this.pipeline && !assign(s)) return out;
      }
      return out;
    }
    // No usable peer connected: the AP, once the tracker answered or took too long, and not
    // while peers it named are still being connected to. While the overlay search runs, only
    // the first seconds from the playback point: a peer it finds serves the rest.
    const trackerWait = !this.trackerDone && now < this.startedAt + this.lookupWaitMs;
    if (trackerWait || (this.peers.length > 0 && now < this.startedAt + this.lookupWaitMs)) return out;
    const server = connected.find((s) => s.id === SERVER);
    if (!server) return out;
    const limit = this.lookupDone ? total : Math.min(total, wantFrom + this.prefixChunks);
    const inWindow = (i: number) => i >= wantFrom && i < limit && free(i);
    while (server.inFlight < this.pipeline) {
      const run = nextWantedRun(inWindow, limit, wantFrom, this.batch);
      if (!run) break;
      for (let i = run.first; i < run.first + run.count; i++) claimed.add(i);
      out.push({ source: server.id, ...run });
      server.inFlight++;
    }
    if (this.lookupDone) while (server.inFlight < this.pipeline && assign(server));
    return out;
  }
}

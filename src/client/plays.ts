/**
 * Every play the player starts: its playback clock (latency, stutter), and the played bytes by
 * source. A play starts with a request for a track's audio from the start or at a new position
 * (a seek is a new random access, DESIGN §3).
 */
import type { Clock } from '../core/clock.ts';
import type { TunemeshConfig } from '../core/config.ts';
import { PlaybackClock, startByteFor } from '../core/playback-clock.ts';
import type { TrackInfo } from '../core/track.ts';
import { timeForByte } from '../audio/ogg.ts';
import type { DiskCache } from './disk-cache.ts';
import type { TrackFetcher } from './track-fetcher.ts';

/** Bytes by where they came from. */
export interface SourceBytes {
  server: number;
  peer: number;
  cache: number;
}

/** One play as reported in `/api/stats`. */
export interface PlayRecord {
  id: number;
  trackId: string;
  title: string;
  artist: string;
  /** Wall-clock time the play was requested (ISO 8601). */
  at: string;
  /** Position the play started at, ms into the track. */
  startMs: number;
  /**
   * How the listener got here: `sequential` for the next track of the play queue reached by
   * playing on or skipping (its start was prefetched), `random` for a pick or a seek.
   */
  access: 'random' | 'sequential';
  /** Time from the request until playback could start and keep going; null while buffering. */
  latencyMs: number | null;
  stutters: number;
  stallMs: number;
  /** Why the play ended: played to the end (`finished`), left (`stopped`), or a seek; null while it lasts. */
  endReason: 'finished' | 'stopped' | 'seek' | null;
  /** Each stutter: ms after the request, position in the track, how long playback paused (null while it is). */
  stutterEvents: { atMs: number; positionMs: number; durationMs: number | null }[];
  state: string;
  /** Played bytes by source. */
  sources: SourceBytes;
}

interface ActivePlay {
  record: PlayRecord;
  track: TrackInfo;
  clock: PlaybackClock;
  startByte: number;
  /** Chunks the cache held when the play began: played from them counts as the cache source. */
  presentAtStart: Uint8Array;
  counted: Set<number>;
  timer?: NodeJS.Timeout;
}

/** Which chunks of a track's file the cache holds now: 1 for each held. */
export function heldChunks(cache: DiskCache, track: Pick<TrackInfo, 'fileId' | 'bytes'>, chunkSize: number): Uint8Array {
  const held = new Uint8Array(Math.ceil(track.bytes / chunkSize));
  for (let i = 0; i < held.length; i++) held[i] = cache.hasChunk(track.fileId, i) ? 1 : 0;
  return held;
}

/** Plays kept in the stats after they end. */
const HISTORY = 500;

export class Plays {
  private nextId = 1;
  private readonly active = new Map<number, ActivePlay>();
  readonly history: PlayRecord[] = [];
  /** Played bytes by source over all plays. */
  readonly played: SourceBytes = { server: 0, peer: 0, cache: 0 };

  constructor(
    private readonly cache: DiskCache,
    private readonly fetcher: TrackFetcher,
    private readonly clock: Clock,
    private readonly config: TunemeshConfig,
  ) {
    cache.on('chunk', (fileId: string) => this.onData(fileId));
  }

  /**
   * Starts a play of `track` at byte `startByte` (0 = from the start). Played chunks the cache
   * held count as the cache source: those held now, or, for a prefetched track, those held
   * before its prefetch began (`heldBefore`, from {@link heldChunks}); the others count by the
   * source that brought them.
   */
  start(track: TrackInfo, startByte: number, access: PlayRecord['access'] = 'random', heldBefore?: Uint8Array): number {
    const now = this.clock.now();
    const presentAtStart = heldBefore ?? heldChunks(this.cache, track, this.config.chunkSize);
    const startMs = startByte > 0 ? timeForByte(track.seekIndex, startByte) : 0;
    const record: PlayRecord = {
      id: this.nextId++,
      trackId: track.id,
      title: track.title,
      artist: track.artist,
      at: new Date().toISOString(),
      startMs,
      access,
      latencyMs: null,
      stutters: 0,
      stallMs: 0,
      endReason: null,
      stutterEvents: [],
      state: 'buffering',
      sources: { server: 0, peer: 0, cache: 0 },
    };
    // What the cache already holds is there at the request, not a fast download.
    const clock = new PlaybackClock({
      track,
      startMs,
      requestedAt: now,
      config: this.config,
      contiguousEndByte: this.cache.contiguousEnd(track.fileId, startByteFor(track, startMs)),
    });
    const play: ActivePlay = { record, track, clock, startByte, presentAtStart, counted: new Set() };
    this.active.set(record.id, play);
    this.history.push(record);
    if (this.history.length > HISTORY) this.history.shift();
    this.update(play);
    return record.id;
  }

  /** The listener stopped or moved on: the play's figures are final. */
  end(id: number): void {
    const play = this.active.get(id);
    if (!play) return;
    play.clock.stop(this.clock.now());
    this.refresh(play);
    clearTimeout(play.timer);
    this.active.delete(id);
  }

  /** Ends the plays of a track, when the same listener starts it again or seeks. */
  endTrack(trackId: string): void {
    for (const p of [...this.active.values()]) if (p.track.id === trackId) this.end(p.record.id);
  }

  /** Counts bytes delivered to the player, by the source of their chunk. */
  delivered(id: number, start: number, end: number): void {
    const play = this.active.get(id) ?? undefined;
    const record = play?.record ?? this.history.find((r) => r.id === id);
    if (!record) return;
    const size = this.config.chunkSize;
    for (let i = Math.floor(start / size); i * size < end; i++) {
      if (play) {
        if (play.counted.has(i)) continue;
        play.counted.add(i);
      }
      const bytes = Math.min(end, (i + 1) * size) - Math.max(start, i * size);
      const fileId = play?.track.fileId;
      const src = play && play.presentAtStart[i] ? 'cache' : (fileId && this.fetcher.sourceOf(fileId, i)) || 'cache';
      record.sources[src] += bytes;
      this.played[src] += bytes;
    }
  }

  /** Where the listener is in a file being played now: what the scheduler plans around. */
  playbackOf(fileId: string, now: number): { positionMs: number; playing: boolean } | undefined {
    let latest: ActivePlay | undefined;
    for (const p of this.active.values()) if (p.track.fileId === fileId && (!latest || p.record.id > latest.record.id)) latest = p;
    if (!latest) return undefined;
    const state = latest.clock.state;
    return { positionMs: latest.clock.positionMs(now), playing: state === 'playing' || state === 'stalled' };
  }

  record(id: number): PlayRecord | undefined {
    return this.history.find((r) => r.id === id);
  }

  stop(): void {
    for (const id of [...this.active.keys()]) this.end(id);
  }

  private onData(fileId: string): void {
    for (const play of this.active.values()) if (play.track.fileId === fileId) this.update(play);
  }

  private update(play: ActivePlay): void {
    const now = this.clock.now();
    play.clock.onAvailable(now, this.cache.contiguousEnd(play.track.fileId, play.clock.startByte));
    this.refresh(play);
    clearTimeout(play.timer);
    const s = play.clock.summary();
    if (s.state === 'ended') {
      this.active.delete(play.record.id);
      return;
    }
    const at = play.clock.nextEventAt(now);
    if (at !== undefined && at !== null && Number.isFinite(at)) {
      play.timer = setTimeout(() => {
        play.clock.tick(this.clock.now());
        this.update(play);
      }, Math.max(1, at - now));
      play.timer.unref?.();
    }
  }

  private refresh(play: ActivePlay): void {
    const s = play.clock.summary();
    play.record.latencyMs = s.latencyMs === null ? null : Math.round(s.latencyMs * 100) / 100;
    play.record.stutters = s.stutters;
    play.record.stallMs = Math.round(s.stallMs);
    play.record.stutterEvents = s.stutterEvents.map((e) => ({
      atMs: Math.round(e.atMs - s.requestedAt),
      positionMs: Math.round(e.positionMs),
      durationMs: e.durationMs === null ? null : Math.round(e.durationMs),
    }));
    play.record.state = s.state;
    play.record.endReason = s.endReason;
  }
}

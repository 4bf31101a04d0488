/**
 * The client's model of one play: when it could start, when it stuttered, how much was played.
 * It defines the two figures tunemesh is judged by (DESIGN §3): playback latency and the share of
 * plays with a stutter. Pure: the caller reports arrivals and the time; the clock never reads a
 * real clock, so the simulator and the daemon measure plays the same way.
 */
import type { TunemeshConfig } from './config.ts';
import type { TrackInfo } from './track.ts';

/** What a play needs to know about its track. */
export type PlaybackTrack = Pick<TrackInfo, 'durationMs' | 'bytes' | 'seekIndex' | 'bitrate'>;

/** The config fields the playback clock reads. */
export type PlaybackConfig = Pick<TunemeshConfig, 'minStartBufferMs' | 'startRateMargin' | 'lowBufferMs'>;

/**
 * - `buffering`: requested, not started yet (its latency is still running);
 * - `playing`: the playback point advances in real time;
 * - `stalled`: the playback point reached audio that has not arrived (a stutter);
 * - `ended`: finished, stopped or left by a seek; nothing changes any more.
 */
export type PlaybackState = 'buffering' | 'playing' | 'stalled' | 'ended';

/** Why a play ended: it reached the end of the track, the listener stopped, or the listener sought elsewhere. */
export type PlaybackEndReason = 'finished' | 'stopped' | 'seek';

/** One stutter: the playback point reached missing audio at `atMs` (clock ms), `positionMs` into the track. */
export interface Stutter {
  atMs: number;
  positionMs: number;
  /** How long playback stayed paused, ms; null while it still is. */
  durationMs: number | null;
}

/** A play's figures. Times are clock ms; positions and durations are ms of audio or of waiting. */
export interface PlaybackSummary {
  /** Position the play was requested at, ms into the track. */
  startMs: number;
  /** Clock time of the request. */
  requestedAt: number;
  /** Time from the request until playback started; null if it never did. */
  latencyMs: number | null;
  /** Number of stutters (a stall that lasts any time at all counts once). */
  stutters: number;
  /** Total time spent stalled after the start, ms. */
  stallMs: number;
  /** Audio played, ms. */
  playedMs: number;
  state: PlaybackState;
  /** Set once the state is `ended`. */
  endReason: PlaybackEndReason | null;
  /** Every stutter, in order. */
  stutterEvents: readonly Stutter[];
}

/** How to construct a {@link PlaybackClock}. */
export interface PlaybackClockInit {
  track: PlaybackTrack;
  /** Playback position requested, ms into the track (clamped to the track). */
  startMs: number;
  /** Clock time of the request: latency counts from here. */
  requestedAt: number;
  config: PlaybackConfig;
  /**
   * End of the contiguous run of bytes held at the moment of the request, from {@link PlaybackClock.startByte}.
   * Those bytes were already there (the cache), so they do not count towards the measured download rate.
   * The same is true of anything reported through `onAvailable` at `requestedAt`. @default startByte
   */
  contiguousEndByte?: number;
}

/**
 * One play of one track, from the request to its end.
 *
 * The caller reports the end of the contiguous run of bytes it holds from {@link startByte}
 * (`onAvailable`), and the time (`tick`, at the latest when {@link nextEventAt} says). Bytes become
 * audio time through the track's seek index: a page counts once the next page's first byte is held,
 * and the end of the file means the whole duration.
 *
 * Start threshold: with a download rate (measured from arrivals since the request) of at least
 * `startRateMargin` × the track's bitrate, `minStartBufferMs` of audio suffices. Slower, playback
 * starts only once the rest of the download would finish before the playback point gets there:
 * buffered ≥ remaining × (1 − rate / (margin × bitrate)); never more than the whole rest of the track.
 * The same threshold applies to resuming after a stall.
 *
 * When two events fall on the same instant, their order does not matter: a stall that new audio
 * cures at the very instant it began is no stall.
 */
export class PlaybackClock {
  readonly track: PlaybackTrack;
  /** Position the play was requested at (clamped to [0, durationMs]). */
  readonly startMs: number;
  readonly requestedAt: number;
  /** Byte offset the playback point's audio starts at: `onAvailable` reports the contiguous run from here. */
  readonly startByte: number;
  private readonly config: PlaybackConfig;

  private stateNow: PlaybackState = 'buffering';
  private endReason: PlaybackEndReason | null = null;
  /** Time of the latest event: the clock never goes back. */
  private lastNow: number;
  /** Playback point at `anchorAt`; while playing it advances one ms per ms from there. */
  private anchorPos: number;
  private anchorAt: number;
  /** Audio held contiguously from the playback start, as a position in the track. */
  private availableMs: number;
  /** Contiguous end at the request: bytes up to here were already held and are not download. */
  private baselineEnd: number;
  private latestEnd: number;
  private startedAt: number | null = null;
  private stalledSince: number | null = null;
  private readonly stutters: Stutter[] = [];
  private stallMsDone = 0;
  private playedMsDone = 0;

  constructor(init: PlaybackClockInit) {
    this.track = init.track;
    this.config = init.config;
    this.requestedAt = init.requestedAt;
    this.lastNow = init.requestedAt;
    this.startMs = Math.min(Math.max(0, init.startMs), Math.max(0, init.track.durationMs));
    this.startByte = startByteFor(init.track, this.startMs);
    this.anchorPos = this.startMs;
    this.anchorAt = init.requestedAt;
    this.latestEnd = Math.max(this.startByte, init.contiguousEndByte ?? this.startByte);
    this.baselineEnd = this.latestEnd;
    this.availableMs = audioTimeAt(init.track, this.latestEnd);
    if (this.startMs >= this.track.durationMs) {
      // Nothing to play (an empty track, or a request at its very end): over as soon as asked.
      this.startedAt = this.requestedAt;
      this.finish(this.requestedAt, 'finished');
    } else {
      this.maybeStart(this.requestedAt);
    }
  }

  /** The current state. */
  get state(): PlaybackState {
    return this.stateNow;
  }

  /**
   * Reports that the bytes `[startByte, contiguousEndByte)` are held now. The run is expected to only
   * grow during a play (the file is pinned); a smaller value is ignored.
   */
  onAvailable(nowMs: number, contiguousEndByte: number): void {
    const now = this.advanceTime(nowMs);
    if (this.stateNow === 'ended') return;
    if (now <= this.requestedAt) this.baselineEnd = Math.max(this.baselineEnd, contiguousEndByte);
    this.cureInstantStall(now);
    // New audio at the instant the playback point reaches the old end keeps it playing: stall only
    // on a strictly earlier crossing before taking the new audio in.
    this.advance(now, true);
    if (contiguousEndByte > this.latestEnd) {
      this.latestEnd = contiguousEndByte;
      this.availableMs = Math.max(this.availableMs, audioTimeAt(this.track, contiguousEndByte));
    }
    this.advance(now, false);
    this.maybeStart(now);
  }

  /** Moves time to `nowMs`: the playback point advances, and may stall or reach the end. */
  tick(nowMs: number): void {
    const now = this.advanceTime(nowMs);
    if (this.stateNow === 'ended') return;
    this.advance(now, false);
    this.maybeStart(now);
  }

  /** The listener stopped or closed the player: the play's figures are final. */
  stop(nowMs: number): PlaybackSummary {
    this.end(nowMs, 'stopped');
    return this.summary();
  }

  /**
   * The listener sought to `positionMs`: a new random access (DESIGN §3). Ends this play and returns
   * its figures with the clock of the new play, requested now; report the new play's bytes from its
   * own `startByte` (what is held at `nowMs` counts as already there).
   */
  seek(nowMs: number, positionMs: number): { ended: PlaybackSummary; next: PlaybackClock } {
    const now = this.end(nowMs, 'seek');
    const next = new PlaybackClock({ track: this.track, startMs: positionMs, requestedAt: now, config: this.config });
    return { ended: this.summary(), next };
  }

  /**
   * When the state would next change on its own: the moment the playback point reaches the end of the
   * buffered audio (a stall) or of the track. Null when only an arrival can change it (buffering,
   * stalled) or nothing can (ended). Never earlier than `nowMs`; call `tick` then.
   */
  nextEventAt(nowMs: number): number | null {
    if (this.stateNow !== 'playing') return null;
    return Math.max(nowMs, this.reachAt());
  }

  /** The playback point at `nowMs` (no state change), ms into the track. */
  positionMs(nowMs: number): number {
    if (this.stateNow !== 'playing') return this.anchorPos;
    const t = Math.max(nowMs, this.lastNow);
    return Math.min(this.anchorPos + (t - this.anchorAt), this.playableEnd());
  }

  /** Audio held ahead of the playback point at `nowMs`, ms: below `emergencyBufferMs` the client is in emergency mode. */
  bufferedAheadMs(nowMs: number): number {
    return Math.max(0, this.playableEnd() - this.positionMs(nowMs));
  }

  /** The play's figures as of the latest event (call `tick` first for "now"). */
  summary(): PlaybackSummary {
    const now = this.lastNow;
    return {
      startMs: this.startMs,
      requestedAt: this.requestedAt,
      latencyMs: this.startedAt === null ? null : this.startedAt - this.requestedAt,
      stutters: this.stutters.length,
      stallMs: this.stallMsDone + (this.stalledSince === null ? 0 : now - this.stalledSince),
      playedMs: this.playedMsDone + (this.stateNow === 'playing' ? now - this.anchorAt : 0),
      state: this.stateNow,
      endReason: this.endReason,
      stutterEvents: this.stutters.map((s) => ({ ...s })),
    };
  }

  private advanceTime(nowMs: number): number {
    if (nowMs > this.lastNow) this.lastNow = nowMs;
    return this.lastNow;
  }

  /** The end of the audio playback can reach: the whole track once every byte is held. */
  private playableEnd(): number {
    return Math.min(this.availableMs, this.track.durationMs);
  }

  /** When the playback point, playing on, reaches `playableEnd`. */
  private reachAt(): number {
    return this.anchorAt + (this.playableEnd() - this.anchorPos);
  }

  /**
   * Plays on up to `now`. The end of the track is reached at or before `now`; a stall only strictly
   * before `now` when `strict` (more audio may be reported at this same instant).
   */
  private advance(now: number, strict: boolean): void {
    if (this.stateNow !== 'playing') return;
    const limit = this.playableEnd();
    const at = this.reachAt();
    const atEnd = limit >= this.track.durationMs;
    if (at > now || (strict && !atEnd && at === now)) return;
    this.playedMsDone += limit - this.anchorPos;
    this.anchorPos = limit;
    this.anchorAt = at;
    if (atEnd) {
      this.stateNow = 'ended';
      this.endReason = 'finished';
      return;
    }
    this.stateNow = 'stalled';
    this.stalledSince = at;
    this.stutters.push({ atMs: at, positionMs: limit, durationMs: null });
  }

  /** A stall entered at `now` (a tick came before an arrival of the same instant) never happened. */
  private cureInstantStall(now: number): void {
    if (this.stateNow !== 'stalled' || this.stalledSince !== now) return;
    this.stutters.pop();
    this.stalledSince = null;
    this.stateNow = 'playing';
    this.anchorAt = now;
  }

  /** Starts or resumes playback at `now` if enough audio is buffered. */
  private maybeStart(now: number): void {
    if (this.stateNow !== 'buffering' && this.stateNow !== 'stalled') return;
    const position = this.anchorPos;
    const remaining = this.track.durationMs - position;
    const buffered = this.playableEnd() - position;
    if (buffered <= 0 || buffered < this.requiredBufferMs(now, remaining)) return;
    if (this.stateNow === 'buffering') {
      this.startedAt = now;
    } else {
      const stalled = now - (this.stalledSince ?? now);
      this.stallMsDone += stalled;
      const last = this.stutters[this.stutters.length - 1];
      if (last) last.durationMs = stalled;
      this.stalledSince = null;
    }
    this.stateNow = 'playing';
    this.anchorAt = now;
  }

  /** Audio that must be buffered ahead of the playback point to start now, ms. */
  private requiredBufferMs(now: number, remainingMs: number): number {
    const atLeast = Math.min(remainingMs, this.config.minStartBufferMs);
    const elapsed = now - this.requestedAt;
    // Nothing has arrived since the request, so no rate to judge by: audio already held for at
    // least `lowBufferMs` (a prefetched start, a partly cached track) is enough, since the
    // scheduler keeps peers alone in charge only while that much is buffered and adds the AP
    // below it. This is what makes a prefetched next track start at once.
    if (this.latestEnd <= this.baselineEnd) return Math.min(remainingMs, Math.max(atLeast, this.config.lowBufferMs));
    const rate = elapsed > 0 ? (this.latestEnd - this.baselineEnd) / elapsed : 0; // bytes per ms
    const comfortableRate = (this.track.bitrate / 8000) * this.config.startRateMargin; // bytes per ms
    if (!(comfortableRate > 0)) return atLeast; // no bitrate known: nothing to adapt to
    const shortfall = 1 - rate / comfortableRate;
    if (shortfall <= 0) return atLeast;
    return Math.min(remainingMs, Math.max(atLeast, remainingMs * shortfall));
  }

  /** Ends the play at `nowMs` (unless it already ended) and returns the time it ended at. */
  private end(nowMs: number, reason: PlaybackEndReason): number {
    const now = this.advanceTime(nowMs);
    if (this.stateNow === 'ended') return now;
    // Leaving at the exact instant the audio runs out is not a stutter the listener heard.
    this.advance(now, true);
    if (this.state !== 'ended') this.finish(now, reason);
    return now;
  }

  private finish(now: number, reason: PlaybackEndReason): void {
    if (this.stateNow === 'playing') {
      this.playedMsDone += now - this.anchorAt;
      this.anchorPos += now - this.anchorAt;
      this.anchorAt = now;
    } else if (this.stateNow === 'stalled' && this.stalledSince !== null) {
      const stalled = now - this.stalledSince;
      this.stallMsDone += stalled;
      const last = this.stutters[this.stutters.length - 1];
      if (last) last.durationMs = stalled;
      this.stalledSince = null;
    }
    this.stateNow = 'ended';
    this.endReason = reason;
  }
}

/**
 * Audio time held when the bytes up to `contiguousEndByte` (exclusive) are: the time of the last seek
 * point whose page starts at or before it (every page before that one is complete), the whole
 * duration at the end of the file. Without a seek index, proportional to bytes.
 */
export function audioTimeAt(track: PlaybackTrack, contiguousEndByte: number): number {
  if (contiguousEndByte >= track.bytes) return track.durationMs;
  const index = track.seekIndex;
  if (index.length === 0) {
    return track.bytes > 0 ? Math.floor((track.durationMs * Math.max(0, contiguousEndByte)) / track.bytes) : 0;
  }
  const i = lastAtOrBefore(index.length, (k) => index[k]!.byte <= contiguousEndByte);
  return i < 0 ? 0 : index[i]!.ms;
}

/**
 * Byte a play from `positionMs` needs first: the start of the page holding that position, or 0 for
 * the first page, since a play from the start also needs the stream headers before it. Without a seek
 * index, proportional to time.
 */
export function startByteFor(track: PlaybackTrack, positionMs: number): number {
  const index = track.seekIndex;
  if (index.length === 0) {
    if (!(track.durationMs > 0)) return 0;
    const ms = Math.min(Math.max(0, positionMs), track.durationMs);
    return Math.min(track.bytes, Math.floor((track.bytes * ms) / track.durationMs));
  }
  const i = lastAtOrBefore(index.length, (k) => index[k]!.ms <= positionMs);
  return i <= 0 ? 0 : index[i]!.byte;
}

/** The last index in [0, n) for which `ok` holds, given it holds for a prefix; -1 if for none. */
function lastAtOrBefore(n: number, ok: (k: number) => boolean): number {
  let lo = -1;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ok(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

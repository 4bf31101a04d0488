/**
 * The play queue (DESIGN §3, issue 4 item 6): the tracks a listener plays one after another (an
 * album, a playlist, tracks queued by hand) and where the listener is in it. It decides which
 * track is played *sequentially* — the next one, whose start the client prefetches — as opposed
 * to picked at random:
 *
 * - from `prefetchPeerSearchMs` (30 s, P2P'10 / lectures) before the current track ends, the next
 *   track is looked up among peers and downloaded from them; from `prefetchApFallbackMs` (10 s)
 *   before, its start comes from the AP if no peer was found (that part is the streaming
 *   scheduler's, given the time until the track starts: {@link PlayQueue.prefetchTarget});
 * - a play of the next track (the player moved on at the end, or skipped) advances the queue;
 *   a play of another track of the queue jumps to it; a play of a track outside the queue
 *   leaves the queue where it is, and nothing is prefetched while it lasts.
 *
 * Pure: positions and times come in as arguments; the same class runs in the client and in the
 * simulator.
 */
import type { TunemeshConfig } from './config.ts';

/** What the queue needs of a track. */
export interface QueueEntry {
  id: string;
  fileId: string;
  durationMs: number;
}

/** How a play relates to the queue: {@link PlayQueue.played}. */
export type QueueMove = 'current' | 'next' | 'jump' | 'outside';

/** The next track to prefetch and when it starts. */
export interface PrefetchTarget<T extends QueueEntry> {
  track: T;
  /** Audio left of the current track, ms: when the next track starts if playback runs on. */
  startsInMs: number;
}

export class PlayQueue<T extends QueueEntry> {
  private items: T[] = [];
  /** Index of the current track; `items.length` once the queue has played out. */
  private index = 0;

  constructor(private readonly config: Pick<TunemeshConfig, 'prefetchPeerSearchMs'>) {}

  /** The tracks in order. */
  get tracks(): readonly T[] {
    return this.items;
  }

  /** Index of the current track (equal to the length once the queue has played out). */
  get position(): number {
    return this.index;
  }

  /** The track the listener is on (playing, or to be played next by the player), if any. */
  get current(): T | undefined {
    return this.items[this.index];
  }

  /** The track after the current one: the one played sequentially. */
  get upcoming(): T | undefined {
    return this.items[this.index + 1];
  }

  /** Replaces the queue; the listener is on `tracks[start]`. */
  set(tracks: readonly T[], start = 0): void {
    if (!Number.isSafeInteger(start) || start < 0 || start >= Math.max(1, tracks.length)) {
      throw new RangeError(`start must be an index into the ${tracks.length} tracks`);
    }
    this.items = [...tracks];
    this.index = start;
  }

  /** Adds tracks at the end. */
  append(tracks: readonly T[]): void {
    this.items.push(...tracks);
  }

  clear(): void {
    this.items = [];
    this.index = 0;
  }

  /**
   * The listener moves on to the next track before the current one ended (or the player asks
   * what comes after it). Returns the new current track; undefined when the queue has played out.
   */
  skip(): T | undefined {
    if (this.index < this.items.length) this.index++;
    return this.current;
  }

  /**
   * A play of `trackId` started: the queue follows the listener. `next` when it is the upcoming
   * track (a sequential play), `current` when it is the current one (a first play, a replay or a
   * seek), `jump` when it is another track of the queue (the listener picked it), `outside`
   * otherwise (the queue is left as it is).
   */
  played(trackId: string): QueueMove {
    if (this.current?.id === trackId) return 'current';
    if (this.upcoming?.id === trackId) {
      this.index++;
      return 'next';
    }
    const at = this.items.findIndex((t) => t.id === trackId);
    if (at < 0) return 'outside';
    this.index = at;
    return 'jump';
  }

  /**
   * The next track to prefetch, given how much of the current track is left (`remainingMs`, from
   * its playback clock; undefined when the current track is not playing): due from
   * `prefetchPeerSearchMs` before the end.
   */
  prefetchTarget(remainingMs: number | undefined): PrefetchTarget<T> | undefined {
    const track = this.upcoming;
    if (!track || remainingMs === undefined || remainingMs > this.config.prefetchPeerSearchMs) return undefined;
    return { track, startsInMs: Math.max(0, remainingMs) };
  }
}

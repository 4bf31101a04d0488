/**
 * The simulator's discrete-event engine (issue 5 item 1): a virtual clock and a heap of events
 * keyed by (time, sequence), so events at the same instant fire in the order they were
 * scheduled and a run is deterministic. Randomness comes in named streams, each a
 * {@link seededRng} of the run's seed and the stream's name, so adding draws to one part of the
 * model does not shift the draws of another.
 */
import { seededRng, type Clock, type Rng } from '../core/clock.ts';

/** A scheduled event; `cancel` it to keep it from firing (lazy deletion from the heap). */
export interface SimEvent {
  readonly at: number;
  readonly seq: number;
  fn: (() => void) | null;
}

/**
 * An object that is its own event: a flow's next delivery, a download's wake-up, a play's timer, a
 * request's arrival. The engine keeps the sequence number of its pending schedule in it, so
 * (re)scheduling it allocates nothing — these are most of a run's events, and an event object
 * and a closure per schedule were most of what the garbage collector had to copy.
 */
export interface Timer {
  /** Sequence number of its pending schedule; -1 when none. Set by the engine only (start with -1). */
  timerSeq: number;
}

/** What fires a timer, shared by all timers of a kind (so it allocates nothing per schedule). */
export type TimerHandler<T extends Timer> = (timer: T) => void;

/**
 * The event queue and the virtual clock.
 *
 * The queue is a 4-ary heap whose keys sit in typed arrays in heap order (time, then sequence),
 * beside the events themselves: a sift compares numbers next to each other in memory instead of
 * reading event objects scattered over the heap (with hundreds of thousands of events pending,
 * those reads were a tenth of a big run's time). An entry is a {@link SimEvent} or a
 * {@link Timer} with its handler. Cancelled events and superseded timer schedules stay in the
 * heap until popped, unless they outnumber the live ones: then the heap is rebuilt without them.
 * The order events fire in depends only on their (time, sequence) keys, never on the heap's layout.
 */
export class Engine implements Clock {
  private keyAt = new Float64Array(1024);
  private keySeq = new Float64Array(1024);
  /** Per entry, the event or timer, and the timer's handler (null for an event). */
  private targets: (SimEvent | Timer | null)[] = [];
  private handlers: (TimerHandler<Timer> | null)[] = [];
  private size = 0;
  /** Cancelled or superseded entries still in the heap. */
  private dead = 0;
  private seq = 0;
  private t = 0;
  /** Events fired so far. */
  events = 0;

  constructor(readonly seed: number) {}

  now(): number {
    return this.t;
  }

  /** Entries in the queue, fired or discarded ones excepted (cancelled ones count until dropped). */
  get pending(): number {
    return this.size;
  }

  /** Schedules `fn` at time `at` (never before now). */
  at(at: number, fn: () => void): SimEvent {
    const t = at > this.t ? at : this.t;
    const e: SimEvent = { at: t, seq: this.seq++, fn };
    this.push(t, e.seq, e, null);
    return e;
  }

  /** Schedules `fn` `delay` ms from now. */
  after(delay: number, fn: () => void): SimEvent {
    return this.at(this.t + delay, fn);
  }

  cancel(e: SimEvent | null | undefined): void {
    if (!e || e.fn === null) return;
    e.fn = null;
    this.died();
  }

  /**
   * Fires `handler(timer)` at time `at` (never before now), in place of the timer's pending
   * schedule if it has one. The same (time, sequence) order as {@link at}: a timer scheduled
   * between two events fires between them at equal times.
   */
  schedule<T extends Timer>(timer: T, at: number, handler: TimerHandler<T>): void {
    if (timer.timerSeq >= 0) this.died();
    const t = at > this.t ? at : this.t;
    const seq = this.seq++;
    timer.timerSeq = seq;
    this.push(t, seq, timer, handler as TimerHandler<Timer>);
  }

  /** Drops the timer's pending schedule, if any. */
  unschedule(timer: Timer): void {
    if (timer.timerSeq < 0) return;
    timer.timerSeq = -1;
    this.died();
  }

  /** Whether the timer has a pending schedule. */
  scheduled(timer: Timer): boolean {
    return timer.timerSeq >= 0;
  }

  /** Fires events in order until the next one lies after `until` (the clock then stands at `until`). */
  runUntil(until: number): void {
    while (this.size > 0) {
      // Read through `this`: an event may have grown (replaced) the arrays.
      const at = this.keyAt[0]!;
      if (at > until) break;
      const seq = this.keySeq[0]!;
      const target = this.targets[0]!;
      const handler = this.handlers[0]!;
      this.popTop();
      if (handler === null) {
        const e = target as SimEvent;
        const fn = e.fn;
        if (fn === null) {
          this.dead--;
          continue;
        }
        this.t = at;
        e.fn = null;
        this.events++;
        fn();
      } else {
        const timer = target as Timer;
        if (timer.timerSeq !== seq) {
          this.dead--;
          continue;
        }
        this.t = at;
        timer.timerSeq = -1;
        this.events++;
        handler(timer);
      }
    }
    if (until > this.t) this.t = until;
  }

  /** A deterministic random stream of this run, by name. */
  rng(name: string): Rng {
    return seededRng(hashString(name, this.seed));
  }

  /** One more dead entry in the heap; rebuilds the heap when they are the majority. */
  private died(): void {
    this.dead++;
    if (this.dead > 4096 && 2 * this.dead > this.size) this.dropDead();
  }

  private live(k: number): boolean {
    const target = this.targets[k]!;
    return this.handlers[k] === null ? (target as SimEvent).fn !== null : (target as Timer).timerSeq === this.keySeq[k];
  }

  private push(t: number, seq: number, target: SimEvent | Timer, handler: TimerHandler<Timer> | null): void {
    if (this.size === this.keyAt.length) this.grow();
    this.siftUp(this.size++, t, seq, target, handler);
  }

  /** Puts an entry with key (`t`, `s`) into the hole at `i`, moving parents down past it. */
  private siftUp(i: number, t: number, s: number, target: SimEvent | Timer, handler: TimerHandler<Timer> | null): void {
    const keyAt = this.keyAt;
    const keySeq = this.keySeq;
    while (i > 0) {
      const p = (i - 1) >> 2;
      const pt = keyAt[p]!;
      if (t > pt || (t === pt && s > keySeq[p]!)) break;
      this.move(p, i);
      i = p;
    }
    this.put(i, t, s, target, handler);
  }

  /** Copies the entry at `from` to `to`. */
  private move(from: number, to: number): void {
    this.keyAt[to] = this.keyAt[from]!;
    this.keySeq[to] = this.keySeq[from]!;
    this.targets[to] = this.targets[from]!;
    this.handlers[to] = this.handlers[from]!;
  }

  private put(i: number, t: number, s: number, target: SimEvent | Timer, handler: TimerHandler<Timer> | null): void {
    this.keyAt[i] = t;
    this.keySeq[i] = s;
    this.targets[i] = target;
    this.handlers[i] = handler;
  }

  /** Removes the root: the last entry sinks from the root to its place. */
  private popTop(): void {
    const n = --this.size;
    const target = this.targets[n]!;
    const handler = this.handlers[n]!;
    this.targets[n] = null;
    this.handlers[n] = null;
    if (n === 0) return;
    this.siftDown(0, this.keyAt[n]!, this.keySeq[n]!, target, handler, n);
  }

  /** Puts an entry with key (`t`, `s`) into the hole at `i` of a heap of `n` entries, moving smaller children up. */
  private siftDown(i: number, t: number, s: number, target: SimEvent | Timer, handler: TimerHandler<Timer> | null, n: number): void {
    const keyAt = this.keyAt;
    const keySeq = this.keySeq;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= n) break;
      let c = first;
      let ct = keyAt[c]!;
      let cs = keySeq[c]!;
      const end = first + 4 < n ? first + 4 : n;
      for (let k = first + 1; k < end; k++) {
        const kt = keyAt[k]!;
        if (kt < ct || (kt === ct && keySeq[k]! < cs)) {
          c = k;
          ct = kt;
          cs = keySeq[k]!;
        }
      }
      if (t < ct || (t === ct && s < cs)) break;
      this.move(c, i);
      i = c;
    }
    this.put(i, t, s, target, handler);
  }

  /** Rebuilds the heap from its live entries (bottom-up). */
  private dropDead(): void {
    const keyAt = this.keyAt;
    const keySeq = this.keySeq;
    const targets = this.targets;
    const handlers = this.handlers;
    let n = 0;
    for (let k = 0; k < this.size; k++) if (this.live(k)) this.move(k, n++);
    for (let k = n; k < this.size; k++) {
      targets[k] = null;
      handlers[k] = null;
    }
    this.size = n;
    this.dead = 0;
    for (let i = (n - 2) >> 2; i >= 0; i--) this.siftDown(i, keyAt[i]!, keySeq[i]!, targets[i]!, handlers[i]!, n);
  }

  private grow(): void {
    const n = this.keyAt.length * 2;
    const at = new Float64Array(n);
    at.set(this.keyAt);
    const seq = new Float64Array(n);
    seq.set(this.keySeq);
    this.keyAt = at;
    this.keySeq = seq;
  }
}

/** FNV-1a of a string mixed with a seed: a 32-bit value. */
export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return mix32(h);
}

/** A 32-bit integer hash (lowbias32). */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

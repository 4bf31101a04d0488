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
 * request's arrival. The engine keeps the slot of its pending schedule in it, so (re)scheduling it
 * allocates nothing — these are most of a run's events, and an event object and a closure per
 * schedule were most of what the garbage collector had to copy — and a reschedule moves its entry
 * in the heap rather than leaving a dead one behind.
 */
export interface Timer {
  /** The engine's slot of its pending schedule; -1 when none. Set by the engine only (start with -1). */
  timerSlot: number;
}

/** What fires a timer, shared by all timers of a kind (so it allocates nothing per schedule). */
export type TimerHandler<T extends Timer> = (timer: T) => void;

/**
 * The event queue and the virtual clock.
 *
 * The queue is a 4-ary heap of (time, slot) pairs in typed arrays; a slot holds the entry's
 * sequence number, its event or timer, the timer's handler (null for an event) and the entry's
 * place in the heap, and stays put while the entry moves through the heap. A sift so moves two
 * numbers per level, next to each other's siblings in memory, and reads a sequence number only
 * when two times are equal: with hundreds of thousands of events pending, reading event objects
 * scattered over the heap was a tenth of a big run's time, and moving object references (each
 * store checked by the garbage collector's write barrier) a good part of the rest.
 *
 * A timer's reschedule gives its entry the new key where it is and sifts it up or down; an
 * unschedule takes the entry out. (Leaving the old entry in the heap, dead, cost more: a large
 * run schedules its timers about 2.5 times per event fired, and each dead entry was a sift from
 * the root to a leaf when it came to the top, in a heap the dead entries made larger.) Cancelled
 * events stay in the heap until popped, unless they outnumber the live ones: then the heap is
 * rebuilt without them. The order events fire in depends only on their (time, sequence) keys,
 * never on the heap's layout.
 */
export class Engine implements Clock {
  /** Per heap position, the entry's time and its slot. */
  private heapAt = new Float64Array(1024);
  private heapSlot = new Int32Array(1024);
  /** Per slot: the sequence number, the event or timer, the timer's handler (null for an event), and its place in the heap. */
  private slotSeq = new Float64Array(1024);
  private slotPos = new Int32Array(1024);
  private slotTarget: (SimEvent | Timer | null)[] = [];
  private slotHandler: (TimerHandler<Timer> | null)[] = [];
  /** Slots free for reuse (a stack: the latest freed is reused first, still in the CPU's cache). */
  private freeSlots = new Int32Array(1024);
  private freeCount = 0;
  /** Slots ever used: slots at or past it are free too. */
  private slotsUsed = 0;
  private size = 0;
  /** Cancelled events still in the heap. */
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
    const t = at > this.t ? at : this.t;
    const seq = this.seq++;
    const slot = timer.timerSlot;
    if (slot < 0) {
      timer.timerSlot = this.push(t, seq, timer, handler as TimerHandler<Timer>);
      return;
    }
    // The new key is after the old one at an equal time (a later sequence number): only an
    // earlier time moves the entry up.
    this.slotSeq[slot] = seq;
    this.slotHandler[slot] = handler as TimerHandler<Timer>;
    const i = this.slotPos[slot]!;
    if (t < this.heapAt[i]!) this.siftUp(i, t, seq, slot);
    else this.siftDown(i, t, seq, slot, this.size);
  }

  /** Drops the timer's pending schedule, if any. */
  unschedule(timer: Timer): void {
    const slot = timer.timerSlot;
    if (slot < 0) return;
    timer.timerSlot = -1;
    this.removeAt(this.slotPos[slot]!);
    this.release(slot);
  }

  /** Whether the timer has a pending schedule. */
  scheduled(timer: Timer): boolean {
    return timer.timerSlot >= 0;
  }

  /** Fires events in order until the next one lies after `until` (the clock then stands at `until`). */
  runUntil(until: number): void {
    while (this.size > 0) {
      // Read through `this`: an event may have grown (replaced) the arrays.
      const at = this.heapAt[0]!;
      if (at > until) break;
      const slot = this.heapSlot[0]!;
      const target = this.slotTarget[slot]!;
      const handler = this.slotHandler[slot]!;
      this.popTop();
      this.release(slot);
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
        this.t = at;
        timer.timerSlot = -1;
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

  /** Whether a slot's entry is still to fire: a timer's always is, an event's unless cancelled. */
  private live(slot: number): boolean {
    return this.slotHandler[slot] !== null || (this.slotTarget[slot] as SimEvent).fn !== null;
  }

  /** Adds an entry; returns its slot. */
  private push(t: number, seq: number, target: SimEvent | Timer, handler: TimerHandler<Timer> | null): number {
    if (this.size === this.heapAt.length) this.growHeap();
    let slot: number;
    if (this.freeCount > 0) slot = this.freeSlots[--this.freeCount]!;
    else {
      if (this.slotsUsed === this.slotSeq.length) this.growSlots();
      slot = this.slotsUsed++;
    }
    this.slotSeq[slot] = seq;
    this.slotTarget[slot] = target;
    this.slotHandler[slot] = handler;
    this.siftUp(this.size++, t, seq, slot);
    return slot;
  }

  /** Frees a slot whose entry left the heap; its references are dropped for the garbage collector. */
  private release(slot: number): void {
    this.slotTarget[slot] = null;
    this.slotHandler[slot] = null;
    if (this.freeCount === this.freeSlots.length) {
      const grown = new Int32Array(this.freeSlots.length * 2);
      grown.set(this.freeSlots);
      this.freeSlots = grown;
    }
    this.freeSlots[this.freeCount++] = slot;
  }

  /** Puts an entry (time `t`, sequence `s`, slot `slot`) into the hole at `i`, moving parents down past it. */
  private siftUp(i: number, t: number, s: number, slot: number): void {
    const heapAt = this.heapAt;
    const heapSlot = this.heapSlot;
    const slotSeq = this.slotSeq;
    const slotPos = this.slotPos;
    while (i > 0) {
      const p = (i - 1) >> 2;
      const pt = heapAt[p]!;
      const ps = heapSlot[p]!;
      if (t > pt || (t === pt && s > slotSeq[ps]!)) break;
      heapAt[i] = pt;
      heapSlot[i] = ps;
      slotPos[ps] = i;
      i = p;
    }
    heapAt[i] = t;
    heapSlot[i] = slot;
    slotPos[slot] = i;
  }

  /** Removes the root: the last entry sinks from the root to its place. */
  private popTop(): void {
    const n = --this.size;
    if (n === 0) return;
    const slot = this.heapSlot[n]!;
    this.siftDown(0, this.heapAt[n]!, this.slotSeq[slot]!, slot, n);
  }

  /** Removes the entry at heap position `i`: the last entry takes its place, and moves up or down from there. */
  private removeAt(i: number): void {
    const n = --this.size;
    if (i === n) return;
    const slot = this.heapSlot[n]!;
    const t = this.heapAt[n]!;
    const s = this.slotSeq[slot]!;
    if (i > 0) {
      const p = (i - 1) >> 2;
      const pt = this.heapAt[p]!;
      if (t < pt || (t === pt && s < this.slotSeq[this.heapSlot[p]!]!)) {
        this.siftUp(i, t, s, slot);
        return;
      }
    }
    this.siftDown(i, t, s, slot, n);
  }

  /** Puts an entry (time `t`, sequence `s`, slot `slot`) into the hole at `i` of a heap of `n` entries, moving smaller children up. */
  private siftDown(i: number, t: number, s: number, slot: number, n: number): void {
    const heapAt = this.heapAt;
    const heapSlot = this.heapSlot;
    const slotSeq = this.slotSeq;
    const slotPos = this.slotPos;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= n) break;
      let c = first;
      let ct = heapAt[c]!;
      const end = first + 4 < n ? first + 4 : n;
      for (let k = first + 1; k < end; k++) {
        const kt = heapAt[k]!;
        if (kt < ct || (kt === ct && slotSeq[heapSlot[k]!]! < slotSeq[heapSlot[c]!]!)) {
          c = k;
          ct = kt;
        }
      }
      if (t < ct || (t === ct && s < slotSeq[heapSlot[c]!]!)) break;
      const cs = heapSlot[c]!;
      heapAt[i] = ct;
      heapSlot[i] = cs;
      slotPos[cs] = i;
      i = c;
    }
    heapAt[i] = t;
    heapSlot[i] = slot;
    slotPos[slot] = i;
  }

  /** Rebuilds the heap from its live entries (bottom-up), freeing the slots of the others. */
  private dropDead(): void {
    const heapAt = this.heapAt;
    const heapSlot = this.heapSlot;
    let n = 0;
    for (let k = 0; k < this.size; k++) {
      const slot = heapSlot[k]!;
      if (this.live(slot)) {
        heapAt[n] = heapAt[k]!;
        heapSlot[n] = slot;
        this.slotPos[slot] = n++;
      } else this.release(slot);
    }
    this.size = n;
    this.dead = 0;
    for (let i = (n - 2) >> 2; i >= 0; i--) {
      const slot = heapSlot[i]!;
      this.siftDown(i, heapAt[i]!, this.slotSeq[slot]!, slot, n);
    }
  }

  private growHeap(): void {
    const n = this.heapAt.length * 2;
    const at = new Float64Array(n);
    at.set(this.heapAt);
    const slots = new Int32Array(n);
    slots.set(this.heapSlot);
    this.heapAt = at;
    this.heapSlot = slots;
  }

  private growSlots(): void {
    const seq = new Float64Array(this.slotSeq.length * 2);
    seq.set(this.slotSeq);
    this.slotSeq = seq;
    const pos = new Int32Array(seq.length);
    pos.set(this.slotPos);
    this.slotPos = pos;
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

/**
 * The simulator's discrete-event engine (issue 5 item 1): a virtual clock and a binary heap of
 * events keyed by (time, sequence), so events at the same instant fire in the order they were
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
 * The event queue and the virtual clock.
 *
 * The queue is a 4-ary heap whose keys sit in typed arrays in heap order (time, then sequence),
 * beside the events themselves: a sift compares numbers next to each other in memory instead of
 * reading event objects scattered over the heap (with hundreds of thousands of events pending,
 * those reads were a tenth of a big run's time). Cancelled events stay in the heap until popped,
 * unless they outnumber the live ones: then the heap is rebuilt without them. The order events
 * fire in depends only on their (time, sequence) keys, never on the heap's layout.
 */
export class Engine implements Clock {
  private keyAt = new Float64Array(1024);
  private keySeq = new Float64Array(1024);
  private evs: (SimEvent | null)[] = [];
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

  /** Events scheduled and not yet fired or discarded (cancelled ones count until dropped). */
  get pending(): number {
    return this.size;
  }

  /** Schedules `fn` at time `at` (never before now). */
  at(at: number, fn: () => void): SimEvent {
    const t = at > this.t ? at : this.t;
    const e: SimEvent = { at: t, seq: this.seq++, fn };
    if (this.size === this.keyAt.length) this.grow();
    this.siftUp(this.size++, t, e.seq, e);
    return e;
  }

  /** Schedules `fn` `delay` ms from now. */
  after(delay: number, fn: () => void): SimEvent {
    return this.at(this.t + delay, fn);
  }

  cancel(e: SimEvent | null | undefined): void {
    if (!e || e.fn === null) return;
    e.fn = null;
    this.dead++;
    if (this.dead > 4096 && 2 * this.dead > this.size) this.dropCancelled();
  }

  /** Fires events in order until the next one lies after `until` (the clock then stands at `until`). */
  runUntil(until: number): void {
    while (this.size > 0) {
      // Read through `this`: an event may have grown (replaced) the arrays.
      if (this.keyAt[0]! > until) break;
      const top = this.evs[0]!;
      this.popTop();
      const fn = top.fn;
      if (fn === null) {
        this.dead--;
        continue;
      }
      this.t = top.at;
      top.fn = null;
      this.events++;
      fn();
    }
    if (until > this.t) this.t = until;
  }

  /** A deterministic random stream of this run, by name. */
  rng(name: string): Rng {
    return seededRng(hashString(name, this.seed));
  }

  /** Puts event `e` with key (`t`, `s`) into the hole at `i`, moving parents down past it. */
  private siftUp(i: number, t: number, s: number, e: SimEvent): void {
    const keyAt = this.keyAt;
    const keySeq = this.keySeq;
    const evs = this.evs;
    while (i > 0) {
      const p = (i - 1) >> 2;
      const pt = keyAt[p]!;
      if (t > pt || (t === pt && s > keySeq[p]!)) break;
      keyAt[i] = pt;
      keySeq[i] = keySeq[p]!;
      evs[i] = evs[p]!;
      i = p;
    }
    keyAt[i] = t;
    keySeq[i] = s;
    evs[i] = e;
  }

  /** Removes the root: the last entry sinks from the root to its place. */
  private popTop(): void {
    const n = --this.size;
    const evs = this.evs;
    const last = evs[n]!;
    evs[n] = null;
    if (n === 0) return;
    this.siftDown(0, this.keyAt[n]!, this.keySeq[n]!, last, n);
  }

  /** Puts `e` with key (`t`, `s`) into the hole at `i` of a heap of `n` entries, moving smaller children up. */
  private siftDown(i: number, t: number, s: number, e: SimEvent, n: number): void {
    const keyAt = this.keyAt;
    const keySeq = this.keySeq;
    const evs = this.evs;
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
      keyAt[i] = ct;
      keySeq[i] = cs;
      evs[i] = evs[c]!;
      i = c;
    }
    keyAt[i] = t;
    keySeq[i] = s;
    evs[i] = e;
  }

  /** Rebuilds the heap from its live events (bottom-up). */
  private dropCancelled(): void {
    const keyAt = this.keyAt;
    const keySeq = this.keySeq;
    const evs = this.evs;
    let n = 0;
    for (let k = 0; k < this.size; k++) {
      const e = evs[k]!;
      if (e.fn === null) continue;
      keyAt[n] = keyAt[k]!;
      keySeq[n] = keySeq[k]!;
      evs[n++] = e;
    }
    for (let k = n; k < this.size; k++) evs[k] = null;
    this.size = n;
    this.dead = 0;
    for (let i = (n - 2) >> 2; i >= 0; i--) this.siftDown(i, keyAt[i]!, keySeq[i]!, evs[i]!, n);
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

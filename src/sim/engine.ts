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

/** The event queue and the virtual clock. */
export class Engine implements Clock {
  private heap: SimEvent[] = [];
  private seq = 0;
  private t = 0;
  /** Events fired so far. */
  events = 0;

  constructor(readonly seed: number) {}

  now(): number {
    return this.t;
  }

  /** Events scheduled and not yet fired or discarded (cancelled ones count until popped). */
  get pending(): number {
    return this.heap.length;
  }

  /** Schedules `fn` at time `at` (never before now). */
  at(at: number, fn: () => void): SimEvent {
    const e: SimEvent = { at: at > this.t ? at : this.t, seq: this.seq++, fn };
    const h = this.heap;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
    return e;
  }

  /** Schedules `fn` `delay` ms from now. */
  after(delay: number, fn: () => void): SimEvent {
    return this.at(this.t + delay, fn);
  }

  cancel(e: SimEvent | null | undefined): void {
    if (e) e.fn = null;
  }

  /** Fires events in order until the next one lies after `until` (the clock then stands at `until`). */
  runUntil(until: number): void {
    const h = this.heap;
    while (h.length > 0) {
      const top = h[0]!;
      if (top.at > until) break;
      this.pop();
      if (top.fn === null) continue;
      this.t = top.at;
      const fn = top.fn;
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

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && less(h[r]!, h[l]!) ? r : l;
      if (!less(h[c]!, last)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}

function less(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
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

/**
 * Time and randomness, injected into every core (DESIGN §2) so the same logic runs on the real
 * clock in the product and on a virtual clock in the simulator.
 */

/** Milliseconds on a monotonic clock; the origin is arbitrary. */
export interface Clock {
  now(): number;
}

/** A source of uniform random numbers in [0, 1). */
export interface Rng {
  next(): number;
}

/** A seeded, deterministic generator (mulberry32): the same seed gives the same sequence. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** An integer in [0, n). */
export function randomInt(rng: Rng, n: number): number {
  return Math.floor(rng.next() * n);
}

/** A clock the caller moves by hand: for tests and the simulator. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}

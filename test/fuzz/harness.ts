/**
 * Shared parts of the fuzz harness (issue 6 item 4): a seeded PRNG so every run is
 * reproducible, case budgets scaled by `FUZZ_SCALE`, and the check that an error is one of the
 * protocol's typed errors.
 *
 * Reproduce a failure with the seed it prints: `FUZZ_SEED=<seed> npx tsx --test test/fuzz/<file>`.
 */
import assert from 'node:assert/strict';
import { ProtocolError } from '../../src/protocol/errors.ts';

/** The seed of this run: `FUZZ_SEED`, else a fixed one, so `npm test` is deterministic. */
export const SEED = Number(process.env.FUZZ_SEED ?? 0x7e57) >>> 0;

/**
 * Multiplies every case budget: `npm test` runs at 1 (over a million cases in total), `npm run
 * fuzz` at a larger scale.
 */
export const SCALE = Number(process.env.FUZZ_SCALE ?? 1);

/** `n` scaled by {@link SCALE}, at least 1. */
export function budget(n: number): number {
  return Math.max(1, Math.round(n * SCALE));
}

/** A small fast seeded PRNG (mulberry32): the same seed gives the same cases on every machine. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** A uniform u32. */
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n);
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

const PROTOCOL_ERRORS = new Set(['FrameTooLargeError', 'MalformedFrameError', 'TruncatedError', 'TrailingBytesError', 'UnknownMessageTypeError', 'InvalidFieldError']);

/** Fails unless `err` is one of the decoder's typed errors. */
export function assertProtocolError(err: unknown, context: string): void {
  if (!(err instanceof ProtocolError) || !PROTOCOL_ERRORS.has(err.name)) {
    assert.fail(`${context}: not a typed ProtocolError: ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
  }
}

/** Counts the cases every fuzz file ran; printed at the end so the total is on record. */
export function report(name: string, cases: number, ms: number): void {
  process.stdout.write(`# fuzz ${name}: ${cases} cases in ${Math.round(ms)} ms (seed ${SEED}, scale ${SCALE})\n`);
}

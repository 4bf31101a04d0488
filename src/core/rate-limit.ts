/**
 * Token buckets (issue 6 item 4): a neighbour may send `burst` overlay searches at once and
 * `ratePerMin` a minute on average; searches above that are dropped, and a neighbour that keeps
 * flooding is disconnected. Pure and synchronous: time is an argument (DESIGN §2), so the
 * simulator can run the same code.
 */

/** Options of a {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per minute (the sustained rate). Must be > 0. */
  ratePerMin: number;
  /** Most tokens held (the burst allowed after a quiet spell); also the starting fill. Must be ≥ 1. */
  burst: number;
}

/**
 * A token bucket: `take(now)` spends one token if there is one. Starts full. Time going
 * backwards (a clock step) is treated as no time passing.
 */
export class TokenBucket {
  private tokens: number;
  private last: number | undefined;
  private readonly perMs: number;
  private readonly burst: number;

  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerMin > 0) || !Number.isFinite(options.ratePerMin)) throw new RangeError(`ratePerMin must be a positive number, not ${options.ratePerMin}`);
    if (!(options.burst >= 1) || !Number.isFinite(options.burst)) throw new RangeError(`burst must be at least 1, not ${options.burst}`);
    this.perMs = options.ratePerMin / 60_000;
    this.burst = options.burst;
    this.tokens = options.burst;
  }

  /** Tokens available at `now` (fractional). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Spends one token at `now`; false (nothing spent) when the bucket is empty. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private refill(now: number): void {
    if (this.last !== undefined && now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.perMs);
    }
    if (this.last === undefined || now > this.last) this.last = now;
  }
}

/** What {@link KeyedRateLimiter.take} decided. */
export type RateDecision = 'allowed' | 'dropped' | 'disconnect';

/** Options of a {@link KeyedRateLimiter}. */
export interface KeyedRateLimiterOptions extends TokenBucketOptions {
  /**
   * Dropped messages in a row (without an allowed one between) after which the sender is a
   * persistent flooder and `take` answers `'disconnect'`.
   */
  disconnectAfter: number;
}

/**
 * One token bucket per key (a neighbour's peer id), with counters of what was dropped. Forget a
 * key when its link closes ({@link forget}), so memory follows the neighbour set.
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, { bucket: TokenBucket; droppedInARow: number }>();
  /** Messages dropped over the limit, over all keys. */
  dropped = 0;
  /** Keys answered `'disconnect'`. */
  disconnected = 0;

  constructor(private readonly options: KeyedRateLimiterOptions) {
    if (!(options.disconnectAfter >= 1)) throw new RangeError(`disconnectAfter must be at least 1, not ${options.disconnectAfter}`);
    new TokenBucket(options); // validates rate and burst now rather than at the first message
  }

  /** One message from `key` at `now`: allowed, dropped, or dropped and the sender is to be disconnected. */
  take(key: string, now: number): RateDecision {
    let entry = this.buckets.get(key);
    if (!entry) {
      entry = { bucket: new TokenBucket(this.options), droppedInARow: 0 };
      this.buckets.set(key, entry);
    }
    if (entry.bucket.take(now)) {
      entry.droppedInARow = 0;
      return 'allowed';
    }
    this.dropped++;
    entry.droppedInARow++;
    if (entry.droppedInARow >= this.options.disconnectAfter) {
      this.disconnected++;
      this.buckets.delete(key);
      return 'disconnect';
    }
    return 'dropped';
  }

  /** Drops the state of `key` (its link closed). */
  forget(key: string): void {
    this.buckets.delete(key);
  }

  /** Keys with state. */
  get size(): number {
    return this.buckets.size;
  }
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KeyedRateLimiter, TokenBucket } from '../../src/core/rate-limit.ts';
import { defaultConfig } from '../../src/core/config.ts';

test('a full bucket allows a burst, then one token per 60000/rate ms', () => {
  const b = new TokenBucket({ ratePerMin: 60, burst: 3 });
  assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
  assert.equal(b.take(999), false, 'not yet a whole token after 999 ms at 1/s');
  assert.equal(b.take(1000), true);
  assert.equal(b.take(1000), false);
  // A long quiet spell refills to the burst, not beyond.
  assert.equal(b.available(1_000_000), 3);
});

test('time going backwards adds nothing and does not break the bucket', () => {
  const b = new TokenBucket({ ratePerMin: 60, burst: 1 });
  assert.equal(b.take(10_000), true);
  assert.equal(b.take(5_000), false);
  assert.equal(b.take(10_500), false, 'half a token since the latest time seen');
  assert.equal(b.take(11_000), true);
});

test('bad options are refused with a RangeError', () => {
  assert.throws(() => new TokenBucket({ ratePerMin: 0, burst: 1 }), RangeError);
  assert.throws(() => new TokenBucket({ ratePerMin: 10, burst: 0.5 }), RangeError);
  assert.throws(() => new TokenBucket({ ratePerMin: Number.NaN, burst: 1 }), RangeError);
  assert.throws(() => new KeyedRateLimiter({ ratePerMin: 10, burst: 1, disconnectAfter: 0 }), RangeError);
});

test('over any span, allowed ≤ burst + rate × span (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 600 }),
      fc.integer({ min: 1, max: 100 }),
      fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 400 }),
      (rate, burst, gaps) => {
        const b = new TokenBucket({ ratePerMin: rate, burst });
        let now = 0;
        let allowed = 0;
        for (const g of gaps) {
          now += g;
          if (b.take(now)) allowed++;
        }
        assert.ok(allowed <= burst + (rate * now) / 60_000 + 1e-9, `${allowed} allowed in ${now} ms`);
      },
    ),
    { numRuns: 300, seed: 6 },
  );
});

test('a neighbour at the normal rate is never limited; a flooder is dropped, then disconnected', () => {
  const { searchRatePerMin: ratePerMin, searchBurst: burst, searchFloodDisconnectAfter: disconnectAfter } = defaultConfig;
  const l = new KeyedRateLimiter({ ratePerMin, burst, disconnectAfter });
  // Normal: 60 neighbours' searches forwarded, 2 a minute each, for an hour.
  const step = 60_000 / ratePerMin;
  for (let t = 0; t < 3_600_000; t += step) assert.equal(l.take('honest', t), 'allowed');
  // A flood: 10 000 searches within one second.
  const decisions: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const d = l.take('flooder', i / 10);
    decisions.push(d);
    if (d === 'disconnect') break;
  }
  assert.equal(decisions.filter((d) => d === 'allowed').length, burst, 'the burst got through');
  assert.equal(decisions.at(-1), 'disconnect');
  assert.equal(decisions.filter((d) => d !== 'allowed').length, disconnectAfter);
  assert.equal(l.dropped, disconnectAfter);
  assert.equal(l.disconnected, 1);
  // The honest neighbour is untouched by the flooder.
  assert.equal(l.take('honest', 3_600_000), 'allowed');
  l.forget('honest');
  assert.equal(l.size, 0, 'a disconnected flooder and a forgotten key hold no state');
});

test('an allowed search between drops resets the flood count', () => {
  const l = new KeyedRateLimiter({ ratePerMin: 60, burst: 1, disconnectAfter: 3 });
  assert.equal(l.take('p', 0), 'allowed');
  assert.equal(l.take('p', 1), 'dropped');
  assert.equal(l.take('p', 2), 'dropped');
  assert.equal(l.take('p', 1000), 'allowed');
  assert.equal(l.take('p', 1001), 'dropped');
  assert.equal(l.take('p', 1002), 'dropped');
  assert.equal(l.take('p', 1003), 'disconnect');
});

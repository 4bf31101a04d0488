import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.ts';
import { makeConfig } from '../../src/core/config.ts';
import { PlaybackClock, audioTimeAt, startByteFor, type PlaybackTrack } from '../../src/core/playback-clock.ts';

/**
 * A constant-bitrate track: 128 kbit/s = 16 bytes per ms, one page per 100 ms, `headerBytes` of
 * stream headers before the first page.
 */
function cbrTrack(durationMs = 10_000, headerBytes = 1000): PlaybackTrack {
  const seekIndex = [];
  for (let ms = 0; ms < durationMs; ms += 100) seekIndex.push({ ms, byte: headerBytes + ms * 16 });
  return { durationMs, bytes: headerBytes + durationMs * 16, bitrate: 128_000, seekIndex };
}

const config = makeConfig(); // minStartBufferMs 500, startRateMargin 1.2

/** Delivers `bytesPerStep` more of the contiguous run every `stepMs` until the file is complete or `untilMs`. */
function download(
  play: PlaybackClock,
  clock: ManualClock,
  opts: { stepMs: number; bytesPerStep: number; untilMs?: number; from?: number },
): void {
  let end = opts.from ?? play.startByte;
  const until = opts.untilMs ?? Infinity;
  while (end < play.track.bytes && clock.now() + opts.stepMs <= until) {
    clock.advance(opts.stepMs);
    end = Math.min(play.track.bytes, end + opts.bytesPerStep);
    play.tick(clock.now());
    play.onAvailable(clock.now(), end);
  }
}

/** Ticks at every event the play announces until it ends or `untilMs`. */
function runOut(play: PlaybackClock, clock: ManualClock, untilMs = Infinity): void {
  for (let at = play.nextEventAt(clock.now()); at !== null && at <= untilMs; at = play.nextEventAt(clock.now())) {
    clock.set(at);
    play.tick(at);
  }
}

test('everything in the cache: starts at once, plays to the end without a stutter', () => {
  const clock = new ManualClock(1000);
  const track = cbrTrack();
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: clock.now(), config });
  assert.equal(play.state, 'buffering');
  play.onAvailable(clock.now(), track.bytes);
  assert.equal(play.state, 'playing');
  assert.equal(play.summary().latencyMs, 0);
  assert.equal(play.nextEventAt(clock.now()), 1000 + track.durationMs);
  runOut(play, clock);
  const s = play.summary();
  assert.equal(s.state, 'ended');
  assert.equal(s.endReason, 'finished');
  assert.equal(s.playedMs, track.durationMs);
  assert.equal(s.stutters, 0);
  assert.equal(s.stallMs, 0);
  assert.equal(play.nextEventAt(clock.now()), null);
});

test('cached bytes passed at construction count as present, not as download', () => {
  const track = cbrTrack();
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: 50, config, contiguousEndByte: track.bytes });
  assert.equal(play.state, 'playing');
  assert.equal(play.summary().latencyMs, 0);
});

test('a fast download starts after minStartBufferMs of audio', () => {
  const clock = new ManualClock(0);
  const track = cbrTrack();
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config });
  // 10x the bitrate: one 100 ms page every 10 ms after the headers.
  clock.advance(10);
  play.onAvailable(clock.now(), 1000);
  download(play, clock, { stepMs: 10, bytesPerStep: 1600, from: 1000 });
  runOut(play, clock);
  const s = play.summary();
  // 500 ms of audio = 5 pages, and their end is the sixth page's start: at 10 + 5 * 10 ms.
  assert.equal(s.latencyMs, 60);
  assert.equal(s.stutters, 0);
  assert.equal(s.endReason, 'finished');
});

test('a slow download raises the start threshold so the play never stutters', () => {
  const clock = new ManualClock(0);
  const track = cbrTrack();
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config });
  // Half the bitrate: 800 bytes every 100 ms.
  download(play, clock, { stepMs: 100, bytesPerStep: 800 });
  runOut(play, clock);
  const s = play.summary();
  assert.equal(s.stutters, 0);
  assert.equal(s.endReason, 'finished');
  const fullDownloadMs = Math.ceil(track.bytes / 800) * 100;
  assert.ok(s.latencyMs !== null && s.latencyMs > 5_000, `latency ${s.latencyMs} waits for most of the download`);
  assert.ok(s.latencyMs < fullDownloadMs, `latency ${s.latencyMs} below the whole download ${fullDownloadMs}`);
  assert.equal(s.playedMs, track.durationMs);
});

test('below the bitrate the threshold follows remaining x (1 - rate / (margin x bitrate))', () => {
  const clock = new ManualClock(0);
  const track = cbrTrack(10_000, 0);
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config: makeConfig({ startRateMargin: 1 }) });
  // 8 bytes/ms = half the bitrate, so half of the 10 s must be buffered: 5000 ms = 80 000 bytes, at 10 s.
  download(play, clock, { stepMs: 100, bytesPerStep: 800, untilMs: 9_900 });
  assert.equal(play.state, 'buffering');
  download(play, clock, { stepMs: 100, bytesPerStep: 800, untilMs: 10_000, from: 79_200 });
  assert.equal(play.state, 'playing');
  assert.equal(play.summary().latencyMs, 10_000);
});

test('never waits for more than the rest of the track', () => {
  const clock = new ManualClock(0);
  const track = cbrTrack(10_000, 0);
  // 200 ms left, less than minStartBufferMs: the rest of the file is enough, and needed.
  const play = new PlaybackClock({ track, startMs: 9_800, requestedAt: 0, config });
  clock.set(10);
  play.onAvailable(10, track.bytes - 1);
  assert.equal(play.state, 'buffering');
  clock.set(20);
  play.onAvailable(20, track.bytes);
  assert.equal(play.state, 'playing');
  assert.equal(play.summary().latencyMs, 20);
  // A trickle that is all but zero asks for everything that is left, and no more.
  const trickle = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config });
  trickle.onAvailable(1_000_000, track.bytes - 1600);
  assert.equal(trickle.state, 'buffering');
  trickle.onAvailable(1_000_001, track.bytes);
  assert.equal(trickle.state, 'playing');
});

test('download rate exactly equal to the bitrate', () => {
  const track = cbrTrack(10_000, 0);
  // Without a margin the rate just keeps up: minStartBufferMs suffices and the play never stalls.
  {
    const clock = new ManualClock(0);
    const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config: makeConfig({ startRateMargin: 1 }) });
    download(play, clock, { stepMs: 100, bytesPerStep: 1600 });
    runOut(play, clock);
    const s = play.summary();
    assert.equal(s.latencyMs, 500);
    assert.equal(s.stutters, 0);
    assert.equal(s.endReason, 'finished');
  }
  // With the default margin of 1.2 the rate is not comfortable: a sixth of the track is buffered first.
  {
    const clock = new ManualClock(0);
    const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config });
    download(play, clock, { stepMs: 100, bytesPerStep: 1600 });
    runOut(play, clock);
    const s = play.summary();
    assert.equal(s.latencyMs, 1_700); // first page boundary at or after 10 000 / 6 ms
    assert.equal(s.stutters, 0);
  }
});

test('a stall is counted once, lasts until the threshold is met again, and is timed', () => {
  const clock = new ManualClock(0);
  const track = cbrTrack(10_000, 0);
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config });
  // Fast until 2 s of audio are held, then nothing.
  download(play, clock, { stepMs: 10, bytesPerStep: 1600, untilMs: 200 });
  const startedAt = play.summary().latencyMs!;
  assert.equal(startedAt, 50);
  assert.equal(play.state, 'playing');
  const stallAt = play.nextEventAt(clock.now())!;
  assert.equal(stallAt, 50 + 2_000);
  clock.set(stallAt);
  play.tick(stallAt);
  assert.equal(play.state, 'stalled');
  assert.equal(play.nextEventAt(clock.now()), null);
  for (let i = 0; i < 5; i++) {
    clock.advance(100);
    play.tick(clock.now());
  }
  let s = play.summary();
  assert.equal(s.stutters, 1);
  assert.equal(s.stallMs, 500);
  assert.deepEqual(s.stutterEvents, [{ atMs: stallAt, positionMs: 2_000, durationMs: null }]);
  // The rest of the file at once (rate since the request counts the silence, so a trickle would not do).
  clock.set(2_600);
  play.onAvailable(2_600, track.bytes);
  assert.equal(play.state, 'playing');
  runOut(play, clock);
  s = play.summary();
  assert.equal(s.stutters, 1);
  assert.equal(s.stallMs, 550);
  assert.deepEqual(s.stutterEvents, [{ atMs: stallAt, positionMs: 2_000, durationMs: 550 }]);
  assert.equal(s.endReason, 'finished');
  assert.equal(s.playedMs, track.durationMs);
});

test('a stall found late by tick is dated when the playback point ran out, not when noticed', () => {
  const clock = new ManualClock(0);
  const track = cbrTrack(10_000, 0);
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config, contiguousEndByte: 16_000 });
  // 1 s held and rate unknown at the request: waits for the rate; one fast arrival starts it.
  clock.set(10);
  play.onAvailable(10, 16_000 + 1600);
  assert.equal(play.state, 'playing');
  clock.set(5_000);
  play.tick(5_000);
  const s = play.summary();
  assert.equal(s.state, 'stalled');
  assert.deepEqual(s.stutterEvents, [{ atMs: 10 + 1_100, positionMs: 1_100, durationMs: null }]);
  assert.equal(s.stallMs, 5_000 - 1_110);
  assert.equal(s.playedMs, 1_100);
});

test('audio arriving at the very instant the playback point gets there is no stutter, in either order', () => {
  for (const tickFirst of [true, false]) {
    const clock = new ManualClock(0);
    const track = cbrTrack(10_000, 0);
    const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config });
    clock.set(10);
    play.onAvailable(10, 16 * 1_000);
    assert.equal(play.state, 'playing');
    const at = play.nextEventAt(10)!;
    assert.equal(at, 1_010);
    clock.set(at);
    if (tickFirst) play.tick(at);
    play.onAvailable(at, track.bytes);
    play.tick(at);
    assert.equal(play.state, 'playing', `tickFirst=${tickFirst}`);
    assert.equal(play.summary().stutters, 0);
  }
});

test('seek ends the play and starts a new random access from the new position', () => {
  const clock = new ManualClock(0);
  const track = cbrTrack();
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config });
  download(play, clock, { stepMs: 10, bytesPerStep: 1600, untilMs: 300 });
  assert.equal(play.state, 'playing');
  clock.set(1_000);
  const { ended, next } = play.seek(1_000, 5_000);
  assert.equal(ended.state, 'ended');
  assert.equal(ended.endReason, 'seek');
  assert.equal(ended.playedMs, 1_000 - 60);
  assert.equal(play.state, 'ended');
  play.tick(2_000);
  assert.equal(play.summary().playedMs, 940, 'an ended play does not change');
  assert.equal(next.startMs, 5_000);
  assert.equal(next.requestedAt, 1_000);
  assert.equal(next.startByte, 1000 + 5_000 * 16);
  assert.equal(next.state, 'buffering');
  // The new position's audio comes quickly: the new latency counts from the seek.
  clock.set(1_040);
  next.onAvailable(1_040, next.startByte + 16 * 600);
  assert.equal(next.state, 'playing');
  assert.equal(next.summary().latencyMs, 40);
  assert.equal(next.summary().stutters, 0);
});

test('a seek into audio held in full starts at once', () => {
  const track = cbrTrack();
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config, contiguousEndByte: track.bytes });
  const { next } = play.seek(3_000, 9_000);
  next.onAvailable(3_000, track.bytes);
  assert.equal(next.state, 'playing');
  assert.equal(next.summary().latencyMs, 0);
  assert.equal(next.nextEventAt(3_000), 3_000 + 1_000);
});

test('stop while buffering leaves no latency; stop while stalled closes the stall', () => {
  const track = cbrTrack();
  const waiting = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config });
  waiting.tick(3_000);
  const s1 = waiting.stop(4_000);
  assert.equal(s1.latencyMs, null);
  assert.equal(s1.endReason, 'stopped');
  assert.equal(s1.stutters, 0);

  const clock = new ManualClock(0);
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config });
  download(play, clock, { stepMs: 10, bytesPerStep: 1600, untilMs: 100, from: 0 });
  runOut(play, clock, 10_000);
  assert.equal(play.state, 'stalled');
  const stalledAt = play.summary().stutterEvents[0]!.atMs;
  const s2 = play.stop(stalledAt + 700);
  assert.equal(s2.stallMs, 700);
  assert.equal(s2.stutterEvents[0]!.durationMs, 700);
  assert.equal(s2.stutters, 1);
});

test('stopping at the exact instant the audio runs out is not a stutter', () => {
  const track = cbrTrack(10_000, 0);
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config });
  play.onAvailable(10, 16 * 1_000);
  const at = play.nextEventAt(10)!;
  const s = play.stop(at);
  assert.equal(s.stutters, 0);
  assert.equal(s.playedMs, 1_000);
});

test('end of track: a play from the middle ends after the rest of the track', () => {
  const track = cbrTrack();
  const play = new PlaybackClock({ track, startMs: 7_250, requestedAt: 100, config, contiguousEndByte: track.bytes });
  assert.equal(play.startByte, 1000 + 7_200 * 16, 'starts at the page holding the position');
  assert.equal(play.state, 'playing');
  assert.equal(play.nextEventAt(100), 100 + 2_750);
  play.tick(100 + 2_749);
  assert.equal(play.state, 'playing');
  assert.equal(play.positionMs(100 + 2_749), 9_999);
  play.tick(100 + 2_750);
  const s = play.summary();
  assert.equal(s.state, 'ended');
  assert.equal(s.endReason, 'finished');
  assert.equal(s.playedMs, 2_750);
  // A tick long after the end does not add played time.
  play.tick(1_000_000);
  assert.equal(play.summary().playedMs, 2_750);
});

test('the last page is only complete at the end of the file', () => {
  const track = cbrTrack(1_000, 0);
  assert.equal(audioTimeAt(track, track.bytes - 1), 900);
  assert.equal(audioTimeAt(track, track.bytes), 1_000);
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config: makeConfig({ minStartBufferMs: 100 }) });
  play.onAvailable(1, track.bytes - 1);
  runOut(play, new ManualClock(1));
  assert.equal(play.state, 'stalled');
  assert.equal(play.summary().stutterEvents[0]!.positionMs, 900);
  play.onAvailable(2_000, track.bytes);
  runOut(play, new ManualClock(2_000));
  assert.equal(play.summary().endReason, 'finished');
  assert.equal(play.summary().playedMs, 1_000);
});

test('zero-byte and empty corner cases', () => {
  // An empty track is over as soon as it is asked for.
  const empty = new PlaybackClock({ track: { durationMs: 0, bytes: 0, bitrate: 0, seekIndex: [] }, startMs: 0, requestedAt: 5, config });
  assert.equal(empty.state, 'ended');
  assert.deepEqual(
    { latency: empty.summary().latencyMs, played: empty.summary().playedMs, reason: empty.summary().endReason },
    { latency: 0, played: 0, reason: 'finished' },
  );
  assert.equal(empty.nextEventAt(5), null);
  empty.onAvailable(10, 0);
  assert.equal(empty.state, 'ended');

  // A request at (or past) the end of a track has nothing to play.
  const track = cbrTrack();
  const pastEnd = new PlaybackClock({ track, startMs: 20_000, requestedAt: 0, config });
  assert.equal(pastEnd.startMs, track.durationMs);
  assert.equal(pastEnd.state, 'ended');

  // No bytes at all, reported again and again: buffering, no rate, no start.
  const starving = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config });
  for (let t = 0; t <= 10_000; t += 1_000) starving.onAvailable(t, 0);
  assert.equal(starving.state, 'buffering');
  assert.equal(starving.bufferedAheadMs(10_000), 0);
  assert.equal(starving.summary().latencyMs, null);

  // Only the headers: still no audio.
  starving.onAvailable(11_000, 1000);
  assert.equal(starving.state, 'buffering');

  // Unknown bitrate: nothing to adapt to, minStartBufferMs applies.
  const noBitrate = new PlaybackClock({ track: { ...track, bitrate: 0 }, startMs: 0, requestedAt: 0, config });
  noBitrate.onAvailable(1_000_000, 1000 + 16 * 600);
  assert.equal(noBitrate.state, 'playing');

  // Without a seek index, bytes map to time proportionally.
  const noIndex = { ...track, seekIndex: [] };
  assert.equal(startByteFor(noIndex, 5_000), Math.floor(track.bytes / 2));
  assert.equal(audioTimeAt(noIndex, Math.floor(track.bytes / 2)), 5_000);
  assert.equal(audioTimeAt(noIndex, track.bytes), track.durationMs);
});

test('time never goes backwards', () => {
  const track = cbrTrack();
  const play = new PlaybackClock({ track, startMs: 0, requestedAt: 0, config, contiguousEndByte: track.bytes });
  play.tick(4_000);
  play.tick(1_000);
  assert.equal(play.positionMs(1_000), 4_000);
  assert.equal(play.summary().playedMs, 4_000);
});

test('property: figures stay consistent for any arrival schedule', () => {
  const track = cbrTrack(5_000, 500);
  fc.assert(
    fc.property(
      fc.array(fc.record({ dt: fc.integer({ min: 0, max: 400 }), bytes: fc.integer({ min: 0, max: 8_000 }), tick: fc.boolean() }), { maxLength: 120 }),
      fc.integer({ min: 0, max: 5_000 }),
      fc.integer({ min: 0, max: 3 }),
      (steps, startMs, marginTenthsOver) => {
        const play = new PlaybackClock({ track, startMs, requestedAt: 0, config: makeConfig({ startRateMargin: 1 + marginTenthsOver / 10 }) });
        let now = 0;
        let end = play.startByte;
        let startedAt: number | null = null;
        for (const step of steps) {
          now += step.dt;
          end = Math.min(track.bytes, end + step.bytes);
          if (step.tick) play.tick(now);
          play.onAvailable(now, end);
          const s = play.summary();
          if (startedAt === null && s.latencyMs !== null) startedAt = now;
          // Played audio never exceeds the audio held, nor the time since the start.
          assert.ok(s.playedMs === 0 || play.startMs + s.playedMs <= audioTimeAt(track, end));
          assert.ok(s.playedMs + s.stallMs <= (startedAt === null ? 0 : now - startedAt) + 1e-9);
          assert.ok(play.positionMs(now) <= track.durationMs);
          assert.equal(s.latencyMs === null, s.state === 'buffering' || (s.state === 'ended' && startedAt === null));
          assert.ok(s.stutterEvents.every((e, i) => i === s.stutterEvents.length - 1 || e.durationMs !== null));
          const next = play.nextEventAt(now);
          assert.ok(next === null || next >= now);
        }
        play.onAvailable(now, track.bytes);
        for (let at = play.nextEventAt(now); at !== null; at = play.nextEventAt(now)) play.tick((now = at));
        const s = play.summary();
        assert.equal(s.state, 'ended');
        assert.equal(s.playedMs, track.durationMs - play.startMs);
        assert.equal(s.stallMs, s.stutterEvents.reduce((sum, e) => sum + (e.durationMs ?? 0), 0));
      },
    ),
    { numRuns: 300 },
  );
});

test('a prefetched start: at least lowBufferMs held at the request plays at once; less waits for a measured rate', () => {
  const track = cbrTrack(60_000);
  const byteAt = (ms: number) => 1000 + ms * 16;
  // 15 s held (a prefetched start of a 60 s track): nothing to measure a rate by, but enough.
  const clock = new ManualClock(0);
  const held = new PlaybackClock({ track, startMs: 0, requestedAt: clock.now(), config, contiguousEndByte: byteAt(15_000) });
  held.onAvailable(clock.now(), byteAt(15_000));
  assert.equal(held.state, 'playing');
  assert.equal(held.summary().latencyMs, 0);
  // 5 s held: under the low-buffer mark, so the play waits until arrivals show the rate is enough.
  const short = new PlaybackClock({ track, startMs: 0, requestedAt: clock.now(), config, contiguousEndByte: byteAt(5_000) });
  short.onAvailable(clock.now(), byteAt(5_000));
  assert.equal(short.state, 'buffering');
  download(short, clock, { stepMs: 10, bytesPerStep: 16 * 1000, from: byteAt(5_000) });
  assert.equal(short.state, 'playing');
  assert.ok(short.summary().latencyMs! > 0);
  assert.equal(short.summary().stutters, 0);
});

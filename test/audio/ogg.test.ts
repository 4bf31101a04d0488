import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { seededRng } from '../../src/core/clock.ts';
import type { SeekPoint } from '../../src/core/track.ts';
import { AudioFormatError, SEEK_INDEX_SPACING_MS, byteForTime, parseOgg, parseOggFile, timeForByte } from '../../src/audio/ogg.ts';
import { FLAG_EOS, readPage, writePage } from '../../src/audio/ogg-page.ts';
import { synthesizeVorbis } from '../../src/audio/synth.ts';
import { missing, readWav16, run, tempDir } from './helpers.ts';

let tmp: { dir: string; cleanup: () => void };
let file: Uint8Array;
let filePath: string;

before(async () => {
  tmp = tempDir('ogg');
  file = await synthesizeVorbis({ seed: 1, durationSec: 12 });
  filePath = join(tmp.dir, 'track.ogg');
  writeFileSync(filePath, file);
});
after(() => tmp.cleanup());

/** Byte offsets of every page of a valid file. */
function pageOffsets(data: Uint8Array): number[] {
  const out: number[] = [];
  for (let o = 0; o < data.length; ) {
    const r = readPage(data, o);
    assert.ok(r.ok);
    out.push(o);
    o += r.page.length;
  }
  return out;
}

/** Asserts that `fn` throws an AudioFormatError about `name`, and returns it. */
function rejects(fn: () => unknown, name: string, problem?: RegExp): AudioFormatError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AudioFormatError, `expected AudioFormatError, got ${String(e)}`);
    assert.equal(e.name, 'AudioFormatError');
    assert.equal(e.file, name);
    assert.ok(e.message.startsWith(`${name}: `), e.message);
    assert.ok(e.message.includes(e.problem));
    if (problem) assert.match(e.problem, problem);
    return e;
  }
  assert.fail(`${name}: expected an AudioFormatError, parsed fine`);
}

test('a synthesized track parses with the right codec, parameters and duration', () => {
  const info = parseOgg(file, 'track.ogg');
  assert.equal(info.codec, 'vorbis');
  assert.equal(info.sampleRate, 44100);
  assert.equal(info.channels, 2);
  assert.ok(Math.abs(info.durationMs - 12000) <= 50, `duration ${info.durationMs}`);
  assert.equal(info.bytes, file.length);
  assert.ok(info.nominalBitrate > 0, 'libvorbis sets bitrate_nominal');
  assert.equal(info.bitrate, Math.round((file.length * 8 * 1000) / info.durationMs));
  assert.ok(info.bitrate > 60_000 && info.bitrate < 200_000, `bitrate ${info.bitrate}`);
  assert.ok(info.audioStart > 0 && info.audioStart < 16384);
  assert.ok(pageOffsets(file).includes(info.audioStart), 'audioStart is a page start');
});

test('the seek index starts at audioStart, ascends in both fields, and its points are page starts >= 250 ms apart', () => {
  const info = parseOgg(file);
  const idx = info.seekIndex;
  const pages = new Set(pageOffsets(file));
  assert.deepEqual(idx[0], { ms: 0, byte: info.audioStart });
  assert.ok(idx.length >= 12000 / 1000, `only ${idx.length} points for 12 s`);
  for (let i = 1; i < idx.length; i++) {
    assert.ok(idx[i]!.byte > idx[i - 1]!.byte, `byte not ascending at ${i}`);
    assert.ok(idx[i]!.ms - idx[i - 1]!.ms >= SEEK_INDEX_SPACING_MS, `points ${i - 1}, ${i} closer than 250 ms`);
  }
  for (const p of idx) {
    assert.ok(pages.has(p.byte), `${p.byte} is not a page start`);
    assert.ok(p.ms <= info.durationMs);
  }
});

test('the seek index agrees with a real decoder: a file cut at a point decodes to exactly that point', { skip: missing('oggdec') }, () => {
  const info = parseOgg(file);
  const rng = seededRng(3);
  const idx = info.seekIndex;
  const cuts = [idx[1]!.byte, idx[idx.length - 1]!.byte, ...Array.from({ length: 4 }, () => idx[1 + Math.floor(rng.next() * (idx.length - 1))]!.byte)];
  // Also cuts between pages: the decoder may then have more audio, never less.
  const between = Array.from({ length: 4 }, () => info.audioStart + Math.floor(rng.next() * (file.length - info.audioStart)));
  for (const cut of [...cuts, ...between]) {
    const prefix = join(tmp.dir, `prefix-${cut}.ogg`);
    writeFileSync(prefix, file.subarray(0, cut));
    const r = run('oggdec', ['-Q', '-o', '-', prefix]);
    assert.equal(r.status, 0, r.stderr);
    const decodedMs = (readWav16(r.stdout).channels[0]!.length * 1000) / 44100;
    const claimed = timeForByte(idx, cut);
    assert.ok(decodedMs >= claimed - 1, `cut ${cut}: decoder has ${decodedMs} ms, index claims ${claimed}`);
    if (cuts.includes(cut)) assert.ok(decodedMs <= claimed + 1, `cut ${cut} at a point: decoded ${decodedMs} ms, index says ${claimed}`);
  }
});

test('byteForTime and timeForByte are consistent on a real index', () => {
  const info = parseOgg(file);
  const idx = info.seekIndex;
  for (const p of idx) {
    assert.equal(byteForTime(idx, p.ms), p.byte);
    assert.equal(timeForByte(idx, p.byte), p.ms);
    assert.equal(timeForByte(idx, p.byte - 1), p === idx[0] ? 0 : idx[idx.indexOf(p) - 1]!.ms);
  }
  assert.equal(byteForTime(idx, -5), info.audioStart);
  assert.equal(byteForTime(idx, info.durationMs + 1e6), idx[idx.length - 1]!.byte);
  assert.equal(timeForByte(idx, 0), 0);
  assert.equal(timeForByte(idx, info.bytes, { bytes: info.bytes, durationMs: info.durationMs }), info.durationMs);
  assert.ok(timeForByte(idx, info.bytes - 1, info) < info.durationMs);
  let prev = -1;
  for (let b = 0; b <= info.bytes; b += 997) {
    const t = timeForByte(idx, b, info);
    assert.ok(t >= prev, 'timeForByte is monotonic');
    prev = t;
  }
});

const arbIndex = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 100000 })), { minLength: 0, maxLength: 60 })
  .chain((steps) =>
    fc.integer({ min: 0, max: 10000 }).map((start) => {
      const idx: SeekPoint[] = [{ ms: 0, byte: start }];
      for (const [dm, db] of steps) idx.push({ ms: idx[idx.length - 1]!.ms + dm, byte: idx[idx.length - 1]!.byte + db });
      return idx;
    }),
  );

test('byteForTime / timeForByte properties on arbitrary ascending indexes', () => {
  fc.assert(
    fc.property(arbIndex, fc.integer({ min: -1000, max: 400000 }), fc.integer({ min: 0, max: 7_000_000 }), (idx, ms, byte) => {
      const b = byteForTime(idx, ms);
      // The chosen point is the last one at or before ms.
      const expected = [...idx].reverse().find((p) => p.ms <= ms) ?? idx[0]!;
      assert.equal(b, expected.byte);
      assert.ok(timeForByte(idx, b) <= Math.max(ms, 0));
      // Monotonic in both directions.
      assert.ok(byteForTime(idx, ms + 1) >= b);
      const t = timeForByte(idx, byte);
      assert.ok(timeForByte(idx, byte + 1) >= t);
      assert.ok(byteForTime(idx, t) <= Math.max(byte, idx[0]!.byte));
      if (byte >= idx[0]!.byte) assert.equal(timeForByte(idx, byteForTime(idx, t)), t);
    }),
    { numRuns: 300, seed: 5 },
  );
  assert.equal(byteForTime([], 100), 0);
  assert.equal(timeForByte([], 100), 0);
});

test('an empty file is rejected naming the file', async () => {
  const p = join(tmp.dir, 'empty.ogg');
  writeFileSync(p, new Uint8Array(0));
  await assert.rejects(parseOggFile(p), (e: unknown) => {
    assert.ok(e instanceof AudioFormatError);
    assert.equal(e.file, p);
    assert.equal(e.problem, 'empty file');
    assert.equal(e.message, `${p}: empty file`);
    return true;
  });
});

test('random bytes are rejected, with or without an OggS at the start', () => {
  const rng = seededRng(9);
  for (let i = 0; i < 50; i++) {
    const data = new Uint8Array(1 + Math.floor(rng.next() * 5000)).map(() => Math.floor(rng.next() * 256));
    if (data[0] === 0x4f) data[0] = 0;
    rejects(() => parseOgg(data, 'noise.bin'), 'noise.bin', /not an Ogg stream \(no OggS capture pattern at byte 0/);
    data.set([0x4f, 0x67, 0x67, 0x53].slice(0, data.length));
    rejects(() => parseOgg(data, 'noise.ogg'), 'noise.ogg');
  }
});

test('a file cut anywhere is rejected, also exactly at page boundaries', () => {
  const rng = seededRng(4);
  const cuts = [1, 3, 4, 27, 28, 100, ...pageOffsets(file).slice(1), ...Array.from({ length: 40 }, () => 1 + Math.floor(rng.next() * (file.length - 1)))];
  for (const cut of cuts) {
    rejects(() => parseOgg(file.subarray(0, cut), 'cut.ogg'), 'cut.ogg', /truncated|incomplete|no complete codec/);
  }
  // A cut on a page boundary leaves intact pages: the missing end-of-stream flag is what tells.
  const boundary = pageOffsets(file)[10]!;
  rejects(() => parseOgg(file.subarray(0, boundary), 'cut.ogg'), 'cut.ogg', /not marked end-of-stream/);
});

test('any single flipped bit is detected', () => {
  const rng = seededRng(8);
  for (let i = 0; i < 300; i++) {
    const bit = Math.floor(rng.next() * file.length * 8);
    const copy = file.slice();
    copy[bit >> 3]! ^= 1 << (bit & 7);
    rejects(() => parseOgg(copy, 'flipped.ogg'), 'flipped.ogg');
  }
  // In a page body the CRC is what notices.
  const copy = file.slice();
  copy[file.length - 10]! ^= 0x10;
  rejects(() => parseOgg(copy, 'flipped.ogg'), 'flipped.ogg', /bad CRC in page \d+ at byte \d+/);
});

test('a WAV made with sox is rejected as not Ogg', { skip: missing('sox') }, async () => {
  const p = join(tmp.dir, 'tone.wav');
  const r = run('sox', ['-n', '-r', '44100', '-c', '2', '-b', '16', p, 'synth', '1', 'pluck', 'C4']);
  assert.equal(r.status, 0, r.stderr);
  await assert.rejects(parseOggFile(p), (e: unknown) => {
    assert.ok(e instanceof AudioFormatError);
    assert.equal(e.file, p);
    assert.match(e.message, /^.*tone\.wav: not an Ogg stream \(no OggS capture pattern at byte 0; looks like RIFF\/WAV\)$/);
    return true;
  });
});

test('an MP3 is rejected as not Ogg', { skip: missing('sox', 'ffmpeg') }, async (t) => {
  // Debian's sox has no MP3 writer without libsox-fmt-mp3: sox makes the WAV, ffmpeg the MP3.
  const wav = join(tmp.dir, 'for-mp3.wav');
  const mp3 = join(tmp.dir, 'song.mp3');
  assert.equal(run('sox', ['-n', '-r', '44100', '-c', '2', '-b', '16', wav, 'synth', '1', 'pluck', 'E4']).status, 0);
  const r = run('ffmpeg', ['-v', 'error', '-y', '-i', wav, '-c:a', 'libmp3lame', mp3]);
  if (r.status !== 0) {
    t.skip('this ffmpeg has no libmp3lame encoder');
    return;
  }
  await assert.rejects(parseOggFile(mp3), (e: unknown) => {
    assert.ok(e instanceof AudioFormatError);
    assert.equal(e.message, `${mp3}: not an Ogg stream (no OggS capture pattern at byte 0; looks like MP3 with ID3 tag)`);
    return true;
  });
});

test('Ogg FLAC and Ogg Speex are rejected as unsupported codecs', { skip: missing('sox', 'ffmpeg') }, () => {
  const wav = join(tmp.dir, 'for-flac.wav');
  assert.equal(run('sox', ['-n', '-r', '16000', '-c', '1', '-b', '16', wav, 'synth', '1', 'pluck', 'G4']).status, 0);
  const cases: [string, string[], RegExp][] = [
    ['flac.oga', ['-c:a', 'flac', '-f', 'ogg'], /unsupported codec: Ogg FLAC/],
    ['speex.spx', ['-c:a', 'libspeex', '-f', 'ogg'], /unsupported codec: Speex/],
  ];
  let tested = 0;
  for (const [name, args, problem] of cases) {
    const out = join(tmp.dir, name);
    const r = run('ffmpeg', ['-v', 'error', '-y', '-i', wav, ...args, out]);
    if (r.status !== 0) continue; // this ffmpeg lacks the encoder
    rejects(() => parseOgg(readFileSync(out), name), name, problem);
    tested++;
  }
  assert.ok(tested >= 1, 'ffmpeg could make neither Ogg FLAC nor Ogg Speex');
});

test('chained and multiplexed streams are rejected', async () => {
  const other = await synthesizeVorbis({ seed: 2, durationSec: 2 });
  const chained = Buffer.concat([file, other]);
  rejects(() => parseOgg(chained, 'chained.ogg'), 'chained.ogg', /more than one logical stream.*chained/);
  // The same stream twice (same serial) is chained too.
  rejects(() => parseOgg(Buffer.concat([other, other]), 'twice.ogg'), 'twice.ogg', /more than one logical stream/);
  // Multiplexed: both BOS pages first, then the rest of each.
  const a0 = pageOffsets(file)[1]!;
  const b0 = pageOffsets(other)[1]!;
  const muxed = Buffer.concat([file.subarray(0, a0), other.subarray(0, b0), file.subarray(a0), other.subarray(b0)]);
  rejects(() => parseOgg(muxed, 'muxed.ogg'), 'muxed.ogg', /more than one logical stream \(serial 0x[0-9a-f]+ at byte \d+/);
});

test('a stream without audio, or with zero duration, is rejected', () => {
  const info = parseOgg(file);
  const headers = file.subarray(0, info.audioStart);
  const r = readPage(file, pageOffsets(file)[1]!);
  assert.ok(r.ok);
  const nextSeq = pageOffsets(file).indexOf(info.audioStart); // page sequence numbers start at 0
  rejects(() => parseOgg(headers, 'headers.ogg'), 'headers.ogg', /truncated/);
  const eos = writePage({ flags: FLAG_EOS, granule: 0n, serial: r.page.serial, sequence: nextSeq, lacing: [], body: new Uint8Array(0) });
  rejects(() => parseOgg(Buffer.concat([headers, eos]), 'zero.ogg'), 'zero.ogg', /zero duration/);
});

test('an Opus file made with sox + opusenc parses with codec opus and the right duration', { skip: missing('sox', 'opusenc') }, async () => {
  const wav = join(tmp.dir, 'opus-in.wav');
  const opus = join(tmp.dir, 'song.opus');
  assert.equal(run('sox', ['-n', '-r', '44100', '-c', '2', '-b', '16', wav, 'synth', '7.5', 'pluck', 'C4', 'pluck', 'G4']).status, 0);
  const r = run('opusenc', ['--quiet', '--bitrate', '96', wav, opus]);
  assert.equal(r.status, 0, r.stderr);
  const info = await parseOggFile(opus);
  assert.equal(info.codec, 'opus');
  assert.equal(info.sampleRate, 48000);
  assert.equal(info.channels, 2);
  assert.equal(info.nominalBitrate, 0);
  assert.ok(Math.abs(info.durationMs - 7500) <= 20, `duration ${info.durationMs}`);
  assert.ok(info.bitrate > 50_000 && info.bitrate < 200_000, `bitrate ${info.bitrate}`);
  assert.deepEqual(info.seekIndex[0], { ms: 0, byte: info.audioStart });
  assert.ok(info.seekIndex.length >= 7, `${info.seekIndex.length} seek points`);
  for (let i = 1; i < info.seekIndex.length; i++) assert.ok(info.seekIndex[i]!.ms > info.seekIndex[i - 1]!.ms);
  // A damaged Opus file is caught like a Vorbis one.
  const data = readFileSync(opus);
  rejects(() => parseOgg(data.subarray(0, data.length - 100), 'song.opus'), 'song.opus', /truncated/);
});

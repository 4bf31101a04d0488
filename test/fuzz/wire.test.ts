/**
 * Fuzzing the frame decoder and the codec (DESIGN §4, issue 6 item 4) with a seeded PRNG: random
 * bytes; valid frames of every message type mutated (bit flips, edge bytes, truncations, length
 * prefixes that lie, varint lengths and counts made huge, spliced and duplicated bytes) and fed
 * in random pieces; random and mutated payloads of every type id. Properties: only the typed
 * ProtocolErrors are thrown, memory stays under one frame, and whatever decodes is canonical (it
 * re-encodes to the same bytes, so the decoder accepts nothing the encoder would refuse).
 *
 * About 1 000 000 cases at FUZZ_SCALE=1; FUZZ_SEED and FUZZ_SCALE reproduce or enlarge a run
 * (harness.ts). `test/fuzz/handlers.test.ts` sends hostile messages to the real handlers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeMessage, encodeMessage, MESSAGE_TYPE_IDS, typeIdOf } from '../../src/protocol/codec.ts';
import { encodeFrame, FrameDecoder } from '../../src/protocol/framing.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { allSamples, messageArb } from '../protocol/samples.ts';
import { assertProtocolError, budget, report, Rng, SEED } from './harness.ts';

const LIMITS = [64, 4096, 64 * 1024, 1024 * 1024];
const TYPE_IDS = Object.values(MESSAGE_TYPE_IDS);
const ALL_IDS = Array.from({ length: 256 }, (_, i) => i);

/** Valid messages of every type: the hand-written samples and fast-check's, from the run's seed. */
const pool: Message[] = [...allSamples, ...fc.sample(messageArb, { numRuns: 400, seed: SEED })];
const encoded = pool.map((m) => ({ typeId: typeIdOf(m.type), payload: Buffer.from(encodeMessage(m)) }));
const frames = pool.map((m, i) => Buffer.from(encodeFrame(m, i * 2654435761 >>> 0)));

test('every message type is in the pool', () => {
  const types = new Set(pool.map((m) => m.type));
  assert.deepEqual([...types].sort(), Object.keys(MESSAGE_TYPE_IDS).sort());
});

/** Varints of edge values: huge lengths and counts, non-canonical and overlong encodings. */
const EDGE_VARINTS = [
  [0xff, 0xff, 0xff, 0xff, 0x0f],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
  [0x80, 0x00],
  [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
  [0xc0, 0x84, 0x3d],
  [0xff, 0x7f],
].map((b) => Buffer.from(b));
const EDGE_BYTES = [0, 1, 2, 0x7f, 0x80, 0xfe, 0xff];

/** 1 to 4 random mutations of `input`. */
function mutate(rng: Rng, input: Buffer): Buffer {
  let b = Buffer.from(input);
  const n = 1 + rng.int(4);
  for (let k = 0; k < n && b.length > 0; k++) {
    const at = rng.int(b.length);
    switch (rng.int(9)) {
      case 0:
        b[at]! ^= 1 << rng.int(8);
        break;
      case 1:
        b[at] = rng.pick(EDGE_BYTES);
        break;
      case 2:
        b = b.subarray(0, at);
        break;
      case 3: {
        // A length prefix that lies: near the truth, zero, or huge.
        if (b.length >= 4) b.writeUInt32BE(rng.pick([b.readUInt32BE(0) + rng.int(9) - 4, 0, 5, 6, 0xffffffff, rng.u32()]) >>> 0, 0);
        break;
      }
      case 4:
        b = Buffer.concat([b.subarray(0, at), rng.pick(EDGE_VARINTS), b.subarray(at + rng.int(3))]);
        break;
      case 5:
        b = Buffer.concat([b.subarray(0, at), Buffer.from(rng.bytes(rng.int(24))), b.subarray(at + rng.int(24))]);
        break;
      case 6: {
        const from = rng.int(b.length);
        b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + rng.int(200)), b.subarray(at)]);
        break;
      }
      case 7:
        // A type id changed: valid bytes of one message read as another.
        if (b.length > 4) b[4] = rng.pick(ALL_IDS);
        break;
      default:
        if (b.length >= at + 4) b.writeUInt32BE(rng.pick([0xffffffff, 0x7fffffff, 0x80000000, rng.u32()]), at);
    }
  }
  return b;
}

/** Feeds `bytes` to a fresh decoder in random pieces; checks errors and memory. Returns the frames decoded. */
function feed(rng: Rng, bytes: Uint8Array, limit: number, context: string): number {
  const decoder = new FrameDecoder({ maxFrameBytes: limit });
  let off = 0;
  let count = 0;
  try {
    while (off < bytes.length) {
      const size = rng.chance(0.5) ? bytes.length - off : 1 + rng.int(Math.min(bytes.length - off, 1 + rng.pick([3, 17, 600, 5000])));
      count += decoder.push(bytes.subarray(off, off + size)).length;
      off += size;
      if (decoder.bufferedBytes > limit + 4) assert.fail(`${context}: buffered ${decoder.bufferedBytes} > one frame of ${limit}`);
    }
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assertProtocolError(err, context);
    // A failed decoder stays failed: the link closes, nothing after the bad frame is parsed.
    assert.throws(() => decoder.push(new Uint8Array(1)), (e) => e === err, `${context}: decoder did not stay failed`);
  }
  return count;
}

let total = 0;
const started = performance.now();

test('random byte streams: only typed errors, memory under one frame', () => {
  const rng = new Rng(SEED ^ 0x1);
  const n = budget(250_000);
  for (let i = 0; i < n; i++) {
    const limit = rng.pick(LIMITS);
    const bytes = rng.bytes(rng.pick([0, 3, 4, 10, 11, 40, 300, 2000]) + rng.int(16));
    feed(rng, bytes, limit, `random bytes case ${i} (seed ${SEED})`);
  }
  total += n;
});

test('random payloads behind plausible headers, every type id (and unknown ones)', () => {
  const rng = new Rng(SEED ^ 0x2);
  const n = budget(200_000);
  for (let i = 0; i < n; i++) {
    const payload = rng.bytes(rng.int(rng.pick([8, 64, 400])));
    const header = Buffer.alloc(10);
    header.writeUInt32BE(6 + payload.length, 0);
    header[4] = rng.chance(0.9) ? rng.pick(TYPE_IDS) : rng.int(256);
    header[5] = rng.chance(0.9) ? rng.int(2) : rng.int(256);
    header.writeUInt32BE(rng.u32(), 6);
    feed(rng, Buffer.concat([header, payload]), rng.pick(LIMITS), `header+random payload case ${i} (seed ${SEED})`);
  }
  total += n;
});

test('mutated valid frames of every type, in random pieces: only typed errors', () => {
  const rng = new Rng(SEED ^ 0x3);
  const n = budget(300_000);
  let decodedSome = 0;
  for (let i = 0; i < n; i++) {
    const parts = [rng.pick(frames)];
    while (rng.chance(0.3)) parts.push(rng.pick(frames));
    const bytes = mutate(rng, Buffer.concat(parts));
    decodedSome += feed(rng, bytes, rng.pick(LIMITS), `mutated frames case ${i} (seed ${SEED})`) > 0 ? 1 : 0;
  }
  // The mutations must leave some frames whole, or the test would only ever see errors.
  assert.ok(decodedSome > n / 20, `only ${decodedSome} of ${n} cases decoded a frame`);
  total += n;
});

test('codec: random and mutated payloads of every type decode to canonical messages or typed errors', () => {
  const rng = new Rng(SEED ^ 0x4);
  const n = budget(250_000);
  let accepted = 0;
  for (let i = 0; i < n; i++) {
    let typeId: number;
    let payload: Buffer;
    if (rng.chance(0.25)) {
      typeId = rng.chance(0.95) ? rng.pick(TYPE_IDS) : rng.int(256);
      payload = Buffer.from(rng.bytes(rng.int(rng.pick([4, 40, 300]))));
    } else {
      const e = rng.pick(encoded);
      typeId = rng.chance(0.9) ? e.typeId : rng.pick(TYPE_IDS);
      payload = mutate(rng, e.payload);
    }
    let decoded: Message;
    try {
      decoded = decodeMessage(typeId, payload);
    } catch (err) {
      assertProtocolError(err, `codec case ${i} type ${typeId} (seed ${SEED})`);
      continue;
    }
    accepted++;
    assert.equal(typeIdOf(decoded.type), typeId);
    assert.deepEqual(Buffer.from(encodeMessage(decoded)), payload, `codec case ${i}: ${decoded.type} decoded from non-canonical bytes (seed ${SEED})`);
  }
  assert.ok(accepted > 0);
  total += n;
  report('wire (decoder + codec)', total, performance.now() - started);
});

/**
 * Fuzzing the decoder (DESIGN §4): random bytes and mutated valid frames, chopped into random
 * pieces, must only ever raise ProtocolError subclasses, keep memory under one frame, and finish
 * quickly. Run counts are bounded so the file takes a few seconds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeMessage, encodeMessage, MESSAGE_TYPE_IDS, typeIdOf } from '../../src/protocol/codec.ts';
import { ProtocolError } from '../../src/protocol/errors.ts';
import { encodeFrame, FrameDecoder, type Frame } from '../../src/protocol/framing.ts';
import { messageArb } from './samples.ts';

const PROTOCOL_ERRORS = new Set([
  'FrameTooLargeError',
  'MalformedFrameError',
  'TruncatedError',
  'TrailingBytesError',
  'UnknownMessageTypeError',
  'InvalidFieldError',
]);
/** A single run taking this long means something is quadratic or stuck. */
const SLOW_RUN_MS = 250;

function assertProtocolError(err: unknown): void {
  if (!(err instanceof ProtocolError) || !PROTOCOL_ERRORS.has(err.name)) {
    assert.fail(`not a typed ProtocolError: ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
  }
}

/** Pushes `bytes` in pieces of the given sizes (cycled); returns the frames, or stops at the first error. */
function feed(bytes: Uint8Array, pieces: number[], maxFrameBytes: number): { frames: Frame[]; error?: unknown } {
  const decoder = new FrameDecoder({ maxFrameBytes });
  const frames: Frame[] = [];
  const started = performance.now();
  let off = 0;
  let i = 0;
  try {
    while (off < bytes.length) {
      const size = pieces.length === 0 ? bytes.length : pieces[i++ % pieces.length]!;
      frames.push(...decoder.push(bytes.subarray(off, off + size)));
      off += size;
      assert.ok(decoder.bufferedBytes <= maxFrameBytes + 4, `buffered ${decoder.bufferedBytes} > one frame`);
    }
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assertProtocolError(err);
    return { frames, error: err };
  } finally {
    assert.ok(performance.now() - started < SLOW_RUN_MS, 'decoding took too long');
  }
  return { frames };
}

const pieceSizes = fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 0, maxLength: 8 });
const frameLimit = fc.constantFrom(64, 4096, 1024 * 1024);

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'truncate'; at: number }
  | { op: 'splice'; at: number; remove: number; insert: Uint8Array }
  | { op: 'duplicate'; from: number; length: number; to: number }
  | { op: 'set'; at: number; value: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('splice' as const), at: fc.nat(), remove: fc.nat(40), insert: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ op: fc.constant('duplicate' as const), from: fc.nat(), length: fc.nat(200), to: fc.nat() }),
  // Headers are where the interesting values are: overwrite a byte with an edge value.
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 2, 0x7f, 0x80, 0xfc, 0xfd, 0xfe, 0xff) }),
);

function mutate(input: Uint8Array, mutations: Mutation[]): Uint8Array {
  let b = Buffer.from(input);
  for (const m of mutations) {
    if (b.length === 0) break;
    switch (m.op) {
      case 'flip':
        b[m.at % b.length]! ^= 1 << m.bit;
        break;
      case 'set':
        b[m.at % b.length] = m.value;
        break;
      case 'truncate':
        b = b.subarray(0, m.at % b.length);
        break;
      case 'splice': {
        const at = m.at % b.length;
        b = Buffer.concat([b.subarray(0, at), m.insert, b.subarray(at + m.remove)]);
        break;
      }
      case 'duplicate': {
        const from = m.from % b.length;
        const to = m.to % b.length;
        b = Buffer.concat([b.subarray(0, to), b.subarray(from, from + m.length), b.subarray(to)]);
        break;
      }
    }
  }
  return b;
}

const framesArb = fc.array(fc.tuple(messageArb, fc.integer({ min: 0, max: 0xffffffff })), { minLength: 1, maxLength: 4 });

test('valid frames chopped into random pieces decode to exactly what was sent', () => {
  fc.assert(
    fc.property(framesArb, pieceSizes, (frames, pieces) => {
      const bytes = Buffer.concat(frames.map(([msg, id]) => encodeFrame(msg, id)));
      const { frames: out, error } = feed(bytes, pieces, 1024 * 1024);
      assert.equal(error, undefined);
      assert.deepStrictEqual(
        out.map((f) => [f.requestId, f.message]),
        structuredClone(frames.map(([msg, id]) => [id, msg])),
      );
    }),
    { numRuns: 300 },
  );
});

test('mutated valid frames raise only typed ProtocolErrors', () => {
  fc.assert(
    fc.property(framesArb, fc.array(mutationArb, { minLength: 1, maxLength: 5 }), pieceSizes, frameLimit, (frames, mutations, pieces, limit) => {
      const bytes = Buffer.concat(frames.map(([msg, id]) => encodeFrame(msg, id)));
      feed(mutate(bytes, mutations), pieces, limit);
    }),
    { numRuns: 4000 },
  );
});

test('random byte streams raise only typed ProtocolErrors', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), pieceSizes, frameLimit, (bytes, pieces, limit) => {
      feed(bytes, pieces, limit);
    }),
    { numRuns: 4000 },
  );
});

test('random payloads behind plausible headers raise only typed ProtocolErrors', () => {
  const typeIds = [...Object.values(MESSAGE_TYPE_IDS), 0, 15, 255];
  const frameArb = fc.tuple(fc.constantFrom(...typeIds), fc.integer({ min: 0, max: 2 }), fc.nat(), fc.uint8Array({ maxLength: 300 }));
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 4 }), pieceSizes, (frames, pieces) => {
      const bytes = Buffer.concat(
        frames.map(([typeId, priority, id, payload]) => {
          const header = Buffer.alloc(10);
          header.writeUInt32BE(6 + payload.length, 0);
          header[4] = typeId;
          header[5] = priority;
          header.writeUInt32BE(id >>> 0, 6);
          return Buffer.concat([header, payload]);
        }),
      );
      feed(bytes, pieces, 4096);
    }),
    { numRuns: 4000 },
  );
});

test('decodeMessage on random payloads of every type raises only typed ProtocolErrors', () => {
  const typeIds = Object.values(MESSAGE_TYPE_IDS);
  fc.assert(
    fc.property(fc.constantFrom(...typeIds), fc.uint8Array({ maxLength: 200 }), (typeId, payload) => {
      try {
        decodeMessage(typeId, payload);
      } catch (err) {
        assertProtocolError(err);
      }
    }),
    { numRuns: 5000 },
  );
});

test('whatever decodes re-encodes to the same bytes (one encoding per value; the decoder accepts nothing the encoder refuses)', () => {
  fc.assert(
    fc.property(messageArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (msg, mutations) => {
      const typeId = typeIdOf(msg.type);
      const payload = mutate(encodeMessage(msg), mutations);
      let decoded;
      try {
        decoded = decodeMessage(typeId, payload);
      } catch (err) {
        assertProtocolError(err);
        return;
      }
      assert.deepEqual(Buffer.from(encodeMessage(decoded)), Buffer.from(payload));
    }),
    { numRuns: 4000 },
  );
});

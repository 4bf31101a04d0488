import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeMessage, encodeMessage, LIMITS, MESSAGE_TYPE_IDS, typeIdOf } from '../../src/protocol/codec.ts';
import {
  InvalidFieldError,
  ProtocolError,
  TrailingBytesError,
  TruncatedError,
  UnknownMessageTypeError,
} from '../../src/protocol/errors.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { allSamples, messageArb, sampleMessages, sampleTrack } from './samples.ts';

function roundTrip(msg: Message): Message {
  return decodeMessage(typeIdOf(msg.type), encodeMessage(msg));
}

/** Asserts `fn` throws an error of class `cls` (checked by name, as production code does). */
function throwsNamed(fn: () => unknown, cls: { name: string }, field?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof Error, 'an Error');
    assert.equal(err.name, cls.name, `${err.name}: ${err.message}`);
    if (field !== undefined) assert.equal((err as ProtocolError).field, field);
    return true;
  });
}

/** Hand-built payload bytes. */
const bytes = (...parts: (number | number[] | Uint8Array)[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'number' ? [p] : [...p])));

describe('codec: type table', () => {
  test('every message type has a unique id in 1..255', () => {
    const ids = Object.values(MESSAGE_TYPE_IDS);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.ok(id >= 1 && id <= 255);
  });

  test('the sample table covers every message type', () => {
    assert.deepEqual(Object.keys(sampleMessages).sort(), Object.keys(MESSAGE_TYPE_IDS).sort());
  });
});

describe('codec: round trip', () => {
  for (const msg of allSamples) {
    test(`${msg.type} ${JSON.stringify(msg).slice(0, 60)}`, () => {
      assert.deepStrictEqual(roundTrip(msg), msg);
    });
  }

  test('random valid messages round-trip (property)', () => {
    fc.assert(
      fc.property(messageArb, (msg) => {
        // structuredClone: fast-check builds null-prototype records; decoded messages are plain objects.
        assert.deepStrictEqual(roundTrip(msg), structuredClone(msg));
      }),
      { numRuns: 400 },
    );
  });

  test('chunk data decodes as a view into the payload, not a copy', () => {
    const payload = encodeMessage(sampleMessages.chunk[0]!);
    const msg = decodeMessage(MESSAGE_TYPE_IDS.chunk, payload);
    assert.equal(msg.type, 'chunk');
    if (msg.type !== 'chunk') return;
    assert.equal(msg.data.buffer, payload.buffer);
    payload[payload.length - 1] ^= 0xff;
    assert.equal(msg.data[msg.data.length - 1], payload[payload.length - 1]);
  });

  test('small integers take one byte, large ones more (varint)', () => {
    assert.equal(encodeMessage({ type: 'get-track', trackId: '' }).length, 1);
    assert.equal(encodeMessage({ type: 'list-artists', offset: 1, limit: 2 }).length, 2);
    assert.equal(encodeMessage({ type: 'list-artists', offset: 0xfd, limit: 0x10000 }).length, 3 + 5);
  });
});

describe('codec: decoding errors are typed', () => {
  test('unknown type ids', () => {
    for (const id of [0, 7, 15, 200, 255, 256, -1]) throwsNamed(() => decodeMessage(id, new Uint8Array(0)), UnknownMessageTypeError);
  });

  test('every proper prefix of every sample is truncated', () => {
    for (const msg of allSamples) {
      const payload = encodeMessage(msg);
      // Stride through large payloads to keep the test quick.
      const step = Math.max(1, Math.floor(payload.length / 200));
      for (let n = 0; n < payload.length; n += step) {
        throwsNamed(() => decodeMessage(typeIdOf(msg.type), payload.subarray(0, n)), TruncatedError);
      }
    }
  });

  test('trailing bytes', () => {
    for (const msg of allSamples) {
      const payload = encodeMessage(msg);
      const longer = new Uint8Array(payload.length + 1);
      longer.set(payload);
      throwsNamed(() => decodeMessage(typeIdOf(msg.type), longer), TrailingBytesError);
    }
  });

  test('invalid enum values', () => {
    // hello: version u16, role, agent ''
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.hello, bytes(1, 0, 2, 0)), InvalidFieldError, 'role');
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.error, bytes(7, 0)), InvalidFieldError, 'code');
    const track = encodeMessage({ type: 'track', track: sampleTrack });
    const opus = encodeMessage({ type: 'track', track: { ...sampleTrack, codec: 'opus' } });
    const codecAt = track.findIndex((b, i) => b !== opus[i]);
    assert.deepEqual([track[codecAt], opus[codecAt]], [0, 1]);
    track[codecAt] = 2;
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.track, track), InvalidFieldError, 'track.codec');
  });

  test('strings over their bound, without reading them', () => {
    const user = LIMITS.userBytes + 1;
    // login.user claims 257 bytes; only 2 follow: the bound is checked first.
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.login, bytes(0xfd, user & 0xff, user >> 8, 0x61, 0x62)), InvalidFieldError, 'user');
    // within the bound but longer than the payload
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.login, bytes(10, 0x61)), TruncatedError, 'user');
  });

  test('byte fields claiming gigabytes are refused before any allocation', () => {
    // chunk: fileId '', index 0, data length 0xffffffff
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.chunk, bytes(0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff)), InvalidFieldError, 'data');
  });

  test('arrays over their bound, and counts the payload cannot hold', () => {
    const over = LIMITS.listItems + 1;
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.artists, bytes(0xfd, over & 0xff, over >> 8)), InvalidFieldError, 'artists');
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.artists, bytes(0xfd, 0x10, 0x27, 0, 0, 0)), TruncatedError, 'artists');
  });

  test('invalid UTF-8', () => {
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['get-track'], bytes(2, 0xc3, 0x28)), InvalidFieldError, 'trackId');
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['get-track'], bytes(3, 0xed, 0xa0, 0x80)), InvalidFieldError, 'trackId'); // encoded surrogate
  });

  test('non-canonical and oversized varints', () => {
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['list-artists'], bytes(0xfd, 1, 0, 0)), InvalidFieldError, 'offset');
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['list-artists'], bytes(0xfe, 1, 0, 0, 0, 0)), InvalidFieldError, 'offset');
    // above u32 where a u32 is expected
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['list-artists'], bytes(0xff, 0, 0, 0, 0, 1, 0, 0, 0, 0)), InvalidFieldError, 'offset');
    // above 2^53 - 1 (track: five empty strings, trackNo 0, then durationMs)
    throwsNamed(
      () => decodeMessage(MESSAGE_TYPE_IDS.track, bytes(0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0x20, 0)),
      InvalidFieldError,
      'track.durationMs',
    );
  });

  test('the error message names the field', () => {
    const msg: Message = { type: 'search-result', tracks: [{ ...sampleTrack, title: 'x'.repeat(LIMITS.nameBytes + 1) }], artists: [], albums: [] };
    assert.throws(
      () => encodeMessage(msg),
      (err: unknown) => err instanceof InvalidFieldError && err.field === 'tracks[0].title' && err.message.includes('search-result.tracks[0].title'),
    );
  });
});

describe('codec: encoding refuses what it cannot represent', () => {
  const cases: [string, unknown][] = [
    ['nonce above u32', { type: 'ping', nonce: 2 ** 32 }],
    ['negative', { type: 'ping', nonce: -1 }],
    ['fraction', { type: 'list-artists', offset: 1.5, limit: 1 }],
    ['NaN', { type: 'search', query: '', limit: NaN }],
    ['above 2^53', { type: 'track', track: { ...sampleTrack, bytes: 2 ** 53 } }],
    ['urgency above u8', { type: 'chunk-request', fileId: '', first: 0, count: 1, urgency: 256 }],
    ['version above u16', { type: 'hello', version: 70_000, role: 'peer', agent: '' }],
    ['unknown role', { type: 'hello', version: 1, role: 'seeder', agent: '' }],
    ['unknown error code', { type: 'error', code: 'oops', message: '' }],
    ['lone surrogate', { type: 'bye', reason: 'a\ud800b' }],
    ['string over bound', { type: 'get-track', trackId: 'x'.repeat(LIMITS.idBytes + 1) }],
    ['not a string', { type: 'get-track', trackId: 42 }],
    ['data not bytes', { type: 'chunk', fileId: '', index: 0, data: [1, 2, 3] }],
    ['missing field', { type: 'get-album' }],
    ['unknown type', { type: 'nope' }],
  ];
  for (const [what, msg] of cases) {
    test(what, () => throwsNamed(() => encodeMessage(msg as Message), InvalidFieldError));
  }

  test('strings exactly at their bound encode', () => {
    const trackId = 'é'.repeat(LIMITS.idBytes / 2);
    assert.deepEqual(roundTrip({ type: 'get-track', trackId }), { type: 'get-track', trackId });
  });
});

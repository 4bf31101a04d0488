import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeMessage, encodeMessage, LIMITS, MESSAGE_TYPE_IDS, typeIdOf } from '../../src/protocol/codec.ts';
import {
  InvalidFieldError,
  TrailingBytesError,
  TruncatedError,
  UnknownMessageTypeError,
} from '../../src/protocol/errors.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { allSamples, messageArb, sampleFileId, sampleMessages, sampleMetrics, samplePeer, samplePeerId, sampleTrack } from './samples.ts';
import { throwsNamed } from './assertions.ts';

function roundTrip(msg: Message): Message {
  return decodeMessage(typeIdOf(msg.type), encodeMessage(msg));
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
    const known = new Set<number>(Object.values(MESSAGE_TYPE_IDS));
    const unknown = [...Array.from({ length: 256 }, (_, i) => i).filter((i) => !known.has(i)), 256, -1, 1.5];
    assert.ok(unknown.includes(0) && unknown.includes(15) && unknown.includes(255));
    for (const id of unknown) throwsNamed(() => decodeMessage(id, new Uint8Array(0)), UnknownMessageTypeError);
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
    ['version above u16', { type: 'hello', version: 70_000, role: 'peer', agent: '', peerId: '', listenPort: 0 }],
    ['unknown role', { type: 'hello', version: 1, role: 'seeder', agent: '', peerId: '', listenPort: 0 }],
    ['hello without peerId', { type: 'hello', version: 1, role: 'peer', agent: '' }],
    ['login-ok without observedHost', { type: 'login-ok', user: 'a', sessionId: 's' }],
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

describe('codec: peer messages', () => {
  const hello = (fields: Record<string, unknown>) => ({ type: 'hello', version: 1, role: 'peer', agent: 'x', peerId: samplePeerId, listenPort: 1, ...fields }) as Message;
  const refuses = (msg: unknown, field?: string) => throwsNamed(() => encodeMessage(msg as Message), InvalidFieldError, field);
  /** The encoded payload of `msg` with `edit` applied to a copy. */
  const edited = (msg: Message, edit: (b: Uint8Array) => void) => {
    const b = Uint8Array.from(encodeMessage(msg));
    edit(b);
    return b;
  };

  test('peer ids: lowercase hex, 1..64 characters; empty only in hello', () => {
    for (const peerId of ['A', 'abcG', ' ab', 'ab\n', 'é', 'a'.repeat(65), 42, null]) {
      refuses(hello({ peerId }), 'peerId');
      refuses({ type: 'connect-back', requester: { ...samplePeer, peerId }, fileId: sampleFileId }, 'requester.peerId');
      refuses({ type: 'connect-back-request', target: peerId, fileId: sampleFileId }, 'target');
    }
    assert.equal(roundTrip(hello({ peerId: '' })).type, 'hello');
    refuses({ type: 'connect-back-request', target: '', fileId: sampleFileId }, 'target');
    refuses({ type: 'tracker-peers', fileId: sampleFileId, peers: [samplePeer, { ...samplePeer, peerId: '' }] }, 'peers[1].peerId');
    refuses({ type: 'peer-found', queryId: 1, fileId: sampleFileId, holder: { ...samplePeer, peerId: 'XY' }, distance: 1 }, 'holder.peerId');
  });

  test('peer ids that are not lowercase hex are refused when decoded', () => {
    const msg: Message = { type: 'connect-back-request', target: 'abcdef', fileId: sampleFileId };
    // target: length 6, then 'abcdef'
    for (const bad of [0x41 /* A */, 0x67 /* g */, 0x2f, 0x3a, 0x60, 0x00, 0xff]) {
      throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['connect-back-request'], edited(msg, (b) => (b[3] = bad))), InvalidFieldError, 'target');
    }
    // empty target
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['connect-back-request'], bytes(0, new Uint8Array(32))), InvalidFieldError, 'target');
    // a 65-character id is refused on its length alone
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['connect-back-request'], bytes(65, 0x61)), InvalidFieldError, 'target');
    // a 300-character id claimed in hello (after version 1, role peer, agent '')
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.hello, bytes(1, 0, 0, 0, 0xfd, 300 & 0xff, 300 >> 8)), InvalidFieldError, 'peerId');
    const h = encodeMessage(hello({ peerId: 'ab' }));
    const at = h.indexOf(0x61); // 'a' of 'ab': the agent is 'x'
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.hello, edited(hello({ peerId: 'ab' }), (b) => (b[at] = 0x41))), InvalidFieldError, 'peerId');
  });

  test('ports are uint16', () => {
    for (const port of [65_536, -1, 1.5, NaN, '80']) {
      refuses(hello({ listenPort: port }), 'listenPort');
      refuses({ type: 'connect-back', requester: { ...samplePeer, port }, fileId: sampleFileId }, 'requester.port');
    }
    assert.deepEqual(roundTrip(hello({ listenPort: 65_535 })), hello({ listenPort: 65_535 }));
  });

  test('file ids of the peer messages: exactly 64 lowercase hex characters, sent as 32 bytes', () => {
    assert.equal(encodeMessage({ type: 'announce', fileId: sampleFileId }).length, 32);
    for (const fileId of ['', 'a'.repeat(63), 'a'.repeat(65), sampleFileId.toUpperCase(), 'g'.repeat(64), 't1', 7]) {
      refuses({ type: 'announce', fileId }, 'fileId');
      refuses({ type: 'tracker-query', fileId }, 'fileId');
      refuses({ type: 'peer-search', queryId: 1, fileId, hops: 2 }, 'fileId');
    }
    // any 32 bytes are a file id
    const raw = Uint8Array.from({ length: 32 }, (_, i) => 255 - i * 3);
    assert.deepEqual(decodeMessage(MESSAGE_TYPE_IDS.announce, raw), { type: 'announce', fileId: Buffer.from(raw).toString('hex') });
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.announce, raw.subarray(0, 31)), TruncatedError, 'fileId');
  });

  test('hosts are at most 255 bytes', () => {
    refuses({ type: 'login-ok', user: 'a', sessionId: 's', observedHost: 'h'.repeat(256) }, 'observedHost');
    refuses({ type: 'connect-back', requester: { ...samplePeer, host: 'é'.repeat(128) }, fileId: sampleFileId }, 'requester.host');
    refuses({ type: 'connect-back', requester: { ...samplePeer, host: undefined }, fileId: sampleFileId }, 'requester.host');
    // peerId 'ab', host claiming 256 bytes
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['connect-back'], bytes(2, 0x61, 0x62, 0xfd, 0, 1, 0x61)), InvalidFieldError, 'requester.host');
  });

  test('tracker answers hold at most 64 peers', () => {
    const peers = Array.from({ length: LIMITS.trackerPeers + 1 }, () => samplePeer);
    refuses({ type: 'tracker-peers', fileId: sampleFileId, peers }, 'peers');
    refuses({ type: 'tracker-peers', fileId: sampleFileId, peers: 'none' }, 'peers');
    assert.equal(roundTrip({ type: 'tracker-peers', fileId: sampleFileId, peers: peers.slice(1) }).type, 'tracker-peers');
    const id = MESSAGE_TYPE_IDS['tracker-peers'];
    const fid = new Uint8Array(32);
    throwsNamed(() => decodeMessage(id, bytes(fid, 65)), InvalidFieldError, 'peers');
    throwsNamed(() => decodeMessage(id, bytes(fid, 0xfe, 0, 0, 0, 1)), InvalidFieldError, 'peers');
    // 64 peers claimed, room for fewer than 64 * 5 bytes
    throwsNamed(() => decodeMessage(id, bytes(fid, 64, new Uint8Array(64 * 5 - 1))), TruncatedError, 'peers');
    // the element that is wrong is named
    const msg: Message = { type: 'tracker-peers', fileId: sampleFileId, peers: [samplePeer, { ...samplePeer, peerId: 'ab' }] };
    const payload = encodeMessage(msg);
    const at = payload.lastIndexOf(0x61);
    throwsNamed(() => decodeMessage(id, edited(msg, (b) => (b[at] = 0x5a))), InvalidFieldError, 'peers[1].peerId');
  });

  test('hops and distance are at most 8', () => {
    refuses({ type: 'peer-search', queryId: 1, fileId: sampleFileId, hops: 9 }, 'hops');
    refuses({ type: 'peer-search', queryId: 1, fileId: sampleFileId, hops: -1 }, 'hops');
    refuses({ type: 'peer-found', queryId: 1, fileId: sampleFileId, holder: samplePeer, distance: 255 }, 'distance');
    // queryId u32, fileId, hops
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['peer-search'], bytes(0, 0, 0, 0, new Uint8Array(32), 9)), InvalidFieldError, 'hops');
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['peer-search'], bytes(0, 0, 0, 0, new Uint8Array(32), 0xff)), InvalidFieldError, 'hops');
    const found: Message = { type: 'peer-found', queryId: 1, fileId: sampleFileId, holder: samplePeer, distance: 2 };
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['peer-found'], edited(found, (b) => (b[b.length - 1] = 9))), InvalidFieldError, 'distance');
  });

  test('query ids are uint32', () => {
    refuses({ type: 'peer-search', queryId: 2 ** 32, fileId: sampleFileId, hops: 2 }, 'queryId');
    refuses({ type: 'peer-search', queryId: -1, fileId: sampleFileId, hops: 2 }, 'queryId');
  });

  test('reachability is a boolean byte', () => {
    refuses({ type: 'reachability', reachable: 1 }, 'reachable');
    refuses({ type: 'reachability' }, 'reachable');
    assert.deepEqual(decodeMessage(MESSAGE_TYPE_IDS.reachability, bytes(1)), { type: 'reachability', reachable: true });
    assert.deepEqual(decodeMessage(MESSAGE_TYPE_IDS.reachability, bytes(0)), { type: 'reachability', reachable: false });
    for (const b of [2, 0x80, 0xff]) throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.reachability, bytes(b)), InvalidFieldError, 'reachable');
  });

  test('metric reports: non-negative integers up to 2^53 - 1', () => {
    for (const v of [-1, 0.5, 2 ** 53, Infinity, NaN]) refuses({ type: 'metrics', report: { ...sampleMetrics, searches: v } }, 'report.searches');
    const { bytesPeer: _, ...missing } = sampleMetrics;
    refuses({ type: 'metrics', report: missing }, 'report.bytesPeer');
    // first field (plays) above 2^53 - 1
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.metrics, bytes(0xff, 0, 0, 0, 0, 0, 0, 0x20, 0)), InvalidFieldError, 'report.plays');
  });

  test('ok has an empty payload', () => {
    assert.equal(encodeMessage({ type: 'ok' }).length, 0);
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.ok, bytes(0)), TrailingBytesError);
  });
});

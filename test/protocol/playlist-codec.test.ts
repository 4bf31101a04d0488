/** The playlist messages of the codec: round trips at their bounds, and what they refuse both ways. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeMessage, encodeMessage, LIMITS, MESSAGE_TYPE_IDS, nullableUint, typeIdOf, type State } from '../../src/protocol/codec.ts';
import { InvalidFieldError, TrailingBytesError, TruncatedError } from '../../src/protocol/errors.ts';
import { encodeFrame } from '../../src/protocol/framing.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { samplePlaylist, sampleTrack } from './samples.ts';
import { throwsNamed } from './assertions.ts';

const roundTrip = (msg: Message): Message => decodeMessage(typeIdOf(msg.type), encodeMessage(msg));


const refuses = (msg: unknown, field?: string) => throwsNamed(() => encodeMessage(msg as Message), InvalidFieldError, field);
const bytes = (...parts: (number | number[] | Uint8Array)[]) => Uint8Array.from(parts.flatMap((p) => (typeof p === 'number' ? [p] : [...p])));
const ascii = (s: string) => [s.length, ...Buffer.from(s, 'latin1')];

describe('codec: playlist messages', () => {
  test('names: at most 200 bytes, both ways', () => {
    const at = 'é'.repeat(100); // 200 bytes
    assert.deepEqual(roundTrip({ type: 'create-playlist', name: at }), { type: 'create-playlist', name: at });
    refuses({ type: 'create-playlist', name: at + 'x' }, 'name');
    refuses({ type: 'rename-playlist', playlistId: 'p', name: 'x'.repeat(201) }, 'name');
    refuses({ type: 'playlist-info', playlist: { ...samplePlaylist, name: '🎵'.repeat(51) } }, 'playlist.name');
    refuses({ type: 'create-playlist', name: 'a\ud800' }, 'name');
    refuses({ type: 'create-playlist' }, 'name');
    // a name claiming 201 bytes is refused on its length, before the bytes are read
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['create-playlist'], bytes(201, 0x61)), InvalidFieldError, 'name');
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['create-playlist'], bytes(200, 0x61)), TruncatedError, 'name');
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['rename-playlist'], bytes(ascii('p'), 2, 0xc3, 0x28)), InvalidFieldError, 'name');
  });

  test('add-to-playlist: at most 10 000 track ids; the largest message fits in a frame', () => {
    const trackIds = Array.from({ length: LIMITS.playlistTracks }, (_, i) => `t${String(i).padStart(11, '0')}`);
    const full: Message = { type: 'add-to-playlist', playlistId: 'pl0123456789', trackIds, position: null };
    assert.deepEqual(roundTrip(full), full);
    assert.ok(encodeFrame(full, 1, { maxFrameBytes: 1024 * 1024 }).length < 1024 * 1024);
    refuses({ ...full, trackIds: [...trackIds, 'one more'] }, 'trackIds');
    refuses({ ...full, trackIds: ['ok', 42] }, 'trackIds[1]');
    refuses({ ...full, trackIds: 'ok' }, 'trackIds');
    const id = MESSAGE_TYPE_IDS['add-to-playlist'];
    const over = LIMITS.playlistTracks + 1;
    throwsNamed(() => decodeMessage(id, bytes(ascii('p'), 0xfd, over & 0xff, over >> 8)), InvalidFieldError, 'trackIds');
    // 10 000 ids claimed, 5 bytes there
    throwsNamed(() => decodeMessage(id, bytes(ascii('p'), 0xfd, 0x10, 0x27, 0, 0, 0, 0, 0)), TruncatedError, 'trackIds');
  });

  test('add-to-playlist: the position is null (append) or 0..10 000, one encoding each', () => {
    const add = (position: unknown) => ({ type: 'add-to-playlist', playlistId: 'p', trackIds: ['t'], position }) as Message;
    const head = [...ascii('p'), 1, ...ascii('t')];
    assert.deepEqual([...encodeMessage(add(null))], [...head, 0]);
    assert.deepEqual([...encodeMessage(add(0))], [...head, 1]);
    assert.deepEqual([...encodeMessage(add(10_000))], [...head, 0xfd, 0x11, 0x27]);
    for (const position of [null, 0, 1, 251, 252, 9_999, 10_000]) assert.deepEqual(roundTrip(add(position)), add(position));
    for (const position of [10_001, -1, 0.5, NaN, undefined, '3']) refuses(add(position), 'position');
    const id = MESSAGE_TYPE_IDS['add-to-playlist'];
    throwsNamed(() => decodeMessage(id, bytes(head, 0xfd, 0x12, 0x27)), InvalidFieldError, 'position'); // 10 001 + 1
    throwsNamed(() => decodeMessage(id, bytes(head, 0xfd, 0x05, 0x00)), InvalidFieldError, 'position'); // non-canonical 4
    throwsNamed(() => decodeMessage(id, bytes(head, 0, 0)), TrailingBytesError);
    throwsNamed(() => decodeMessage(id, bytes(head)), TruncatedError, 'position');
  });

  test('nullableUint alone', () => {
    const enc = nullableUint(3);
    const round = (v: number | null) => {
      const s: State = { start: 0, end: 0, buffer: new Uint8Array(0) };
      enc.preencode(s, v);
      s.buffer = new Uint8Array(s.end);
      enc.encode(s, v);
      return enc.decode({ start: 0, end: s.buffer.length, buffer: s.buffer });
    };
    assert.deepEqual([null, 0, 3].map(round), [null, 0, 3]);
    assert.throws(() => round(4), InvalidFieldError);
    assert.throws(() => enc.decode({ start: 0, end: 1, buffer: bytes(5) }), InvalidFieldError);
  });

  test('remove-from-playlist: a position in 0..9 999', () => {
    const remove = (position: unknown) => ({ type: 'remove-from-playlist', playlistId: 'p', position }) as Message;
    assert.deepEqual(roundTrip(remove(9_999)), remove(9_999));
    for (const position of [10_000, -1, 1.5, null]) refuses(remove(position), 'position');
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['remove-from-playlist'], bytes(ascii('p'), 0xfd, 0x10, 0x27)), InvalidFieldError, 'position');
  });

  test('playlist answers: at most 10 000 tracks, offsets up to 10 000, track counts up to 10 000', () => {
    refuses({ type: 'playlist-info', playlist: { ...samplePlaylist, trackCount: 10_001 } }, 'playlist.trackCount');
    refuses({ type: 'playlist', playlist: samplePlaylist, offset: 10_001, tracks: [] }, 'offset');
    refuses({ type: 'get-playlist', playlistId: 'p', offset: 10_001, limit: 1 }, 'offset');
    refuses({ type: 'playlist', playlist: samplePlaylist, offset: 0, tracks: Array.from({ length: 10_001 }, () => sampleTrack) }, 'tracks');
    refuses({ type: 'playlist-info', playlist: { ...samplePlaylist, owner: undefined } }, 'playlist.owner');
    refuses({ type: 'playlist-info', playlist: { ...samplePlaylist, updatedAt: 2 ** 53 } }, 'playlist.updatedAt');
    refuses({ type: 'playlists', playlists: [samplePlaylist, { ...samplePlaylist, uri: 'x'.repeat(257) }], total: 2 }, 'playlists[1].uri');
    refuses({ type: 'playlists', playlists: [], total: -1 }, 'total');
    const info = encodeMessage({ type: 'playlist-info', playlist: { ...samplePlaylist, trackCount: 10_000 } });
    // trackCount is the varint after id, uri, name and owner
    const at = info.indexOf(0xfd, 1 + samplePlaylist.id.length + 1 + samplePlaylist.uri.length);
    const edited = Uint8Array.from(info);
    edited[at + 1] = 0x11; // 10 001
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['playlist-info'], edited), InvalidFieldError, 'playlist.trackCount');
    const id = MESSAGE_TYPE_IDS.playlists;
    throwsNamed(() => decodeMessage(id, bytes(0xfd, 0x10, 0x27, 0, 0)), TruncatedError, 'playlists');
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['get-playlist'], bytes(ascii('p'), 0xfd, 0x11, 0x27, 1)), InvalidFieldError, 'offset');
  });

  test('ids over the id bound are refused', () => {
    const long = 'x'.repeat(LIMITS.idBytes + 1);
    refuses({ type: 'delete-playlist', playlistId: long }, 'playlistId');
    refuses({ type: 'get-playlist', playlistId: long, offset: 0, limit: 1 }, 'playlistId');
    refuses({ type: 'add-to-playlist', playlistId: 'p', trackIds: ['ok', long], position: null }, 'trackIds[1]');
    throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['delete-playlist'], bytes(LIMITS.idBytes + 1)), InvalidFieldError, 'playlistId');
  });

  test('type ids 42-51 in the catalog group', () => {
    const ids = ['list-playlists', 'playlists', 'get-playlist', 'playlist', 'create-playlist', 'playlist-info', 'add-to-playlist', 'remove-from-playlist', 'rename-playlist', 'delete-playlist'] as const;
    assert.deepEqual(ids.map((t) => MESSAGE_TYPE_IDS[t]), [42, 43, 44, 45, 46, 47, 48, 49, 50, 51]);
  });
});

/** Sample messages and fast-check arbitraries of every message type, shared by the protocol tests. */
import fc from 'fast-check';
import type { AlbumInfo, ArtistInfo, TrackInfo } from '../../src/core/track.ts';
import type { ErrorCode, Message, MessageOf, MessageType } from '../../src/protocol/messages.ts';

export const sampleTrack: TrackInfo = {
  id: 't1',
  uri: 'tunemesh:track:t1',
  title: 'Ünïcødé 🎵 title',
  artist: 'Artist',
  album: 'Album',
  trackNo: 3,
  durationMs: 215_000,
  bytes: 2 ** 40 + 7, // above u32: exercises the 8-byte varint
  fileId: 'a'.repeat(64),
  codec: 'vorbis',
  bitrate: 160_000,
  sampleRate: 44_100,
  channels: 2,
  seekIndex: [
    { ms: 0, byte: 4_000 },
    { ms: 1_000, byte: 24_000 },
    { ms: 70_000, byte: 1_400_000 },
  ],
};

export const sampleArtist: ArtistInfo = { id: 'ar1', name: 'The Band', albumCount: 2 };
export const sampleAlbum: AlbumInfo = { id: 'al1', title: 'First', artist: 'The Band', artistId: 'ar1', trackCount: 12 };

/** At least one sample of every message type (the test checks that it covers them all). */
export const sampleMessages: { [K in MessageType]: MessageOf<K>[] } = {
  hello: [
    { type: 'hello', version: 1, role: 'peer', agent: 'tunemesh-client/0.1' },
    { type: 'hello', version: 65535, role: 'leecher', agent: '' },
  ],
  bye: [{ type: 'bye', reason: 'shutting down' }],
  error: [
    { type: 'error', code: 'not-found', message: 'no such track' },
    { type: 'error', code: 'internal', message: '' },
  ],
  ping: [
    { type: 'ping', nonce: 0 },
    { type: 'ping', nonce: 0xffffffff },
  ],
  pong: [{ type: 'pong', nonce: 42 }],
  cancel: [{ type: 'cancel' }],
  login: [{ type: 'login', user: 'alice', password: 'correct horse battery staple' }],
  'login-ok': [{ type: 'login-ok', user: 'alice', sessionId: 's-123' }],
  search: [{ type: 'search', query: 'daft punk', limit: 20 }],
  'search-result': [
    { type: 'search-result', tracks: [sampleTrack, { ...sampleTrack, id: 't2', codec: 'opus', seekIndex: [] }], artists: [sampleArtist], albums: [sampleAlbum] },
    { type: 'search-result', tracks: [], artists: [], albums: [] },
  ],
  'list-artists': [{ type: 'list-artists', offset: 100, limit: 50 }],
  artists: [{ type: 'artists', artists: [sampleArtist, { ...sampleArtist, id: 'ar2', name: 'Other' }] }],
  'get-artist': [{ type: 'get-artist', artistId: 'ar1' }],
  artist: [{ type: 'artist', artist: sampleArtist, albums: [sampleAlbum] }],
  'get-album': [{ type: 'get-album', albumId: 'al1' }],
  album: [{ type: 'album', album: sampleAlbum, tracks: [sampleTrack] }],
  'get-track': [{ type: 'get-track', trackId: 't1' }],
  track: [{ type: 'track', track: sampleTrack }],
  'chunk-request': [{ type: 'chunk-request', fileId: 'a'.repeat(64), first: 0, count: 100, urgency: 0 }],
  chunk: [
    { type: 'chunk', fileId: 'a'.repeat(64), index: 7, data: Uint8Array.from({ length: 16384 }, (_, i) => i % 251) },
    { type: 'chunk', fileId: 'b', index: 0, data: new Uint8Array(0) },
  ],
  'chunk-end': [{ type: 'chunk-end', fileId: 'a'.repeat(64), first: 0, count: 100 }],
};

/** Every sample as one flat list. */
export const allSamples: Message[] = Object.values(sampleMessages).flat();

// ---------------------------------------------------------------------------------------------
// arbitraries: valid messages of every type, within the codec's bounds

const str = (maxLength: number) => fc.string({ unit: 'binary', maxLength });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u53 = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.maxSafeNat());

const trackArb: fc.Arbitrary<TrackInfo> = fc.record({
  id: str(32),
  uri: str(60),
  title: str(40),
  artist: str(40),
  album: str(40),
  trackNo: u32,
  durationMs: u53,
  bytes: u53,
  fileId: str(32),
  codec: fc.constantFrom('vorbis' as const, 'opus' as const),
  bitrate: u32,
  sampleRate: u32,
  channels: fc.integer({ min: 0, max: 255 }),
  seekIndex: fc.array(fc.record({ ms: u53, byte: u53 }), { maxLength: 5 }),
});
const artistArb: fc.Arbitrary<ArtistInfo> = fc.record({ id: str(32), name: str(40), albumCount: u32 });
const albumArb: fc.Arbitrary<AlbumInfo> = fc.record({ id: str(32), title: str(40), artist: str(40), artistId: str(32), trackCount: u32 });
const errorCodes: ErrorCode[] = ['bad-request', 'unauthorized', 'not-found', 'not-here', 'busy', 'version', 'internal'];

/** Any valid message. */
export const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant('hello' as const), version: fc.integer({ min: 0, max: 0xffff }), role: fc.constantFrom('peer' as const, 'leecher' as const), agent: str(60) }),
  fc.record({ type: fc.constant('bye' as const), reason: str(100) }),
  fc.record({ type: fc.constant('error' as const), code: fc.constantFrom(...errorCodes), message: str(100) }),
  fc.record({ type: fc.constant('ping' as const), nonce: u32 }),
  fc.record({ type: fc.constant('pong' as const), nonce: u32 }),
  fc.constant({ type: 'cancel' as const }),
  fc.record({ type: fc.constant('login' as const), user: str(60), password: str(100) }),
  fc.record({ type: fc.constant('login-ok' as const), user: str(60), sessionId: str(32) }),
  fc.record({ type: fc.constant('search' as const), query: str(100), limit: u32 }),
  fc.record({
    type: fc.constant('search-result' as const),
    tracks: fc.array(trackArb, { maxLength: 3 }),
    artists: fc.array(artistArb, { maxLength: 3 }),
    albums: fc.array(albumArb, { maxLength: 3 }),
  }),
  fc.record({ type: fc.constant('list-artists' as const), offset: u32, limit: u32 }),
  fc.record({ type: fc.constant('artists' as const), artists: fc.array(artistArb, { maxLength: 4 }) }),
  fc.record({ type: fc.constant('get-artist' as const), artistId: str(32) }),
  fc.record({ type: fc.constant('artist' as const), artist: artistArb, albums: fc.array(albumArb, { maxLength: 3 }) }),
  fc.record({ type: fc.constant('get-album' as const), albumId: str(32) }),
  fc.record({ type: fc.constant('album' as const), album: albumArb, tracks: fc.array(trackArb, { maxLength: 3 }) }),
  fc.record({ type: fc.constant('get-track' as const), trackId: str(32) }),
  fc.record({ type: fc.constant('track' as const), track: trackArb }),
  fc.record({ type: fc.constant('chunk-request' as const), fileId: str(32), first: u32, count: u32, urgency: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ type: fc.constant('chunk' as const), fileId: str(32), index: u32, data: fc.uint8Array({ maxLength: 600 }) }),
  fc.record({ type: fc.constant('chunk-end' as const), fileId: str(32), first: u32, count: u32 }),
);

/** Sample messages and fast-check arbitraries of every message type, shared by the protocol tests. */
import fc from 'fast-check';
import type { AlbumInfo, ArtistInfo, TrackInfo } from '../../src/core/track.ts';
import type { ErrorCode, Message, MessageOf, MessageType, MetricsReport, PeerAddress, PeerTicket, PlaylistInfo, TicketKey } from '../../src/protocol/messages.ts';

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

export const samplePlaylist: PlaylistInfo = {
  id: 'pl0123456789',
  uri: 'tunemesh:playlist:pl0123456789',
  name: 'Road trip ☀️',
  owner: 'alice',
  trackCount: 2,
  durationMs: 430_000,
  createdAt: 1_790_000_000_000,
  updatedAt: 1_790_000_123_456,
};

/** A file id as the store names files: lowercase hex SHA-256. */
export const sampleFileId = '0123456789abcdef'.repeat(4);
export const samplePeerId = '5f1e0c9a7b3d2e4f60718293a4b5c6d7';
export const samplePeer: PeerAddress = { peerId: samplePeerId, host: '192.0.2.17', port: 40_123 };
export const sampleMetrics: MetricsReport = {
  plays: 12,
  playsWithStutter: 1,
  latencyMedianUs: 265_000,
  bytesServer: 2 ** 40 + 3, // above u32
  bytesPeer: 1_234_567,
  bytesCache: 0,
  searches: 300,
  searchFoundAt1: 181,
  searchFoundAt2: 51,
  searchNotFound: 68,
  trackerQueries: 100,
  trackerFound: Number.MAX_SAFE_INTEGER,
};

/** At least one sample of every message type (the test checks that it covers them all). */
export const sampleTicket: PeerTicket = {
  keyId: '0123456789abcdef',
  peerId: samplePeerId,
  user: 'ålice',
  certFingerprint: 'ab'.repeat(32),
  issuedAt: 1_790_000_000_000,
  expiresAt: 1_790_003_600_000,
  signature: new Uint8Array(64).fill(7),
};
export const sampleTicketKey: TicketKey = { keyId: 'fedcba9876543210', publicKey: new Uint8Array(32).fill(9) };

export const sampleMessages: { [K in MessageType]: MessageOf<K>[] } = {
  hello: [
    // a peer hello with the sender's ticket
    { type: 'hello', version: 1, role: 'peer', agent: 'tunemesh-client/0.1', peerId: samplePeerId, listenPort: 40_123, ticket: sampleTicket },
    { type: 'hello', version: 1, role: 'peer', agent: 'tunemesh-client/0.1', peerId: samplePeerId, listenPort: 40_123 },
    { type: 'hello', version: 65535, role: 'leecher', agent: '', peerId: 'f'.repeat(64), listenPort: 65535 },
    // the AP's hello: no peer id, no listen port
    { type: 'hello', version: 1, role: 'peer', agent: 'tunemesh-ap/0.1', peerId: '', listenPort: 0 },
    { type: 'hello', version: 1, role: 'peer', agent: 'x', peerId: '0', listenPort: 1 },
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
  ok: [{ type: 'ok' }],
  login: [{ type: 'login', user: 'alice', password: 'correct horse battery staple' }],
  'login-ok': [
    { type: 'login-ok', user: 'alice', sessionId: 's-123', observedHost: '203.0.113.9' },
    { type: 'login-ok', user: 'bob', sessionId: 's-124', observedHost: '2001:db8::1' },
    { type: 'login-ok', user: 'carol', sessionId: 's-125', observedHost: '' },
  ],
  'ticket-request': [{ type: 'ticket-request' }],
  'peer-ticket': [
    { type: 'peer-ticket', ticket: sampleTicket, keys: [sampleTicketKey] },
    { type: 'peer-ticket', ticket: { ...sampleTicket, user: '', issuedAt: 0, expiresAt: 2 ** 53 - 1, signature: new Uint8Array(0) }, keys: [] },
  ],
  reachability: [
    { type: 'reachability', reachable: true },
    { type: 'reachability', reachable: false },
  ],
  metrics: [
    { type: 'metrics', report: sampleMetrics },
    { type: 'metrics', report: Object.fromEntries(Object.keys(sampleMetrics).map((k) => [k, 0])) as unknown as MetricsReport },
  ],
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
  'list-playlists': [
    { type: 'list-playlists', offset: 0, limit: 100 },
    { type: 'list-playlists', offset: 0xffffffff, limit: 0 },
  ],
  playlists: [
    { type: 'playlists', playlists: [samplePlaylist, { ...samplePlaylist, id: 'p2', uri: 'tunemesh:playlist:p2', name: 'x'.repeat(200), trackCount: 10_000 }], total: 7 },
    { type: 'playlists', playlists: [], total: 0 },
  ],
  'get-playlist': [
    { type: 'get-playlist', playlistId: 'pl0123456789', offset: 0, limit: 500 },
    { type: 'get-playlist', playlistId: 'pl0123456789', offset: 10_000, limit: 0xffffffff },
  ],
  playlist: [
    { type: 'playlist', playlist: samplePlaylist, offset: 0, tracks: [sampleTrack, { ...sampleTrack, seekIndex: [] }] },
    { type: 'playlist', playlist: { ...samplePlaylist, trackCount: 0, durationMs: 0 }, offset: 0, tracks: [] },
    { type: 'playlist', playlist: { ...samplePlaylist, trackCount: 10_000 }, offset: 9_999, tracks: [sampleTrack] },
  ],
  'create-playlist': [
    { type: 'create-playlist', name: 'Road trip ☀️' },
    { type: 'create-playlist', name: 'é'.repeat(100) },
  ],
  'playlist-info': [{ type: 'playlist-info', playlist: samplePlaylist }],
  'add-to-playlist': [
    { type: 'add-to-playlist', playlistId: 'pl0123456789', trackIds: ['t1', 't2', 't1'], position: null },
    { type: 'add-to-playlist', playlistId: 'pl0123456789', trackIds: ['t3'], position: 0 },
    { type: 'add-to-playlist', playlistId: 'pl0123456789', trackIds: [], position: 10_000 },
  ],
  'remove-from-playlist': [
    { type: 'remove-from-playlist', playlistId: 'pl0123456789', position: 0 },
    { type: 'remove-from-playlist', playlistId: 'pl0123456789', position: 9_999 },
  ],
  'rename-playlist': [{ type: 'rename-playlist', playlistId: 'pl0123456789', name: 'Night drive' }],
  'delete-playlist': [{ type: 'delete-playlist', playlistId: 'pl0123456789' }],
  'get-track': [{ type: 'get-track', trackId: 't1' }],
  track: [{ type: 'track', track: sampleTrack }],
  'chunk-request': [{ type: 'chunk-request', fileId: 'a'.repeat(64), first: 0, count: 100, urgency: 0 }],
  chunk: [
    { type: 'chunk', fileId: 'a'.repeat(64), index: 7, data: Uint8Array.from({ length: 16384 }, (_, i) => i % 251) },
    { type: 'chunk', fileId: 'b', index: 0, data: new Uint8Array(0) },
  ],
  'chunk-end': [{ type: 'chunk-end', fileId: 'a'.repeat(64), first: 0, count: 100 }],
  'get-chunk-hashes': [
    { type: 'get-chunk-hashes', fileId: sampleFileId, first: 0, count: 640 },
    { type: 'get-chunk-hashes', fileId: sampleFileId, first: 16_384, count: 0xffffffff },
  ],
  'chunk-hashes': [
    // A 10 MB track: 640 chunks of 16 KiB, 20 KiB of hashes.
    { type: 'chunk-hashes', fileId: sampleFileId, chunkSize: 16384, total: 640, first: 0, hashes: Uint8Array.from({ length: 640 * 32 }, (_, i) => (i * 7) % 256) },
    { type: 'chunk-hashes', fileId: sampleFileId, chunkSize: 16384, total: 0, first: 0, hashes: new Uint8Array(0) },
  ],
  'get-file-key': [{ type: 'get-file-key', fileId: sampleFileId }],
  'file-key': [{ type: 'file-key', fileId: sampleFileId, key: Uint8Array.from({ length: 32 }, (_, i) => i), iv: Uint8Array.from({ length: 16 }, (_, i) => 255 - i) }],
  announce: [{ type: 'announce', fileId: sampleFileId }],
  'tracker-query': [{ type: 'tracker-query', fileId: 'f'.repeat(64) }],
  'tracker-peers': [
    { type: 'tracker-peers', fileId: sampleFileId, peers: [samplePeer, { peerId: 'ab', host: '::1', port: 0 }, { peerId: 'c'.repeat(64), host: 'h'.repeat(255), port: 65535 }] },
    { type: 'tracker-peers', fileId: sampleFileId, peers: [] },
    { type: 'tracker-peers', fileId: '0'.repeat(64), peers: Array.from({ length: 64 }, (_, i) => ({ ...samplePeer, peerId: i.toString(16), port: 1000 + i })) },
  ],
  'connect-back-request': [{ type: 'connect-back-request', target: samplePeerId, fileId: sampleFileId }],
  'connect-back': [{ type: 'connect-back', requester: samplePeer, fileId: sampleFileId }],
  'peer-search': [
    { type: 'peer-search', queryId: 0xdeadbeef, fileId: sampleFileId, hops: 2 },
    { type: 'peer-search', queryId: 0, fileId: sampleFileId, hops: 8 },
  ],
  'peer-found': [
    { type: 'peer-found', queryId: 0xffffffff, fileId: sampleFileId, holder: samplePeer, distance: 1 },
    { type: 'peer-found', queryId: 7, fileId: sampleFileId, holder: { peerId: 'e', host: 'peer.example.org', port: 0 }, distance: 2 },
  ],
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
const playlistArb: fc.Arbitrary<PlaylistInfo> = fc.record({
  id: str(32),
  uri: str(60),
  // 40 code points of at most 4 bytes: within the 200-byte bound
  name: str(40),
  owner: str(60),
  trackCount: fc.integer({ min: 0, max: 10_000 }),
  durationMs: u53,
  createdAt: u53,
  updatedAt: u53,
});
const playlistPositionArb = fc.integer({ min: 0, max: 9_999 });
const errorCodes: ErrorCode[] = ['bad-request', 'unauthorized', 'not-found', 'not-here', 'busy', 'version', 'internal'];
const u16 = fc.integer({ min: 0, max: 0xffff });
const hexArb = (minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength, maxLength });
/** Valid peer ids: 1..64 lowercase hex characters. */
export const peerIdArb = hexArb(1, 64);
/** Valid file ids of the peer messages: 64 lowercase hex characters. */
export const fileIdArb = hexArb(64, 64);
/** Hosts: any string of at most 255 UTF-8 bytes (a binary string of 60 units has at most 240). */
const hostArb = fc.oneof(str(60), fc.ipV4(), fc.ipV6(), fc.domain());
export const peerAddressArb: fc.Arbitrary<PeerAddress> = fc.record({ peerId: peerIdArb, host: hostArb, port: u16 });
const hopsArb = fc.integer({ min: 0, max: 8 });
const ticketArb: fc.Arbitrary<PeerTicket> = fc.record({
  keyId: hexArb(16, 16),
  peerId: peerIdArb,
  user: str(60),
  certFingerprint: hexArb(64, 64),
  issuedAt: u53,
  expiresAt: u53,
  signature: fc.uint8Array({ maxLength: 128 }),
});
const ticketKeyArb: fc.Arbitrary<TicketKey> = fc.record({ keyId: hexArb(16, 16), publicKey: fc.uint8Array({ maxLength: 64 }) });
const metricsArb: fc.Arbitrary<MetricsReport> = fc.record({
  plays: u53,
  playsWithStutter: u53,
  latencyMedianUs: u53,
  bytesServer: u53,
  bytesPeer: u53,
  bytesCache: u53,
  searches: u53,
  searchFoundAt1: u53,
  searchFoundAt2: u53,
  searchNotFound: u53,
  trackerQueries: u53,
  trackerFound: u53,
});

/** Any valid message. */
export const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant('hello' as const),
    version: u16,
    role: fc.constantFrom('peer' as const, 'leecher' as const),
    agent: str(60),
    peerId: hexArb(0, 64),
    listenPort: u16,
  }).chain((h) => fc.option(ticketArb, { nil: undefined }).map((ticket) => (ticket ? { ...h, ticket } : h))),
  fc.constant({ type: 'ticket-request' as const }),
  fc.record({ type: fc.constant('peer-ticket' as const), ticket: ticketArb, keys: fc.array(ticketKeyArb, { maxLength: 4 }) }),
  fc.record({ type: fc.constant('bye' as const), reason: str(100) }),
  fc.record({ type: fc.constant('error' as const), code: fc.constantFrom(...errorCodes), message: str(100) }),
  fc.record({ type: fc.constant('ping' as const), nonce: u32 }),
  fc.record({ type: fc.constant('pong' as const), nonce: u32 }),
  fc.constant({ type: 'cancel' as const }),
  fc.constant({ type: 'ok' as const }),
  fc.record({ type: fc.constant('login' as const), user: str(60), password: str(100) }),
  fc.record({ type: fc.constant('login-ok' as const), user: str(60), sessionId: str(32), observedHost: hostArb }),
  fc.record({ type: fc.constant('reachability' as const), reachable: fc.boolean() }),
  fc.record({ type: fc.constant('metrics' as const), report: metricsArb }),
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
  fc.record({ type: fc.constant('list-playlists' as const), offset: u32, limit: u32 }),
  fc.record({ type: fc.constant('playlists' as const), playlists: fc.array(playlistArb, { maxLength: 3 }), total: u32 }),
  fc.record({ type: fc.constant('get-playlist' as const), playlistId: str(32), offset: fc.integer({ min: 0, max: 10_000 }), limit: u32 }),
  fc.record({
    type: fc.constant('playlist' as const),
    playlist: playlistArb,
    offset: fc.integer({ min: 0, max: 10_000 }),
    tracks: fc.array(trackArb, { maxLength: 3 }),
  }),
  fc.record({ type: fc.constant('create-playlist' as const), name: str(40) }),
  fc.record({ type: fc.constant('playlist-info' as const), playlist: playlistArb }),
  fc.record({
    type: fc.constant('add-to-playlist' as const),
    playlistId: str(32),
    trackIds: fc.array(str(32), { maxLength: 5 }),
    position: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: null }),
  }),
  fc.record({ type: fc.constant('remove-from-playlist' as const), playlistId: str(32), position: playlistPositionArb }),
  fc.record({ type: fc.constant('rename-playlist' as const), playlistId: str(32), name: str(40) }),
  fc.record({ type: fc.constant('delete-playlist' as const), playlistId: str(32) }),
  fc.record({ type: fc.constant('get-track' as const), trackId: str(32) }),
  fc.record({ type: fc.constant('track' as const), track: trackArb }),
  fc.record({ type: fc.constant('chunk-request' as const), fileId: str(32), first: u32, count: u32, urgency: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ type: fc.constant('chunk' as const), fileId: str(32), index: u32, data: fc.uint8Array({ maxLength: 600 }) }),
  fc.record({ type: fc.constant('chunk-end' as const), fileId: str(32), first: u32, count: u32 }),
  fc.record({ type: fc.constant('get-chunk-hashes' as const), fileId: fileIdArb, first: u32, count: u32 }),
  fc.record({ type: fc.constant('chunk-hashes' as const), fileId: fileIdArb, chunkSize: u32, total: u32, first: u32, hashes: fc.uint8Array({ maxLength: 320 }) }),
  fc.record({ type: fc.constant('get-file-key' as const), fileId: fileIdArb }),
  fc.record({ type: fc.constant('file-key' as const), fileId: fileIdArb, key: fc.uint8Array({ maxLength: 64 }), iv: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ type: fc.constant('announce' as const), fileId: fileIdArb }),
  fc.record({ type: fc.constant('tracker-query' as const), fileId: fileIdArb }),
  fc.record({ type: fc.constant('tracker-peers' as const), fileId: fileIdArb, peers: fc.array(peerAddressArb, { maxLength: 12 }) }),
  fc.record({ type: fc.constant('connect-back-request' as const), target: peerIdArb, fileId: fileIdArb }),
  fc.record({ type: fc.constant('connect-back' as const), requester: peerAddressArb, fileId: fileIdArb }),
  fc.record({ type: fc.constant('peer-search' as const), queryId: u32, fileId: fileIdArb, hops: hopsArb }),
  fc.record({ type: fc.constant('peer-found' as const), queryId: u32, fileId: fileIdArb, holder: peerAddressArb, distance: hopsArb }),
);

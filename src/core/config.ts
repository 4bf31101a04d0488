/**
 * Every tunable number of tunemesh, with its default and the published source it comes from
 * (DESIGN §3). Parts receive `Pick<TunemeshConfig, ...>` slices; the simulator and the CLI can
 * override any field.
 */
export interface TunemeshConfig {
  /** Size of one chunk of a file, the unit of requests and verification. @default 16384 (P2P'10: 16 kB) */
  chunkSize: number;
  /** Audio the AP sends at once on a random access, in ms. @default 15000 (P2P'10: ~15 s) */
  randomAccessPrefixMs: number;
  /** Never request from the AP more than this far ahead of the playback point while peers deliver, ms. @default 15000 (P2P'10) */
  apMaxAheadMs: number;
  /** Below this much buffered audio the client is in emergency mode, ms. @default 3000 (P2P'10 lectures) */
  emergencyBufferMs: number;
  /**
   * Below this much buffered audio (but above `emergencyBufferMs`) the buffer is "low": the AP
   * joins the peers for the chunks up to `apMaxAheadMs` ahead of the playback point; at or above
   * it the buffer is "comfortably ahead" and only peers are asked. P2P'10 slides: "If local buffer
   * is sufficiently filled, only download from peer-to-peer overlay; if buffer is getting low,
   * download from central server as well", without a number. 10 s is the lectures' point at which
   * a next track without peers goes to the AP (`prefetchApFallbackMs`), and lies between
   * `emergencyBufferMs` and `apMaxAheadMs`, so the AP refills a low buffer to above it. It is
   * also the lead a peer must keep while the AP could step in: a peer is given a chunk only if it
   * is expected to bring it at least this long before the chunk plays.
   * @default 10000 (ours; rule P2P'10)
   */
  lowBufferMs: number;
  /**
   * A chunk request is slow when nothing of it (and nothing else from its source) arrived for
   * longer than this many times the time one chunk takes at the source's measured average rate
   * (never less than `slowRequestMinMs`); it is then re-sent to another peer, or to the AP when
   * its chunks are urgent. P2P'10 slides: "If a remote peer is slow, re-request data from new
   * peers"; lectures: "if a peer happens to be too slow, another peer is used". @default 4 (ours)
   */
  slowRequestFactor: number;
  /**
   * Least silence before a request counts as slow, ms: covers the first chunk's round trip and
   * a wait for an upload slot, and keeps rate jitter on fast links from re-sending requests.
   * @default 1000 (ours)
   */
  slowRequestMinMs: number;
  /**
   * Audio time per urgency level of a chunk request: a chunk due to play within this many ms is
   * urgency 0, the next step 1, and so on up to 254; chunks behind the playback point are 255 (the
   * wire field is one byte). Uploaders and the AP serve lower values first. P2P'10: requests
   * "inform peers about urgency"; the scale is ours. @default 1000 (ours)
   */
  urgencyStepMs: number;
  /** Search peers for the next track this long before the current one ends, ms. @default 30000 (P2P'10 lectures) */
  prefetchPeerSearchMs: number;
  /** Fetch the next track's start from the AP this long before the end if no peer was found, ms. @default 10000 (P2P'10 lectures) */
  prefetchApFallbackMs: number;
  /** Cache size as a fraction of free disk. @default 0.1 (P2P'10: 10 % of free disk) */
  cacheFractionOfFreeDisk: number;
  /** Upper bound of the default cache size, bytes. @default 10 GiB (P2P'10) */
  cacheMaxBytes: number;
  /** Lower bound of the default cache size, bytes. @default 50 MiB (P2P'10) */
  cacheMinBytes: number;
  /** Peers the tracker remembers per file. @default 20 (P2P'11) */
  trackerMemory: number;
  /** Peers the tracker returns per query. @default 10 (P2P'11) */
  trackerAnswer: number;
  /**
   * Files the tracker keeps lists for; above it the file announced least recently is forgotten, so
   * the tracker's memory is bounded whatever clients announce. @default 1000000 (ours)
   */
  trackerMaxFiles: number;
  /** Overlay search radius in hops. @default 2 (P2P'11) */
  searchHops: number;
  /** Query ids each client remembers to drop duplicates. @default 50 (P2P'11) */
  searchDedupIds: number;
  /** Neighbour soft limit: above it no new outgoing connections. @default 50 (P2P'11) */
  neighbourSoftLimit: number;
  /** Neighbour hard limit: at it no new connections at all. @default 60 (P2P'11) */
  neighbourHardLimit: number;
  /**
   * How often the client prunes its neighbour set (`Neighbours.prune`), ms. P2P'11 says only
   * "periodically". The usefulness windows have 1-minute buckets, so evaluating more often than
   * once a minute would mostly re-rank the same numbers. @default 60000 (ours)
   */
  neighbourPruneIntervalMs: number;
  /**
   * A prune brings the neighbour count down to `neighbourSoftLimit` minus this, leaving room to
   * dial peers for the next tracks before the next prune (P2P'11: "keep itself below the soft
   * limit (with some headroom for new connections)"; the amount is not published). 5 is 10 % of
   * the soft limit: a few new fetch connections per prune interval. @default 5 (ours)
   */
  neighbourPruneHeadroom: number;
  /**
   * A neighbour connected less than this long ago is never pruned, so a link opened to fetch a
   * file is not dropped before its first bytes arrive and the received-bytes criteria can count
   * it. Short against the 10-minute window of the utility. @default 120000 (ours)
   */
  neighbourPruneGraceMs: number;
  /**
   * Rank points per place for each eviction-utility criterion: the best neighbour in a criterion
   * gets `weight × n` points (n neighbours), the next `weight × (n − 1)`, and so on. P2P'11 gives
   * the criteria and "slightly different weights for the different criteria", not the numbers.
   * Ours, 5 % apart: received before sent (data that reaches us is what the client is there
   * for; sent bytes make the link useful to the overlay, P2P'11's second aim), 10-minute windows
   * before 60-minute ones (recent use predicts the next track's fetch), a peer holding tracks we
   * wanted and one that found peers in between. Distinct weights also make equal sums rare.
   * @default { received10m: 1.25, wantedTracks10m: 1.2, received60m: 1.15, peersFound60m: 1.1, sent10m: 1.05, sent60m: 1.0 } (ours; criteria P2P'11)
   */
  neighbourUtilityWeights: Readonly<NeighbourUtilityWeights>;
  /**
   * Peers served at once. @default 4 (Spotify P2P'10; the text is in the lecture notes built from
   * the P2P'10/'11 slides, seed 002: "A client uploads to at most 4 peers at any given time")
   */
  maxUploads: number;
  /**
   * Peers that may wait for an upload slot, most urgent first; a request beyond it is refused so
   * the requester asks another peer or the AP at once (P2P'10: slow requests are re-sent
   * elsewhere). 8 is two rounds of `maxUploads`. @default 8 (ours)
   */
  uploadQueueLength: number;
  /** Interval between application keep-alive pings on an idle link, ms. @default 15000 (P2P'11: application keep-alive; interval ours) */
  keepAliveMs: number;
  /** A link silent for this long is considered dead, ms. @default 45000 (ours: three missed keep-alives) */
  linkTimeoutMs: number;
  /** First reconnect delay to the AP, ms; doubles up to `reconnectMaxMs`. @default 250 (ours) */
  reconnectBaseMs: number;
  /** Longest reconnect delay to the AP, ms. @default 10000 (ours) */
  reconnectMaxMs: number;
  /** Largest frame a link accepts, bytes; larger frames are a protocol error. @default 1 MiB (ours) */
  maxFrameBytes: number;
  /** Audio needed before playback starts on a fast link, ms; grows when the measured rate is low. @default 500 (ours, see playback clock) */
  minStartBufferMs: number;
  /**
   * A measured download rate counts as fast only when it exceeds the track's bitrate by this factor;
   * below it the playback clock waits for more audio, as if the rate were this much lower, so rate
   * jitter does not turn into a stutter. @default 1.2 (ours)
   */
  startRateMargin: number;
  /**
   * Longest time a chunk written to the disk cache waits before its "present" mark is made durable
   * (data synced first, then the marks of all chunks written meanwhile in one transaction), ms. A kill
   * loses at most this much of marks, never data. @default 100 (ours)
   */
  cacheMarkFlushMs: number;
  /**
   * Life of a peer ticket the AP issues, ms; clients ask for a fresh one at half of it, and a
   * rotated-out AP key stays valid for this long. @default 3600000 (ours: 1 h)
   */
  peerTicketTtlMs: number;
  /**
   * Time between announcing a rotated ticket key (every logged-in client gets it in its key set)
   * and signing with it, ms. Without it a client holding a ticket of the new key could meet a peer
   * whose key set the push had not reached yet and be refused `unknown-key`; a few seconds cover
   * the push to every client (one frame each, sent in one go). @default 5000 (ours)
   */
  ticketKeyAnnounceMs: number;
  /** Peers a download connects to at most from one lookup (tracker and overlay answers). @default 3 (ours) */
  lookupPeers: number;
  /** How long an overlay search collects answers, ms: two hops on the Internet, a few round trips. @default 400 (ours) */
  searchWaitMs: number;
  /** How long to wait for a peer asked (through the AP) to connect back, ms. @default 2000 (ours) */
  connectBackWaitMs: number;
  /**
   * How long a peer that sent a chunk failing its hash check is kept out (no requests to it, its
   * connections refused), ms (issue 6: "keeps it out for a while"). A bad chunk is either an
   * attack or a broken disk; an hour outlasts a listening session, and a peer ticket (1 h) the
   * peer may otherwise keep re-presenting, while a repaired peer is back within the hour.
   * @default 3600000 (ours)
   */
  badPeerBanMs: number;
  /**
   * Banned peers remembered at once; beyond it the ban that ends first is forgotten, so the
   * list's memory is bounded whoever sends bad chunks. @default 1000 (ours)
   */
  maxBannedPeers: number;
  /**
   * A peer holding one of our `maxUploads` upload slots whose upload has not advanced (no chunk
   * handed to its link, because it does not read what we sent) for this long is disconnected, so
   * a peer that asks and then stalls or reads a byte at a time cannot hold a slot. Progress comes
   * at least every quarter bulk window (64 kB) for a reader above ~2 kB/s, a sixth of the lowest
   * audio quality (96 kbps = 12 kB/s): a slower peer could not play from us anyway.
   * @default 30000 (ours)
   */
  uploadStallTimeoutMs: number;
  /**
   * Overlay searches (`peer-search`) a neighbour may send per minute on average; more are
   * dropped (issue 6: searches rate-limited per neighbour). A client searches once per
   * random-access play and once per next track of a queue (DESIGN §3), i.e. at most a few a
   * minute even when the listener skips every 30 s (2/min). A neighbour also forwards the
   * searches of its own neighbours (2 hops), up to `neighbourHardLimit` of them: 60 × 2/min.
   * @default 120 (ours, derived as above)
   */
  searchRatePerMin: number;
  /**
   * Searches a neighbour may send at once after a quiet spell: half a minute of its sustained
   * rate, so the searches of many of its neighbours starting together (an album start, a
   * reconnect wave) are not dropped. @default 60 (ours)
   */
  searchBurst: number;
  /**
   * Searches dropped in a row (none allowed between) after which the neighbour is a persistent
   * flooder and is disconnected. 200 is more than three minutes of the sustained rate refused
   * without a pause, which a well-behaved peer forwarding others' searches never does.
   * @default 200 (ours)
   */
  searchFloodDisconnectAfter: number;
  /**
   * An accepted connection (peer or AP link) must send its hello within this, ms, or it is
   * closed: a TLS connection that says nothing (or only pings) would otherwise hold a
   * connection slot until the link timeout. A hello is the first frame a client sends, one
   * round trip after the TLS handshake. @default 10000 (ours: a few round trips on a bad link)
   */
  helloTimeoutMs: number;
  /**
   * A client's connection to its AP (TCP connect and TLS handshake) must be up within this, ms,
   * or it is dropped and retried with backoff: an AP (or something in between) that accepts and
   * stalls must not hang the client. @default 10000 (ours: a few round trips on a bad link)
   */
  apConnectTimeoutMs: number;
  /**
   * How long a client waits for the AP to answer its login, ms. Longer than other requests: the
   * AP checks the password with scrypt, and after an AP restart every client logs in at once.
   * @default 30000 (ours)
   */
  apLoginTimeoutMs: number;
  /**
   * A TLS handshake on a listener must finish within this, ms; slow-loris handshakes are dropped.
   * @default 10000 (ours: as node's own default, a few round trips on a bad link)
   */
  handshakeTimeoutMs: number;
  /**
   * Most connections a listener (AP or peer) holds that have not finished their TLS handshake
   * and hello (on the AP: their login); more are closed at once. Bounds what an attacker opening
   * connections and stalling can hold (each costs some tens of kB of TLS state: 256 are a few
   * MB), while honest clients hold one each for a round trip or two, or a password check.
   * Above the bursts honest clients make: a peer listener gets at most `neighbourHardLimit` (60)
   * dialling at once, the AP a wave of logins after a restart (spread by reconnect jitter; a
   * hundred at once in the peer-limits test). @default 256 (ours)
   */
  maxPendingConnections: number;
}

/**
 * The six criteria of the eviction utility (P2P'11 §III-C), each a weight: rank points per place.
 * Windows are the paper's: bytes sent/received in the last 10 and 60 minutes, peers found through
 * searches sent over the link in the last 60 minutes, tracks the peer had that we wanted in the
 * last 10 minutes.
 */
export interface NeighbourUtilityWeights {
  /** Bytes we sent over the link in the last 10 minutes. */
  sent10m: number;
  /** Bytes we sent over the link in the last 60 minutes. */
  sent60m: number;
  /** Bytes we received over the link in the last 10 minutes. */
  received10m: number;
  /** Bytes we received over the link in the last 60 minutes. */
  received60m: number;
  /** Peers found through searches sent over the link in the last 60 minutes. */
  peersFound60m: number;
  /** Tracks the peer had that we wanted, in the last 10 minutes. */
  wantedTracks10m: number;
}

const MiB = 1024 * 1024;

/** The defaults of DESIGN §3. */
export const defaultConfig: Readonly<TunemeshConfig> = Object.freeze({
  chunkSize: 16 * 1024,
  randomAccessPrefixMs: 15_000,
  apMaxAheadMs: 15_000,
  emergencyBufferMs: 3_000,
  prefetchPeerSearchMs: 30_000,
  prefetchApFallbackMs: 10_000,
  lowBufferMs: 10_000,
  slowRequestFactor: 4,
  slowRequestMinMs: 1_000,
  urgencyStepMs: 1_000,
  cacheFractionOfFreeDisk: 0.1,
  cacheMaxBytes: 10 * 1024 * MiB,
  cacheMinBytes: 50 * MiB,
  trackerMemory: 20,
  trackerAnswer: 10,
  trackerMaxFiles: 1_000_000,
  searchHops: 2,
  searchDedupIds: 50,
  neighbourSoftLimit: 50,
  neighbourHardLimit: 60,
  neighbourPruneIntervalMs: 60_000,
  neighbourPruneHeadroom: 5,
  neighbourPruneGraceMs: 120_000,
  neighbourUtilityWeights: Object.freeze({
    received10m: 1.25,
    wantedTracks10m: 1.2,
    received60m: 1.15,
    peersFound60m: 1.1,
    sent10m: 1.05,
    sent60m: 1.0,
  }),
  maxUploads: 4,
  uploadQueueLength: 8,
  keepAliveMs: 15_000,
  linkTimeoutMs: 45_000,
  reconnectBaseMs: 250,
  reconnectMaxMs: 10_000,
  maxFrameBytes: MiB,
  minStartBufferMs: 500,
  startRateMargin: 1.2,
  cacheMarkFlushMs: 100,
  peerTicketTtlMs: 3_600_000,
  ticketKeyAnnounceMs: 5_000,
  lookupPeers: 3,
  searchWaitMs: 400,
  connectBackWaitMs: 2_000,
  badPeerBanMs: 60 * 60 * 1000,
  maxBannedPeers: 1000,
  uploadStallTimeoutMs: 30_000,
  searchRatePerMin: 120,
  searchBurst: 60,
  searchFloodDisconnectAfter: 200,
  apConnectTimeoutMs: 10_000,
  apLoginTimeoutMs: 30_000,
  helloTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  maxPendingConnections: 256,
});

/** The config with some fields overridden. */
export function makeConfig(overrides: Partial<TunemeshConfig> = {}): TunemeshConfig {
  return { ...defaultConfig, ...overrides };
}

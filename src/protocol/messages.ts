/**
 * Every message of the tunemesh wire protocol (DESIGN §4), defined once as a discriminated union.
 * The codec in `codec.ts` encodes and decodes exactly these shapes. AP links and peer links
 * share the framing; peer-only messages arrive with the peers issue.
 */
import type { AlbumInfo, ArtistInfo, TrackInfo } from '../core/track.ts';
import type { PeerTicket, TicketKey } from '../core/peer-ticket.ts';

export type { PeerTicket, TicketKey };

/** Protocol version carried in the hello; a peer with another major version is refused. */
export const PROTOCOL_VERSION = 1;

/** Priority class of a frame: interactive frames are always sent before bulk frames. */
export enum Priority {
  Interactive = 0,
  Bulk = 1,
}

/** Role on a link (DESIGN §3): a leecher never serves or announces and gets no routed queries. */
export type Role = 'peer' | 'leecher';

/** Reasons carried by an `error` message; code branches on these, never on the text. */
export type ErrorCode =
  | 'bad-request'
  | 'unauthorized'
  | 'not-found'
  | 'not-here'
  | 'busy'
  | 'version'
  | 'internal';

/** How peers reach a client: its id and the address it accepts peer connections on. */
export interface PeerAddress {
  /** Stable random id of the client (hex), the same on every link it opens. */
  peerId: string;
  host: string;
  /** 0 when the client accepts no incoming connections (then only connect-back reaches it). */
  port: number;
}

/** What a client reports to the AP about its plays and its searches for peers. */
export interface MetricsReport {
  plays: number;
  playsWithStutter: number;
  /** Median playback latency over the plays, microseconds. */
  latencyMedianUs: number;
  bytesServer: number;
  bytesPeer: number;
  bytesCache: number;
  /** Overlay searches started, and how they ended. */
  searches: number;
  searchFoundAt1: number;
  searchFoundAt2: number;
  searchNotFound: number;
  trackerQueries: number;
  trackerFound: number;
}

/** A user's playlist as listed, without its tracks. Only its owner sees or changes it. */
export interface PlaylistInfo {
  /** Short URL-safe id (12 base62 characters). */
  id: string;
  /** `tunemesh:playlist:<id>` */
  uri: string;
  /** 1..200 bytes of UTF-8. */
  name: string;
  /** The user the playlist belongs to. */
  owner: string;
  /** At most 10 000. */
  trackCount: number;
  /** Sum of the tracks' durations, ms. */
  durationMs: number;
  /** When it was created and last changed, ms since the epoch. */
  createdAt: number;
  updatedAt: number;
}

export type Message =
  /**
   * First frame on every link, both ways: protocol version, role, the sender's peer id ('' for
   * the AP) and the port it accepts peer connections on (0 = none). On peer links each side shows
   * its peer ticket (DESIGN §5); a peer hello without a valid one is refused.
   */
  | { type: 'hello'; version: number; role: Role; agent: string; peerId: string; listenPort: number; ticket?: PeerTicket }
  /** Client -> AP: log in; answered by `login-ok` or `error`. */
  | { type: 'login'; user: string; password: string }
  /** `observedHost`: the client's address as the AP sees it, which peers will dial. */
  | { type: 'login-ok'; user: string; sessionId: string; observedHost: string }
  /** A request that succeeded and has nothing else to say. */
  | { type: 'ok' }
  /** AP -> client, after login: whether the AP could connect to the client's listen port. */
  | { type: 'reachability'; reachable: boolean }
  /** Client -> AP: it completed downloading a file it played (the tracker learns it). No answer. */
  | { type: 'announce'; fileId: string }
  /** Client -> AP: peers that have a file; answered by `tracker-peers` (possibly empty). */
  | { type: 'tracker-query'; fileId: string }
  | { type: 'tracker-peers'; fileId: string; peers: PeerAddress[] }
  /**
   * Client -> AP: ask the AP to tell peer `target` to connect to us (we cannot dial it). Answered
   * by `ok`, or `error` not-found when the target is not online.
   */
  | { type: 'connect-back-request'; target: string; fileId: string }
  /** AP -> client: `requester` wants a connection; dial it. */
  | { type: 'connect-back'; requester: PeerAddress; fileId: string }
  /**
   * Peer -> neighbours: who has this file? Forwarded while `hops` > 1 with `hops` - 1; each
   * client drops query ids it has seen (DESIGN §3). No direct answer.
   */
  | { type: 'peer-search'; queryId: number; fileId: string; hops: number }
  /** The answer to a search, routed back along the path it came: `distance` hops from the searcher. */
  | { type: 'peer-found'; queryId: number; fileId: string; holder: PeerAddress; distance: number }
  /**
   * Client -> AP, once logged in: ask for a peer ticket bound to the certificate the client
   * presented on this link. Answered by `peer-ticket`, or `error` unauthorized (not logged in, or
   * no client certificate).
   */
  | { type: 'ticket-request' }
  /**
   * AP -> client: a fresh peer ticket and the AP's ticket keys valid now (the current one and
   * retired ones whose tickets have not all expired). The answer to `ticket-request`, and pushed
   * when the AP rotates its key.
   */
  | { type: 'peer-ticket'; ticket: PeerTicket; keys: TicketKey[] }
  /** Client -> AP: periodic metric report. No answer. */
  | { type: 'metrics'; report: MetricsReport }
  /** The answer to a request that failed. */
  | { type: 'error'; code: ErrorCode; message: string }
  /** Application keep-alive. */
  | { type: 'ping'; nonce: number }
  | { type: 'pong'; nonce: number }
  /** Full-text search of the catalog. */
  | { type: 'search'; query: string; limit: number }
  | { type: 'search-result'; tracks: TrackInfo[]; artists: ArtistInfo[]; albums: AlbumInfo[] }
  /** Browse: all artists (paged), an artist's albums, an album's tracks. */
  | { type: 'list-artists'; offset: number; limit: number }
  | { type: 'artists'; artists: ArtistInfo[] }
  | { type: 'get-artist'; artistId: string }
  | { type: 'artist'; artist: ArtistInfo; albums: AlbumInfo[] }
  | { type: 'get-album'; albumId: string }
  | { type: 'album'; album: AlbumInfo; tracks: TrackInfo[] }
  /**
   * Playlists of the logged-in user (DESIGN §1: they live at the AP). Listed in creation order,
   * paged; `total` is the number the user has.
   */
  | { type: 'list-playlists'; offset: number; limit: number }
  | { type: 'playlists'; playlists: PlaylistInfo[]; total: number }
  /**
   * One playlist with a page of its tracks in order: `tracks[i]` is at position `offset + i`.
   * The AP may answer with fewer tracks than `limit` (pages stay far below the frame limit);
   * the next page starts at `offset + tracks.length` while that is below `playlist.trackCount`.
   */
  | { type: 'get-playlist'; playlistId: string; offset: number; limit: number }
  | { type: 'playlist'; playlist: PlaylistInfo; offset: number; tracks: TrackInfo[] }
  /** Create, change and delete; every change is answered by `playlist-info` (`ok` for delete) or `error`. */
  | { type: 'create-playlist'; name: string }
  | { type: 'playlist-info'; playlist: PlaylistInfo }
  /** Insert tracks before `position` (0-based), or append them when `position` is null. */
  | { type: 'add-to-playlist'; playlistId: string; trackIds: string[]; position: number | null }
  /** Remove the track at `position` (0-based); the tracks after it move up. */
  | { type: 'remove-from-playlist'; playlistId: string; position: number }
  | { type: 'rename-playlist'; playlistId: string; name: string }
  | { type: 'delete-playlist'; playlistId: string }
  /** Track metadata: size, duration, seek index. */
  | { type: 'get-track'; trackId: string }
  | { type: 'track'; track: TrackInfo }
  /**
   * Ask for chunks [first, first+count) of a file. Answered by one `chunk` per chunk (bulk
   * priority, same request id) and then `chunk-end`, or by `error`.
   * `urgency`: 0 = most urgent; the server serves more urgent requests first.
   */
  | { type: 'chunk-request'; fileId: string; first: number; count: number; urgency: number }
  | { type: 'chunk'; fileId: string; index: number; data: Uint8Array }
  | { type: 'chunk-end'; fileId: string; first: number; count: number }
  /**
   * Client -> AP, logged in: the SHA-256 of chunks [first, first+count) of a stored (encrypted)
   * file (DESIGN §5), against which every chunk from a peer is checked. Answered by `chunk-hashes`
   * (possibly with fewer hashes than asked, to stay within a frame: ask again from
   * `first + hashes.length / 32`), or `error` not-found / unauthorized (before login).
   */
  | { type: 'get-chunk-hashes'; fileId: string; first: number; count: number }
  /** `hashes`: 32 bytes per chunk from `first`; `total`: chunks in the file; `chunkSize`: the AP's. */
  | { type: 'chunk-hashes'; fileId: string; chunkSize: number; total: number; first: number; hashes: Uint8Array }
  /**
   * Client -> AP, logged in: the key of a file (AES-256-CTR key and initial counter), to decrypt
   * it for the local player. Answered by `file-key`, or `error` unauthorized before login,
   * not-found for a file the AP does not hold. Clients keep keys in memory only.
   */
  | { type: 'get-file-key'; fileId: string }
  | { type: 'file-key'; fileId: string; key: Uint8Array; iv: Uint8Array }
  /** Stop answering the request with this id (the frame's request id). */
  | { type: 'cancel' }
  /** Orderly close with a reason. */
  | { type: 'bye'; reason: string };

export type MessageType = Message['type'];

/** The message of a given type. */
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

/** Priority class a message is sent with. */
export function priorityOf(msg: Message): Priority {
  return msg.type === 'chunk' ? Priority.Bulk : Priority.Interactive;
}

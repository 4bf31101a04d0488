/**
 * Every message of the tunemesh wire protocol (DESIGN §4), defined once as a discriminated union.
 * The codec in `codec.ts` encodes and decodes exactly these shapes. AP links and peer links
 * share the framing; peer-only messages arrive with the peers issue.
 */
import type { AlbumInfo, ArtistInfo, TrackInfo } from '../core/track.ts';

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

export type Message =
  /** First frame on every link, both ways. */
  | { type: 'hello'; version: number; role: Role; agent: string }
  /** Client -> AP: log in; answered by `login-ok` or `error`. */
  | { type: 'login'; user: string; password: string }
  | { type: 'login-ok'; user: string; sessionId: string }
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

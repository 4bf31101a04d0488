/**
 * The catalog: artists, albums and tracks, with full-text search (DESIGN §6). Callers see only
 * this interface, so a PostgreSQL catalog can replace the embedded SQLite one.
 */
import type { AlbumInfo, ArtistInfo, TrackInfo } from '../core/track.ts';
import type { PlaylistInfo } from '../protocol/messages.ts';
import { LIMITS } from '../protocol/codec.ts';

/** What ingest knows about a track before the catalog assigns its id. */
export type NewTrack = Omit<TrackInfo, 'id' | 'uri'>;

/** Result of a catalog search. */
export interface SearchResult {
  tracks: TrackInfo[];
  artists: ArtistInfo[];
  albums: AlbumInfo[];
}

/** Bounds of playlists: the wire's (`LIMITS` of the codec), and how many a user may have. */
export const PLAYLIST_LIMITS = Object.freeze({
  /** Longest name, UTF-8 bytes (after cleaning). */
  nameBytes: LIMITS.playlistNameBytes,
  /** Most tracks in one playlist. */
  tracks: LIMITS.playlistTracks,
  /** Most playlists of one user. */
  perUser: 10_000,
});

/** A page of a playlist: `tracks[i]` is at position `offset + i`. */
export interface PlaylistPage {
  playlist: PlaylistInfo;
  offset: number;
  tracks: TrackInfo[];
}

/**
 * Base of the errors of playlist operations. Code branches on the class (or `name`); the AP
 * answers {@link UnknownPlaylistError} with `not-found` and the others with `bad-request`.
 */
export class PlaylistError extends Error {
  override name = 'PlaylistError';
}

/**
 * No playlist with this id belongs to the user. Someone else's playlist is reported exactly like
 * one that does not exist, so ids of other users' playlists cannot be probed.
 */
export class UnknownPlaylistError extends PlaylistError {
  override name = 'UnknownPlaylistError';
  constructor(readonly playlistId: string) {
    super(`no playlist ${JSON.stringify(playlistId)}`);
  }
}

/** A track id given to add is not in the catalog; nothing was added. */
export class UnknownTrackError extends PlaylistError {
  override name = 'UnknownTrackError';
  constructor(readonly trackId: string) {
    super(`no track ${JSON.stringify(trackId)} in the catalog`);
  }
}

/** A playlist name that is empty, too long or holds control characters. */
export class InvalidPlaylistNameError extends PlaylistError {
  override name = 'InvalidPlaylistNameError';
}

/** A position outside the playlist (insert: 0..length; remove: 0..length-1). */
export class PlaylistPositionError extends PlaylistError {
  override name = 'PlaylistPositionError';
}

/** The change would exceed {@link PLAYLIST_LIMITS} (tracks per playlist, playlists per user). */
export class PlaylistLimitError extends PlaylistError {
  override name = 'PlaylistLimitError';
}

export interface Catalog {
  /** Adds a track; idempotent by `fileId` (the same file ingested twice keeps its id). */
  addTrack(track: NewTrack): Promise<{ track: TrackInfo; added: boolean }>;
  getTrack(id: string): Promise<TrackInfo | undefined>;
  /** Full-text search over title, artist and album; words are prefix-matched. */
  search(query: string, limit: number): Promise<SearchResult>;
  listArtists(offset: number, limit: number): Promise<ArtistInfo[]>;
  getArtist(id: string): Promise<{ artist: ArtistInfo; albums: AlbumInfo[] } | undefined>;
  /** An album with its tracks in track-number order. */
  getAlbum(id: string): Promise<{ album: AlbumInfo; tracks: TrackInfo[] } | undefined>;
  /**
   * Playlists (DESIGN §1). Every call names the user it acts for: a user sees and changes only
   * their own playlists; anyone else's is an {@link UnknownPlaylistError}. Errors are
   * {@link PlaylistError} subclasses; each change is atomic.
   */
  createPlaylist(owner: string, name: string): Promise<PlaylistInfo>;
  /** The user's playlists in creation order, paged, and how many they have. */
  listPlaylists(owner: string, offset: number, limit: number): Promise<{ playlists: PlaylistInfo[]; total: number }>;
  /** A playlist with up to `limit` of its tracks from position `offset`, in order. */
  getPlaylist(owner: string, id: string, offset: number, limit: number): Promise<PlaylistPage>;
  /**
   * Inserts tracks (by id, duplicates allowed) before `position` (0..length), or appends them
   * when `position` is undefined or null. Nothing is added when any id is unknown.
   */
  addToPlaylist(owner: string, id: string, trackIds: readonly string[], position?: number | null): Promise<PlaylistInfo>;
  /** Removes the track at `position` (0-based); the tracks after it move up one. */
  removeFromPlaylist(owner: string, id: string, position: number): Promise<PlaylistInfo>;
  renamePlaylist(owner: string, id: string, name: string): Promise<PlaylistInfo>;
  deletePlaylist(owner: string, id: string): Promise<void>;
  /** Random tracks, for the demo and benchmarks. */
  randomTracks(count: number): Promise<TrackInfo[]>;
  trackCount(): Promise<number>;
  close(): Promise<void>;
}

/** User accounts of the AP (scrypt-hashed passwords). */
export interface Accounts {
  /** Creates or replaces a user's password. */
  setPassword(user: string, password: string): Promise<void>;
  /** True when the user exists and the password matches. */
  verify(user: string, password: string): Promise<boolean>;
  listUsers(): Promise<string[]>;
}

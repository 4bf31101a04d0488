/**
 * The catalog: artists, albums and tracks, with full-text search (DESIGN §6). Callers see only
 * this interface, so a PostgreSQL catalog can replace the embedded SQLite one.
 */
import type { AlbumInfo, ArtistInfo, TrackInfo } from '../core/track.ts';

/** What ingest knows about a track before the catalog assigns its id. */
export type NewTrack = Omit<TrackInfo, 'id' | 'uri'>;

/** Result of a catalog search. */
export interface SearchResult {
  tracks: TrackInfo[];
  artists: ArtistInfo[];
  albums: AlbumInfo[];
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

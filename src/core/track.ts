/** Domain types shared by the AP, the client and the simulator. */

/** One point of a file's seek index: the audio at `ms` starts in the Ogg page at byte `byte`. */
export interface SeekPoint {
  ms: number;
  byte: number;
}

/** Audio codec of a file. */
export type Codec = 'vorbis' | 'opus';

/** What a client needs to know about a track to play it (the AP's "track metadata" answer). */
export interface TrackInfo {
  /** Track id: short, stable, URL-safe. */
  id: string;
  /** `tunemesh:track:<id>` */
  uri: string;
  title: string;
  artist: string;
  album: string;
  /** Track number on the album, 0 when unknown. */
  trackNo: number;
  durationMs: number;
  /** File size in bytes. */
  bytes: number;
  /** SHA-256 of the file content, hex: the content address of the file in the store. */
  fileId: string;
  codec: Codec;
  /** Average bitrate, bits per second. */
  bitrate: number;
  sampleRate: number;
  channels: number;
  /** Time-to-byte index, ascending in both fields; the first entry is where audio starts. */
  seekIndex: SeekPoint[];
}

/** An artist as seen in browse answers. */
export interface ArtistInfo {
  id: string;
  name: string;
  albumCount: number;
}

/** An album as seen in browse answers. */
export interface AlbumInfo {
  id: string;
  title: string;
  artist: string;
  artistId: string;
  trackCount: number;
}

/** The URI of a track. */
export function trackUri(id: string): string {
  return `tunemesh:track:${id}`;
}

/** Number of chunks of a file of `bytes` bytes. */
export function chunkCount(bytes: number, chunkSize: number): number {
  return Math.ceil(bytes / chunkSize);
}

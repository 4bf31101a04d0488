/**
 * The embedded catalog (DESIGN §6): SQLite through better-sqlite3, FTS5 for search.
 *
 * Ids are derived deterministically from content, so the same file ingested into any catalog
 * gets the same track id, and the same artist/album names the same artist/album ids:
 * - track: hash of the file's SHA-256 (`fileId`);
 * - artist: hash of the normalized artist name (NFKC, trimmed, inner whitespace collapsed, lower case);
 * - album: hash of the normalized artist name and the normalized album title.
 *
 * An album belongs to one artist: tracks of a compilation tagged with different artists become
 * one album per artist (`NewTrack` carries no album artist).
 */
import { createHash, randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AlbumInfo, ArtistInfo, Codec, SeekPoint, TrackInfo } from '../core/track.ts';
import { trackUri } from '../core/track.ts';
import type { PlaylistInfo } from '../protocol/messages.ts';
import { playlistUri } from '../protocol/uris.ts';
import {
  InvalidPlaylistNameError,
  PLAYLIST_LIMITS,
  PlaylistLimitError,
  PlaylistPositionError,
  UnknownPlaylistError,
  UnknownTrackError,
  type Catalog,
  type NewTrack,
  type PlaylistPage,
  type SearchResult,
} from './catalog.ts';

/** Length of every catalog id. */
export const ID_LENGTH = 12;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ID_SPACE = 62n ** BigInt(ID_LENGTH);

/** A 12-character base62 id from the SHA-256 of `domain` and `key` (about 71 bits). */
function hashId(domain: string, key: string): string {
  const digest = createHash('sha256').update(domain).update('\0').update(key).digest();
  let n = BigInt(`0x${digest.subarray(0, 16).toString('hex')}`) % ID_SPACE;
  let out = '';
  for (let i = 0; i < ID_LENGTH; i++) {
    out = BASE62[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out;
}

/** Display form of a name: NFC, trimmed, runs of whitespace collapsed to one space. */
export function cleanName(name: string): string {
  return name.normalize('NFC').replace(/\s+/gu, ' ').trim();
}

/** Identity form of a name: what two spellings must share to be the same artist or album. */
export function normalizeName(name: string): string {
  return cleanName(name.normalize('NFKC')).toLowerCase();
}

/** The track id of a file, from its SHA-256 (hex). */
export function trackIdFor(fileId: string): string {
  return hashId('track', fileId.toLowerCase());
}

/** The artist id of an artist name (spelling variants that normalize alike share it). */
export function artistIdFor(artist: string): string {
  return hashId('artist', normalizeName(artist));
}

/** The album id of an album title by an artist. */
export function albumIdFor(artist: string, album: string): string {
  return hashId('album', `${normalizeName(artist)}\0${normalizeName(album)}`);
}

/** True for strings shaped like catalog ids; anything else is looked up as "not found". */
export function isCatalogId(id: unknown): id is string {
  return typeof id === 'string' && id.length === ID_LENGTH && /^[0-9A-Za-z]+$/.test(id);
}

// ---------------------------------------------------------------------------------------------
// Seek index codec: format byte 1, varint count, then per point the zigzag-varint deltas of ms
// and byte against the previous point. A 4-minute track with a point per 4 kB page takes about
// 4 bytes per point instead of 16 as JSON numbers or 8 as uint32 pairs, and offsets beyond 4 GB
// still fit.

const SEEK_FORMAT = 1;
/** Largest ms or byte value of a seek point (so zigzag deltas stay exact doubles). */
const SEEK_MAX = 2 ** 48;

function pushVarint(out: number[], v: number): void {
  // v is a non-negative safe integer; arithmetic instead of bit operations keeps 53 bits.
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function zigzag(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1;
}

function unzigzag(v: number): number {
  return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
}

/** Encodes a seek index compactly (see the format above). */
export function encodeSeekIndex(points: readonly SeekPoint[]): Buffer {
  const out: number[] = [SEEK_FORMAT];
  pushVarint(out, points.length);
  let ms = 0;
  let byte = 0;
  for (const p of points) {
    if (!Number.isSafeInteger(p.ms) || !Number.isSafeInteger(p.byte) || p.ms < 0 || p.byte < 0 || p.ms > SEEK_MAX || p.byte > SEEK_MAX) {
      throw new RangeError(`seek index: point {ms: ${p.ms}, byte: ${p.byte}} is not a pair of integers in 0..2^48`);
    }
    pushVarint(out, zigzag(p.ms - ms));
    pushVarint(out, zigzag(p.byte - byte));
    ms = p.ms;
    byte = p.byte;
  }
  return Buffer.from(out);
}

/** Decodes what {@link encodeSeekIndex} produced; throws on a damaged blob. */
export function decodeSeekIndex(blob: Uint8Array): SeekPoint[] {
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let scale = 1;
    for (;;) {
      if (pos >= blob.length) throw new RangeError('seek index: truncated');
      const b = blob[pos++]!;
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new RangeError('seek index: varint too long');
    }
  };
  if (blob.length === 0) return [];
  if (blob[pos++] !== SEEK_FORMAT) throw new RangeError(`seek index: unknown format ${blob[0]}`);
  const count = varint();
  if (count > blob.length) throw new RangeError('seek index: count exceeds data');
  const points: SeekPoint[] = new Array(count);
  let ms = 0;
  let byte = 0;
  for (let i = 0; i < count; i++) {
    ms += unzigzag(varint());
    byte += unzigzag(varint());
    points[i] = { ms, byte };
  }
  return points;
}

// ---------------------------------------------------------------------------------------------
// Search sanitation.

/** Most words of a query that are used; the rest are ignored. */
const MAX_QUERY_WORDS = 12;
/** Longest word (in code points) used; longer words are cut. */
const MAX_WORD_CHARS = 64;

/**
 * Turns user input into a safe FTS5 query: the words (runs of letters, digits and private-use
 * characters, as the `unicode61` tokenizer sees them), each quoted and prefix-matched, all
 * required. Returns undefined when the input holds no word, so the caller returns nothing.
 * No FTS syntax from the input survives: quotes, parentheses, `*`, `^`, `:`, `-`, `+`, NEAR, AND,
 * OR and NOT all become separators or plain quoted words.
 */
export function toFtsQuery(input: string): string | undefined {
  if (typeof input !== 'string') return undefined;
  const words = input.normalize('NFKC').match(/[\p{L}\p{N}\p{Co}]+/gu);
  if (!words) return undefined;
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const w of words) {
    const word = Array.from(w.toLowerCase()).slice(0, MAX_WORD_CHARS).join('');
    if (seen.has(word)) continue;
    seen.add(word);
    parts.push(`"${word}"*`);
    if (parts.length >= MAX_QUERY_WORDS) break;
  }
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------
// Schema.

/** Schema component name of the catalog in the `schema_version` table. */
export const CATALOG_COMPONENT = 'catalog';

const CATALOG_MIGRATIONS: string[] = [
  // v1
  `
  CREATE TABLE artists (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    sort_key TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX artists_sort ON artists(sort_key, id);

  CREATE TABLE albums (
    id        TEXT PRIMARY KEY,
    artist_id TEXT NOT NULL REFERENCES artists(id),
    title     TEXT NOT NULL,
    sort_key  TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX albums_artist ON albums(artist_id, sort_key, id);

  CREATE TABLE tracks (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    file_id     TEXT NOT NULL UNIQUE,
    album_id    TEXT NOT NULL REFERENCES albums(id),
    title       TEXT NOT NULL,
    track_no    INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    codec       TEXT NOT NULL,
    bitrate     INTEGER NOT NULL,
    sample_rate INTEGER NOT NULL,
    channels    INTEGER NOT NULL,
    seek_index  BLOB NOT NULL,
    added_at    INTEGER NOT NULL
  );
  CREATE INDEX tracks_album ON tracks(album_id, track_no);

  CREATE VIRTUAL TABLE tracks_fts USING fts5(
    title, artist, album, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
  );
  CREATE VIRTUAL TABLE artists_fts USING fts5(
    id UNINDEXED, name, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
  );
  CREATE VIRTUAL TABLE albums_fts USING fts5(
    id UNINDEXED, title, artist, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
  );

  CREATE TRIGGER tracks_ai AFTER INSERT ON tracks BEGIN
    INSERT INTO tracks_fts(rowid, title, artist, album)
    SELECT new.seq, new.title, ar.name, al.title
      FROM albums al JOIN artists ar ON ar.id = al.artist_id WHERE al.id = new.album_id;
  END;
  CREATE TRIGGER tracks_ad AFTER DELETE ON tracks BEGIN
    DELETE FROM tracks_fts WHERE rowid = old.seq;
  END;
  CREATE TRIGGER tracks_au AFTER UPDATE OF title, album_id ON tracks BEGIN
    DELETE FROM tracks_fts WHERE rowid = old.seq;
    INSERT INTO tracks_fts(rowid, title, artist, album)
    SELECT new.seq, new.title, ar.name, al.title
      FROM albums al JOIN artists ar ON ar.id = al.artist_id WHERE al.id = new.album_id;
  END;

  CREATE TRIGGER artists_ai AFTER INSERT ON artists BEGIN
    INSERT INTO artists_fts(id, name) VALUES (new.id, new.name);
  END;
  CREATE TRIGGER artists_ad AFTER DELETE ON artists BEGIN
    DELETE FROM artists_fts WHERE id = old.id;
  END;
  CREATE TRIGGER artists_au AFTER UPDATE OF name ON artists BEGIN
    UPDATE artists_fts SET name = new.name WHERE id = old.id;
    UPDATE albums_fts SET artist = new.name WHERE id IN (SELECT id FROM albums WHERE artist_id = old.id);
    UPDATE tracks_fts SET artist = new.name WHERE rowid IN
      (SELECT t.seq FROM tracks t JOIN albums al ON al.id = t.album_id WHERE al.artist_id = old.id);
  END;

  CREATE TRIGGER albums_ai AFTER INSERT ON albums BEGIN
    INSERT INTO albums_fts(id, title, artist)
    SELECT new.id, new.title, name FROM artists WHERE id = new.artist_id;
  END;
  CREATE TRIGGER albums_ad AFTER DELETE ON albums BEGIN
    DELETE FROM albums_fts WHERE id = old.id;
  END;
  CREATE TRIGGER albums_au AFTER UPDATE OF title ON albums BEGIN
    UPDATE albums_fts SET title = new.title WHERE id = old.id;
    UPDATE tracks_fts SET album = new.title WHERE rowid IN (SELECT seq FROM tracks WHERE album_id = old.id);
  END;
  `,
];

/** Every migration of the catalog schema, in order: for tests that build the databases of older builds. */
export const CATALOG_MIGRATION_STEPS: readonly string[] = Object.freeze([...CATALOG_MIGRATIONS]);

/** The schema version this build writes for the catalog. */
export const CATALOG_SCHEMA_VERSION = CATALOG_MIGRATIONS.length;

/**
 * Schema component of the playlists, in the same database as the catalog: its own version, so a
 * catalog.db from before playlists (catalog v1 without this component) gains the tables on open.
 */
export const PLAYLISTS_COMPONENT = 'playlists';

const PLAYLISTS_MIGRATIONS: string[] = [
  // v1. Tracks are referenced by their row number (tracks are never deleted, so it is stable);
  // a playlist's positions are always exactly 0..n-1.
  `
  CREATE TABLE playlists (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    owner      TEXT NOT NULL COLLATE NOCASE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX playlists_owner ON playlists(owner, seq);

  CREATE TABLE playlist_tracks (
    playlist_seq INTEGER NOT NULL REFERENCES playlists(seq) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    track_seq    INTEGER NOT NULL REFERENCES tracks(seq),
    PRIMARY KEY (playlist_seq, position)
  ) WITHOUT ROWID;
  `,
];

/** The schema version this build writes for the playlists. */
export const PLAYLISTS_SCHEMA_VERSION = PLAYLISTS_MIGRATIONS.length;

/** Thrown when a database was written by a newer tunemesh than this one. */
export class SchemaVersionError extends Error {
  override name = 'SchemaVersionError';
}

/**
 * Opens (creating if needed) a SQLite database file with the settings every tunemesh database
 * uses: WAL journal, `synchronous=NORMAL` (durable at checkpoints, never corrupt), foreign keys,
 * a 5 s busy timeout so two processes (an AP and an ingest) can share it.
 */
export function openSqliteDatabase(file: string): Database.Database {
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file, { timeout: 5000 });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
      component TEXT PRIMARY KEY,
      version   INTEGER NOT NULL
    ) WITHOUT ROWID`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Brings `component`'s schema up to `migrations.length`, applying the missing migrations in one
 * immediate transaction (so two processes opening a fresh database at once don't both migrate).
 */
export function migrate(db: Database.Database, component: string, migrations: readonly string[]): void {
  const run = db.transaction(() => {
    const row = db.prepare('SELECT version FROM schema_version WHERE component = ?').get(component) as
      | { version: number }
      | undefined;
    const current = row?.version ?? 0;
    if (current > migrations.length) {
      throw new SchemaVersionError(
        `${db.name}: ${component} schema version ${current} is newer than this tunemesh understands (${migrations.length})`,
      );
    }
    for (let v = current; v < migrations.length; v++) db.exec(migrations[v]!);
    if (current !== migrations.length) {
      db.prepare(
        'INSERT INTO schema_version(component, version) VALUES (?, ?) ON CONFLICT(component) DO UPDATE SET version = excluded.version',
      ).run(component, migrations.length);
    }
  });
  run.immediate();
}

// ---------------------------------------------------------------------------------------------

interface TrackRow {
  id: string;
  file_id: string;
  title: string;
  artist: string;
  album: string;
  track_no: number;
  duration_ms: number;
  bytes: number;
  codec: string;
  bitrate: number;
  sample_rate: number;
  channels: number;
  seek_index: Buffer;
}

interface ArtistRow {
  id: string;
  name: string;
  album_count: number;
}

interface AlbumRow {
  id: string;
  title: string;
  artist: string;
  artist_id: string;
  track_count: number;
}

const TRACK_COLUMNS = `t.id, t.file_id, t.title, ar.name AS artist, al.title AS album, t.track_no, t.duration_ms,
  t.bytes, t.codec, t.bitrate, t.sample_rate, t.channels, t.seek_index`;
const TRACK_FROM = 'tracks t JOIN albums al ON al.id = t.album_id JOIN artists ar ON ar.id = al.artist_id';
/** Tracks as listed in playlists: without the seek index, which is costly to decode for 10 000 tracks. */
const LISTED_TRACK_COLUMNS = TRACK_COLUMNS.replace('t.seek_index', "x'' AS seek_index");
const PLAYLIST_COLUMNS = `p.seq, p.id, p.owner, p.name, p.created_at, p.updated_at,
  (SELECT count(*) FROM playlist_tracks x WHERE x.playlist_seq = p.seq) AS track_count,
  (SELECT coalesce(sum(t.duration_ms), 0) FROM playlist_tracks x JOIN tracks t ON t.seq = x.track_seq
    WHERE x.playlist_seq = p.seq) AS duration_ms`;
const ARTIST_COLUMNS = 'a.id, a.name, (SELECT count(*) FROM albums x WHERE x.artist_id = a.id) AS album_count';
const ALBUM_COLUMNS = `al.id, al.title, ar.name AS artist, al.artist_id,
  (SELECT count(*) FROM tracks x WHERE x.album_id = al.id) AS track_count`;

function toTrack(r: TrackRow): TrackInfo {
  return {
    id: r.id,
    uri: trackUri(r.id),
    title: r.title,
    artist: r.artist,
    album: r.album,
    trackNo: r.track_no,
    durationMs: r.duration_ms,
    bytes: r.bytes,
    fileId: r.file_id,
    codec: r.codec as Codec,
    bitrate: r.bitrate,
    sampleRate: r.sample_rate,
    channels: r.channels,
    seekIndex: decodeSeekIndex(r.seek_index),
  };
}

interface PlaylistRow {
  seq: number;
  id: string;
  owner: string;
  name: string;
  created_at: number;
  updated_at: number;
  track_count: number;
  duration_ms: number;
}

function toPlaylist(r: PlaylistRow): PlaylistInfo {
  return {
    id: r.id,
    uri: playlistUri(r.id),
    name: r.name,
    owner: r.owner,
    trackCount: r.track_count,
    durationMs: r.duration_ms,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A new random playlist id: 12 base62 characters (about 71 bits), shaped like every catalog id. */
function newPlaylistId(): string {
  let out = '';
  for (let i = 0; i < ID_LENGTH; i++) out += BASE62[randomInt(62)];
  return out;
}

/** The stored form of a playlist name: cleaned like every name; throws InvalidPlaylistNameError. */
export function validatePlaylistName(name: unknown): string {
  if (typeof name !== 'string') throw new InvalidPlaylistNameError('a playlist name must be a string');
  if (!(name as string & { isWellFormed(): boolean }).isWellFormed()) throw new InvalidPlaylistNameError('a playlist name must be valid Unicode');
  const clean = cleanName(name);
  if (clean.length === 0) throw new InvalidPlaylistNameError('a playlist name must not be empty');
  if (/\p{Cc}/u.test(clean)) throw new InvalidPlaylistNameError('a playlist name must not hold control characters');
  const bytes = Buffer.byteLength(clean, 'utf8');
  if (bytes > PLAYLIST_LIMITS.nameBytes) {
    throw new InvalidPlaylistNameError(`a playlist name is at most ${PLAYLIST_LIMITS.nameBytes} bytes of UTF-8; this one is ${bytes}`);
  }
  return clean;
}

/** A user name as an owner: what the AP logged in (1..256 bytes); anything else owns nothing. */
function isOwner(owner: unknown): owner is string {
  return typeof owner === 'string' && owner.length > 0 && Buffer.byteLength(owner, 'utf8') <= 256;
}

function isPosition(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function toArtist(r: ArtistRow): ArtistInfo {
  return { id: r.id, name: r.name, albumCount: r.album_count };
}

function toAlbum(r: AlbumRow): AlbumInfo {
  return { id: r.id, title: r.title, artist: r.artist, artistId: r.artist_id, trackCount: r.track_count };
}

/** Natural, case-insensitive order of titles. */
const TITLE_ORDER = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** Largest page any list or search returns. */
const MAX_PAGE = 1000;

function clampCount(n: number): number {
  if (!Number.isFinite(n) || n <= 0) return 0;
  return Math.min(Math.floor(n), MAX_PAGE);
}

function clampOffset(n: number): number {
  if (!Number.isFinite(n) || n <= 0) return 0;
  return Math.floor(n);
}

function requireText(field: string, v: unknown): string {
  if (typeof v !== 'string') throw new TypeError(`track ${field} must be a string`);
  const s = cleanName(v);
  if (s.length === 0) throw new RangeError(`track ${field} is empty`);
  if (s.length > 1000) throw new RangeError(`track ${field} is longer than 1000 characters`);
  return s;
}

function requireInt(field: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`track ${field} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/** Checks a `NewTrack` and returns it with names cleaned; throws a RangeError/TypeError naming the field. */
function validateNewTrack(t: NewTrack): NewTrack {
  if (typeof t.fileId !== 'string' || !/^[0-9a-fA-F]{64}$/.test(t.fileId)) {
    throw new RangeError(`track fileId must be a SHA-256 in hex, got ${JSON.stringify(t.fileId)}`);
  }
  if (t.codec !== 'vorbis' && t.codec !== 'opus') throw new RangeError(`track codec must be vorbis or opus, got ${String(t.codec)}`);
  if (!Array.isArray(t.seekIndex)) throw new TypeError('track seekIndex must be an array');
  return {
    ...t,
    fileId: t.fileId.toLowerCase(),
    title: requireText('title', t.title),
    artist: requireText('artist', t.artist),
    album: requireText('album', t.album),
    trackNo: requireInt('trackNo', t.trackNo, 0),
    durationMs: requireInt('durationMs', Math.round(t.durationMs), 0),
    bytes: requireInt('bytes', t.bytes, 0),
    bitrate: requireInt('bitrate', Math.round(t.bitrate), 0),
    sampleRate: requireInt('sampleRate', t.sampleRate, 1),
    channels: requireInt('channels', t.channels, 1),
  };
}

/**
 * The catalog on SQLite. Methods are async to match {@link Catalog}; the work is synchronous
 * (better-sqlite3), each call is short, and writes are single immediate transactions.
 */
export class SqliteCatalog implements Catalog {
  readonly #db: Database.Database;
  readonly #ownsDb: boolean;
  readonly #stmts: ReturnType<SqliteCatalog['prepareStatements']>;
  readonly #addTx: (t: NewTrack) => { track: TrackInfo; added: boolean };
  /** Runs `fn` in one immediate transaction (playlist changes). */
  readonly #write: <T>(fn: () => T) => T;

  /**
   * A catalog over an open database (creating or upgrading its tables). With `ownsDb` the
   * catalog closes the database in {@link close}.
   */
  constructor(db: Database.Database, opts: { ownsDb?: boolean } = {}) {
    this.#db = db;
    this.#ownsDb = opts.ownsDb ?? false;
    migrate(db, CATALOG_COMPONENT, CATALOG_MIGRATIONS);
    migrate(db, PLAYLISTS_COMPONENT, PLAYLISTS_MIGRATIONS);
    this.#stmts = this.prepareStatements();
    const tx = db.transaction((t: NewTrack) => this.#addTrackSync(t));
    this.#addTx = (t) => tx.immediate(t);
    const write = db.transaction((fn: () => unknown) => fn());
    this.#write = <T>(fn: () => T) => write.immediate(fn) as T;
  }

  /** Opens or creates the catalog database file at `file` (`:memory:` for a throwaway one). */
  static open(file: string): SqliteCatalog {
    const db = openSqliteDatabase(file);
    try {
      return new SqliteCatalog(db, { ownsDb: true });
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** The underlying database, for components that keep their own tables in it (accounts). */
  get database(): Database.Database {
    return this.#db;
  }

  private prepareStatements() {
    const db = this.#db;
    return {
      trackById: db.prepare(`SELECT ${TRACK_COLUMNS} FROM ${TRACK_FROM} WHERE t.id = ?`),
      trackByFile: db.prepare(`SELECT ${TRACK_COLUMNS} FROM ${TRACK_FROM} WHERE t.file_id = ?`),
      trackIdTaken: db.prepare('SELECT file_id FROM tracks WHERE id = ?'),
      insertArtist: db.prepare('INSERT INTO artists(id, name, sort_key) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING'),
      insertAlbum: db.prepare('INSERT INTO albums(id, artist_id, title, sort_key) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO NOTHING'),
      albumArtist: db.prepare('SELECT artist_id FROM albums WHERE id = ?'),
      insertTrack: db.prepare(`INSERT INTO tracks(id, file_id, album_id, title, track_no, duration_ms, bytes, codec,
        bitrate, sample_rate, channels, seek_index, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      searchTracks: db.prepare(`SELECT ${TRACK_COLUMNS} FROM tracks_fts JOIN tracks t ON t.seq = tracks_fts.rowid
        JOIN albums al ON al.id = t.album_id JOIN artists ar ON ar.id = al.artist_id
        WHERE tracks_fts MATCH ? ORDER BY bm25(tracks_fts, 4.0, 2.0, 1.0), t.seq LIMIT ?`),
      searchArtists: db.prepare(`SELECT ${ARTIST_COLUMNS} FROM artists_fts JOIN artists a ON a.id = artists_fts.id
        WHERE artists_fts MATCH ? ORDER BY bm25(artists_fts), a.sort_key LIMIT ?`),
      searchAlbums: db.prepare(`SELECT ${ALBUM_COLUMNS} FROM albums_fts JOIN albums al ON al.id = albums_fts.id
        JOIN artists ar ON ar.id = al.artist_id
        WHERE albums_fts MATCH ? ORDER BY bm25(albums_fts, 0.0, 2.0, 1.0), al.sort_key LIMIT ?`),
      listArtists: db.prepare(`SELECT ${ARTIST_COLUMNS} FROM artists a ORDER BY a.sort_key, a.id LIMIT ? OFFSET ?`),
      artist: db.prepare(`SELECT ${ARTIST_COLUMNS} FROM artists a WHERE a.id = ?`),
      artistAlbums: db.prepare(`SELECT ${ALBUM_COLUMNS} FROM albums al JOIN artists ar ON ar.id = al.artist_id
        WHERE al.artist_id = ? ORDER BY al.sort_key, al.id`),
      album: db.prepare(`SELECT ${ALBUM_COLUMNS} FROM albums al JOIN artists ar ON ar.id = al.artist_id WHERE al.id = ?`),
      albumTracks: db.prepare(`SELECT ${TRACK_COLUMNS} FROM ${TRACK_FROM} WHERE t.album_id = ?
        ORDER BY t.track_no = 0, t.track_no, t.title, t.seq`),
      count: db.prepare('SELECT count(*) AS n FROM tracks').pluck(),
      maxSeq: db.prepare('SELECT coalesce(max(seq), 0) FROM tracks').pluck(),
      trackAtOrAfter: db.prepare(`SELECT ${TRACK_COLUMNS} FROM ${TRACK_FROM} WHERE t.seq >= ? ORDER BY t.seq LIMIT 1`),
      randomAll: db.prepare(`SELECT ${TRACK_COLUMNS} FROM ${TRACK_FROM} ORDER BY random() LIMIT ?`),
      // playlists
      playlist: db.prepare(`SELECT ${PLAYLIST_COLUMNS} FROM playlists p WHERE p.id = ? AND p.owner = ?`),
      playlistsOf: db.prepare(`SELECT ${PLAYLIST_COLUMNS} FROM playlists p WHERE p.owner = ? ORDER BY p.seq LIMIT ? OFFSET ?`),
      playlistCount: db.prepare('SELECT count(*) FROM playlists WHERE owner = ?').pluck(),
      playlistIdTaken: db.prepare('SELECT 1 FROM playlists WHERE id = ?').pluck(),
      insertPlaylist: db.prepare('INSERT INTO playlists(id, owner, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)'),
      renamePlaylist: db.prepare('UPDATE playlists SET name = ?, updated_at = ? WHERE seq = ?'),
      touchPlaylist: db.prepare('UPDATE playlists SET updated_at = ? WHERE seq = ?'),
      deletePlaylist: db.prepare('DELETE FROM playlists WHERE seq = ?'),
      playlistLength: db.prepare('SELECT count(*) FROM playlist_tracks WHERE playlist_seq = ?').pluck(),
      playlistTracks: db.prepare(`SELECT ${LISTED_TRACK_COLUMNS} FROM playlist_tracks pt JOIN tracks t ON t.seq = pt.track_seq
        JOIN albums al ON al.id = t.album_id JOIN artists ar ON ar.id = al.artist_id
        WHERE pt.playlist_seq = ? AND pt.position >= ? ORDER BY pt.position LIMIT ?`),
      trackSeq: db.prepare('SELECT seq FROM tracks WHERE id = ?').pluck(),
      insertEntry: db.prepare('INSERT INTO playlist_tracks(playlist_seq, position, track_seq) VALUES (?, ?, ?)'),
      deleteEntry: db.prepare('DELETE FROM playlist_tracks WHERE playlist_seq = ? AND position = ?'),
      deleteEntries: db.prepare('DELETE FROM playlist_tracks WHERE playlist_seq = ?'),
      // Moving a range of positions by `delta` in two steps, through negative numbers, so no
      // step puts two rows on one (playlist, position) key: SQLite checks the key row by row.
      parkFrom: db.prepare('UPDATE playlist_tracks SET position = -(position + ?) - 1 WHERE playlist_seq = ? AND position >= ?'),
      unpark: db.prepare('UPDATE playlist_tracks SET position = -position - 1 WHERE playlist_seq = ? AND position < 0'),
    };
  }

  #addTrackSync(input: NewTrack): { track: TrackInfo; added: boolean } {
    const s = this.#stmts;
    const existing = s.trackByFile.get(input.fileId) as TrackRow | undefined;
    if (existing) return { track: toTrack(existing), added: false };
    const id = trackIdFor(input.fileId);
    const clash = s.trackIdTaken.get(id) as { file_id: string } | undefined;
    if (clash) {
      // ~71-bit ids: practically impossible, but never silently merge two files.
      throw new Error(`track id ${id} of file ${input.fileId} collides with file ${clash.file_id}`);
    }
    const artistId = artistIdFor(input.artist);
    const albumId = albumIdFor(input.artist, input.album);
    s.insertArtist.run(artistId, input.artist, normalizeName(input.artist));
    s.insertAlbum.run(albumId, artistId, input.album, normalizeName(input.album));
    const owner = s.albumArtist.get(albumId) as { artist_id: string };
    if (owner.artist_id !== artistId) throw new Error(`album id ${albumId} collides with an album of another artist`);
    s.insertTrack.run(
      id, input.fileId, albumId, input.title, input.trackNo, input.durationMs, input.bytes, input.codec,
      input.bitrate, input.sampleRate, input.channels, encodeSeekIndex(input.seekIndex), Date.now(),
    );
    return { track: toTrack(s.trackById.get(id) as TrackRow), added: true };
  }

  /**
   * Adds a track; idempotent by `fileId`: a file already in the catalog keeps its id and its
   * stored metadata, and `added` is false. Names are stored trimmed with whitespace collapsed;
   * the first spelling of an artist or album seen is the one displayed. Throws a RangeError
   * naming the field when the track is malformed (empty title/artist/album, bad fileId, ...).
   */
  async addTrack(track: NewTrack): Promise<{ track: TrackInfo; added: boolean }> {
    return this.#addTx(validateNewTrack(track));
  }

  /** The track with this id, or undefined. */
  async getTrack(id: string): Promise<TrackInfo | undefined> {
    if (!isCatalogId(id)) return undefined;
    const r = this.#stmts.trackById.get(id) as TrackRow | undefined;
    return r && toTrack(r);
  }

  /** The track of a stored file (by its SHA-256), or undefined. */
  async getTrackByFileId(fileId: string): Promise<TrackInfo | undefined> {
    if (typeof fileId !== 'string' || !/^[0-9a-fA-F]{64}$/.test(fileId)) return undefined;
    const r = this.#stmts.trackByFile.get(fileId.toLowerCase()) as TrackRow | undefined;
    return r && toTrack(r);
  }

  /**
   * Full-text search. Every word of the query must occur as a word prefix in the title, artist
   * or album (tracks), the name (artists), or the title or artist (albums); case and diacritics
   * are ignored. Best matches first (bm25; title weighs most for tracks). Any input is safe:
   * punctuation and FTS operators are treated as separators, and a query without words returns
   * nothing. Up to `limit` (at most 1000) results of each kind.
   */
  async search(query: string, limit: number): Promise<SearchResult> {
    const n = clampCount(limit);
    const fts = toFtsQuery(query);
    if (fts === undefined || n === 0) return { tracks: [], artists: [], albums: [] };
    const s = this.#stmts;
    return {
      tracks: (s.searchTracks.all(fts, n) as TrackRow[]).map(toTrack),
      artists: (s.searchArtists.all(fts, n) as ArtistRow[]).map(toArtist),
      albums: (s.searchAlbums.all(fts, n) as AlbumRow[]).map(toAlbum),
    };
  }

  /** Artists ordered by normalized name; a page of at most 1000. */
  async listArtists(offset: number, limit: number): Promise<ArtistInfo[]> {
    return (this.#stmts.listArtists.all(clampCount(limit), clampOffset(offset)) as ArtistRow[]).map(toArtist);
  }

  /** An artist with all its albums ordered by title, or undefined. */
  async getArtist(id: string): Promise<{ artist: ArtistInfo; albums: AlbumInfo[] } | undefined> {
    if (!isCatalogId(id)) return undefined;
    const a = this.#stmts.artist.get(id) as ArtistRow | undefined;
    if (!a) return undefined;
    return { artist: toArtist(a), albums: (this.#stmts.artistAlbums.all(id) as AlbumRow[]).map(toAlbum) };
  }

  /** An album with its tracks by track number (tracks without a number last, in natural title order), or undefined. */
  async getAlbum(id: string): Promise<{ album: AlbumInfo; tracks: TrackInfo[] } | undefined> {
    if (!isCatalogId(id)) return undefined;
    const a = this.#stmts.album.get(id) as AlbumRow | undefined;
    if (!a) return undefined;
    const tracks = (this.#stmts.albumTracks.all(id) as TrackRow[]).map(toTrack);
    // Numbered tracks by number; unnumbered ones after them in natural title order ("track2" before "track10").
    tracks.sort((x, y) => (x.trackNo === 0 ? 1 : 0) - (y.trackNo === 0 ? 1 : 0) || x.trackNo - y.trackNo || TITLE_ORDER.compare(x.title, y.title));
    return { album: toAlbum(a), tracks };
  }

  /**
   * Up to `count` distinct tracks chosen at random (at most 1000). Samples by row position, so it
   * stays cheap on large catalogs; all tracks in random order when `count` is near the total.
   */
  async randomTracks(count: number): Promise<TrackInfo[]> {
    const n = clampCount(count);
    if (n === 0) return [];
    const s = this.#stmts;
    const total = s.count.get() as number;
    if (n * 4 >= total) return (s.randomAll.all(n) as TrackRow[]).map(toTrack);
    // Rows are never deleted, so seq is dense and a uniform seq is a uniform track.
    const maxSeq = s.maxSeq.get() as number;
    const picked = new Map<string, TrackInfo>();
    for (let attempts = 0; picked.size < n && attempts < n * 20; attempts++) {
      const r = s.trackAtOrAfter.get(1 + Math.floor(Math.random() * maxSeq)) as TrackRow | undefined;
      if (r && !picked.has(r.id)) picked.set(r.id, toTrack(r));
    }
    return [...picked.values()];
  }

  // -------------------------------------------------------------------------------------------
  // playlists

  /** The user's playlist row, or UnknownPlaylistError (also for someone else's playlist). */
  #ownPlaylist(owner: string, id: string): PlaylistRow {
    const row = isOwner(owner) && isCatalogId(id) ? (this.#stmts.playlist.get(id, owner) as PlaylistRow | undefined) : undefined;
    if (!row) throw new UnknownPlaylistError(String(id));
    return row;
  }

  #info(owner: string, id: string): PlaylistInfo {
    return toPlaylist(this.#ownPlaylist(owner, id));
  }

  /** Moves the entries at positions >= `from` by `delta` (either sign). */
  #shift(playlistSeq: number, from: number, delta: number): void {
    this.#stmts.parkFrom.run(delta, playlistSeq, from);
    this.#stmts.unpark.run(playlistSeq);
  }

  /**
   * Creates an empty playlist of `owner`. The name is stored cleaned (trimmed, runs of
   * whitespace collapsed, NFC); names need not be unique. Throws InvalidPlaylistNameError, or
   * PlaylistLimitError when the user already has {@link PLAYLIST_LIMITS}.perUser playlists.
   */
  async createPlaylist(owner: string, name: string): Promise<PlaylistInfo> {
    if (!isOwner(owner)) throw new RangeError('a playlist owner must be a user name of 1 to 256 bytes');
    const clean = validatePlaylistName(name);
    return this.#write(() => {
      const s = this.#stmts;
      if ((s.playlistCount.get(owner) as number) >= PLAYLIST_LIMITS.perUser) {
        throw new PlaylistLimitError(`a user has at most ${PLAYLIST_LIMITS.perUser} playlists`);
      }
      let id = newPlaylistId();
      while (s.playlistIdTaken.get(id) !== undefined) id = newPlaylistId();
      const now = Date.now();
      s.insertPlaylist.run(id, owner, clean, now, now);
      return this.#info(owner, id);
    });
  }

  /** The user's playlists in creation order: a page of at most 1000, and how many there are. */
  async listPlaylists(owner: string, offset: number, limit: number): Promise<{ playlists: PlaylistInfo[]; total: number }> {
    if (!isOwner(owner)) return { playlists: [], total: 0 };
    const s = this.#stmts;
    const rows = s.playlistsOf.all(owner, clampCount(limit), clampOffset(offset)) as PlaylistRow[];
    return { playlists: rows.map(toPlaylist), total: s.playlistCount.get(owner) as number };
  }

  /**
   * A playlist and up to `limit` (at most 10 000) of its tracks from position `offset`, in
   * order. The tracks come as listed, without their seek index (`getTrack` has it).
   */
  async getPlaylist(owner: string, id: string, offset: number, limit: number): Promise<PlaylistPage> {
    const row = this.#ownPlaylist(owner, id);
    const from = clampOffset(offset);
    const n = !Number.isFinite(limit) || limit <= 0 ? 0 : Math.min(Math.floor(limit), PLAYLIST_LIMITS.tracks);
    const tracks = n === 0 ? [] : (this.#stmts.playlistTracks.all(row.seq, from, n) as TrackRow[]).map(toTrack);
    return { playlist: toPlaylist(row), offset: from, tracks };
  }

  /**
   * Inserts the tracks, in the order given, before `position` (0..length), or appends them when
   * `position` is undefined or null. All or nothing: an unknown id (UnknownTrackError), a bad
   * position (PlaylistPositionError) or more than {@link PLAYLIST_LIMITS}.tracks in the end
   * (PlaylistLimitError) changes nothing.
   */
  async addToPlaylist(owner: string, id: string, trackIds: readonly string[], position?: number | null): Promise<PlaylistInfo> {
    if (!Array.isArray(trackIds)) throw new TypeError('trackIds must be an array');
    return this.#write(() => {
      const s = this.#stmts;
      const row = this.#ownPlaylist(owner, id);
      const length = row.track_count;
      if (trackIds.length === 0) return toPlaylist(row);
      if (length + trackIds.length > PLAYLIST_LIMITS.tracks) {
        throw new PlaylistLimitError(
          `a playlist holds at most ${PLAYLIST_LIMITS.tracks} tracks; this one has ${length} and ${trackIds.length} more were given`,
        );
      }
      const at = position ?? length;
      if (!isPosition(at) || at > length) throw new PlaylistPositionError(`position ${String(position)} is not in 0..${length}`);
      const seqs = new Map<string, number>();
      for (const trackId of trackIds) {
        if (seqs.has(trackId)) continue;
        const seq = isCatalogId(trackId) ? (s.trackSeq.get(trackId) as number | undefined) : undefined;
        if (seq === undefined) throw new UnknownTrackError(String(trackId));
        seqs.set(trackId, seq);
      }
      if (at < length) this.#shift(row.seq, at, trackIds.length);
      trackIds.forEach((trackId, i) => s.insertEntry.run(row.seq, at + i, seqs.get(trackId)!));
      s.touchPlaylist.run(Date.now(), row.seq);
      return this.#info(owner, id);
    });
  }

  /** Removes the track at `position` (0..length-1, else PlaylistPositionError); later tracks move up one. */
  async removeFromPlaylist(owner: string, id: string, position: number): Promise<PlaylistInfo> {
    return this.#write(() => {
      const s = this.#stmts;
      const row = this.#ownPlaylist(owner, id);
      if (!isPosition(position) || position >= row.track_count) {
        throw new PlaylistPositionError(
          row.track_count === 0 ? 'the playlist is empty' : `position ${String(position)} is not in 0..${row.track_count - 1}`,
        );
      }
      s.deleteEntry.run(row.seq, position);
      this.#shift(row.seq, position + 1, -1);
      s.touchPlaylist.run(Date.now(), row.seq);
      return this.#info(owner, id);
    });
  }

  /** Gives the playlist a new name (checked and cleaned as in {@link createPlaylist}). */
  async renamePlaylist(owner: string, id: string, name: string): Promise<PlaylistInfo> {
    const clean = validatePlaylistName(name);
    return this.#write(() => {
      const row = this.#ownPlaylist(owner, id);
      this.#stmts.renamePlaylist.run(clean, Date.now(), row.seq);
      return this.#info(owner, id);
    });
  }

  /** Deletes the playlist and its entries (never the tracks). */
  async deletePlaylist(owner: string, id: string): Promise<void> {
    this.#write(() => {
      const row = this.#ownPlaylist(owner, id);
      this.#stmts.deleteEntries.run(row.seq);
      this.#stmts.deletePlaylist.run(row.seq);
    });
  }

  /** Number of tracks in the catalog. */
  async trackCount(): Promise<number> {
    return this.#stmts.count.get() as number;
  }

  /** Closes the database if the catalog opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.#ownsDb && this.#db.open) this.#db.close();
  }
}

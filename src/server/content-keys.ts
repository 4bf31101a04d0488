/**
 * The AP's record of every stored file's protection (DESIGN §5, issue 6): its AES-256-CTR key and
 * initial counter, the SHA-256 of its plaintext (so ingesting the same audio again finds the same
 * file), and its chunk hashes (over the ciphertext). One table in the catalog database, next to the
 * tracks that name the files: keys never go into the store directory, which holds ciphertext only.
 */
import type Database from 'better-sqlite3';
import { checkHashList, type ChunkHashList } from '../core/chunk-hashes.ts';
import type { ContentKey } from '../core/content-cipher.ts';

/** What is recorded for one stored file. */
export interface ContentRecord extends ContentKey {
  /** SHA-256 of the ciphertext: the file's id in the store and on the wire. */
  fileId: string;
  /** SHA-256 of the plaintext audio, hex. */
  plainSha256: string;
  hashes: ChunkHashList;
}

interface Row {
  file_id: string;
  plain_sha256: string;
  key: Buffer;
  iv: Buffer;
  chunk_size: number;
  chunk_count: number;
  hashes: Buffer;
}

/** The `content_keys` table. Synchronous (better-sqlite3), like the catalog it sits beside. */
export class ContentKeys {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS content_keys (
      file_id      TEXT PRIMARY KEY,
      plain_sha256 TEXT NOT NULL UNIQUE,
      key          BLOB NOT NULL,
      iv           BLOB NOT NULL,
      chunk_size   INTEGER NOT NULL,
      chunk_count  INTEGER NOT NULL,
      hashes       BLOB NOT NULL
    ) WITHOUT ROWID`);
    this.stmts = {
      get: db.prepare('SELECT * FROM content_keys WHERE file_id = ?'),
      byPlain: db.prepare('SELECT file_id FROM content_keys WHERE plain_sha256 = ?'),
      insert: db.prepare(
        'INSERT OR IGNORE INTO content_keys (file_id, plain_sha256, key, iv, chunk_size, chunk_count, hashes) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      setHashes: db.prepare('UPDATE content_keys SET chunk_size = ?, chunk_count = ?, hashes = ? WHERE file_id = ?'),
    };
  }

  /** The record of a stored file, or undefined for a file without one. */
  get(fileId: string): ContentRecord | undefined {
    const r = this.stmts.get.get(fileId) as Row | undefined;
    if (!r) return undefined;
    return {
      fileId: r.file_id,
      plainSha256: r.plain_sha256,
      key: new Uint8Array(r.key),
      iv: new Uint8Array(r.iv),
      hashes: { chunkSize: r.chunk_size, count: r.chunk_count, hashes: new Uint8Array(r.hashes) },
    };
  }

  /** The file id under which this plaintext is stored, if it is. */
  byPlaintext(plainSha256: string): string | undefined {
    return (this.stmts.byPlain.get(plainSha256) as { file_id: string } | undefined)?.file_id;
  }

  /**
   * Records a newly stored file. When the same plaintext was recorded meanwhile (two ingests of one
   * file at once), the first record stays and its file id is returned; otherwise `rec.fileId`.
   */
  put(rec: ContentRecord): string {
    checkHashList(rec.hashes);
    const r = this.stmts.insert.run(rec.fileId, rec.plainSha256, Buffer.from(rec.key), Buffer.from(rec.iv), rec.hashes.chunkSize, rec.hashes.count, Buffer.from(rec.hashes.hashes));
    return r.changes === 1 ? rec.fileId : (this.byPlaintext(rec.plainSha256) ?? rec.fileId);
  }

  /** Replaces the chunk hashes of a file (computed again for another chunk size). */
  setHashes(fileId: string, hashes: ChunkHashList): void {
    checkHashList(hashes);
    this.stmts.setHashes.run(hashes.chunkSize, hashes.count, Buffer.from(hashes.hashes), fileId);
  }

  /**
   * File ids of catalog tracks without a record: files stored in plaintext by a tunemesh from
   * before encryption. Reads the catalog's `tracks` table (the only place outside the catalog
   * that does, for the migration).
   */
  unprotectedTrackFiles(): string[] {
    const hasTracks = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tracks'").get();
    if (!hasTracks) return [];
    return (this.db.prepare('SELECT file_id FROM tracks WHERE file_id NOT IN (SELECT file_id FROM content_keys)').all() as { file_id: string }[]).map((r) => r.file_id);
  }

  /**
   * Records an encrypted copy of a plaintext file and points the tracks at it, in one transaction:
   * the track keeps its id (playlists keep working), only its file changes.
   */
  replacePlaintext(oldFileId: string, rec: ContentRecord): void {
    this.db.transaction(() => {
      const fileId = this.put(rec);
      this.db.prepare('UPDATE tracks SET file_id = ? WHERE file_id = ?').run(fileId, oldFileId);
    })();
  }
}

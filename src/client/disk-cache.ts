/**
 * The client's on-disk cache of audio files, partial and complete (DESIGN §1, §3): survives restarts,
 * stays under its byte limit by evicting the least recently played files (`CachePolicy`), and cannot
 * be corrupted by a kill at any moment.
 *
 * Layout of `dir`:
 * - `cache.db` (SQLite, WAL): one row per file: size, chunk size, a bitmap of the chunks present,
 *   the complete flag, the last play, and a JSON blob the client attaches (its `TrackInfo`);
 * - `files/<fileId>`: the data, written chunk by chunk at its offset (sparse while partial).
 *
 * Why a kill cannot mark missing data: a chunk is marked present in memory only after its write
 * returned, and its mark reaches the db only after the data file was `fdatasync`ed, in one transaction
 * for every chunk written meanwhile. A kill (or power loss) can lose recent marks, never data behind a
 * mark. Deleting goes the other way: the row first, then the file. On open, files without a row are
 * deleted and marks beyond a data file's length are dropped. A file whose chunks are all present is
 * hashed: the fileId is the SHA-256 of its content, so a complete file is known good.
 *
 * What is cached is the encrypted file exactly as the AP stores it (DESIGN §5, issue 6): the fileId
 * is the SHA-256 of the ciphertext, chunks are verified against the AP's chunk hashes before they
 * are written (`TrackFetcher`), and no key ever comes here. A file that was complete before a
 * restart is not shared with peers until it has been checked again chunk by chunk
 * ({@link DiskCache.recheck}): the disk may have changed while the client was not running. A cache
 * from before encryption (schema 1) held plaintext and is emptied on open.
 */
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CachePolicy } from '../core/cache-policy.ts';
import type { Clock } from '../core/clock.ts';
import { defaultConfig } from '../core/config.ts';
import { chunkCount } from '../core/track.ts';

/** How to open a {@link DiskCache}. */
export interface DiskCacheOptions {
  /** Byte limit of the cached data (see `defaultCacheSize`). */
  limitBytes: number;
  /** Chunk size, bytes (`config.chunkSize`). Files cached with another chunk size are dropped on open. */
  chunkSize: number;
  /**
   * Time of plays for LRU. Kept across restarts, so a wall clock (`Date.now`) is best; a clock that
   * restarts from 0 still keeps the order, since a play is always stamped later than any stored one.
   * @default Date.now
   */
  clock?: Clock;
  /** Longest wait before marks of written chunks are made durable, ms. @default config.cacheMarkFlushMs */
  markFlushMs?: number;
  /** Data files kept open at once; idle ones beyond are closed. @default 64 (ours) */
  maxOpenFiles?: number;
}

/** What `stats()` reports. */
export interface DiskCacheStats {
  /** Bytes of the chunks present. */
  usedBytes: number;
  limitBytes: number;
  /** Files with a row, partial or complete. */
  files: number;
  /** Files verified complete. */
  completeFiles: number;
}

/** Events of a {@link DiskCache}. */
export interface DiskCacheEvents {
  /** A chunk was written and can be read (an HTTP response waiting for data can go on). */
  chunk: [fileId: string, index: number];
  /** Every chunk of the file is present, its SHA-256 is its id, and that is durable. */
  complete: [fileId: string];
  /**
   * Every chunk was present but the content's SHA-256 was not its id: all its chunks were dropped;
   * or a {@link DiskCache.recheck} found chunks that fail their hashes: those were dropped.
   */
  corrupt: [fileId: string];
  /** The file was deleted to make room. */
  evict: [fileId: string];
  /** A fault the cache survived (marks not yet durable are retried). */
  warning: [error: Error];
}

/** Base of the disk cache's errors; branch on `name`. */
export class DiskCacheError extends Error {
  override name = 'DiskCacheError';
}

/** The fileId is not a hex SHA-256 (it names a file on disk, so nothing else is accepted). */
export class InvalidFileIdError extends DiskCacheError {
  override name = 'InvalidFileIdError';
  constructor(readonly fileId: string) {
    super(`not a file id (lowercase hex SHA-256): ${JSON.stringify(fileId.slice(0, 80))}`);
  }
}

/** The file is not in the cache (call `ensureFile` first). */
export class UnknownFileError extends DiskCacheError {
  override name = 'UnknownFileError';
  constructor(readonly fileId: string) {
    super(`file ${fileId} is not in the cache`);
  }
}

/** `ensureFile` with a size other than the one the cache has for that file. */
export class FileSizeMismatchError extends DiskCacheError {
  override name = 'FileSizeMismatchError';
  constructor(readonly fileId: string, readonly cachedSize: number, readonly givenSize: number) {
    super(`file ${fileId} is cached with size ${cachedSize}, not ${givenSize}`);
  }
}

/** A chunk index outside the file, or a chunk of the wrong length. */
export class InvalidChunkError extends DiskCacheError {
  override name = 'InvalidChunkError';
}

/** A byte range that is not (entirely) present, or outside the file. */
export class ChunkMissingError extends DiskCacheError {
  override name = 'ChunkMissingError';
  constructor(readonly fileId: string, readonly index: number, detail = 'is not in the cache') {
    super(`chunk ${index} of file ${fileId} ${detail}`);
  }
}

/** Another process has the cache directory open. */
export class CacheLockedError extends DiskCacheError {
  override name = 'CacheLockedError';
}

/** The cache was closed. */
export class CacheClosedError extends DiskCacheError {
  override name = 'CacheClosedError';
}

const FILE_ID = /^[0-9a-f]{64}$/;
/** 2: encrypted content (issue 6); a schema-1 cache holds plaintext audio and is emptied on open. */
const SCHEMA_VERSION = 2;
/** Marks written since the last flush that trigger a flush at once rather than after `markFlushMs`. */
const FLUSH_EVERY_CHUNKS = 1024;
const HASH_BLOCK = 1024 * 1024;

interface Row {
  file_id: string;
  size: number;
  chunk_size: number;
  bitmap: Buffer;
  complete: number;
  last_played: number;
  meta: string | null;
}

/** One cached file in memory; the in-memory bitmap is ahead of the db by the marks not yet flushed. */
interface Entry {
  readonly fileId: string;
  readonly size: number;
  readonly count: number;
  readonly bitmap: Uint8Array;
  present: number;
  presentBytes: number;
  /** Verified: every chunk present and the SHA-256 matches. */
  complete: boolean;
  /**
   * Checked by this process: completed here, or checked chunk by chunk against the AP's hashes
   * since the cache was opened. Only such files are shared with peers.
   */
  checked: boolean;
  lastPlayed: number;
  meta: unknown;
  /** Bumped when chunks are dropped or the file is evicted, so work begun before is not applied after. */
  generation: number;
  handle: Promise<FileHandle> | null;
  /** Serialises writes, verification and drops of this file. */
  lock: Promise<void>;
}

/**
 * The on-disk cache. Queries (`hasChunk`, `contiguousEnd`, ...) are synchronous, from memory; data
 * moves asynchronously. Eviction happens before writing data that would not fit: least recently played
 * files first, never a pinned one nor one with reads or writes in progress.
 */
export class DiskCache extends EventEmitter<DiskCacheEvents> {
  private readonly entries = new Map<string, Entry>();
  private readonly policy: CachePolicy;
  /** Entries with marks not yet in the db. */
  private readonly dirty = new Set<Entry>();
  private dirtyChunks = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  /** Entries with an open data file, least recently used first. */
  private readonly openFiles = new Set<Entry>();
  /** Data files being deleted: re-creating one waits for its deletion. */
  private readonly deleting = new Map<string, Promise<void>>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** The latest play stamp handed out: stamps only grow, whatever the clock does across restarts. */
  private latestStamp = 0;
  private closed = false;
  private trimming = false;
  private readonly stmts: ReturnType<typeof prepare>;

  private constructor(
    private readonly dir: string,
    private readonly db: Database.Database,
    private readonly chunkSize: number,
    limitBytes: number,
    private readonly clock: Clock,
    private readonly markFlushMs: number,
    private readonly maxOpenFiles: number,
  ) {
    super();
    this.policy = new CachePolicy(limitBytes);
    this.stmts = prepare(db);
  }

  /** Opens (or creates) the cache in `dir`, repairing whatever a kill left. */
  static async open(dir: string, opts: DiskCacheOptions): Promise<DiskCache> {
    if (!(Number.isInteger(opts.chunkSize) && opts.chunkSize > 0)) throw new RangeError(`chunkSize must be a positive integer, got ${opts.chunkSize}`);
    await mkdir(path.join(dir, 'files'), { recursive: true });
    const db = new Database(path.join(dir, 'cache.db'), { timeout: 0 });
    let cache: DiskCache;
    try {
      db.pragma('journal_mode = WAL');
      // Losing the last transactions on power loss only loses marks: data is synced before its mark.
      db.pragma('synchronous = NORMAL');
      // One process per cache directory: a second daemon on the same cache would evict under the first.
      // The lock is taken by the first write (in migrate) and held until close or death.
      db.pragma('locking_mode = EXCLUSIVE');
      migrate(db);
      cache = new DiskCache(
        dir,
        db,
        opts.chunkSize,
        opts.limitBytes,
        opts.clock ?? { now: () => Date.now() },
        opts.markFlushMs ?? defaultConfig.cacheMarkFlushMs,
        opts.maxOpenFiles ?? 64,
      );
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new CacheLockedError(`cache ${dir} is in use by another process`);
      throw err;
    }
    try {
      await cache.load();
    } catch (err) {
      db.close();
      throw err;
    }
    return cache;
  }

  /**
   * Makes sure the cache has a row for `fileId` of `size` bytes (a new file has no chunks yet), and
   * attaches `meta` (JSON) if given. Throws `FileSizeMismatchError` if it is cached with another size.
   */
  async ensureFile(fileId: string, size: number, meta?: unknown): Promise<void> {
    this.assertOpen();
    checkFileId(fileId);
    if (!(Number.isSafeInteger(size) && size >= 0)) throw new RangeError(`file size must be a whole number of bytes, got ${size}`);
    const existing = this.entries.get(fileId);
    if (existing) {
      if (existing.size !== size) throw new FileSizeMismatchError(fileId, existing.size, size);
      if (meta !== undefined) {
        const json = JSON.stringify(meta);
        if (json !== JSON.stringify(existing.meta)) {
          this.stmts.setMeta.run(json, fileId);
          existing.meta = JSON.parse(json);
        }
      }
      return;
    }
    const count = chunkCount(size, this.chunkSize);
    const e: Entry = {
      fileId,
      size,
      count,
      bitmap: new Uint8Array(Math.ceil(count / 8)),
      present: 0,
      presentBytes: 0,
      complete: false,
      checked: false,
      lastPlayed: this.stamp(),
      meta: meta === undefined ? undefined : JSON.parse(JSON.stringify(meta)),
      generation: 0,
      handle: null,
      lock: Promise.resolve(),
    };
    const json = meta === undefined ? null : JSON.stringify(meta);
    this.stmts.insert.run(fileId, size, this.chunkSize, Buffer.from(e.bitmap), e.lastPlayed, json);
    this.entries.set(fileId, e);
    this.policy.add(fileId, 0, e.lastPlayed);
    // An empty file has all of its zero chunks: verify it like any other.
    if (count === 0) await this.track(this.serial(e, () => this.verify(e)));
  }

  /** Whether chunk `index` of the file is present (false for a file not in the cache). */
  hasChunk(fileId: string, index: number): boolean {
    const e = this.entries.get(fileId);
    return !!e && Number.isInteger(index) && index >= 0 && index < e.count && bit(e.bitmap, index);
  }

  /** Indices of the chunks in [from, to) that are not present, ascending. Throws for an unknown file. */
  missingChunks(fileId: string, from = 0, to?: number): number[] {
    const e = this.entry(fileId);
    const end = Math.min(to ?? e.count, e.count);
    const missing: number[] = [];
    for (let i = Math.max(0, from); i < end; i++) if (!bit(e.bitmap, i)) missing.push(i);
    return missing;
  }

  /**
   * End (exclusive) of the run of present bytes that starts at `fromByte`: `fromByte` itself when
   * that byte's chunk is missing or the file is not in the cache; at most the file size.
   */
  contiguousEnd(fileId: string, fromByte: number): number {
    const e = this.entries.get(fileId);
    if (!e || !(fromByte >= 0) || fromByte >= e.size) return fromByte;
    const first = Math.floor(fromByte / this.chunkSize);
    let i = first;
    while (i < e.count && bit(e.bitmap, i)) i++;
    return i === first ? fromByte : Math.min(e.size, i * this.chunkSize);
  }

  /** Whether every chunk of the file is present and verified against its id. */
  isComplete(fileId: string): boolean {
    return this.entries.get(fileId)?.complete ?? false;
  }

  /**
   * Whether the file may be served to peers: complete, and checked by this process (completed
   * here, or {@link recheck}ed since the cache was opened).
   */
  isShareable(fileId: string): boolean {
    const e = this.entries.get(fileId);
    return !!e && e.complete && e.checked;
  }

  /** Complete files not yet checked since the cache was opened (each needs a {@link recheck}). */
  uncheckedFiles(): string[] {
    const out: string[] = [];
    for (const e of this.entries.values()) if (e.complete && !e.checked) out.push(e.fileId);
    return out;
  }

  /**
   * Checks every present chunk of a file with `isGood(index, data)` (the AP's chunk hashes). Chunks
   * that fail are dropped (durably, before anything else is done): the file is then partial and its
   * missing chunks are fetched again like any others. A complete file whose chunks all pass becomes
   * shareable. Returns the indices dropped. A file not in the cache: nothing, `[]`.
   */
  async recheck(fileId: string, isGood: (index: number, data: Uint8Array) => boolean): Promise<number[]> {
    this.assertOpen();
    const e = this.entries.get(fileId);
    if (!e) return [];
    return this.track(
      this.serial(e, async () => {
        if (this.entries.get(fileId) !== e) return [];
        const generation = e.generation;
        const bad: number[] = [];
        const fh = await this.handleOf(e);
        const buf = Buffer.allocUnsafe(this.chunkSize);
        for (let i = 0; i < e.count; i++) {
          if (!bit(e.bitmap, i)) continue;
          const len = Math.min(this.chunkSize, e.size - i * this.chunkSize);
          const got = await readFully(fh, buf.subarray(0, len), i * this.chunkSize);
          if (got < len || !isGood(i, buf.subarray(0, len))) bad.push(i);
        }
        if (e.generation !== generation || this.entries.get(fileId) !== e) return [];
        if (bad.length === 0) {
          e.checked = e.complete;
          return bad;
        }
        e.generation++;
        for (const i of bad) {
          clearBit(e.bitmap, i);
          e.present--;
          e.presentBytes -= Math.min(this.chunkSize, e.size - i * this.chunkSize);
        }
        e.complete = false;
        e.checked = false;
        this.policy.resize(fileId, e.presentBytes);
        this.stmts.setMarks.run(Buffer.from(e.bitmap), 0, fileId);
        this.emit('corrupt', fileId);
        return bad;
      }),
    );
  }

  /** Size of a cached file, bytes, or undefined. */
  sizeOf(fileId: string): number | undefined {
    return this.entries.get(fileId)?.size;
  }

  /** The JSON metadata attached to a file. */
  meta<T = unknown>(fileId: string): T | undefined {
    return this.entries.get(fileId)?.meta as T | undefined;
  }

  /** The first attached metadata that `match` accepts (say, the TrackInfo of a track id). */
  findMeta<T = unknown>(match: (meta: T) => boolean): T | undefined {
    for (const e of this.entries.values()) if (e.meta !== undefined && match(e.meta as T)) return e.meta as T;
    return undefined;
  }

  /**
   * Writes chunk `index` of a file that `ensureFile` added. Every chunk is `chunkSize` bytes except the
   * last, which holds the rest. A chunk already present is not written again. When this write makes
   * the file whole, resolves after the file was verified (`'complete'` or `'corrupt'` is emitted).
   */
  async writeChunk(fileId: string, index: number, data: Uint8Array): Promise<void> {
    this.assertOpen();
    const e = this.entry(fileId);
    const len = this.chunkLength(e, index);
    if (data.byteLength !== len) {
      throw new InvalidChunkError(`chunk ${index} of file ${fileId} must be ${len} bytes, got ${data.byteLength}`);
    }
    if (bit(e.bitmap, index)) return;
    await this.track(
      this.serial(e, async () => {
        // Dropped as corrupt and written again by an earlier writer: nothing to do.
        if (this.entries.get(fileId) !== e || bit(e.bitmap, index)) return;
        await this.makeRoom(e, len);
        const generation = e.generation;
        const fh = await this.handleOf(e);
        await writeFully(fh, data, index * this.chunkSize);
        if (e.generation !== generation || this.entries.get(fileId) !== e) return;
        setBit(e.bitmap, index);
        e.present++;
        e.presentBytes += len;
        this.policy.resize(fileId, e.presentBytes);
        this.markDirty(e, 1);
        this.emit('chunk', fileId, index);
        if (e.present === e.count) await this.verify(e);
      }),
    );
  }

  /**
   * Bytes [start, end) of a file. Every chunk they touch must be present, else `ChunkMissingError`
   * (also for an unknown file or a range outside it).
   */
  async readRange(fileId: string, start: number, end: number): Promise<Buffer> {
    this.assertOpen();
    const e = this.entries.get(fileId);
    if (!e) throw new ChunkMissingError(fileId, Math.floor(start / this.chunkSize), 'is not in the cache: the file is not');
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= e.size)) {
      throw new ChunkMissingError(fileId, Math.floor(start / this.chunkSize), `cannot hold bytes [${start}, ${end}) of a ${e.size}-byte file`);
    }
    if (start === end) return Buffer.alloc(0);
    const last = Math.floor((end - 1) / this.chunkSize);
    for (let i = Math.floor(start / this.chunkSize); i <= last; i++) if (!bit(e.bitmap, i)) throw new ChunkMissingError(fileId, i);
    return this.track(
      this.withPin(e, async () => {
        const generation = e.generation;
        const fh = await this.handleOf(e);
        const buf = Buffer.allocUnsafe(end - start);
        const got = await readFully(fh, buf, start);
        // Dropped while reading (a failed verification): what was read may be gone.
        if (got < buf.length || e.generation !== generation) {
          throw new ChunkMissingError(fileId, Math.floor((start + got) / this.chunkSize), 'was dropped while being read');
        }
        return buf;
      }),
    );
  }

  /** The file was played now: it becomes the most recently played. Ignored for a file not in the cache. */
  touch(fileId: string): void {
    this.assertOpen();
    const e = this.entries.get(fileId);
    if (!e) return;
    e.lastPlayed = this.stamp();
    this.policy.touch(fileId, e.lastPlayed);
    this.stmts.setLastPlayed.run(e.lastPlayed, fileId);
  }

  /** The file is in use (played or downloaded now) and must not be evicted; counted, may precede `ensureFile`. */
  pin(fileId: string): void {
    this.policy.pin(fileId);
  }

  /** Releases one `pin`; if the cache went over its limit while the file was in use, room is made now. */
  unpin(fileId: string): void {
    this.release(fileId);
  }

  /** Usage figures for `/api/stats`. */
  stats(): DiskCacheStats {
    let completeFiles = 0;
    for (const e of this.entries.values()) if (e.complete) completeFiles++;
    return { usedBytes: this.policy.used, limitBytes: this.policy.limit, files: this.entries.size, completeFiles };
  }

  /** Makes every mark so far durable now (otherwise within `markFlushMs`). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.dirty.size === 0) return;
    this.flushing = this.flushDirty().finally(() => (this.flushing = null));
    return this.flushing;
  }

  /** Waits for reads and writes in progress, makes their marks durable, and closes everything. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    try {
      await this.flush();
    } finally {
      await Promise.allSettled([...this.openFiles].map((e) => this.closeHandle(e)));
      await Promise.allSettled([...this.deleting.values()]);
      this.db.close();
    }
  }

  // --- internals ---

  /** Loads the rows and reconciles them with the data files. */
  private async load(): Promise<void> {
    const filesDir = path.join(this.dir, 'files');
    const rows = this.stmts.all.all() as Row[];
    const onDisk = new Set(await readdir(filesDir));
    const toVerify: Entry[] = [];
    for (const row of rows) {
      this.latestStamp = Math.max(this.latestStamp, row.last_played);
      const count = chunkCount(row.size, row.chunk_size);
      if (row.chunk_size !== this.chunkSize || !FILE_ID.test(row.file_id) || row.bitmap.length !== Math.ceil(count / 8)) {
        // Chunked differently (the config changed) or not ours: its marks mean nothing now.
        this.stmts.delete.run(row.file_id);
        continue;
      }
      const bitmap = new Uint8Array(row.bitmap);
      const length = onDisk.has(row.file_id) ? (await stat(path.join(filesDir, row.file_id))).size : 0;
      // A mark whose data would lie past the end of the file: the data never reached it (or was cut).
      let unmarked = false;
      let present = 0;
      let presentBytes = 0;
      for (let i = 0; i < count; i++) {
        if (!bit(bitmap, i)) continue;
        const end = Math.min(row.size, (i + 1) * this.chunkSize);
        if (end > length) {
          clearBit(bitmap, i);
          unmarked = true;
        } else {
          present++;
          presentBytes += end - i * this.chunkSize;
        }
      }
      const complete = row.complete === 1 && !unmarked && present === count;
      if (unmarked || complete !== (row.complete === 1)) this.stmts.setMarks.run(Buffer.from(bitmap), complete ? 1 : 0, row.file_id);
      let meta: unknown;
      try {
        meta = row.meta === null ? undefined : JSON.parse(row.meta);
      } catch {
        meta = undefined;
      }
      const e: Entry = {
        fileId: row.file_id,
        size: row.size,
        count,
        bitmap,
        present,
        presentBytes,
        complete,
        checked: false,
        lastPlayed: row.last_played,
        meta,
        generation: 0,
        handle: null,
        lock: Promise.resolve(),
      };
      this.entries.set(e.fileId, e);
      this.policy.add(e.fileId, presentBytes, e.lastPlayed);
      // Killed between the last mark and the verification.
      if (!complete && present === count) toVerify.push(e);
    }
    for (const name of onDisk) {
      if (!this.entries.has(name)) await rm(path.join(filesDir, name), { force: true, recursive: true });
    }
    for (const e of toVerify) await this.serial(e, () => this.verify(e));
    // The limit may have shrunk since the last run.
    for (const fileId of this.policy.evictionsToFit(0)) await this.evict(fileId);
  }

  /** Deletes least recently played files until `bytes` more fit; `e` is pinned by its write and stays. */
  private async makeRoom(e: Entry, bytes: number): Promise<void> {
    if (this.policy.used + bytes <= this.policy.limit) return;
    for (const fileId of this.policy.evictionsToFit(bytes)) if (fileId !== e.fileId) await this.evict(fileId);
  }

  /** Deletes a file: the row first, so a kill leaves at most a data file without a row (deleted on open). */
  private async evict(fileId: string): Promise<void> {
    const e = this.entries.get(fileId);
    // Chosen a moment ago, but pinned since (evictions run one after another).
    if (!e || this.policy.isPinned(fileId)) return;
    this.entries.delete(fileId);
    this.dirty.delete(e);
    this.policy.remove(fileId);
    e.generation++;
    this.stmts.delete.run(fileId);
    const deletion = (async () => {
      await this.closeHandle(e);
      await rm(this.dataPath(fileId), { force: true });
    })();
    this.deleting.set(fileId, deletion);
    try {
      await deletion;
    } finally {
      if (this.deleting.get(fileId) === deletion) this.deleting.delete(fileId);
    }
    this.emit('evict', fileId);
  }

  /**
   * Hashes a file whose chunks are all present. Good: marked complete, durably, then `'complete'`.
   * Bad: every chunk unmarked (durably, before the data is cut off), then `'corrupt'`.
   */
  private async verify(e: Entry): Promise<void> {
    if (e.complete || e.present !== e.count || this.entries.get(e.fileId) !== e) return;
    const generation = e.generation;
    const hash = createHash('sha256');
    await this.withPin(e, async () => {
      if (e.size === 0) return;
      const fh = await this.handleOf(e);
      const block = Buffer.allocUnsafe(Math.min(HASH_BLOCK, e.size));
      for (let pos = 0; pos < e.size; ) {
        const n = await readFully(fh, block.subarray(0, Math.min(block.length, e.size - pos)), pos);
        if (n === 0) break;
        hash.update(block.subarray(0, n));
        pos += n;
      }
    });
    if (e.generation !== generation || this.entries.get(e.fileId) !== e) return;
    if (hash.digest('hex') === e.fileId) {
      e.complete = true;
      e.checked = true;
      this.markDirty(e, 0);
      await this.flush();
      if (this.entries.get(e.fileId) === e && e.complete) this.emit('complete', e.fileId);
      return;
    }
    e.generation++;
    e.bitmap.fill(0);
    e.present = 0;
    e.presentBytes = 0;
    this.policy.resize(e.fileId, 0);
    this.dirty.delete(e);
    this.stmts.setMarks.run(Buffer.from(e.bitmap), 0, e.fileId);
    await this.withPin(e, async () => (await this.handleOf(e)).truncate(0));
    this.emit('corrupt', e.fileId);
  }

  private markDirty(e: Entry, chunks: number): void {
    this.dirty.add(e);
    this.dirtyChunks += chunks;
    if (this.dirtyChunks >= FLUSH_EVERY_CHUNKS) this.flush().catch((err: Error) => this.flushFailed(err));
    else this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush().catch((err: Error) => this.flushFailed(err));
    }, this.markFlushMs);
    this.flushTimer.unref();
  }

  /** The marks stay dirty and are tried again later; the data stays readable meanwhile. */
  private flushFailed(err: Error): void {
    this.emit('warning', err);
    this.scheduleFlush();
  }

  /** Syncs the data of every dirty file, then writes their marks in one transaction. */
  private async flushDirty(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.dirtyChunks = 0;
    // Bits set now belong to writes that have returned: their data is in the page cache.
    const batch = [...this.dirty].map((e) => ({ e, generation: e.generation, bitmap: Buffer.from(e.bitmap), complete: e.complete }));
    this.dirty.clear();
    for (const b of batch) this.policy.pin(b.e.fileId);
    try {
      await Promise.all(batch.map(async (b) => (await this.handleOf(b.e)).datasync()));
      this.db.transaction(() => {
        for (const b of batch) {
          // Evicted or dropped meanwhile: these marks belong to data that is gone.
          if (this.entries.get(b.e.fileId) !== b.e || b.e.generation !== b.generation) continue;
          this.stmts.setMarks.run(b.bitmap, b.complete ? 1 : 0, b.e.fileId);
        }
      })();
    } catch (err) {
      for (const b of batch) if (this.entries.get(b.e.fileId) === b.e) this.dirty.add(b.e);
      throw err;
    } finally {
      for (const b of batch) this.release(b.e.fileId);
    }
  }

  /** The open data file of an entry, opened (created) on first use. */
  private handleOf(e: Entry): Promise<FileHandle> {
    this.openFiles.delete(e);
    this.openFiles.add(e);
    if (!e.handle) {
      const pending = this.deleting.get(e.fileId);
      e.handle = (async () => {
        if (pending) await pending.catch(() => {});
        return open(this.dataPath(e.fileId), fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644);
      })();
      e.handle.catch(() => {
        e.handle = null;
        this.openFiles.delete(e);
      });
      this.closeIdleFiles();
    }
    return e.handle;
  }

  private closeIdleFiles(): void {
    if (this.openFiles.size <= this.maxOpenFiles) return;
    for (const e of this.openFiles) {
      if (this.openFiles.size <= this.maxOpenFiles) break;
      // A pinned entry may have an operation between getting its handle and using it.
      if (!this.policy.isPinned(e.fileId)) void this.closeHandle(e);
    }
  }

  private async closeHandle(e: Entry): Promise<void> {
    const handle = e.handle;
    e.handle = null;
    this.openFiles.delete(e);
    if (handle) await (await handle.catch(() => null))?.close();
  }

  /**
   * Runs `fn` after the operations already queued on the file. The file is pinned from now on, not
   * only once `fn` runs, so it cannot be evicted while the operation waits its turn.
   */
  private serial<T>(e: Entry, fn: () => Promise<T>): Promise<T> {
    this.policy.pin(e.fileId);
    const run = e.lock.then(fn).finally(() => this.release(e.fileId));
    e.lock = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /** Pins the file for the duration of `fn`, so it is neither evicted nor its data file closed. */
  private async withPin<T>(e: Entry, fn: () => Promise<T>): Promise<T> {
    this.policy.pin(e.fileId);
    try {
      return await fn();
    } finally {
      this.release(e.fileId);
    }
  }

  /**
   * Unpins, and evicts down to the limit if the cache is over it: it can only be over while files are
   * in use (a write does not wait for a pinned file to be released), so this is when to catch up.
   */
  private release(fileId: string): void {
    this.policy.unpin(fileId);
    if (this.trimming || this.closed || this.policy.used <= this.policy.limit) return;
    this.trimming = true;
    this.track(
      (async () => {
        for (const victim of this.policy.evictionsToFit(0)) await this.evict(victim);
      })(),
    )
      .catch((err: Error) => this.emit('warning', err))
      .finally(() => (this.trimming = false));
  }

  /** Counts an operation in progress, for `close`. */
  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  /** A play stamp: the clock, but never earlier than one already handed out (across restarts too). */
  private stamp(): number {
    this.latestStamp = Math.max(Math.floor(this.clock.now()), this.latestStamp + 1);
    return this.latestStamp;
  }

  private chunkLength(e: Entry, index: number): number {
    if (!(Number.isInteger(index) && index >= 0 && index < e.count)) {
      throw new InvalidChunkError(`chunk ${index} is outside file ${e.fileId} (${e.count} chunks)`);
    }
    return Math.min(this.chunkSize, e.size - index * this.chunkSize);
  }

  private entry(fileId: string): Entry {
    const e = this.entries.get(fileId);
    if (!e) throw new UnknownFileError(fileId);
    return e;
  }

  private dataPath(fileId: string): string {
    return path.join(this.dir, 'files', fileId);
  }

  private assertOpen(): void {
    if (this.closed) throw new CacheClosedError('the disk cache is closed');
  }
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) throw new DiskCacheError(`cache schema ${version} is newer than this version of tunemesh (${SCHEMA_VERSION})`);
  if (version === 1) {
    // Schema 1 cached plaintext audio: nothing of it may stay (load() deletes the data files
    // without rows). Its files are fetched again, encrypted, when they are played.
    db.exec('DROP TABLE IF EXISTS files');
  }
  db.exec(`
    CREATE TABLE IF NOT EXISTS files (
      file_id     TEXT PRIMARY KEY,
      size        INTEGER NOT NULL,
      chunk_size  INTEGER NOT NULL,
      bitmap      BLOB NOT NULL,
      complete    INTEGER NOT NULL DEFAULT 0,
      last_played INTEGER NOT NULL,
      meta        TEXT
    ) WITHOUT ROWID;
  `);
  db.pragma(`user_version = ${SCHEMA_VERSION}`);
}

function prepare(db: Database.Database) {
  return {
    all: db.prepare('SELECT file_id, size, chunk_size, bitmap, complete, last_played, meta FROM files'),
    insert: db.prepare('INSERT INTO files (file_id, size, chunk_size, bitmap, complete, last_played, meta) VALUES (?, ?, ?, ?, 0, ?, ?)'),
    setMarks: db.prepare('UPDATE files SET bitmap = ?, complete = ? WHERE file_id = ?'),
    setLastPlayed: db.prepare('UPDATE files SET last_played = ? WHERE file_id = ?'),
    setMeta: db.prepare('UPDATE files SET meta = ? WHERE file_id = ?'),
    delete: db.prepare('DELETE FROM files WHERE file_id = ?'),
  };
}

function checkFileId(fileId: string): void {
  if (typeof fileId !== 'string' || !FILE_ID.test(fileId)) throw new InvalidFileIdError(String(fileId));
}

function bit(bitmap: Uint8Array, i: number): boolean {
  return (bitmap[i >> 3]! & (1 << (i & 7))) !== 0;
}

function setBit(bitmap: Uint8Array, i: number): void {
  bitmap[i >> 3] = bitmap[i >> 3]! | (1 << (i & 7));
}

function clearBit(bitmap: Uint8Array, i: number): void {
  bitmap[i >> 3] = bitmap[i >> 3]! & ~(1 << (i & 7));
}

async function writeFully(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let off = 0; off < data.byteLength; ) {
    const { bytesWritten } = await fh.write(data, off, data.byteLength - off, position + off);
    off += bytesWritten;
  }
}

/** Reads into `buf` from `position`; returns the bytes read, fewer only at the end of the file. */
async function readFully(fh: FileHandle, buf: Uint8Array, position: number): Promise<number> {
  let off = 0;
  while (off < buf.byteLength) {
    const { bytesRead } = await fh.read(buf, off, buf.byteLength - off, position + off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return off;
}

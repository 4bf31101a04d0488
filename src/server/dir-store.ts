/**
 * The embedded file store (DESIGN §6): a content-addressed directory.
 *
 * Layout: `<root>/<first 2 hex digits>/<sha256 hex>` for stored files, `<root>/tmp/` for files
 * being written. `putFile` copies into a temp file while hashing, flushes it to disk, and renames
 * it to its final name; a crash can leave a temp file but never a partial file under a final
 * name. Temp files of processes that are gone (or untouched for an hour) are removed at open.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { FileStore } from './file-store.ts';

/** Thrown by `read` for a file the store does not hold. */
export class FileNotFoundError extends Error {
  override name = 'FileNotFoundError';
  readonly code = 'ENOENT';
}

/** Thrown for an operation on a closed store. */
export class StoreClosedError extends Error {
  override name = 'StoreClosedError';
}

const FILE_ID = /^[0-9a-f]{64}$/;
const TEMP_PREFIX = 'put-';
/** A temp file untouched this long is abandoned even if its pid is alive (pids get reused). */
const STALE_TEMP_MS = 60 * 60 * 1000;
/** Most bytes one `read` returns. */
const MAX_READ = 64 * 1024 * 1024;

/** True when `id` is a lower-case hex SHA-256, the only shape of file id the store accepts. */
export function isFileId(id: unknown): id is string {
  return typeof id === 'string' && FILE_ID.test(id);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface HandleEntry {
  handle: Promise<FileHandle>;
  refs: number;
  evicted: boolean;
}

/** Options of {@link DirStore}. */
export interface DirStoreOptions {
  /** Open file handles kept for reads (least recently used closed first). @default 64 */
  maxOpenFiles?: number;
  /** fsync files and directories on put, so a stored file survives power loss. @default true */
  durable?: boolean;
}

/** A {@link FileStore} in a local directory. */
export class DirStore implements FileStore {
  readonly root: string;
  readonly #tmpDir: string;
  readonly #maxOpen: number;
  readonly #durable: boolean;
  /** LRU of open handles: Map iteration order is least recently used first. */
  readonly #handles = new Map<string, HandleEntry>();
  #closed = false;

  /**
   * Opens (creating if needed) a store at `root` and removes temp files left by crashed puts.
   * Synchronous, so a data directory can be opened in one call.
   */
  constructor(root: string, opts: DirStoreOptions = {}) {
    this.root = path.resolve(root);
    this.#tmpDir = path.join(this.root, 'tmp');
    this.#maxOpen = Math.max(1, opts.maxOpenFiles ?? 64);
    this.#durable = opts.durable ?? true;
    mkdirSync(this.#tmpDir, { recursive: true });
    this.#cleanTemps();
  }

  /** Same as the constructor. */
  static open(root: string, opts?: DirStoreOptions): DirStore {
    return new DirStore(root, opts);
  }

  /** Path of a stored file (whether or not it exists). */
  pathOf(fileId: string): string {
    if (!isFileId(fileId)) throw new RangeError(`not a file id (lower-case hex SHA-256): ${JSON.stringify(fileId)}`);
    return path.join(this.root, fileId.slice(0, 2), fileId);
  }

  #cleanTemps(): void {
    const now = Date.now();
    for (const name of readdirSync(this.#tmpDir)) {
      const full = path.join(this.#tmpDir, name);
      const pid = Number(/^put-(\d+)-/.exec(name)?.[1]);
      try {
        const st = statSync(full);
        const abandoned =
          !name.startsWith(TEMP_PREFIX) || !Number.isInteger(pid) || !pidAlive(pid) || now - st.mtimeMs > STALE_TEMP_MS;
        if (abandoned) rmSync(full, { force: true, recursive: true });
      } catch {}
    }
  }

  /**
   * Copies the file at `file` into the store under its SHA-256; returns the id and size.
   * Idempotent: storing the same content again (also concurrently) yields the same id and
   * leaves one copy. Throws the read error (e.g. ENOENT, EISDIR) and leaves nothing behind.
   */
  async putFile(file: string): Promise<{ fileId: string; bytes: number }> {
    this.#checkOpen();
    const tmp = path.join(this.#tmpDir, `${TEMP_PREFIX}${process.pid}-${randomBytes(8).toString('hex')}`);
    const out = await open(tmp, 'wx', 0o644);
    let fileId: string;
    let bytes = 0;
    try {
      const hash = createHash('sha256');
      try {
        for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
          hash.update(chunk);
          let off = 0;
          while (off < chunk.length) {
            const { bytesWritten } = await out.write(chunk, off, chunk.length - off);
            off += bytesWritten;
          }
          bytes += chunk.length;
        }
        if (this.#durable) await out.sync();
      } finally {
        await out.close();
      }
      fileId = hash.digest('hex');
      const final = this.pathOf(fileId);
      const existing = await stat(final).catch(() => undefined);
      if (existing?.isFile() && existing.size === bytes) {
        await unlink(tmp);
        return { fileId, bytes };
      }
      const dir = path.dirname(final);
      await mkdir(dir, { recursive: true });
      await rename(tmp, final);
      if (this.#durable) await syncDir(dir);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    return { fileId, bytes };
  }

  /** Deletes a stored file; nothing happens when it is not there. */
  async remove(fileId: string): Promise<void> {
    this.#checkOpen();
    if (!isFileId(fileId)) throw new RangeError(`not a file id (lower-case hex SHA-256): ${JSON.stringify(fileId)}`);
    const entry = this.#handles.get(fileId);
    if (entry) {
      this.#handles.delete(fileId);
      entry.evicted = true;
      if (entry.refs === 0) closeQuietly(entry.handle);
    }
    await unlink(this.pathOf(fileId)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Size of a stored file, or undefined when the store does not hold it (or the id is malformed). */
  async size(fileId: string): Promise<number | undefined> {
    this.#checkOpen();
    if (!isFileId(fileId)) return undefined;
    try {
      const st = await stat(this.pathOf(fileId));
      return st.isFile() ? st.size : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * `length` bytes from `offset` (fewer only at the end of the file; empty at or past it).
   * Reads go through a small LRU of open handles, so serving many clients from a few popular
   * files does not open a file per request. Throws {@link FileNotFoundError} for a file the
   * store does not hold and RangeError for a malformed id, offset or length (at most 64 MiB).
   */
  async read(fileId: string, offset: number, length: number): Promise<Buffer> {
    this.#checkOpen();
    if (!isFileId(fileId)) throw new RangeError(`not a file id (lower-case hex SHA-256): ${JSON.stringify(fileId)}`);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`bad offset ${offset}`);
    if (!Number.isSafeInteger(length) || length < 0 || length > MAX_READ) throw new RangeError(`bad length ${length}`);
    const entry = this.#acquire(fileId);
    try {
      const fh = await entry.handle;
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    } finally {
      this.#release(entry);
    }
  }

  #acquire(fileId: string): HandleEntry {
    let entry = this.#handles.get(fileId);
    if (entry) {
      // Move to the most recently used end.
      this.#handles.delete(fileId);
      this.#handles.set(fileId, entry);
    } else {
      const file = this.pathOf(fileId);
      const handle = open(file, 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw new FileNotFoundError(`file ${fileId} is not in the store`);
        throw err;
      });
      entry = { handle, refs: 0, evicted: false };
      this.#handles.set(fileId, entry);
      // A failed open is not cached.
      handle.catch(() => {
        if (this.#handles.get(fileId) === entry) this.#handles.delete(fileId);
      });
      this.#evict();
    }
    entry.refs++;
    return entry;
  }

  #release(entry: HandleEntry): void {
    entry.refs--;
    if (entry.evicted && entry.refs === 0) closeQuietly(entry.handle);
  }

  #evict(): void {
    for (const [id, e] of this.#handles) {
      if (this.#handles.size <= this.#maxOpen) break;
      this.#handles.delete(id);
      e.evicted = true;
      if (e.refs === 0) closeQuietly(e.handle);
    }
  }

  /** Number of file handles currently cached (for tests and stats). */
  get openHandles(): number {
    return this.#handles.size;
  }

  /** Closes the cached handles (reads in flight finish first). Further calls throw {@link StoreClosedError}. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const entries = [...this.#handles.values()];
    this.#handles.clear();
    for (const e of entries) {
      e.evicted = true;
      if (e.refs === 0) closeQuietly(e.handle);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreClosedError(`store ${this.root} is closed`);
  }
}

function closeQuietly(handle: Promise<FileHandle>): void {
  handle.then((fh) => fh.close()).catch(() => undefined);
}

async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some platforms/filesystems cannot fsync a directory; the file itself is already synced.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/**
 * The disk cache after a restart (issue 6): a file complete before is not shared until its chunks
 * pass the AP's hashes again; chunks that fail are dropped durably and can be written again; a
 * cache from before encryption (schema 1, plaintext audio) is emptied on open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DiskCache } from '../../src/client/disk-cache.ts';
import { hashChunks, verifyChunk } from '../../src/core/chunk-hashes.ts';

const CS = 1024;
const opts = { limitBytes: 1 << 24, chunkSize: CS, markFlushMs: 5 };

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-recheck-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a complete file is shareable at once; after a restart only once rechecked', () =>
  withDir(async (dir) => {
    const data = randomBytes(5 * CS + 100);
    const id = createHash('sha256').update(data).digest('hex');
    const list = hashChunks(data, CS);
    let cache = await DiskCache.open(dir, opts);
    await cache.ensureFile(id, data.length);
    for (let i = 0; i < 6; i++) await cache.writeChunk(id, i, data.subarray(i * CS, (i + 1) * CS));
    assert.equal(cache.isComplete(id), true);
    assert.equal(cache.isShareable(id), true);
    assert.deepEqual(cache.uncheckedFiles(), []);
    await cache.close();

    cache = await DiskCache.open(dir, opts);
    assert.equal(cache.isComplete(id), true);
    assert.equal(cache.isShareable(id), false, 'not shared before it is checked again');
    assert.deepEqual(cache.uncheckedFiles(), [id]);
    assert.deepEqual(await cache.recheck(id, (i, d) => verifyChunk(list, i, d)), []);
    assert.equal(cache.isShareable(id), true);
    await cache.close();
  }));

test('a chunk corrupted on disk between runs is dropped by the recheck, durably, and written again', () =>
  withDir(async (dir) => {
    const data = randomBytes(4 * CS);
    const id = createHash('sha256').update(data).digest('hex');
    const list = hashChunks(data, CS);
    let cache = await DiskCache.open(dir, opts);
    await cache.ensureFile(id, data.length);
    for (let i = 0; i < 4; i++) await cache.writeChunk(id, i, data.subarray(i * CS, (i + 1) * CS));
    await cache.close();

    const fh = await open(path.join(dir, 'files', id), 'r+');
    await fh.write(Buffer.from([0xff ^ data[2 * CS + 7]!]), 0, 1, 2 * CS + 7);
    await fh.close();

    cache = await DiskCache.open(dir, opts);
    const corrupt: string[] = [];
    cache.on('corrupt', (f) => corrupt.push(f));
    assert.deepEqual(await cache.recheck(id, (i, d) => verifyChunk(list, i, d)), [2]);
    assert.deepEqual(corrupt, [id]);
    assert.equal(cache.isComplete(id), false);
    assert.equal(cache.isShareable(id), false);
    assert.deepEqual(cache.missingChunks(id), [2]);
    await assert.rejects(cache.readRange(id, 2 * CS, 3 * CS), { name: 'ChunkMissingError' });
    await cache.close();

    // The drop survived the restart; writing the good chunk completes and verifies the file.
    cache = await DiskCache.open(dir, opts);
    assert.deepEqual(cache.missingChunks(id), [2]);
    await cache.writeChunk(id, 2, data.subarray(2 * CS, 3 * CS));
    assert.equal(cache.isShareable(id), true);
    assert.deepEqual(await cache.readRange(id, 0, data.length), data);
    await cache.close();
  }));

test('a schema-1 cache (plaintext audio from before encryption) is emptied on open', () =>
  withDir(async (dir) => {
    await mkdir(path.join(dir, 'files'), { recursive: true });
    const id = 'ab'.repeat(32);
    const db = new Database(path.join(dir, 'cache.db'));
    db.exec(`CREATE TABLE files (file_id TEXT PRIMARY KEY, size INTEGER NOT NULL, chunk_size INTEGER NOT NULL, bitmap BLOB NOT NULL,
      complete INTEGER NOT NULL DEFAULT 0, last_played INTEGER NOT NULL, meta TEXT) WITHOUT ROWID`);
    db.prepare('INSERT INTO files VALUES (?, ?, ?, ?, 1, 1, NULL)').run(id, 4, CS, Buffer.from([1]));
    db.pragma('user_version = 1');
    db.close();
    await writeFile(path.join(dir, 'files', id), 'OggS');
    const cache = await DiskCache.open(dir, opts);
    assert.equal(cache.sizeOf(id), undefined);
    assert.deepEqual(await readdir(path.join(dir, 'files')), []);
    await cache.close();
  }));

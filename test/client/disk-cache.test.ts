import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { ManualClock, seededRng, randomInt } from '../../src/core/clock.ts';
import { DiskCache, type DiskCacheOptions } from '../../src/client/disk-cache.ts';

const CS = 1024;

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A file of random content, with its content address. */
function makeFile(bytes: number): { id: string; data: Buffer } {
  const data = randomBytes(bytes);
  return { id: sha256(data), data };
}

function chunkOf(data: Buffer, i: number, chunkSize = CS): Buffer {
  return data.subarray(i * chunkSize, Math.min(data.length, (i + 1) * chunkSize));
}

async function writeAll(cache: DiskCache, f: { id: string; data: Buffer }, chunkSize = CS): Promise<void> {
  await cache.ensureFile(f.id, f.data.length);
  const n = Math.ceil(f.data.length / chunkSize);
  await Promise.all(Array.from({ length: n }, (_, i) => cache.writeChunk(f.id, i, chunkOf(f.data, i, chunkSize))));
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-cache-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Waits (a little) for something the cache does in the background. */
async function until(done: () => boolean): Promise<void> {
  for (let waited = 0; !done(); waited += 5) {
    if (waited > 2_000) throw new Error('timed out waiting');
    await sleep(5);
  }
}

function options(extra: Partial<DiskCacheOptions> = {}): DiskCacheOptions {
  return { limitBytes: 1 << 20, chunkSize: CS, clock: new ManualClock(1_000), ...extra };
}

test('write and read chunks, with their events', () =>
  withDir(async (dir) => {
    const cache = await DiskCache.open(dir, options());
    const f = makeFile(5 * CS - 120); // 5 chunks, the last one short
    const chunks: number[] = [];
    const completed: string[] = [];
    cache.on('chunk', (fileId, index) => fileId === f.id && chunks.push(index));
    cache.on('complete', (fileId) => completed.push(fileId));
    await cache.ensureFile(f.id, f.data.length, { title: 'x' });
    assert.deepEqual(cache.missingChunks(f.id), [0, 1, 2, 3, 4]);
    await cache.writeChunk(f.id, 2, chunkOf(f.data, 2));
    await cache.writeChunk(f.id, 0, chunkOf(f.data, 0));
    await cache.writeChunk(f.id, 0, chunkOf(f.data, 0)); // again: ignored
    assert.deepEqual(chunks, [2, 0]);
    assert.ok(cache.hasChunk(f.id, 2) && !cache.hasChunk(f.id, 1));
    assert.deepEqual(cache.missingChunks(f.id), [1, 3, 4]);
    assert.deepEqual(cache.missingChunks(f.id, 2, 4), [3]);
    assert.equal(cache.contiguousEnd(f.id, 0), CS);
    assert.equal(cache.contiguousEnd(f.id, 100), CS);
    assert.equal(cache.contiguousEnd(f.id, CS + 5), CS + 5, 'missing chunk: nothing from there');
    assert.deepEqual(await cache.readRange(f.id, 10, 1000), f.data.subarray(10, 1000));
    await assert.rejects(cache.readRange(f.id, 10, CS + 1), { name: 'ChunkMissingError', index: 1 });
    await assert.rejects(cache.readRange(f.id, 0, f.data.length + 1), { name: 'ChunkMissingError' });
    await assert.rejects(cache.writeChunk(f.id, 1, Buffer.alloc(CS - 1)), { name: 'InvalidChunkError' });
    await assert.rejects(cache.writeChunk(f.id, 4, Buffer.alloc(CS)), { name: 'InvalidChunkError' }, 'the last chunk is short');
    await assert.rejects(cache.writeChunk(f.id, 5, Buffer.alloc(CS)), { name: 'InvalidChunkError' });
    await assert.rejects(cache.writeChunk('0'.repeat(64), 0, Buffer.alloc(CS)), { name: 'UnknownFileError' });
    await assert.rejects(cache.ensureFile('../../etc/passwd', 10), { name: 'InvalidFileIdError' });
    await assert.rejects(cache.ensureFile(f.id, 7), { name: 'FileSizeMismatchError' });
    assert.equal(cache.isComplete(f.id), false);
    for (const i of [4, 1, 3]) await cache.writeChunk(f.id, i, chunkOf(f.data, i));
    assert.deepEqual(completed, [f.id]);
    assert.equal(cache.isComplete(f.id), true);
    assert.equal(cache.contiguousEnd(f.id, 0), f.data.length);
    assert.deepEqual(await cache.readRange(f.id, 0, f.data.length), f.data);
    assert.deepEqual(cache.stats(), { usedBytes: f.data.length, limitBytes: 1 << 20, files: 1, completeFiles: 1 });
    assert.deepEqual(cache.meta(f.id), { title: 'x' });
    await cache.close();
    await assert.rejects(cache.readRange(f.id, 0, 1), { name: 'CacheClosedError' });
  }));

test('survives a restart: chunks, completeness, metadata and last plays', () =>
  withDir(async (dir) => {
    const clock = new ManualClock(1_000);
    const a = makeFile(3 * CS);
    const b = makeFile(4 * CS + 7);
    let cache = await DiskCache.open(dir, options({ clock }));
    await writeAll(cache, a);
    await cache.ensureFile(a.id, a.data.length, { id: 'track-a' });
    await cache.ensureFile(b.id, b.data.length, { id: 'track-b' });
    await cache.writeChunk(b.id, 1, chunkOf(b.data, 1));
    await cache.writeChunk(b.id, 4, chunkOf(b.data, 4));
    await cache.close();

    cache = await DiskCache.open(dir, options({ clock }));
    assert.ok(cache.isComplete(a.id));
    assert.deepEqual(await cache.readRange(a.id, 0, a.data.length), a.data);
    assert.deepEqual(cache.missingChunks(b.id), [0, 2, 3]);
    assert.deepEqual(await cache.readRange(b.id, 4 * CS, b.data.length), b.data.subarray(4 * CS));
    assert.deepEqual(cache.findMeta<{ id: string }>((m) => m.id === 'track-b'), { id: 'track-b' });
    assert.deepEqual(cache.stats(), { usedBytes: a.data.length + CS + 7, limitBytes: 1 << 20, files: 2, completeFiles: 1 });
    for (const i of [0, 2, 3]) await cache.writeChunk(b.id, i, chunkOf(b.data, i));
    assert.ok(cache.isComplete(b.id));
    await cache.close();
  }));

test('a second process (or instance) cannot open the same cache', () =>
  withDir(async (dir) => {
    const cache = await DiskCache.open(dir, options());
    await assert.rejects(DiskCache.open(dir, options()), { name: 'CacheLockedError' });
    await cache.close();
    const again = await DiskCache.open(dir, options());
    await again.close();
  }));

test('evicts the least recently played unpinned files to stay under the limit', () =>
  withDir(async (dir) => {
    const clock = new ManualClock(1_000);
    const cache = await DiskCache.open(dir, options({ clock, limitBytes: 12 * CS }));
    const evicted: string[] = [];
    cache.on('evict', (fileId) => evicted.push(fileId));
    const [a, b, c, d, e] = Array.from({ length: 5 }, () => makeFile(4 * CS));
    for (const f of [a!, b!, c!]) {
      clock.advance(10);
      await writeAll(cache, f);
    }
    assert.equal(cache.stats().usedBytes, 12 * CS);
    clock.advance(10);
    cache.touch(a!.id); // a played last; b is the oldest play, but in use
    cache.pin(b!.id);
    clock.advance(10);
    await writeAll(cache, d!);
    assert.deepEqual(evicted, [c!.id]);
    assert.equal(cache.hasChunk(c!.id, 0), false);
    await assert.rejects(stat(path.join(dir, 'files', c!.id)), { code: 'ENOENT' });
    assert.ok(cache.stats().usedBytes <= 12 * CS);
    // Next: a (played at 1040) goes before d (added at 1050); b stays pinned.
    await writeAll(cache, e!);
    assert.deepEqual(evicted, [c!.id, a!.id]);
    assert.deepEqual(cache.stats(), { usedBytes: 12 * CS, limitBytes: 12 * CS, files: 3, completeFiles: 3 });
    // Everything else pinned: the new file is still written, over the limit, rather than refused...
    cache.pin(d!.id);
    cache.pin(e!.id);
    const g = makeFile(2 * CS);
    const seen: number[] = [];
    cache.on('complete', (fileId) => fileId === g.id && seen.push(cache.stats().usedBytes));
    await writeAll(cache, g);
    assert.deepEqual(seen, [14 * CS]);
    // ...and once its writes are done it is the only file not in use, so it goes (a fetcher that wants
    // to keep what it downloads pins it).
    await until(() => evicted.length === 3);
    assert.deepEqual(evicted, [c!.id, a!.id, g.id]);
    assert.equal(cache.stats().usedBytes, 12 * CS);
    // Unpinned, b is the least recently played again.
    cache.unpin(b!.id);
    const h = makeFile(CS);
    await writeAll(cache, h);
    assert.deepEqual(evicted, [c!.id, a!.id, g.id, b!.id]);
    assert.ok(cache.stats().usedBytes <= 12 * CS);
    await cache.close();
    // An evicted file can come back.
    const again = await DiskCache.open(dir, options({ clock, limitBytes: 12 * CS }));
    await writeAll(again, c!);
    assert.ok(again.isComplete(c!.id));
    assert.deepEqual(await again.readRange(c!.id, 0, c!.data.length), c!.data);
    await again.close();
  }));

test('concurrent writes to several files: none is evicted while in use; the cache catches up after', () =>
  withDir(async (dir) => {
    const clock = new ManualClock(1_000);
    const cache = await DiskCache.open(dir, options({ clock, limitBytes: 8 * CS }));
    const files = [makeFile(4 * CS), makeFile(4 * CS), makeFile(4 * CS)];
    for (const f of files) {
      clock.advance(1);
      await cache.ensureFile(f.id, f.data.length);
    }
    const reads: Promise<unknown>[] = [];
    cache.on('chunk', (fileId, index) => {
      // A response waiting for data reads it as soon as it is announced.
      const f = files.find((x) => x.id === fileId)!;
      reads.push(cache.readRange(fileId, index * CS, (index + 1) * CS).then((got) => assert.deepEqual(got, chunkOf(f.data, index))));
    });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 4; i++) for (const f of files) writes.push(cache.writeChunk(f.id, i, chunkOf(f.data, i)));
    await Promise.all(writes);
    await Promise.all(reads);
    assert.equal(reads.length, 12);
    // All three were in use at once, so the cache went over. As they are released, the least recently
    // played of those not in use at that moment goes: which one depends on which writes finish first.
    await until(() => cache.stats().usedBytes <= 8 * CS);
    assert.equal(cache.stats().usedBytes, 8 * CS);
    const kept = files.filter((f) => cache.isComplete(f.id));
    assert.equal(kept.length, 2);
    for (const f of kept) assert.deepEqual(await cache.readRange(f.id, 0, f.data.length), f.data);
    await cache.close();
  }));

test('a smaller limit at open evicts down to it, by last play', () =>
  withDir(async (dir) => {
    const clock = new ManualClock(1_000);
    let cache = await DiskCache.open(dir, options({ clock }));
    const files = Array.from({ length: 4 }, () => makeFile(2 * CS));
    for (const f of files) {
      clock.advance(1);
      await writeAll(cache, f);
    }
    clock.advance(1);
    cache.touch(files[0]!.id);
    await cache.close();
    cache = await DiskCache.open(dir, options({ clock, limitBytes: 4 * CS }));
    assert.deepEqual(
      files.map((f) => cache.isComplete(f.id)),
      [true, false, false, true],
    );
    await cache.close();
  }));

test('play stamps keep their order across a restart even if the clock starts over', () =>
  withDir(async (dir) => {
    const [a, b] = [makeFile(2 * CS), makeFile(2 * CS)];
    let cache = await DiskCache.open(dir, options({ clock: new ManualClock(1_000_000), limitBytes: 4 * CS }));
    await writeAll(cache, a!);
    await writeAll(cache, b!);
    await cache.close();
    cache = await DiskCache.open(dir, options({ clock: new ManualClock(5), limitBytes: 4 * CS }));
    cache.touch(a!.id); // played now, though the new clock reads 5
    await writeAll(cache, makeFile(CS));
    assert.ok(cache.isComplete(a!.id));
    assert.ok(!cache.hasChunk(b!.id, 0));
    await cache.close();
  }));

test('a completed file whose SHA-256 is not its id is dropped, and can be fetched again', () =>
  withDir(async (dir) => {
    const cache = await DiskCache.open(dir, options());
    const f = makeFile(3 * CS + 1);
    const corrupt: string[] = [];
    const complete: string[] = [];
    cache.on('corrupt', (fileId) => corrupt.push(fileId));
    cache.on('complete', (fileId) => complete.push(fileId));
    await cache.ensureFile(f.id, f.data.length);
    const bad = Buffer.from(chunkOf(f.data, 1));
    bad[17] = bad[17]! ^ 0xff;
    await cache.writeChunk(f.id, 0, chunkOf(f.data, 0));
    await cache.writeChunk(f.id, 1, bad);
    await cache.writeChunk(f.id, 2, chunkOf(f.data, 2));
    await cache.writeChunk(f.id, 3, chunkOf(f.data, 3));
    assert.deepEqual(corrupt, [f.id]);
    assert.deepEqual(complete, []);
    assert.equal(cache.isComplete(f.id), false);
    assert.deepEqual(cache.missingChunks(f.id), [0, 1, 2, 3]);
    assert.equal(cache.stats().usedBytes, 0);
    assert.equal((await stat(path.join(dir, 'files', f.id))).size, 0);
    await cache.close();

    // The drop is durable; the right data completes the file.
    const again = await DiskCache.open(dir, options());
    assert.deepEqual(again.missingChunks(f.id), [0, 1, 2, 3]);
    await writeAll(again, f);
    assert.ok(again.isComplete(f.id));
    await again.close();
  }));

test('open repairs the directory: orphan data files, missing and cut data files, unverified whole files', () =>
  withDir(async (dir) => {
    const [a, b, c] = [makeFile(4 * CS), makeFile(4 * CS), makeFile(CS)];
    let cache = await DiskCache.open(dir, options());
    await writeAll(cache, a!);
    await writeAll(cache, b!);
    await writeAll(cache, c!);
    await cache.close();
    const orphan = 'f'.repeat(64);
    await writeFile(path.join(dir, 'files', orphan), 'left by a kill between deleting a row and its file');
    await writeFile(path.join(dir, 'files', 'junk.tmp'), 'not ours');
    await truncate(path.join(dir, 'files', a!.id), 2 * CS + 10); // chunks 3 and 4 gone, 3 partly
    await rm(path.join(dir, 'files', b!.id));
    // Killed after the last marks were durable but before the verification was recorded.
    const db = new Database(path.join(dir, 'cache.db'));
    db.prepare('UPDATE files SET complete = 0 WHERE file_id = ?').run(c!.id);
    db.close();

    cache = await DiskCache.open(dir, options());
    assert.deepEqual((await readdir(path.join(dir, 'files'))).sort(), [a!.id, c!.id].sort());
    assert.deepEqual(cache.missingChunks(a!.id), [2, 3]);
    assert.equal(cache.isComplete(a!.id), false);
    assert.deepEqual(cache.missingChunks(b!.id), [0, 1, 2, 3]);
    assert.ok(cache.isComplete(c!.id));
    assert.deepEqual(cache.stats(), { usedBytes: 3 * CS, limitBytes: 1 << 20, files: 3, completeFiles: 1 });
    for (const i of [2, 3]) await cache.writeChunk(a!.id, i, chunkOf(a!.data, i));
    assert.ok(cache.isComplete(a!.id));
    await cache.close();
  }));

test('a cache opened with another chunk size drops the files it cannot interpret', () =>
  withDir(async (dir) => {
    let cache = await DiskCache.open(dir, options());
    const f = makeFile(4 * CS);
    await writeAll(cache, f);
    await cache.close();
    cache = await DiskCache.open(dir, options({ chunkSize: 2 * CS }));
    assert.equal(cache.stats().files, 0);
    assert.deepEqual(await readdir(path.join(dir, 'files')), []);
    await cache.close();
  }));

test('the empty file is complete as soon as it is known', () =>
  withDir(async (dir) => {
    const cache = await DiskCache.open(dir, options());
    const empty = makeFile(0);
    await cache.ensureFile(empty.id, 0);
    assert.ok(cache.isComplete(empty.id));
    assert.deepEqual(await cache.readRange(empty.id, 0, 0), Buffer.alloc(0));
    assert.equal(cache.contiguousEnd(empty.id, 0), 0);
    await cache.close();
  }));

test('crash safety: SIGKILL at random moments never leaves a mark without its data', { timeout: 60_000 }, () =>
  withDir(async (dir) => {
    const rng = seededRng(20240601);
    const chunkSize = 4096;
    const srcDir = path.join(dir, 'src');
    const cacheDir = path.join(dir, 'cache');
    await mkdir(srcDir);
    const files = [3_000_000, 4_000_003, 5_000, 0, 2_234_567, 2_000_000, 150_001, 80_000, 200_000].map(makeFile);
    for (const f of files) await writeFile(path.join(srcDir, f.id), f.data);
    const totalChunks = files.reduce((n, f) => n + Math.ceil(f.data.length / chunkSize), 0);
    const fixture = fileURLToPath(new URL('./fixtures/cache-writer.ts', import.meta.url));

    function runWriter(killAfterReadyMs: number | null): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', fixture, cacheDir, srcDir, String(chunkSize), '2'], {
          stdio: ['ignore', 'pipe', 'inherit'],
          cwd: fileURLToPath(new URL('../../', import.meta.url)), // where `--import tsx` resolves
        });
        let out = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (s: string) => {
          const wasReady = out.includes('ready');
          out += s;
          if (!wasReady && out.includes('ready') && killAfterReadyMs !== null) {
            setTimeout(() => child.kill('SIGKILL'), killAfterReadyMs);
          }
        });
        child.on('error', reject);
        child.on('exit', (code, signal) => resolve({ code, signal, out }));
      });
    }

    /** Opens the cache as a restart would and checks every mark against the source. Returns the chunks present. */
    async function check(): Promise<number> {
      const cache = await DiskCache.open(cacheDir, { limitBytes: 1 << 30, chunkSize });
      let present = 0;
      try {
        for (const f of files) {
          if (cache.sizeOf(f.id) === undefined) continue;
          const n = Math.ceil(f.data.length / chunkSize);
          for (let i = 0; i < n; i++) {
            if (!cache.hasChunk(f.id, i)) continue;
            present++;
            const got = await cache.readRange(f.id, i * chunkSize, Math.min(f.data.length, (i + 1) * chunkSize));
            assert.ok(got.equals(chunkOf(f.data, i, chunkSize)), `chunk ${i} of ${f.id} differs from the source`);
          }
          if (cache.isComplete(f.id)) assert.equal(sha256(await cache.readRange(f.id, 0, f.data.length)), f.id);
        }
      } finally {
        await cache.close();
      }
      return present;
    }

    let killedMidway = 0;
    let last = 0;
    for (let round = 0; round < 20; round++) {
      const result = await runWriter(randomInt(rng, 100));
      const present = await check();
      assert.ok(present >= 0 && present <= totalChunks);
      if (result.signal === 'SIGKILL' && present < totalChunks) killedMidway++;
      last = present;
    }
    // Let it finish.
    const final = await runWriter(null);
    assert.equal(final.code, 0, `writer exited with ${final.code} ${final.signal}: ${final.out}`);
    assert.match(final.out, /done/);
    const cache = await DiskCache.open(cacheDir, { limitBytes: 1 << 30, chunkSize });
    try {
      for (const f of files) {
        assert.ok(cache.isComplete(f.id), `${f.id} complete`);
        assert.equal(sha256(await cache.readRange(f.id, 0, f.data.length)), f.id);
      }
    } finally {
      await cache.close();
    }
    assert.equal(await check(), totalChunks);
    assert.ok(killedMidway > 0, `at least one kill landed mid-way (last round had ${last}/${totalChunks} chunks)`);
  }));

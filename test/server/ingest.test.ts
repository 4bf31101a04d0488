import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openDataDir } from '../../src/server/data-dir.ts';
import { expandPaths, ingestPaths, trackNoFromFileName } from '../../src/server/ingest.ts';
import { trackIdFor } from '../../src/server/sqlite-catalog.ts';
import { cryptAt } from '../../src/core/content-cipher.ts';
import type { TrackInfo } from '../../src/core/track.ts';
import { defaultConfig } from '../../src/core/config.ts';
import { makeOpus, makeVorbis, tempDir } from './storage-fixtures.ts';

describe('ingestPaths', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());
  const lib = path.join(tmp.dir, 'lib');
  const album = path.join(lib, 'Artist One', 'Album One');
  const good: string[] = [];
  let broken: string;
  let notOgg: string;
  let opus: string;

  before(() => {
    mkdirSync(album, { recursive: true });
    for (let i = 1; i <= 3; i++) {
      good.push(makeVorbis(path.join(album, `0${i} Song ${i}.ogg`), { freq: 300 + i * 50, tags: { title: `Song ${i}`, artist: 'Artist One', album: 'Album One', trackNo: i } }));
    }
    makeVorbis(path.join(lib, '07 - Untitled Thing.OGG'), { freq: 777 });
    opus = makeOpus(path.join(lib, 'voice.opus'), { freq: 500, tags: { title: 'Opus Song', artist: 'Opus Artist', album: 'Opus Album', trackNo: 2 } });
    // A truncated Vorbis file and a text file with an .ogg name, among the good ones.
    const whole = readFileSync(good[0]!);
    broken = path.join(album, '02b broken.ogg');
    writeFileSync(broken, whole.subarray(0, Math.floor(whole.length / 2)));
    notOgg = path.join(album, 'notes.ogg');
    writeFileSync(notOgg, 'this is not audio\n');
    // Skipped when walking: hidden files and other extensions.
    writeFileSync(path.join(album, '.hidden.ogg'), 'junk');
    writeFileSync(path.join(album, 'cover.jpg'), 'jpeg');
    // A symlink loop must not hang the walk.
    symlinkSync(lib, path.join(album, 'loop'));
  });

  it('expands directories recursively, once per file, skipping hidden files and other extensions', async () => {
    const { files, failed } = await expandPaths([lib, good[0]!, path.join(tmp.dir, 'missing')]);
    assert.deepEqual(
      files.map((f) => path.relative(lib, f)).sort(),
      ['07 - Untitled Thing.OGG', 'Artist One/Album One/01 Song 1.ogg', 'Artist One/Album One/02 Song 2.ogg',
        'Artist One/Album One/02b broken.ogg', 'Artist One/Album One/03 Song 3.ogg', 'Artist One/Album One/notes.ogg', 'voice.opus'],
    );
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.error, 'no such file or directory (ENOENT)');
  });

  it('ingests the good files and reports the bad ones', async () => {
    const data = openDataDir(path.join(tmp.dir, 'data1'));
    const txt = path.join(tmp.dir, 'readme.txt');
    writeFileSync(txt, 'hello');
    const progress: number[] = [];
    const errors: string[] = [];
    const r = await ingestPaths([lib, txt], {
      data,
      onProgress: (done, total) => progress.push(done * 100 + total),
      onError: (file) => errors.push(file),
    });
    assert.deepEqual(r.added.map((t) => t.title).sort(), ['07 - Untitled Thing', 'Opus Song', 'Song 1', 'Song 2', 'Song 3']);
    assert.deepEqual(r.existing, []);
    assert.deepEqual(r.failed.map((f) => path.basename(f.file)).sort(), ['02b broken.ogg', 'notes.ogg', 'readme.txt']);
    for (const f of r.failed) assert.ok(f.error.length > 0);
    assert.deepEqual(errors.sort(), r.failed.map((f) => f.file).sort());
    assert.deepEqual(progress, Array.from({ length: 8 }, (_, i) => (i + 1) * 100 + 8));

    const song2 = r.added.find((t) => t.title === 'Song 2')!;
    const content = readFileSync(good[1]!);
    // The store holds the file encrypted (issue 6), under the SHA-256 of the ciphertext; the key
    // from the AP's ContentKeys decrypts it to the original bytes.
    const stored = await data.store.read(song2.fileId, 0, content.length + 1);
    assert.equal(song2.fileId, createHash('sha256').update(stored).digest('hex'));
    assert.notEqual(song2.fileId, createHash('sha256').update(content).digest('hex'));
    assert.equal(stored.includes(Buffer.from('OggS')), false, 'no Ogg capture pattern in the store');
    const rec = data.keys.get(song2.fileId)!;
    assert.equal(rec.plainSha256, createHash('sha256').update(content).digest('hex'));
    assert.deepEqual(cryptAt(rec, 0, stored), content);
    assert.equal(rec.hashes.count, Math.ceil(content.length / defaultConfig.chunkSize));
    assert.equal(song2.id, trackIdFor(song2.fileId));
    assert.equal(song2.bytes, content.length);
    assert.deepEqual([song2.artist, song2.album, song2.trackNo, song2.codec, song2.sampleRate, song2.channels], ['Artist One', 'Album One', 2, 'vorbis', 44100, 2]);
    assert.ok(Math.abs(song2.durationMs - 2000) < 50, `${song2.durationMs} ms`);
    assert.ok(song2.seekIndex.length >= 2 && song2.seekIndex[0]!.ms === 0);

    const plain = r.added.find((t) => t.title === '07 - Untitled Thing')!;
    assert.deepEqual([plain.artist, plain.album, plain.trackNo], ['Unknown Artist', 'Unknown Album', 7]);
    const op = r.added.find((t) => t.codec === 'opus')!;
    assert.deepEqual([op.artist, op.album, op.trackNo, op.sampleRate], ['Opus Artist', 'Opus Album', 2, 48000]);

    const album1 = (await data.catalog.search('album one', 10)).albums;
    assert.equal(album1.length, 1);
    assert.deepEqual((await data.catalog.getAlbum(album1[0]!.id))!.tracks.map((t) => t.title), ['Song 1', 'Song 2', 'Song 3']);
    assert.equal(await data.catalog.trackCount(), 5);
    await data.close();
  });

  it('is idempotent: again into the same data dir; a fresh one has the same tracks under its own keys', async () => {
    const dir1 = path.join(tmp.dir, 'data2');
    const d1 = openDataDir(dir1);
    const first = await ingestPaths([...good, opus], { data: d1 });
    const again = await ingestPaths([good[0]!, good[0]!, ...good], { data: d1 });
    assert.equal(first.added.length, 4);
    assert.deepEqual(again.added, []);
    assert.deepEqual(again.existing.map((t) => t.id), first.added.slice(0, 3).map((t) => t.id), 'each file once');
    assert.equal(await d1.catalog.trackCount(), 4);
    await d1.close();

    const d2 = openDataDir(path.join(tmp.dir, 'data3'));
    const other = await ingestPaths([opus, ...good.slice().reverse()], { data: d2 });
    // Each file gets its own random key per data directory, so its ciphertext, file id and track
    // id differ between sites; everything else is the same.
    const sameExceptIds = (t: TrackInfo) => ({ ...t, id: '', uri: '', fileId: '' });
    assert.deepEqual(other.added.map(sameExceptIds).sort((a, b) => a.title.localeCompare(b.title)), first.added.map(sameExceptIds).sort((a, b) => a.title.localeCompare(b.title)));
    for (const t of other.added) assert.equal(first.added.some((x) => x.fileId === t.fileId), false);
    await d2.close();

    // Reopening the first directory finds everything still there.
    const d1b = openDataDir(dir1);
    assert.equal(await d1b.catalog.trackCount(), 4);
    assert.equal(await d1b.store.size(first.added[0]!.fileId), first.added[0]!.bytes);
    await d1b.close();
  });

  it('reports every file as failed when none is audio, and nothing when given nothing', async () => {
    const data = openDataDir(path.join(tmp.dir, 'data4'));
    const r = await ingestPaths([broken, notOgg, path.join(tmp.dir, 'nope.ogg')], { data });
    assert.equal(r.failed.length, 3);
    assert.deepEqual([r.added, r.existing], [[], []]);
    assert.deepEqual(await ingestPaths([], { data }), { added: [], existing: [], failed: [] });
    assert.equal(await data.catalog.trackCount(), 0);
    await data.close();
  });

  it('takes track numbers from leading digits of file names', () => {
    assert.equal(trackNoFromFileName('/a/03 - Song.ogg'), 3);
    assert.equal(trackNoFromFileName('12.ogg'), 12);
    assert.equal(trackNoFromFileName('Song 3.ogg'), 0);
    assert.equal(trackNoFromFileName('20240101 recording.ogg'), 0);
  });
});

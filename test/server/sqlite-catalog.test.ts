import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import {
  SchemaVersionError,
  SqliteCatalog,
  albumIdFor,
  artistIdFor,
  decodeSeekIndex,
  encodeSeekIndex,
  toFtsQuery,
  trackIdFor,
} from '../../src/server/sqlite-catalog.ts';
import { newTrack, tempDir } from './storage-fixtures.ts';

describe('SqliteCatalog', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());
  let n = 0;
  const fresh = () => SqliteCatalog.open(path.join(tmp.dir, `c${++n}.db`));

  it('adds a track and returns it with a deterministic, URL-safe id', async () => {
    const cat = fresh();
    const input = newTrack(1, { title: '  Hello   World ', artist: 'Some  Artist' });
    const { track, added } = await cat.addTrack(input);
    assert.equal(added, true);
    assert.match(track.id, /^[0-9A-Za-z]{12}$/);
    assert.equal(track.id, trackIdFor(input.fileId));
    assert.equal(track.uri, `tunemesh:track:${track.id}`);
    assert.equal(track.title, 'Hello World');
    assert.equal(track.artist, 'Some Artist');
    assert.deepEqual(track.seekIndex, input.seekIndex);
    assert.deepEqual(await cat.getTrack(track.id), track);
    assert.equal(await cat.getTrack('nope'), undefined);
    assert.equal(await cat.getTrack('AAAAAAAAAAAA'), undefined);
    assert.equal(await cat.trackCount(), 1);
    await cat.close();
  });

  it('is idempotent by fileId, also across fresh catalogs', async () => {
    const a = fresh();
    const b = fresh();
    const t = newTrack(7);
    const first = await a.addTrack(t);
    const again = await a.addTrack({ ...t, title: 'Renamed' });
    assert.equal(again.added, false);
    assert.deepEqual(again.track, first.track);
    assert.equal(await a.trackCount(), 1);
    const other = await b.addTrack(t);
    assert.equal(other.added, true);
    assert.deepEqual(other.track, first.track);
    await a.close();
    await b.close();
  });

  it('keeps its data across close and reopen, with the schema version recorded', async () => {
    const file = path.join(tmp.dir, 'reopen.db');
    const a = SqliteCatalog.open(file);
    const { track } = await a.addTrack(newTrack(3));
    await a.close();
    const b = SqliteCatalog.open(file);
    assert.deepEqual(await b.getTrack(track.id), track);
    assert.equal((await b.search('track', 10)).tracks.length, 1);
    await b.close();
    const db = new Database(file);
    assert.equal(db.prepare("SELECT version FROM schema_version WHERE component = 'catalog'").pluck().get(), 1);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.prepare("UPDATE schema_version SET version = 99 WHERE component = 'catalog'").run();
    db.close();
    assert.throws(() => SqliteCatalog.open(file), SchemaVersionError);
  });

  it('rejects malformed tracks with an error naming the field', async () => {
    const cat = fresh();
    await assert.rejects(cat.addTrack(newTrack(1, { title: '   ' })), /title is empty/);
    await assert.rejects(cat.addTrack(newTrack(1, { fileId: 'abc' })), /fileId/);
    await assert.rejects(cat.addTrack(newTrack(1, { durationMs: -5 })), /durationMs/);
    await assert.rejects(cat.addTrack(newTrack(1, { codec: 'mp3' as never })), /codec/);
    await assert.rejects(cat.addTrack(newTrack(1, { seekIndex: [{ ms: -1, byte: 0 }] })), /seek index/);
    assert.equal(await cat.trackCount(), 0);
    await cat.close();
  });

  describe('browse', () => {
    let cat: SqliteCatalog;
    before(async () => {
      cat = fresh();
      // Out of order on purpose; one track without a number.
      await cat.addTrack(newTrack(3, { title: 'Third', artist: 'Beta Band', album: 'First Album', trackNo: 3 }));
      await cat.addTrack(newTrack(1, { title: 'Opener', artist: 'Beta Band', album: 'First Album', trackNo: 1 }));
      await cat.addTrack(newTrack(9, { title: 'Bonus 10', artist: 'beta  BAND', album: 'first album', trackNo: 0 }));
      await cat.addTrack(newTrack(8, { title: 'bonus 9', artist: 'Beta Band', album: 'First Album', trackNo: 0 }));
      await cat.addTrack(newTrack(2, { title: 'Second', artist: 'Beta Band', album: 'First Album', trackNo: 2 }));
      await cat.addTrack(newTrack(4, { title: 'Solo', artist: 'Beta Band', album: 'Another', trackNo: 1 }));
      await cat.addTrack(newTrack(5, { title: 'X', artist: 'Alpha', album: 'A', trackNo: 1 }));
      await cat.addTrack(newTrack(6, { title: 'Y', artist: 'Ça Va', album: 'B', trackNo: 1 }));
    });
    after(() => cat.close());

    it('lists artists in name order, paged, with album counts', async () => {
      const all = await cat.listArtists(0, 100);
      assert.deepEqual(all.map((a) => a.name), ['Alpha', 'Beta Band', 'Ça Va']);
      assert.deepEqual(all.map((a) => a.albumCount), [1, 2, 1]);
      assert.equal(all[1]!.id, artistIdFor('beta band'));
      assert.deepEqual((await cat.listArtists(1, 1)).map((a) => a.name), ['Beta Band']);
      assert.deepEqual(await cat.listArtists(5, 10), []);
      assert.deepEqual(await cat.listArtists(0, 0), []);
      assert.deepEqual(await cat.listArtists(-3, Number.NaN), []);
    });

    it('gets an artist with its albums, and an album with tracks in track order', async () => {
      const beta = await cat.getArtist(artistIdFor('Beta Band'));
      assert.ok(beta);
      assert.deepEqual(beta.albums.map((a) => [a.title, a.trackCount]), [['Another', 1], ['First Album', 5]]);
      const albumId = albumIdFor('BETA band', ' First  Album ');
      assert.equal(beta.albums[1]!.id, albumId);
      const album = await cat.getAlbum(albumId);
      assert.ok(album);
      assert.equal(album.album.artist, 'Beta Band');
      assert.equal(album.album.artistId, beta.artist.id);
      assert.deepEqual(album.tracks.map((t) => t.title), ['Opener', 'Second', 'Third', 'bonus 9', 'Bonus 10']);
      assert.ok(album.tracks.every((t) => t.album === 'First Album' && t.artist === 'Beta Band'));
      assert.equal(await cat.getArtist('xxxxxxxxxxxx'), undefined);
      assert.equal(await cat.getAlbum(''), undefined);
    });

    it('returns distinct random tracks', async () => {
      const r = await cat.randomTracks(3);
      assert.equal(r.length, 3);
      assert.equal(new Set(r.map((t) => t.id)).size, 3);
      assert.equal((await cat.randomTracks(100)).length, 8);
      assert.deepEqual(await cat.randomTracks(0), []);
    });
  });

  describe('search', () => {
    let cat: SqliteCatalog;
    before(async () => {
      cat = fresh();
      await cat.addTrack(newTrack(1, { title: 'Highway to Hell', artist: 'AC/DC', album: 'Highway to Hell' }));
      await cat.addTrack(newTrack(2, { title: 'Back in Black', artist: 'AC/DC', album: 'Back in Black' }));
      await cat.addTrack(newTrack(3, { title: 'Hells Bells', artist: 'AC/DC', album: 'Back in Black' }));
      await cat.addTrack(newTrack(4, { title: 'Paint It Black', artist: 'The Rolling Stones', album: 'Aftermath' }));
      await cat.addTrack(newTrack(5, { title: 'Déjà Vu', artist: 'Beyoncé', album: 'B’Day' }));
      await cat.addTrack(newTrack(6, { title: 'Near Me', artist: 'Or And Not', album: 'NEAR' }));
      // Many tracks mentioning "black" only in the album, to check that title matches rank first.
      for (let i = 10; i < 30; i++) await cat.addTrack(newTrack(i, { title: `Filler ${i}`, artist: 'Various', album: 'Black Box' }));
    });
    after(() => cat.close());

    it('prefix-matches every word across title, artist and album', async () => {
      const r = await cat.search('back bla', 10);
      assert.deepEqual(r.tracks.map((t) => t.title).sort(), ['Back in Black', 'Hells Bells']);
      assert.deepEqual(r.albums.map((a) => a.title), ['Back in Black']);
      assert.equal((await cat.search('acd', 10)).tracks.length, 0, 'AC/DC is two words, ac and dc');
      assert.equal((await cat.search('ac dc hell', 10)).tracks.length, 2);
      const artists = (await cat.search('rolling', 10)).artists;
      assert.deepEqual(artists.map((a) => [a.name, a.albumCount]), [['The Rolling Stones', 1]]);
    });

    it('ignores case and diacritics', async () => {
      assert.deepEqual((await cat.search('DEJA VU', 10)).tracks.map((t) => t.title), ['Déjà Vu']);
      assert.deepEqual((await cat.search('beyonce', 10)).artists.map((a) => a.name), ['Beyoncé']);
    });

    it('ranks title matches above album-only matches', async () => {
      const r = await cat.search('black', 30);
      assert.equal(r.tracks.length, 23);
      assert.deepEqual(r.tracks.slice(0, 2).map((t) => t.title).sort(), ['Back in Black', 'Paint It Black']);
      assert.equal((await cat.search('black', 5)).tracks.length, 5);
    });

    it('treats FTS syntax in the input as plain words or separators', async () => {
      assert.deepEqual((await cat.search('"AC/DC (live', 10)).tracks, []);
      assert.equal((await cat.search('"AC/DC (hell', 10)).tracks.length, 2);
      assert.equal((await cat.search('NEAR(', 10)).tracks.length, 1);
      assert.equal((await cat.search('or and not', 10)).tracks.length, 1);
      assert.equal((await cat.search('title:black', 10)).tracks.length, 0, 'no column filters: "title" is a word to find');
      assert.equal((await cat.search('-black', 50)).tracks.length, 23);
      for (const q of ['*', '', '   ', '"', '""', "'", '(', ')', '^', ':', '+', '-', 'AND', 'OR NOT', 'NEAR(a b, 3)', '{title}: x', 'a*b', '\0', '\u{1F3B5}', 'x'.repeat(10_000)]) {
        const r = await cat.search(q, 10);
        assert.ok(Array.isArray(r.tracks) && Array.isArray(r.artists) && Array.isArray(r.albums), q);
      }
      assert.deepEqual(await cat.search('*', 10), { tracks: [], artists: [], albums: [] });
    });

    it('never throws, whatever the query (property)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom(...'"*()^:+-{}[] ANDORNEAR,.\'\\') })), fc.integer({ min: -5, max: 50 }), async (q, limit) => {
          const r = await cat.search(q, limit);
          assert.ok(r.tracks.length <= Math.max(0, limit));
        }),
        { numRuns: 500 },
      );
    });

    it('builds only quoted prefix terms', () => {
      assert.equal(toFtsQuery('"AC/DC (live'), '"ac"* "dc"* "live"*');
      assert.equal(toFtsQuery('* NEAR( ^'), '"near"*');
      assert.equal(toFtsQuery('!!!'), undefined);
    });
  });
});

describe('seek index codec', () => {
  it('round-trips ascending indexes compactly', () => {
    const pts = Array.from({ length: 1000 }, (_, i) => ({ ms: i * 250, byte: 4000 + i * 5000 }));
    const blob = encodeSeekIndex(pts);
    assert.ok(blob.length <= 4 + pts.length * 4, `${blob.length} bytes`);
    assert.deepEqual(decodeSeekIndex(blob), pts);
  });

  it('round-trips any non-negative integers (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ ms: fc.nat({ max: 2 ** 48 }), byte: fc.nat({ max: 2 ** 48 }) }, { noNullPrototype: true })), (pts) => {
        assert.deepEqual(decodeSeekIndex(encodeSeekIndex(pts)), pts);
      }),
    );
  });

  it('rejects damaged blobs', () => {
    assert.throws(() => decodeSeekIndex(Buffer.from([2, 0])), /format/);
    assert.throws(() => decodeSeekIndex(Buffer.from([1, 3, 0])), RangeError);
    assert.throws(() => encodeSeekIndex([{ ms: 2 ** 49, byte: 0 }]), RangeError);
  });
});

/** Playlists in the SQLite catalog: ownership, order, positions, deletion, bounds, and the migration of older catalogs. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import {
  InvalidPlaylistNameError,
  PLAYLIST_LIMITS,
  PlaylistLimitError,
  PlaylistPositionError,
  UnknownPlaylistError,
  UnknownTrackError,
} from '../../src/server/catalog.ts';
import {
  CATALOG_COMPONENT,
  CATALOG_MIGRATION_STEPS,
  PLAYLISTS_COMPONENT,
  SchemaVersionError,
  SqliteCatalog,
  albumIdFor,
  artistIdFor,
  encodeSeekIndex,
  migrate,
  openSqliteDatabase,
  trackIdFor,
} from '../../src/server/sqlite-catalog.ts';
import { SqliteAccounts } from '../../src/server/accounts.ts';
import { pageWithin } from '../../src/server/access-point.ts';
import { trackInfoSize } from '../../src/protocol/codec.ts';
import type { TrackInfo } from '../../src/core/track.ts';
import { newTrack, tempDir } from './storage-fixtures.ts';

const tmp = tempDir();
after(() => tmp.cleanup());
let n = 0;
const dbFile = () => path.join(tmp.dir, `p${++n}.db`);

/** A catalog with `count` tracks; returns it and the track ids in ingest order. */
async function catalogWith(count: number, file = dbFile()): Promise<{ cat: SqliteCatalog; ids: string[] }> {
  const cat = SqliteCatalog.open(file);
  const ids: string[] = [];
  for (let i = 1; i <= count; i++) ids.push((await cat.addTrack(newTrack(i, { durationMs: 1000 * i }))).track.id);
  return { cat, ids };
}

async function order(cat: SqliteCatalog, owner: string, id: string): Promise<string[]> {
  return (await cat.getPlaylist(owner, id, 0, PLAYLIST_LIMITS.tracks)).tracks.map((t) => t.id);
}

/** Positions as stored: always exactly 0..n-1. */
function storedPositions(cat: SqliteCatalog, id: string): number[] {
  return cat.database
    .prepare('SELECT position FROM playlist_tracks WHERE playlist_seq = (SELECT seq FROM playlists WHERE id = ?) ORDER BY position')
    .pluck()
    .all(id) as number[];
}

const rejectsWith = (p: Promise<unknown>, cls: { name: string }) =>
  assert.rejects(p, (err: Error) => {
    assert.equal(err.name, cls.name, `${err.name}: ${err.message}`);
    return true;
  });

describe('playlists in the SQLite catalog', () => {
  let cat: SqliteCatalog;
  let ids: string[];
  before(async () => ({ cat, ids } = await catalogWith(6)));
  after(() => cat.close());

  it('creates a playlist with a short URL-safe id and a URI; the name is cleaned', async () => {
    const before = Date.now();
    const p = await cat.createPlaylist('alice', '  Road   trip ');
    assert.match(p.id, /^[0-9A-Za-z]{12}$/);
    assert.equal(p.uri, `tunemesh:playlist:${p.id}`);
    assert.deepEqual({ ...p, createdAt: 0, updatedAt: 0 }, { id: p.id, uri: p.uri, name: 'Road trip', owner: 'alice', trackCount: 0, durationMs: 0, createdAt: 0, updatedAt: 0 });
    assert.ok(p.createdAt >= before && p.createdAt <= Date.now() && p.updatedAt === p.createdAt);
    const page = await cat.getPlaylist('alice', p.id, 0, 100);
    assert.deepEqual(page, { playlist: p, offset: 0, tracks: [] });
    const other = await cat.createPlaylist('alice', 'Road trip');
    assert.notEqual(other.id, p.id, 'names need not be unique; ids are');
  });

  it('appends, inserts at positions and keeps the order; duplicates are allowed', async () => {
    const p = await cat.createPlaylist('alice', 'Order');
    const [a, b, c, d, e, f] = ids as [string, string, string, string, string, string];
    let info = await cat.addToPlaylist('alice', p.id, [a, b]);
    assert.equal(info.trackCount, 2);
    await cat.addToPlaylist('alice', p.id, [c], null); // append
    await cat.addToPlaylist('alice', p.id, [d], 0); // front
    await cat.addToPlaylist('alice', p.id, [e, f], 2); // middle
    info = await cat.addToPlaylist('alice', p.id, [a], 6); // at the end, given explicitly
    assert.deepEqual(await order(cat, 'alice', p.id), [d, a, e, f, b, c, a]);
    assert.deepEqual(storedPositions(cat, p.id), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(info.trackCount, 7);
    assert.equal(info.durationMs, (4 + 1 + 5 + 6 + 2 + 3 + 1) * 1000);
    assert.ok(info.updatedAt >= info.createdAt);
    // pages
    const page = await cat.getPlaylist('alice', p.id, 5, 10);
    assert.deepEqual(page.tracks.map((t) => t.id), [c, a]);
    assert.equal(page.offset, 5);
    assert.deepEqual((await cat.getPlaylist('alice', p.id, 1, 2)).tracks.map((t) => t.id), [a, e]);
    assert.deepEqual((await cat.getPlaylist('alice', p.id, 50, 10)).tracks, []);
    assert.deepEqual((await cat.getPlaylist('alice', p.id, 0, 0)).tracks, []);
    // listed tracks: full metadata except the seek index
    const t = (await cat.getPlaylist('alice', p.id, 0, 1)).tracks[0]!;
    const full = (await cat.getTrack(d))!;
    assert.deepEqual(t, { ...full, seekIndex: [] });
  });

  it('removes by position; the tracks after it move up', async () => {
    const p = await cat.createPlaylist('alice', 'Remove');
    const [a, b, c, d, e] = ids as [string, string, string, string, string];
    await cat.addToPlaylist('alice', p.id, [a, b, c, d, e]);
    await cat.removeFromPlaylist('alice', p.id, 2);
    assert.deepEqual(await order(cat, 'alice', p.id), [a, b, d, e]);
    await cat.removeFromPlaylist('alice', p.id, 0);
    assert.deepEqual(await order(cat, 'alice', p.id), [b, d, e]);
    const info = await cat.removeFromPlaylist('alice', p.id, 2);
    assert.deepEqual(await order(cat, 'alice', p.id), [b, d]);
    assert.deepEqual(storedPositions(cat, p.id), [0, 1]);
    assert.equal(info.trackCount, 2);
    for (const bad of [2, -1, 0.5, NaN, Number.MAX_SAFE_INTEGER + 1, '1' as unknown as number]) {
      await rejectsWith(cat.removeFromPlaylist('alice', p.id, bad), PlaylistPositionError);
    }
    await cat.removeFromPlaylist('alice', p.id, 1);
    await cat.removeFromPlaylist('alice', p.id, 0);
    await assert.rejects(cat.removeFromPlaylist('alice', p.id, 0), /empty/);
  });

  it('refuses positions outside 0..length when adding, and changes nothing', async () => {
    const p = await cat.createPlaylist('alice', 'Positions');
    await cat.addToPlaylist('alice', p.id, [ids[0]!]);
    for (const bad of [2, -1, 1.5, NaN, Infinity]) await rejectsWith(cat.addToPlaylist('alice', p.id, [ids[1]!], bad), PlaylistPositionError);
    assert.deepEqual(await order(cat, 'alice', p.id), [ids[0]]);
  });

  it('refuses unknown track ids, all or nothing', async () => {
    const p = await cat.createPlaylist('alice', 'Unknown tracks');
    await cat.addToPlaylist('alice', p.id, [ids[0]!]);
    for (const bad of ['AAAAAAAAAAAA', 'nope', '', 'x'.repeat(300), 42 as unknown as string]) {
      await rejectsWith(cat.addToPlaylist('alice', p.id, [ids[1]!, bad, ids[2]!]), UnknownTrackError);
    }
    await rejectsWith(cat.addToPlaylist('alice', p.id, [ids[1]!, 'AAAAAAAAAAAA'], 0), UnknownTrackError);
    assert.deepEqual(await order(cat, 'alice', p.id), [ids[0]]);
    assert.equal((await cat.addToPlaylist('alice', p.id, [])).trackCount, 1, 'adding nothing is no change');
    await assert.rejects(cat.addToPlaylist('alice', p.id, 'abc' as unknown as string[]), TypeError);
  });

  it('refuses unknown playlist ids with UnknownPlaylistError', async () => {
    for (const id of ['AAAAAAAAAAAA', 'nope', '', '../../etc', 7 as unknown as string]) {
      await rejectsWith(cat.getPlaylist('alice', id, 0, 10), UnknownPlaylistError);
      await rejectsWith(cat.addToPlaylist('alice', id, [ids[0]!]), UnknownPlaylistError);
      await rejectsWith(cat.removeFromPlaylist('alice', id, 0), UnknownPlaylistError);
      await rejectsWith(cat.renamePlaylist('alice', id, 'x'), UnknownPlaylistError);
      await rejectsWith(cat.deletePlaylist('alice', id), UnknownPlaylistError);
    }
  });

  it('a user sees and changes only their own playlists; names of users are case-insensitive', async () => {
    const mine = await cat.createPlaylist('carol', 'Mine');
    await cat.addToPlaylist('carol', mine.id, [ids[0]!, ids[1]!]);
    await rejectsWith(cat.getPlaylist('dave', mine.id, 0, 10), UnknownPlaylistError);
    await rejectsWith(cat.addToPlaylist('dave', mine.id, [ids[2]!]), UnknownPlaylistError);
    await rejectsWith(cat.removeFromPlaylist('dave', mine.id, 0), UnknownPlaylistError);
    await rejectsWith(cat.renamePlaylist('dave', mine.id, 'Ours'), UnknownPlaylistError);
    await rejectsWith(cat.deletePlaylist('dave', mine.id), UnknownPlaylistError);
    await rejectsWith(cat.getPlaylist('', mine.id, 0, 10), UnknownPlaylistError);
    assert.deepEqual(await cat.listPlaylists('dave', 0, 100), { playlists: [], total: 0 });
    // unchanged for its owner, who is CAROL as much as carol
    const page = await cat.getPlaylist('CAROL', mine.id, 0, 10);
    assert.equal(page.playlist.name, 'Mine');
    assert.equal(page.playlist.owner, 'carol');
    assert.deepEqual(page.tracks.map((t) => t.id), [ids[0], ids[1]]);
    assert.equal((await cat.listPlaylists('Carol', 0, 10)).total, 1);
    await assert.rejects(cat.createPlaylist('', 'x'), RangeError);
  });

  it('lists a user\'s playlists in creation order, paged, with the total', async () => {
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await cat.createPlaylist('erin', `List ${i}`));
    await cat.createPlaylist('frank', 'Not erin\'s');
    const all = await cat.listPlaylists('erin', 0, 100);
    assert.deepEqual(all.playlists.map((p) => p.id), made.map((p) => p.id));
    assert.equal(all.total, 5);
    assert.deepEqual((await cat.listPlaylists('erin', 1, 2)).playlists.map((p) => p.name), ['List 1', 'List 2']);
    assert.deepEqual(await cat.listPlaylists('erin', 5, 2), { playlists: [], total: 5 });
    assert.deepEqual((await cat.listPlaylists('erin', -1, NaN)).playlists, []);
  });

  it('renames; names are checked', async () => {
    const p = await cat.createPlaylist('alice', 'Old');
    const renamed = await cat.renamePlaylist('alice', p.id, ' New\tname ');
    assert.equal(renamed.name, 'New name');
    assert.equal((await cat.getPlaylist('alice', p.id, 0, 1)).playlist.name, 'New name');
    const at = 'é'.repeat(100); // 200 bytes
    assert.equal((await cat.renamePlaylist('alice', p.id, at)).name, at);
    for (const bad of ['', '   ', 'é'.repeat(100) + 'x', 'a\u0000b', 'bell\u0007', 'a\ud800', 7 as unknown as string]) {
      await rejectsWith(cat.renamePlaylist('alice', p.id, bad), InvalidPlaylistNameError);
      await rejectsWith(cat.createPlaylist('alice', bad), InvalidPlaylistNameError);
    }
    assert.equal((await cat.getPlaylist('alice', p.id, 0, 1)).playlist.name, at);
  });

  it('deletes a playlist and its entries, never the tracks', async () => {
    const p = await cat.createPlaylist('gina', 'Doomed');
    await cat.addToPlaylist('gina', p.id, ids.slice(0, 3));
    await cat.deletePlaylist('gina', p.id);
    await rejectsWith(cat.getPlaylist('gina', p.id, 0, 10), UnknownPlaylistError);
    await rejectsWith(cat.deletePlaylist('gina', p.id), UnknownPlaylistError);
    assert.deepEqual(await cat.listPlaylists('gina', 0, 10), { playlists: [], total: 0 });
    assert.equal(storedPositions(cat, p.id).length, 0);
    assert.equal(cat.database.prepare('SELECT count(*) FROM playlist_tracks pt WHERE NOT EXISTS (SELECT 1 FROM playlists p WHERE p.seq = pt.playlist_seq)').pluck().get(), 0);
    assert.equal(await cat.trackCount(), 6);
    assert.ok(await cat.getTrack(ids[0]!));
  });

  it('matches an array model under random inserts and removals (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('add' as const), tracks: fc.array(fc.nat({ max: 5 }), { minLength: 1, maxLength: 3 }), at: fc.option(fc.nat({ max: 12 }), { nil: null }) }),
            fc.record({ op: fc.constant('remove' as const), at: fc.nat({ max: 12 }) }),
          ),
          { maxLength: 12 },
        ),
        async (ops) => {
          const p = await cat.createPlaylist('model', 'Model');
          const model: string[] = [];
          for (const o of ops) {
            if (o.op === 'add') {
              const add = o.tracks.map((i) => ids[i]!);
              if (o.at !== null && o.at > model.length) {
                await rejectsWith(cat.addToPlaylist('model', p.id, add, o.at), PlaylistPositionError);
                continue;
              }
              await cat.addToPlaylist('model', p.id, add, o.at);
              model.splice(o.at ?? model.length, 0, ...add);
            } else if (o.at >= model.length) {
              await rejectsWith(cat.removeFromPlaylist('model', p.id, o.at), PlaylistPositionError);
            } else {
              await cat.removeFromPlaylist('model', p.id, o.at);
              model.splice(o.at, 1);
            }
            assert.deepEqual(await order(cat, 'model', p.id), model);
          }
          assert.deepEqual(storedPositions(cat, p.id), model.map((_, i) => i));
          await cat.deletePlaylist('model', p.id);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('playlist bounds', () => {
  it('holds at most 10 000 tracks; inserting at the front of a full-size playlist keeps the order', async () => {
    const { cat, ids } = await catalogWith(3);
    const p = await cat.createPlaylist('alice', 'Big');
    const many = Array.from({ length: PLAYLIST_LIMITS.tracks - 1 }, (_, i) => ids[i % 2]!);
    await cat.addToPlaylist('alice', p.id, many);
    const info = await cat.addToPlaylist('alice', p.id, [ids[2]!], 0);
    assert.equal(info.trackCount, PLAYLIST_LIMITS.tracks);
    await rejectsWith(cat.addToPlaylist('alice', p.id, [ids[0]!]), PlaylistLimitError);
    const all = await order(cat, 'alice', p.id);
    assert.equal(all.length, PLAYLIST_LIMITS.tracks);
    assert.deepEqual(all.slice(0, 4), [ids[2], ids[0], ids[1], ids[0]]);
    const last = await cat.getPlaylist('alice', p.id, PLAYLIST_LIMITS.tracks - 2, 100);
    assert.deepEqual(last.tracks.map((t) => t.id), [ids[1], ids[0]]);
    await cat.removeFromPlaylist('alice', p.id, 0);
    assert.equal((await cat.addToPlaylist('alice', p.id, [ids[2]!])).trackCount, PLAYLIST_LIMITS.tracks);
    await rejectsWith(cat.addToPlaylist('alice', p.id, [ids[2]!, ids[2]!], 0), PlaylistLimitError);
    await cat.close();
  });
});

describe('playlists survive a reopen, and older catalogs gain them', () => {
  it('keeps playlists across close and reopen', async () => {
    const file = dbFile();
    const { cat, ids } = await catalogWith(2, file);
    const p = await cat.createPlaylist('alice', 'Kept');
    await cat.addToPlaylist('alice', p.id, [ids[1]!, ids[0]!]);
    await cat.close();
    const again = SqliteCatalog.open(file);
    assert.deepEqual(await order(again, 'alice', p.id), [ids[1], ids[0]]);
    await again.close();
  });

  it('opens a catalog.db written before playlists existed: tracks, users and search intact, playlists work', async () => {
    // The database as the build before playlists wrote it: catalog schema v1 and accounts, no
    // playlists component, a track inserted with that build's SQL.
    const file = dbFile();
    const old = openSqliteDatabase(file);
    migrate(old, CATALOG_COMPONENT, CATALOG_MIGRATION_STEPS.slice(0, 1));
    const accounts = new SqliteAccounts(old, { params: { N: 1024 } });
    await accounts.setPassword('alice', 'secret');
    const t = newTrack(42, { title: 'Old Song', artist: 'Old Band', album: 'Old Album' });
    const artistId = artistIdFor(t.artist);
    const albumId = albumIdFor(t.artist, t.album);
    old.prepare('INSERT INTO artists(id, name, sort_key) VALUES (?, ?, ?)').run(artistId, t.artist, 'old band');
    old.prepare('INSERT INTO albums(id, artist_id, title, sort_key) VALUES (?, ?, ?, ?)').run(albumId, artistId, t.album, 'old album');
    old.prepare(`INSERT INTO tracks(id, file_id, album_id, title, track_no, duration_ms, bytes, codec, bitrate, sample_rate, channels, seek_index, added_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      trackIdFor(t.fileId), t.fileId, albumId, t.title, t.trackNo, t.durationMs, t.bytes, t.codec, t.bitrate, t.sampleRate, t.channels, encodeSeekIndex(t.seekIndex), 1,
    );
    const versions = () => Object.fromEntries((old.prepare('SELECT component, version FROM schema_version').all() as { component: string; version: number }[]).map((r) => [r.component, r.version]));
    assert.deepEqual(versions(), { catalog: 1, accounts: 1 });
    old.close();

    const cat = SqliteCatalog.open(file);
    const track = await cat.getTrack(trackIdFor(t.fileId));
    assert.equal(track?.title, 'Old Song');
    assert.deepEqual(track?.seekIndex, t.seekIndex);
    assert.equal((await cat.search('old song', 5)).tracks.length, 1);
    const p = await cat.createPlaylist('alice', 'After the upgrade');
    await cat.addToPlaylist('alice', p.id, [track!.id, track!.id]);
    assert.deepEqual(await order(cat, 'alice', p.id), [track!.id, track!.id]);
    assert.equal(await new SqliteAccounts(cat.database).verify('alice', 'secret'), true);
    await cat.close();

    const db = new Database(file);
    assert.deepEqual(Object.fromEntries((db.prepare('SELECT component, version FROM schema_version').all() as { component: string; version: number }[]).map((r) => [r.component, r.version])), {
      catalog: 1,
      accounts: 1,
      playlists: 1,
    });
    // a playlists schema from a newer build is refused, like the catalog's
    db.prepare('UPDATE schema_version SET version = 9 WHERE component = ?').run(PLAYLISTS_COMPONENT);
    db.close();
    assert.throws(() => SqliteCatalog.open(file), SchemaVersionError);
  });
});

describe('playlist pages at the AP', () => {
  const track = (i: number, title: string): TrackInfo => ({
    id: `t${i}`, uri: `tunemesh:track:t${i}`, title, artist: 'A', album: 'B', trackNo: i, durationMs: 1, bytes: 1,
    fileId: 'f'.repeat(64), codec: 'vorbis', bitrate: 1, sampleRate: 1, channels: 1, seekIndex: [],
  });
  const playlist = { id: 'p', uri: 'tunemesh:playlist:p', name: 'P', owner: 'alice', trackCount: 5, durationMs: 5, createdAt: 0, updatedAt: 0 };

  it('cuts a page to the byte budget, keeping at least one track', () => {
    const long = Array.from({ length: 5 }, (_, i) => track(i, 'é'.repeat(500))); // ~1.1 kB each
    const size = trackInfoSize(long[0]!);
    assert.ok(size > 1000 && size < 1200, String(size));
    const cut = pageWithin({ playlist, offset: 3, tracks: long }, 3 * size + 10);
    assert.deepEqual(cut.tracks.map((t) => t.id), ['t0', 't1', 't2']);
    assert.equal(cut.offset, 3);
    assert.deepEqual(pageWithin({ playlist, offset: 0, tracks: long }, 10).tracks.map((t) => t.id), ['t0']);
    const page = { playlist, offset: 0, tracks: long };
    assert.equal(pageWithin(page, 100 * size), page);
    assert.deepEqual(pageWithin({ playlist, offset: 0, tracks: [] }, 10).tracks, []);
  });
});

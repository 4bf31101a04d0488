/**
 * Playlists and ordered playback end to end, with real processes on loopback: playlists made,
 * filled, shown, changed and deleted through the CLI; `tunemesh play` of a playlist, an album and
 * several tracks, each byte-identical to its ingested file and in order; a second user neither
 * sees nor changes the first user's playlist; the HTTP API refuses bad requests.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeDemoLibrary } from '../../src/audio/synth.ts';
import { runCli, startCli, type Running } from '../helpers/processes.ts';

interface Ingested {
  id: string;
  uri: string;
  title: string;
  album: string;
  bytes: number;
}

let dir: string;
let ap: Running;
const clients: Running[] = [];
let alice: string;
let bob: string;
let tracks: Ingested[];
/** The ingested file of each track id. */
const files = new Map<string, Buffer>();
/** Alice's playlist. */
let roadTrip: { id: string; uri: string };
/** The tracks added to it, in the order they should end up. */
let expected: Ingested[];

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function cli(args: string[], client = alice): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli([...args, '--client', client]);
}

async function cliJson(args: string[], client = alice): Promise<any> {
  const r = await cli([...args, '--json'], client);
  assert.equal(r.code, 0, `tunemesh ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function api(client: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${client}${p}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-playlists-'));
  const music = path.join(dir, 'music');
  const paths = await writeDemoLibrary(music, { artists: 1, albumsPerArtist: 2, tracksPerAlbum: 3, seed: 11, minSec: 6, maxSec: 12 });
  const data = path.join(dir, 'data');
  const ingest = await runCli(['ingest', music, '--data', data, '--json']);
  assert.equal(ingest.code, 0, ingest.stderr);
  tracks = JSON.parse(ingest.stdout).added;
  assert.equal(tracks.length, 6);
  for (const p of paths) {
    const bytes = await readFile(p);
    const t = tracks.find((t) => t.bytes === bytes.length && p.includes(t.title));
    assert.ok(t, `ingested track for ${p}`);
    files.set(t.id, bytes);
  }
  for (const user of ['alice', 'bob']) {
    const r = await runCli(['user', 'add', user, '--password', 'pw', '--data', data]);
    assert.equal(r.code, 0, r.stderr);
  }
  ap = await startCli(['server', '--data', data, '--port', '0', '--json']);
  const address = JSON.parse(ap.firstLine).address;
  const start = async (user: string) => {
    const c = await startCli(['client', '--server', address, '--cache', path.join(dir, `cache-${user}`), '--http-port', '0', '--user', user, '--password', 'pw', '--json']);
    clients.push(c);
    return JSON.parse(c.firstLine).url as string;
  };
  [alice, bob] = await Promise.all([start('alice'), start('bob')]);
});

after(async () => {
  for (const c of clients) await c.stop();
  await ap?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('create a playlist, add tracks by URI, by search words and at a position, and show it', async () => {
  const created = await cliJson(['playlist', 'create', 'Road', 'trip']);
  assert.equal(created.playlist.name, 'Road trip');
  assert.match(created.playlist.uri, /^tunemesh:playlist:[A-Za-z0-9]{12}$/);
  roadTrip = created.playlist;

  const [a, b, c, d] = [tracks[0]!, tracks[4]!, tracks[2]!, tracks[5]!];
  let r = await cliJson(['playlist', 'add', roadTrip.uri, a.uri, b.uri]);
  assert.equal(r.playlist.trackCount, 2);
  assert.deepEqual(r.added.map((t: any) => t.id), [a.id, b.id]);
  // By search words: the whole title finds that track first.
  r = await cliJson(['playlist', 'add', roadTrip.uri, ...c.title.split(' ')]);
  assert.deepEqual(r.added.map((t: any) => t.id), [c.id]);
  // At a position, in the human output
  const human = await cli(['playlist', 'add', roadTrip.uri, d.uri, '--position', '1']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /added .* to "Road trip" \(now 4 tracks, /);
  expected = [d, a, b, c];

  const shown = await cliJson(['playlist', 'show', roadTrip.uri]);
  assert.deepEqual(shown.tracks.map((t: any) => t.id), expected.map((t) => t.id));
  assert.equal(shown.playlist.trackCount, 4);
  assert.equal(shown.playlist.owner, 'alice');
  const text = await cli(['playlist', 'show', roadTrip.uri]);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trim().split('\n');
  assert.match(lines[0]!, /^Road trip {2}tunemesh:playlist:\w+ {2}\(4 tracks, \d+:\d\d\)$/);
  assert.deepEqual(lines.slice(1).map((l) => l.split('.')[0]!.trim()), ['1', '2', '3', '4']);
  assert.ok(lines[1]!.includes(d.title) && lines[1]!.endsWith(d.uri));

  const listed = await cliJson(['playlist', 'list']);
  assert.equal(listed.total, 1);
  assert.deepEqual(listed.playlists.map((p: any) => p.uri), [roadTrip.uri]);
});

test('tunemesh play <playlist-uri> --json plays every track in order, byte-identical', async () => {
  const out = path.join(dir, 'played-playlist');
  const reports = await cliJson(['play', roadTrip.uri, '--out-dir', out]);
  assert.ok(Array.isArray(reports));
  assert.deepEqual(reports.map((r: any) => r.track.id), expected.map((t) => t.id));
  for (const r of reports) {
    const src = files.get(r.track.id)!;
    assert.equal(r.bytes, src.length);
    assert.equal(r.sha256, sha256(src));
    assert.equal(typeof r.latencyMs, 'number');
    assert.equal(r.sources.server + r.sources.peer + r.sources.cache, src.length);
    assert.ok((await readFile(r.file)).equals(src), `${r.file} identical to the ingested file`);
  }
  assert.deepEqual((await readdir(out)).sort(), expected.map((t, i) => `${String(i + 1).padStart(3, '0')}-${t.id}.ogg`));
  // The human report has a line per track and a total.
  const text = await cli(['play', roadTrip.uri]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^1\/4 played /m);
  assert.match(text.stdout, /^4\/4 played /m);
  assert.match(text.stdout, /^total: 4 tracks \(\d+:\d\d, [\d.]+ kB\), latency median [\d.]+ ms, stutters \d+$/m);
});

test('an album URI plays in track order; several track URIs play in the order given', async () => {
  const { artists } = (await api(alice, 'GET', '/api/artists')).body;
  const { albums } = (await api(alice, 'GET', `/api/artists/${artists[0].id}`)).body;
  assert.equal(albums.length, 2);
  const album = albums[1];
  assert.equal(album.uri, `tunemesh:album:${album.id}`);
  const albumTracks = (await api(alice, 'GET', `/api/albums/${album.id}`)).body.tracks;
  const numbers = albumTracks.map((t: any) => t.trackNo);
  assert.deepEqual(numbers, [1, 2, 3]);

  const resolved = (await api(alice, 'GET', `/api/resolve?uri=${encodeURIComponent(album.uri)}`)).body;
  assert.equal(resolved.kind, 'album');
  assert.deepEqual(resolved.tracks.map((t: any) => t.id), albumTracks.map((t: any) => t.id));

  const reports = await cliJson(['play', album.uri]);
  assert.deepEqual(reports.map((r: any) => r.track.id), albumTracks.map((t: any) => t.id));
  for (const r of reports) assert.equal(r.sha256, sha256(files.get(r.track.id)!));

  const [x, y] = [tracks[3]!, tracks[1]!];
  const two = await cliJson(['play', x.uri, y.uri]);
  assert.deepEqual(two.map((r: any) => r.track.id), [x.id, y.id]);
  for (const r of two) assert.equal(r.sha256, sha256(files.get(r.track.id)!));
  // One track URI reports as one object, as it always has.
  const one = await cliJson(['play', x.uri]);
  assert.equal(one.track.id, x.id);
  assert.equal(one.sha256, sha256(files.get(x.id)!));
});

test("a second user neither sees nor changes the first user's playlist", async () => {
  assert.deepEqual(await cliJson(['playlist', 'list'], bob), { playlists: [], total: 0 });
  for (const args of [
    ['playlist', 'show', roadTrip.uri],
    ['playlist', 'add', roadTrip.uri, tracks[0]!.uri],
    ['playlist', 'remove', roadTrip.uri, '1'],
    ['playlist', 'rename', roadTrip.uri, 'Mine'],
    ['playlist', 'delete', roadTrip.uri],
    ['play', roadTrip.uri],
  ]) {
    const r = await cli(args, bob);
    assert.equal(r.code, 1, `${args.join(' ')} as bob: ${r.stdout}`);
    assert.match(r.stderr, /no playlist/, args.join(' '));
  }
  assert.equal((await api(bob, 'GET', `/api/playlists/${roadTrip.id}`)).status, 404);
  assert.equal((await api(bob, 'GET', `/api/resolve?uri=${roadTrip.uri}`)).status, 404);
  // Bob's own playlist is his alone, and alice's is unchanged.
  const his = (await api(bob, 'POST', '/api/playlists', { name: 'Bob only' })).body.playlist;
  assert.equal(his.owner, 'bob');
  assert.equal((await api(alice, 'GET', `/api/playlists/${his.id}`)).status, 404);
  const mine = (await api(alice, 'GET', `/api/playlists/${roadTrip.id}`)).body;
  assert.equal(mine.playlist.name, 'Road trip');
  assert.deepEqual(mine.tracks.map((t: any) => t.id), expected.map((t) => t.id));
});

test('remove by position, rename and delete through the CLI', async () => {
  let r = await cliJson(['playlist', 'remove', roadTrip.uri, '2']);
  assert.equal(r.playlist.trackCount, 3);
  expected.splice(1, 1);
  assert.deepEqual((await cliJson(['playlist', 'show', roadTrip.uri])).tracks.map((t: any) => t.id), expected.map((t) => t.id));
  r = await cliJson(['playlist', 'rename', roadTrip.uri, 'Night', 'drive']);
  assert.equal(r.playlist.name, 'Night drive');
  const outside = await cli(['playlist', 'remove', roadTrip.uri, '4']);
  assert.equal(outside.code, 1);
  assert.match(outside.stderr, /position 3 is not in 0\.\.2/);
  r = await cliJson(['playlist', 'delete', roadTrip.uri]);
  assert.deepEqual(r, { deleted: roadTrip.id });
  const gone = await cli(['playlist', 'show', roadTrip.uri]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /no playlist/);
  assert.deepEqual(await cliJson(['playlist', 'list']), { playlists: [], total: 0 });
});

test('every playlist command has --help with --client and --json; bad arguments exit 2', async () => {
  const subcommands = ['create', 'add', 'list', 'show', 'rename', 'remove', 'delete'];
  const helps = await Promise.all(subcommands.map((s) => runCli(['playlist', s, '--help'])));
  helps.forEach((h, i) => {
    assert.equal(h.code, 0, subcommands[i]);
    assert.match(h.stdout, /--client <url>/);
    assert.match(h.stdout, /--json/);
  });
  const bad = await Promise.all([
    cli(['playlist', 'remove', 'tunemesh:playlist:abc', '0']),
    cli(['playlist', 'add', 'tunemesh:track:abc', 'some', 'words']),
    cli(['playlist', 'add', 'tunemesh:playlist:abc', tracks[0]!.uri, 'words']),
    cli(['play', tracks[0]!.uri, 'words']),
    cli(['playlist', 'create']),
  ]);
  for (const r of bad) assert.equal(r.code, 2, r.stderr);
});

/** A raw request with any Host header (fetch sets its own). */
function rawRequest(url: string, method: string, headers: Record<string, string>, body = ''): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('the playlist API validates every parameter and refuses changes from other sites', async () => {
  const p = (await api(alice, 'POST', '/api/playlists', { name: 'Checks' })).body.playlist;
  const id = p.id;
  const cases: [string, string, unknown, number][] = [
    ['POST', '/api/playlists', { name: '' }, 400],
    ['POST', '/api/playlists', { name: '   ' }, 400],
    ['POST', '/api/playlists', { name: 'x'.repeat(201) }, 400],
    ['POST', '/api/playlists', { name: 'a\u0000b' }, 400],
    ['POST', '/api/playlists', { name: 42 }, 400],
    ['POST', '/api/playlists', { title: 'x' }, 400],
    ['POST', '/api/playlists', {}, 400],
    ['POST', '/api/playlists', [], 400],
    ['POST', '/api/playlists', '{"name":', 400],
    ['PATCH', `/api/playlists/${id}`, { name: '' }, 400],
    ['PATCH', '/api/playlists/bad$id', { name: 'x' }, 400],
    ['PATCH', '/api/playlists/AAAAAAAAAAAA', { name: 'x' }, 404],
    ['POST', `/api/playlists/${id}/tracks`, { trackIds: [] }, 400],
    ['POST', `/api/playlists/${id}/tracks`, { trackIds: 'abc' }, 400],
    ['POST', `/api/playlists/${id}/tracks`, { trackIds: ['../x'] }, 400],
    ['POST', `/api/playlists/${id}/tracks`, { trackIds: [tracks[0]!.id], position: -1 }, 400],
    ['POST', `/api/playlists/${id}/tracks`, { trackIds: [tracks[0]!.id], position: 1.5 }, 400],
    ['POST', `/api/playlists/${id}/tracks`, { trackIds: [tracks[0]!.id], position: '0' }, 400],
    ['POST', `/api/playlists/${id}/tracks`, { trackIds: [tracks[0]!.id], position: 5 }, 400], // past the end
    ['POST', `/api/playlists/${id}/tracks`, { trackIds: Array(10_001).fill(tracks[0]!.id) }, 400],
    ['POST', `/api/playlists/${id}/tracks`, { trackIds: ['AAAAAAAAAAAA'] }, 400], // no such track
    ['POST', '/api/playlists/AAAAAAAAAAAA/tracks', { trackIds: [tracks[0]!.id] }, 404],
    ['DELETE', `/api/playlists/${id}/tracks/abc`, undefined, 400],
    ['DELETE', `/api/playlists/${id}/tracks/-1`, undefined, 400],
    ['DELETE', `/api/playlists/${id}/tracks/10000`, undefined, 400],
    ['DELETE', `/api/playlists/${id}/tracks/0`, undefined, 400], // empty playlist
    ['DELETE', '/api/playlists/AAAAAAAAAAAA', undefined, 404],
    ['GET', '/api/playlists/AAAAAAAAAAAA', undefined, 404],
    ['GET', '/api/playlists?limit=0', undefined, 400],
    ['GET', '/api/playlists?offset=-1', undefined, 400],
    ['GET', '/api/playlists?limit=abc', undefined, 400],
    ['GET', '/api/resolve', undefined, 400],
    ['GET', '/api/resolve?uri=spotify:track:abc', undefined, 400],
    ['GET', '/api/resolve?uri=tunemesh:artist:abc', undefined, 400],
    ['GET', '/api/resolve?uri=tunemesh:album:AAAAAAAAAAAA', undefined, 404],
    ['GET', '/api/resolve?uri=tunemesh:track:AAAAAAAAAAAA', undefined, 404],
    ['PUT', `/api/playlists/${id}`, { name: 'x' }, 405],
    ['POST', '/api/stats', {}, 405],
  ];
  for (const [method, p, body, status] of cases) {
    const r = await api(alice, method, p, body);
    assert.equal(r.status, status, `${method} ${p} ${JSON.stringify(body)?.slice(0, 60)}: ${JSON.stringify(r.body)}`);
    if (status !== 200) assert.equal(typeof r.body.error, 'string');
  }
  // JSON bodies only; no cross-site changes; no foreign Host (DNS rebinding)
  assert.equal((await api(alice, 'POST', '/api/playlists', undefined, { 'content-type': 'text/plain' })).status, 415);
  const form = await fetch(`${alice}/api/playlists`, { method: 'POST', body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(form.status, 415);
  assert.equal((await api(alice, 'POST', '/api/playlists', { name: 'x' }, { origin: 'http://evil.example' })).status, 403);
  assert.equal((await api(alice, 'DELETE', `/api/playlists/${id}`, undefined, { origin: 'http://evil.example' })).status, 403);
  assert.equal(await rawRequest(`${alice}/api/playlists`, 'POST', { host: 'evil.example:7700', 'content-type': 'application/json' }, '{"name":"x"}'), 403);
  assert.equal(await rawRequest(`${alice}/api/playlists`, 'POST', { host: `localhost:${new URL(alice).port}`, 'content-type': 'application/json' }, '{"name":"local"}'), 201);
  // nothing changed by the refused requests; the client keeps running
  const after = (await api(alice, 'GET', `/api/playlists/${id}`)).body;
  assert.equal(after.playlist.name, 'Checks');
  assert.equal(after.tracks.length, 0);
  const { playlists } = (await api(alice, 'GET', '/api/playlists')).body;
  assert.deepEqual(playlists.map((x: any) => x.name), ['Checks', 'local']);
  assert.equal((await api(alice, 'GET', '/api/stats')).status, 200);
  // the same through the API: add at a position, remove, rename, delete
  assert.equal((await api(alice, 'POST', `/api/playlists/${id}/tracks`, { trackIds: [tracks[1]!.id, tracks[2]!.id] })).body.playlist.trackCount, 2);
  assert.equal((await api(alice, 'POST', `/api/playlists/${id}/tracks`, { trackIds: [tracks[3]!.id], position: 1 })).status, 200);
  assert.deepEqual((await api(alice, 'GET', `/api/playlists/${id}`)).body.tracks.map((t: any) => t.id), [tracks[1]!.id, tracks[3]!.id, tracks[2]!.id]);
  assert.equal((await api(alice, 'DELETE', `/api/playlists/${id}/tracks/0`)).body.playlist.trackCount, 2);
  assert.equal((await api(alice, 'PATCH', `/api/playlists/${id}`, { name: ' Renamed ' })).body.playlist.name, 'Renamed');
  assert.deepEqual((await api(alice, 'DELETE', `/api/playlists/${id}`)).body, { deleted: id });
  assert.equal((await api(alice, 'GET', `/api/playlists/${id}`)).status, 404);
});

/**
 * End to end with real processes on loopback: ingest generated tracks, start the AP and a
 * client, play through `/audio/<id>`, check the bytes, a real decoder, the stats and the cache.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeDemoLibrary } from '../../src/audio/synth.ts';
import { runCli, startCli, have, run, type Running } from '../helpers/processes.ts';

let dir: string;
let ap: Running;
let client: Running;
let clientUrl: string;
let apAddress: string;
let tracks: { id: string; uri: string; title: string; bytes: number; path?: string }[];
let files: Map<string, Buffer>;

async function stats(): Promise<any> {
  return (await fetch(`${clientUrl}/api/stats`)).json();
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-e2e-'));
  const paths = await writeDemoLibrary(path.join(dir, 'music'), { artists: 1, albumsPerArtist: 1, tracksPerAlbum: 3, seed: 7, minSec: 20, maxSec: 40 });
  const ingest = await runCli(['ingest', path.join(dir, 'music'), '--data', path.join(dir, 'data'), '--json']);
  assert.equal(ingest.code, 0, ingest.stderr);
  tracks = JSON.parse(ingest.stdout).added;
  assert.equal(tracks.length, 3);
  // Match each track to its source file by size and title, to compare bytes later.
  files = new Map();
  for (const p of paths) {
    const data = await readFile(p);
    const t = tracks.find((t) => t.bytes === data.length && p.includes(t.title));
    assert.ok(t, `ingested track for ${p}`);
    files.set(t.id, data);
  }
  const user = await runCli(['user', 'add', 'alice', '--password', 'secret', '--data', path.join(dir, 'data')]);
  assert.equal(user.code, 0, user.stderr);
  ap = await startCli(['server', '--data', path.join(dir, 'data'), '--port', '0', '--json']);
  apAddress = JSON.parse(ap.firstLine).address;
  assert.match(apAddress, /^127\.0\.0\.1:\d+#[0-9a-f]{64}$/);
  assert.equal((await readFile(path.join(dir, 'data', 'address'), 'utf8')).trim(), apAddress);
  client = await startCli(['client', '--server', apAddress, '--cache', path.join(dir, 'cache'), '--http-port', '0', '--user', 'alice', '--password', 'secret', '--json']);
  clientUrl = JSON.parse(client.firstLine).url;
});

after(async () => {
  await client?.stop();
  await ap?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('a played track arrives byte-identical and a real decoder accepts it', async () => {
  const t = tracks[0]!;
  const res = await fetch(`${clientUrl}/audio/${t.id}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'audio/ogg');
  const body = Buffer.from(await res.arrayBuffer());
  assert.ok(body.equals(files.get(t.id)!), 'bytes identical to the ingested file');
  const out = path.join(dir, 'played.ogg');
  await writeFile(out, body);
  if (await have('oggdec')) {
    const r = await run('oggdec', ['-Q', '-o', '/dev/null', out]);
    assert.equal(r.code, 0, r.stderr);
  } else if (await have('ffmpeg')) {
    const r = await run('ffmpeg', ['-v', 'error', '-i', out, '-f', 'null', '-']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
  } else {
    assert.fail('no Ogg decoder installed (vorbis-tools or ffmpeg); .ci/run installs them');
  }
});

test('the play is in /api/stats with its latency, and the bytes came from the server', async () => {
  const t = tracks[0]!;
  const s = await stats();
  const play = s.plays.find((p: any) => p.trackId === t.id);
  assert.ok(play, 'play recorded');
  assert.equal(typeof play.latencyMs, 'number');
  assert.ok(play.latencyMs >= 0);
  assert.equal(play.sources.server, t.bytes);
  assert.ok(s.bytes.server >= t.bytes);
  assert.equal(s.cache.completeFiles >= 1, true);
});

test('playing it again comes from the cache: server bytes unchanged', async () => {
  const t = tracks[0]!;
  const before = (await stats()).bytes.server;
  const res = await fetch(`${clientUrl}/audio/${t.id}`);
  const play = Number(res.headers.get('x-tunemesh-play'));
  const body = Buffer.from(await res.arrayBuffer());
  assert.ok(body.equals(files.get(t.id)!));
  const s = await stats();
  assert.equal(s.bytes.server, before, 'no new bytes from the server');
  const record = s.plays.find((p: any) => p.id === play);
  assert.equal(record.sources.cache, t.bytes);
  assert.equal(record.sources.server, 0);
});

test('Range requests: open-ended, bounded and suffix ranges return the right bytes', async () => {
  const t = tracks[1]!;
  const src = files.get(t.id)!;
  const open = await fetch(`${clientUrl}/audio/${t.id}`, { headers: { range: 'bytes=40000-' } });
  assert.equal(open.status, 206);
  assert.equal(open.headers.get('content-range'), `bytes 40000-${src.length - 1}/${src.length}`);
  assert.ok(Buffer.from(await open.arrayBuffer()).equals(src.subarray(40000)));
  const bounded = await fetch(`${clientUrl}/audio/${t.id}`, { headers: { range: 'bytes=100-199' } });
  assert.equal(bounded.status, 206);
  assert.ok(Buffer.from(await bounded.arrayBuffer()).equals(src.subarray(100, 200)));
  const suffix = await fetch(`${clientUrl}/audio/${t.id}`, { headers: { range: 'bytes=-500' } });
  assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(src.subarray(src.length - 500)));
  const bad = await fetch(`${clientUrl}/audio/${t.id}`, { headers: { range: `bytes=${src.length + 10}-` } });
  assert.equal(bad.status, 416);
});

test('search through the API and the CLI; tunemesh play writes identical bytes and reports sources', async () => {
  const t = tracks[2]!;
  const api = await (await fetch(`${clientUrl}/api/search?q=${encodeURIComponent(t.title.split(' ')[0]!)}`)).json();
  assert.ok(api.tracks.some((x: any) => x.id === t.id));
  const search = await runCli(['search', t.title, '--client', clientUrl, '--json']);
  assert.equal(search.code, 0, search.stderr);
  assert.equal(JSON.parse(search.stdout).tracks[0].id, t.id);
  const out = path.join(dir, 'cli-play.ogg');
  const play = await runCli(['play', t.uri, '--client', clientUrl, '--out', out, '--json']);
  assert.equal(play.code, 0, play.stderr);
  const report = JSON.parse(play.stdout);
  assert.equal(report.track.id, t.id);
  assert.equal(typeof report.latencyMs, 'number');
  assert.equal(report.sources.server + report.sources.peer + report.sources.cache, t.bytes);
  assert.ok((await readFile(out)).equals(files.get(t.id)!));
});

test('browse: artists -> albums -> tracks in album order', async () => {
  const { artists } = await (await fetch(`${clientUrl}/api/artists`)).json();
  assert.equal(artists.length, 1);
  const { albums } = await (await fetch(`${clientUrl}/api/artists/${artists[0].id}`)).json();
  assert.equal(albums.length, 1);
  const album = await (await fetch(`${clientUrl}/api/albums/${albums[0].id}`)).json();
  assert.deepEqual(album.tracks.map((t: any) => t.id).sort(), tracks.map((t) => t.id).sort());
  const numbers = album.tracks.map((t: any) => t.trackNo);
  assert.deepEqual(numbers, [...numbers].sort((a: number, b: number) => a - b));
  assert.equal((await fetch(`${clientUrl}/api/albums/nosuchalbum1`)).status, 404);
});

test('unknown tracks and bad ids get clear HTTP errors; the client keeps running', async () => {
  assert.equal((await fetch(`${clientUrl}/audio/nosuchtrack1`)).status, 404);
  assert.equal((await fetch(`${clientUrl}/audio/..%2F..%2Fetc`)).status, 400);
  assert.equal((await fetch(`${clientUrl}/api/nothing`)).status, 404);
  assert.equal((await fetch(`${clientUrl}/api/stats`)).status, 200);
});

test('a client with a wrong password is refused with a clear message', async () => {
  const r = await runCli(['client', '--server', apAddress, '--cache', path.join(dir, 'cache-bad'), '--http-port', '0', '--user', 'alice', '--password', 'wrong']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /refused user alice/);
});

test('a client pinning another fingerprint refuses the AP', async () => {
  const wrong = apAddress.replace(/#.*/, '#' + 'ab'.repeat(32));
  const r = await runCli(['client', '--server', wrong, '--cache', path.join(dir, 'cache-pin'), '--http-port', '0', '--user', 'alice', '--password', 'secret']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /fingerprint/i);
});

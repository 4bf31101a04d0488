/**
 * Sequential playback over links with real latency: an AP and three client daemons as real
 * processes, each client's link to the AP behind a delay proxy (50 ms round trip) and each peer
 * listener behind one of its own (20, 50 and 80 ms round trips; peers dial the proxy through
 * `--advertise-port`). Listeners play in real time with `tunemesh play --listen`, which hands the
 * tracks to the client's play queue: the next track is prefetched (from peers, or its start from
 * the AP 10 s before it is due), so it starts with no round trip at all, while a random access
 * costs at least one round trip to the AP. Bytes stay identical throughout.
 *
 * Tracks are 16-17 s long, so the 30 s prefetch mark lies at the start of the previous track and
 * the 10 s AP fallback 6-7 s into it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeDemoLibrary } from '../../src/audio/synth.ts';
import { openDataDir } from '../../src/server/data-dir.ts';
import { ingestPaths } from '../../src/server/ingest.ts';
import type { TrackInfo } from '../../src/core/track.ts';
import type { PlayReport } from '../../src/cli/commands/play.ts';
import { runCli, startCli, type Running } from '../helpers/processes.ts';
import { startDelayProxy, type DelayProxy } from '../helpers/delay-proxy.ts';

/** One-way delay to the AP: a 50 ms round trip. */
const AP_DELAY_MS = 25;

let dir: string;
let ap: Running;
let fingerprint: string;
let apPort: number;
const tracks: { info: TrackInfo; src: Buffer; sha256: string }[] = [];
const running: Running[] = [];
const proxies: DelayProxy[] = [];

interface Client {
  url: string;
  name: string;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A client whose AP link and peer listener both sit behind delay proxies. */
async function startClient(name: string, peerDelayMs: number): Promise<Client> {
  const toAp = await startDelayProxy({ target: { host: '127.0.0.1', port: apPort }, delayMs: AP_DELAY_MS });
  const peerPort = await freePort();
  const toPeer = await startDelayProxy({ target: { host: '127.0.0.1', port: peerPort }, delayMs: peerDelayMs });
  proxies.push(toAp, toPeer);
  const proc = await startCli([
    'client',
    '--server', `127.0.0.1:${toAp.port}#${fingerprint}`,
    '--cache', path.join(dir, name),
    '--http-port', '0',
    '--peer-port', String(peerPort),
    '--advertise-port', String(toPeer.port),
    '--user', 'lee', '--password', 'pw', '--json',
  ]);
  running.push(proc);
  return { url: JSON.parse(proc.firstLine).url, name };
}

/** `tunemesh play --listen` as its own process: the listener's reports, one per track. */
async function listen(client: Client, ids: string[], extra: string[] = []): Promise<{ reports: PlayReport[]; outDir: string }> {
  const outDir = path.join(dir, `out-${client.name}-${Math.random().toString(36).slice(2, 8)}`);
  const r = await runCli(['play', '--client', client.url, '--listen', '--json', '--out-dir', outDir, ...extra, ...ids.map((id) => `tunemesh:track:${id}`)], { timeoutMs: 150_000 });
  assert.equal(r.code, 0, r.stderr);
  return { reports: JSON.parse(r.stdout) as PlayReport[], outDir };
}

async function stats(c: Client): Promise<any> {
  return (await fetch(`${c.url}/api/stats`)).json();
}

async function queue(c: Client): Promise<any> {
  return (await fetch(`${c.url}/api/queue`)).json();
}

/** Waits until a client has announced `n` files to the tracker. */
async function announced(c: Client, n: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((await stats(c)).peers.announced >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${c.name} never announced ${n} files`);
}

function byId(id: string) {
  return tracks.find((t) => t.info.id === id)!;
}

/** Played out in full: bytes identical to the source, written to the file the report names. */
async function assertIdentical(r: PlayReport): Promise<void> {
  const t = byId(r.track.id);
  assert.equal(r.sha256, t.sha256, `${r.track.title}: bytes identical`);
  assert.ok((await readFile(r.file!)).equals(t.src));
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-seq-'));
  const dataPath = path.join(dir, 'data');
  const data = openDataDir(dataPath);
  const files = await writeDemoLibrary(path.join(dir, 'music'), { artists: 1, albumsPerArtist: 2, tracksPerAlbum: 3, seed: 41, minSec: 16, maxSec: 17 });
  const { added } = await ingestPaths(files, { data });
  await data.accounts.setPassword('lee', 'pw');
  data.close();
  for (const info of added) {
    const src = await readFile(files[added.indexOf(info)]!);
    tracks.push({ info, src, sha256: createHash('sha256').update(src).digest('hex') });
  }
  // Two albums of three tracks, each in track order.
  tracks.sort((x, y) => x.info.album.localeCompare(y.info.album) || x.info.trackNo - y.info.trackNo);
  assert.equal(new Set(tracks.slice(0, 3).map((t) => t.info.album)).size, 1);
  ap = await startCli(['server', '--data', dataPath, '--port', '0', '--json']);
  const address = JSON.parse(ap.firstLine).address as string;
  const m = /^127\.0\.0\.1:(\d+)#(.+)$/.exec(address);
  assert.ok(m, address);
  apPort = Number(m[1]);
  fingerprint = m[2]!;
});

after(async () => {
  for (const p of running) await p.stop();
  for (const p of proxies) await p.close();
  await ap?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('three clients over delayed links: sequential starts come from prefetched data with no round trip; bytes identical', { timeout: 300_000 }, async () => {
  const a = await startClient('a', 10);
  const b = await startClient('b', 25);
  const c = await startClient('c', 40);
  const album = tracks.slice(0, 3).map((t) => t.info.id);
  const others = tracks.slice(3).map((t) => t.info.id); // the other album

  // Round 1. A listens to three tracks in order, nobody has them yet: the first is a random
  // access (the AP, one round trip at least); the next ones were prefetched from the AP 10 s
  // before they were due (prefetch-fallback). Meanwhile C picks two other tracks at random.
  const [first, picks] = await Promise.all([
    listen(a, album),
    (async () => {
      const out = [];
      for (const id of others.slice(0, 2)) {
        const res = await fetch(`${c.url}/audio/${id}`);
        out.push({ id, body: Buffer.from(await res.arrayBuffer()), playId: res.headers.get('x-tunemesh-play') });
      }
      return out;
    })(),
  ]);
  for (const p of picks) {
    assert.ok(p.body.equals(byId(p.id).src), 'random picks: bytes identical');
    const record = await (await fetch(`${c.url}/api/plays/${p.playId}`)).json();
    assert.equal(record.access, 'random');
    assert.ok(record.latencyMs >= 2 * AP_DELAY_MS - 5, `a random access waits for the AP: ${record.latencyMs} ms`);
  }
  assert.equal(first.reports.length, 3);
  for (const r of first.reports) {
    await assertIdentical(r);
    assert.equal(r.endReason, 'finished', 'played out in real time');
    assert.equal(r.stutters, 0, `${r.track.title}: no stutter`);
  }
  const [a1, a2, a3] = first.reports as [PlayReport, PlayReport, PlayReport];
  assert.equal(a1.access, 'random');
  assert.ok(a1.latencyMs! >= 2 * AP_DELAY_MS - 5, `the first track costs an AP round trip: ${a1.latencyMs} ms`);
  for (const r of [a2, a3]) {
    assert.equal(r.access, 'sequential');
    assert.ok(r.latencyMs! < AP_DELAY_MS, `${r.track.title}: a prefetched start needs no round trip (${r.latencyMs} ms)`);
  }
  const sa = await stats(a);
  assert.ok(sa.apRequests.requests['prefetch-fallback'] >= 2, 'nobody else had the next tracks: their starts came from the AP, counted as prefetch fallback');
  assert.deepEqual((await queue(a)).stats, { prefetches: 2, sequentialPlays: 2, prefetchedStarts: 2 });
  await announced(a, 3);
  await announced(c, 2);

  // Round 2. B listens to the same three tracks: its next tracks are found at A through the
  // tracker 30 s ahead and come from A. C listens to its two tracks and one of A's, skipping
  // each after 5 s: a skip lands on a next track that peers already delivered.
  const [second, skipper] = await Promise.all([listen(b, album), listen(c, [...others.slice(0, 2), album[0]!], ['--skip-after', '5'])]);
  for (const r of second.reports) {
    await assertIdentical(r);
    assert.equal(r.stutters, 0);
  }
  const [b1, b2, b3] = second.reports as [PlayReport, PlayReport, PlayReport];
  assert.equal(b1.access, 'random');
  for (const r of [b2, b3]) {
    assert.equal(r.access, 'sequential');
    assert.ok(r.latencyMs! < AP_DELAY_MS, `${r.track.title}: prefetched from a peer, started at once (${r.latencyMs} ms)`);
    assert.ok(r.sources.peer >= 0.9 * r.track.bytes, `${r.track.title}: from the peer ${r.sources.peer} of ${r.track.bytes}`);
    assert.equal(r.sources.server, 0, `${r.track.title}: nothing from the AP`);
  }
  const sb = await stats(b);
  assert.equal(sb.apRequests.requests['prefetch-fallback'], 0, 'peers were found in time: no prefetch fallback');
  assert.ok(sb.peers.tracker.found >= 3);

  const [c1, c2, c3] = skipper.reports as [PlayReport, PlayReport, PlayReport];
  assert.equal(c1.access, 'random', 'C replays from its cache: the queue starts with a pick');
  assert.equal(c1.latencyMs, 0, 'a cached track starts at once');
  for (const r of [c2, c3]) {
    assert.equal(r.access, 'sequential', 'a skip lands on the next track of the queue');
    assert.ok(r.latencyMs! < AP_DELAY_MS, `${r.track.title}: skipped to, started at once (${r.latencyMs} ms)`);
  }
  assert.ok(c3.sources.peer > 0 && c3.sources.server === 0, `the track C skipped to came from peers: ${JSON.stringify(skipper.reports)} ${JSON.stringify((await stats(c)).apRequests)}`);
  for (const r of skipper.reports) {
    assert.equal(r.stutters, 0);
    assert.equal(r.endReason, 'stopped', 'left by a skip');
    // Left after 5 s: what the listener received is the start of the file, byte for byte.
    const got = await readFile(r.file!);
    assert.ok(got.length > 0 && byId(r.track.id).src.subarray(0, got.length).equals(got), `${r.track.title}: a prefix of the file`);
  }
  const qc = await queue(c);
  assert.equal(qc.current, null, 'the queue played out');
  assert.equal(qc.stats.sequentialPlays, 2);
});

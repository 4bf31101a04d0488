/**
 * `tunemesh demo` (what `npm start` runs): an AP with a generated catalog and several client
 * daemons on loopback playing tracks, a live table of data sources, latency and stutter, and
 * the URL of a page where a person can listen.
 */
import type { Command } from 'commander';
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { AccessPoint } from '../../server/access-point.ts';
import { openDataDir } from '../../server/data-dir.ts';
import { ingestPaths } from '../../server/ingest.ts';
import { ClientDaemon } from '../../client/daemon.ts';
import { writeDemoLibrary } from '../../audio/synth.ts';
import { makeConfig } from '../../core/config.ts';
import { seededRng, randomInt } from '../../core/clock.ts';
import type { TrackInfo } from '../../core/track.ts';
import { parsePort, onShutdown } from '../options.ts';
import { formatBytes, formatShare } from '../format.ts';

interface DemoOptions {
  data: string;
  clients: number;
  tracks: number;
  httpPort: number;
  duration?: number;
  json?: boolean;
  seed: number;
}

/** One row of the live table. */
interface ClientRow {
  client: string;
  url: string;
  plays: number;
  latencyMedianMs: number | null;
  latencyP90Ms: number | null;
  playsWithStutter: number;
  played: { server: number; peer: number; cache: number };
  cacheUsed: number;
  /** Peer connections now. */
  neighbours: number;
  tracker: { queries: number; found: number };
  search: { searches: number; foundAt1: number; foundAt2: number; notFound: number };
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('Run a local demo network: an AP with a generated catalog and client daemons playing real audio on loopback.')
    .option('--data <dir>', 'where the demo keeps its catalog, audio and caches', '.tunemesh/demo')
    .option('--clients <n>', 'client daemons', (v) => Math.max(1, Number(v)), 4)
    .option('--tracks <n>', 'tracks to generate on first run', (v) => Math.max(1, Number(v)), 24)
    .option('--http-port <port>', 'HTTP port of the first client (the one for you to listen on)', parsePort, 7700)
    .option('--duration <seconds>', 'stop after this many seconds (default: run until Ctrl-C)', (v) => Number(v))
    .option('--seed <n>', 'seed of the generated music and of the demo listeners', (v) => Number(v), 1)
    .option('--json', 'print the final table as JSON instead of a live table')
    .action((o: DemoOptions) => runDemo(o));
}

async function runDemo(o: DemoOptions): Promise<void> {
  const say = (line: string) => process.stderr.write(line + '\n');
  const config = makeConfig();
  const data = openDataDir(o.data);
  if ((await data.catalog.trackCount()) === 0) {
    const perAlbum = 4;
    const albums = Math.max(1, Math.ceil(o.tracks / perAlbum));
    const artists = Math.max(1, Math.ceil(albums / 2));
    say(`demo: generating ${artists * 2 * perAlbum} tracks of synthesised music (first run only)...`);
    const t0 = performance.now();
    const files = await writeDemoLibrary(path.join(o.data, 'library'), { artists, albumsPerArtist: 2, tracksPerAlbum: perAlbum, seed: o.seed, minSec: 25, maxSec: 70, reuse: true });
    const r = await ingestPaths(files, { data });
    say(`demo: ingested ${r.added.length} tracks in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const catalogTracks = await data.catalog.randomTracks(1000);
  const ap = await AccessPoint.start({ data, host: '127.0.0.1', port: 0, config });
  say(`demo: access point at ${ap.address}`);

  const clients: ClientDaemon[] = [];
  for (let i = 1; i <= o.clients; i++) {
    const user = `listener${i}`;
    await data.accounts.setPassword(user, 'demo');
    const cacheDir = path.join(o.data, 'clients', user);
    await mkdir(cacheDir, { recursive: true });
    const start = (httpPort: number) =>
      ClientDaemon.start({ server: ap.address, cacheDir, cacheSize: 200 * 1024 * 1024, httpPort, user, password: 'demo', config, log: () => {} });
    // The first client takes the well-known port if it is free, so its page has a stable address.
    const daemon = i === 1 ? await start(o.httpPort).catch(() => start(0)) : await start(0);
    clients.push(daemon);
  }
  const listenUrl = clients[0]!.url;
  say(`demo: ${clients.length} clients running. Listen at ${listenUrl}/  (Ctrl-C stops)`);

  let stopping = false;
  const listeners = clients.slice(1).map((c, i) => listen(c, catalogTracks, o.seed + i, () => stopping));
  const rows = () => clients.map((c, i) => row(c, i === 0 ? 'you' : `listener${i + 1}`));
  const live = !o.json && process.stdout.isTTY;
  // On a terminal the table redraws every second; into a file or pipe it is printed every 10 s.
  let ticks = 0;
  const draw = setInterval(() => {
    ticks++;
    if (live) process.stdout.write('\x1b[2J\x1b[H' + renderTable(rows(), listenUrl));
    else if (!o.json && ticks % 10 === 0) process.stdout.write(renderTable(rows(), listenUrl));
  }, 1000);
  draw.unref();

  const stop = async () => {
    stopping = true;
    clearInterval(draw);
    await Promise.allSettled(listeners);
    const final = rows();
    if (o.json) process.stdout.write(JSON.stringify({ url: listenUrl, ap: ap.address, clients: final }, null, 2) + '\n');
    else process.stdout.write(renderTable(final, listenUrl));
    for (const c of clients) await c.stop();
    await ap.stop();
    data.close();
  };
  if (o.duration !== undefined) {
    await new Promise((r) => setTimeout(r, o.duration! * 1000));
    await stop();
  } else {
    onShutdown(stop);
  }
}

/**
 * A demo listener: plays tracks one after another, favouring a popular few (so caches get hits),
 * and pauses between plays like a person browsing.
 */
async function listen(client: ClientDaemon, tracks: TrackInfo[], seed: number, stopped: () => boolean): Promise<void> {
  const rng = seededRng(seed);
  while (!stopped() && tracks.length > 0) {
    // Popularity skewed towards the first fifth of the catalog.
    const popular = rng.next() < 0.6;
    const pool = popular ? tracks.slice(0, Math.max(1, Math.floor(tracks.length / 5))) : tracks;
    const track = pool[randomInt(rng, pool.length)]!;
    try {
      const res = await fetch(`${client.url}/audio/${track.id}`);
      if (res.body) for await (const _ of res.body) if (stopped()) break;
    } catch {}
    const pauseMs = 500 + randomInt(rng, 2500);
    for (let t = 0; t < pauseMs && !stopped(); t += 100) await new Promise((r) => setTimeout(r, 100));
  }
}

function row(c: ClientDaemon, name: string): ClientRow {
  const s = c.stats() as {
    playback: { plays: number; latencyMedianMs: number | null; latencyP90Ms: number | null; playsWithStutter: number };
    played: { server: number; peer: number; cache: number };
    cache: { usedBytes: number };
    peers: { connected: number; tracker: ClientRow['tracker']; search: ClientRow['search'] };
  };
  return {
    client: name,
    url: c.url,
    plays: s.playback.plays,
    latencyMedianMs: s.playback.latencyMedianMs,
    latencyP90Ms: s.playback.latencyP90Ms,
    playsWithStutter: s.playback.playsWithStutter,
    played: s.played,
    cacheUsed: s.cache.usedBytes,
    neighbours: s.peers.connected,
    tracker: s.peers.tracker,
    search: s.peers.search,
  };
}

/** The live table: one line per client and a total of played data by source. */
export function renderTable(rows: ClientRow[], url: string): string {
  const ms = (v: number | null) => (v === null ? '–' : `${v.toFixed(1)} ms`);
  const header = ['client', 'plays', 'latency med', 'p90', 'stutter', 'server', 'peers', 'cache', 'cache used', 'neighbours', 'tracker hits', 'search hits'];
  const rate = (hits: number, of: number) => (of > 0 ? `${hits}/${of}` : '–');
  const lines = rows.map((r) => [
    r.client,
    String(r.plays),
    ms(r.latencyMedianMs),
    ms(r.latencyP90Ms),
    String(r.playsWithStutter),
    formatBytes(r.played.server),
    formatBytes(r.played.peer),
    formatBytes(r.played.cache),
    formatBytes(r.cacheUsed),
    String(r.neighbours),
    rate(r.tracker.found, r.tracker.queries),
    rate(r.search.searches - r.search.notFound, r.search.searches),
  ]);
  const total = rows.reduce((t, r) => ({ server: t.server + r.played.server, peer: t.peer + r.played.peer, cache: t.cache + r.played.cache }), { server: 0, peer: 0, cache: 0 });
  const all = total.server + total.peer + total.cache;
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [
    'tunemesh demo — played data by source, playback latency and stutter per client',
    '',
    fmt(header),
    ...lines.map(fmt),
    '',
    `played from server ${formatShare(total.server, all)}, peers ${formatShare(total.peer, all)}, cache ${formatShare(total.cache, all)}`,
    `listen: ${url}/`,
    '',
  ].join('\n');
}

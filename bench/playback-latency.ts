/**
 * Playback latency over random-access plays on loopback, with a real AP process and a real
 * client daemon process: each play asks `/audio/<id>` for a random track at a random position
 * (a seek is a random access) and reads the latency the client's playback clock recorded.
 * Also prints time to first byte at the player and the client's resident memory while playing
 * (target under 120 MB). Target: median latency under 20 ms. The client's cache is kept small
 * (4 MB) so most plays are cold random accesses served by the AP, not replays from the cache.
 *
 * Run: npx tsx bench/playback-latency.ts [--plays 100] [--tracks 20]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeDemoLibrary } from '../src/audio/synth.ts';
import { openDataDir } from '../src/server/data-dir.ts';
import { ingestPaths } from '../src/server/ingest.ts';
import { seededRng, randomInt } from '../src/core/clock.ts';
import type { TrackInfo } from '../src/core/track.ts';
import { median, percentile, printTable, rssMb, isMain, numberArg, startChild } from './stats.ts';

async function playLatency(url: string, track: TrackInfo, startByte: number): Promise<{ latencyMs: number; ttfbMs: number; fromCache: boolean }> {
  const t0 = performance.now();
  const ctl = new AbortController();
  const res = await fetch(`${url}/audio/${track.id}`, { headers: { range: `bytes=${startByte}-` }, signal: ctl.signal });
  const playId = res.headers.get('x-tunemesh-play');
  if (!playId) throw new Error(`no play started for ${track.id} at byte ${startByte}`);
  const reader = res.body!.getReader();
  await reader.read();
  const ttfbMs = performance.now() - t0;
  // Keep reading like a player filling its buffer, then move on (the next play is a new access).
  let got = 0;
  while (got < 256 * 1024) {
    const r = await reader.read();
    if (r.done) break;
    got += r.value.length;
  }
  ctl.abort();
  for (let i = 0; i < 200; i++) {
    const rec = (await (await fetch(`${url}/api/plays/${playId}`)).json()) as { latencyMs: number | null; sources: { cache: number; server: number } };
    if (rec.latencyMs !== null) return { latencyMs: rec.latencyMs, ttfbMs, fromCache: rec.sources.server === 0 };
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`play ${playId} never started`);
}

export async function main(): Promise<Record<string, number>> {
  const plays = numberArg('plays', 100);
  const trackCount = numberArg('tracks', 20);
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-bench-lat-'));
  const figures: Record<string, number> = {};
  try {
    const dataPath = path.join(dir, 'data');
    const data = openDataDir(dataPath);
    const files = await writeDemoLibrary(path.join(dir, 'music'), { artists: 2, albumsPerArtist: 2, tracksPerAlbum: Math.ceil(trackCount / 4), seed: 11, minSec: 30, maxSec: 90 });
    const { added } = await ingestPaths(files, { data });
    await data.accounts.setPassword('bench', 'pw');
    data.close();
    const ap = await startChild(['server', '--data', dataPath, '--port', '0', '--json']);
    const client = await startChild(['client', '--server', JSON.parse(ap.line).address, '--cache', path.join(dir, 'cache'), '--cache-size', '4MB', '--http-port', '0', '--user', 'bench', '--password', 'pw', '--json']);
    const url = JSON.parse(client.line).url as string;
    try {
      const rng = seededRng(5);
      const all: number[] = [];
      const cached: number[] = [];
      const fresh: number[] = [];
      const ttfb: number[] = [];
      let rss = 0;
      for (let i = 0; i < plays; i++) {
        const track = added[randomInt(rng, added.length)]!;
        // Positions stay clear of the file's tail, which players only probe for the duration.
        const startByte = rng.next() < 0.3 ? 0 : randomInt(rng, Math.max(1, track.bytes - 256 * 1024));
        const r = await playLatency(url, track, startByte);
        all.push(r.latencyMs);
        (r.fromCache ? cached : fresh).push(r.latencyMs);
        ttfb.push(r.ttfbMs);
        if (i % 10 === 0) rss = Math.max(rss, await rssMb(client.pid));
      }
      const row = (name: string, xs: number[]) => [name, xs.length, xs.length ? median(xs).toFixed(1) : '–', xs.length ? percentile(xs, 0.9).toFixed(1) : '–'];
      printTable(`Playback latency, ${plays} random-access plays on loopback (ms)`, ['plays', 'count', 'median', 'p90'], [
        row('all', all),
        row('from the AP', fresh),
        row('from the cache', cached),
        row('time to first byte at the player', ttfb),
      ]);
      console.log(`client daemon RSS while playing: ${rss.toFixed(0)} MB (target < 120 MB)`);
      Object.assign(figures, {
        latency_median_ms: median(all),
        latency_p90_ms: percentile(all, 0.9),
        latency_ap_median_ms: fresh.length ? median(fresh) : NaN,
        latency_cache_median_ms: cached.length ? median(cached) : NaN,
        ttfb_median_ms: median(ttfb),
        client_rss_mb: rss,
      });
    } finally {
      client.kill();
      ap.kill();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return figures;
}

if (isMain(import.meta.url)) await main();

/** `tunemesh play`: plays a track through a running client and reports latency and sources. */
import type { Command } from 'commander';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { DEFAULT_CLIENT, getJson, searchTracks } from '../client-api.ts';
import type { PlayRecord } from '../../client/plays.ts';
import type { TrackInfo } from '../../core/track.ts';
import { formatBytes, formatDuration } from '../format.ts';

const TRACK_URI = /^tunemesh:track:([A-Za-z0-9_-]{1,64})$/;

/** What `play --json` prints. */
export interface PlayReport {
  track: Pick<TrackInfo, 'id' | 'uri' | 'title' | 'artist' | 'album' | 'durationMs' | 'bytes'>;
  playId: number;
  bytes: number;
  latencyMs: number | null;
  stutters: number;
  sources: PlayRecord['sources'];
  /** Wall time to receive the whole file from the client, ms. */
  transferMs: number;
}

export function register(program: Command): void {
  program
    .command('play')
    .description('Play a track (by URI or search words) through a running client; prints latency and data sources.')
    .argument('<track...>', 'a track URI (tunemesh:track:<id>) or search words')
    .option('--client <url>', 'client daemon HTTP endpoint', DEFAULT_CLIENT)
    .option('--out <file>', 'write the audio to this file')
    .option('--json', 'print the report as JSON')
    .action(async (words: string[], o: { client: string; out?: string; json?: boolean }) => {
      const track = await resolveTrack(o.client, words.join(' '));
      const report = await playTrack(o.client, track, o.out);
      if (o.json) {
        process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        return;
      }
      const s = report.sources;
      process.stdout.write(
        `played ${track.title} — ${track.artist} (${formatDuration(track.durationMs)}, ${formatBytes(report.bytes)})\n` +
          `  latency ${report.latencyMs === null ? '–' : `${report.latencyMs.toFixed(1)} ms`}, stutters ${report.stutters}\n` +
          `  sources: server ${formatBytes(s.server)}, peers ${formatBytes(s.peer)}, cache ${formatBytes(s.cache)}\n` +
          (o.out ? `  written to ${o.out}\n` : ''),
      );
    });
}

/** A track from a URI or the best search match. */
export async function resolveTrack(client: string, what: string): Promise<TrackInfo> {
  const m = TRACK_URI.exec(what.trim());
  if (m) return getJson<TrackInfo>(client, `/api/tracks/${m[1]}`);
  const [best] = await searchTracks(client, what, 1);
  if (!best) throw new Error(`no track matches "${what}"`);
  return best;
}

/** Streams a track from the client to `out` (or nowhere) and returns the play's figures. */
export async function playTrack(client: string, track: TrackInfo, out?: string): Promise<PlayReport> {
  const t0 = performance.now();
  const res = await fetch(new URL(`/audio/${track.id}`, client));
  if (!res.ok || !res.body) throw new Error(`client: ${res.status} ${res.statusText}`);
  const playId = Number(res.headers.get('x-tunemesh-play'));
  const sink = out ? createWriteStream(out) : undefined;
  let bytes = 0;
  for await (const chunk of res.body) {
    bytes += chunk.length;
    if (sink && !sink.write(chunk)) await once(sink, 'drain');
  }
  if (sink) {
    sink.end();
    await once(sink, 'finish');
  }
  const transferMs = performance.now() - t0;
  const record = await getJson<PlayRecord>(client, `/api/plays/${playId}`);
  return {
    track: { id: track.id, uri: track.uri, title: track.title, artist: track.artist, album: track.album, durationMs: track.durationMs, bytes: track.bytes },
    playId,
    bytes,
    latencyMs: record.latencyMs,
    stutters: record.stutters,
    sources: record.sources,
    transferMs,
  };
}

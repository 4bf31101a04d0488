/**
 * `tunemesh play`: plays a track, an album, a playlist or several tracks through a running
 * client, one after another in order, and reports each track's latency and data sources and a
 * total.
 */
import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { DEFAULT_CLIENT, getJson, tracksFromArgs, UsageError } from '../client-api.ts';
import type { PlayRecord } from '../../client/plays.ts';
import type { TrackInfo } from '../../core/track.ts';
import { formatBytes, formatDuration } from '../format.ts';
import { EXIT_USAGE } from './ingest.ts';

/** What `play --json` prints for each track. */
export interface PlayReport {
  track: Pick<TrackInfo, 'id' | 'uri' | 'title' | 'artist' | 'album' | 'durationMs' | 'bytes'>;
  playId: number;
  bytes: number;
  /** SHA-256 (hex) of the bytes received. */
  sha256: string;
  latencyMs: number | null;
  stutters: number;
  sources: PlayRecord['sources'];
  /** Wall time to receive the whole file from the client, ms. */
  transferMs: number;
  /** Where the audio was written, when it was. */
  file?: string;
}

interface PlayOptions {
  client: string;
  out?: string;
  outDir?: string;
  json?: boolean;
}

export function register(program: Command): void {
  const cmd: Command = program
    .command('play')
    .description('Play tracks through a running client, in order: a track, album or playlist URI, several URIs, or search words (the best matching track). Prints latency and data sources.')
    .argument('<uri|words...>', 'tunemesh:track:<id>, tunemesh:album:<id>, tunemesh:playlist:<id> (one or more), or search words')
    .option('--client <url>', 'client daemon HTTP endpoint', DEFAULT_CLIENT)
    .option('--out <file>', 'write the audio to this file (one track only)')
    .option('--out-dir <dir>', 'write each track to <dir>/<NNN>-<track-id>.ogg')
    .option('--json', 'print the report as JSON: one object for a single track given by one track URI or by search words, else an array with one object per track in play order')
    .action(async (args: string[], o: PlayOptions) => {
      try {
        await play(args, o);
      } catch (err) {
        if (err instanceof UsageError) cmd.error(`error: ${err.message}`, { exitCode: EXIT_USAGE });
        throw err;
      }
    });
}

async function play(args: string[], o: PlayOptions): Promise<void> {
  const found = await tracksFromArgs(o.client, args);
  // One track named as one track (by its URI or by words) reports as an object, as before; an
  // album, a playlist or several URIs report as an array.
  const single = 'searched' in found || (found.fromUris.length === 1 && found.fromUris[0]!.kind === 'track');
  const tracks = 'searched' in found ? [found.searched] : found.fromUris.flatMap((r) => r.tracks);
  if (tracks.length === 0) throw new Error(`nothing to play: ${args.join(' ')} holds no tracks`);
  if (o.out && tracks.length > 1) throw new UsageError(`--out takes one track; these are ${tracks.length} (use --out-dir)`);
  if (o.outDir) await mkdir(o.outDir, { recursive: true });

  const reports: PlayReport[] = [];
  const width = String(tracks.length).length;
  for (const [i, track] of tracks.entries()) {
    const file = o.out ?? (o.outDir ? path.join(o.outDir, `${String(i + 1).padStart(3, '0')}-${track.id}.ogg`) : undefined);
    const report = await playTrack(o.client, track, file);
    reports.push(report);
    if (!o.json) process.stdout.write(reportLine(report, single ? '' : `${String(i + 1).padStart(width)}/${tracks.length} `));
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(single ? reports[0] : reports, null, 2) + '\n');
  } else if (!single) {
    process.stdout.write(totalLine(reports));
  }
}

function latency(ms: number | null): string {
  return ms === null ? '–' : `${ms.toFixed(1)} ms`;
}

function sources(s: PlayRecord['sources']): string {
  return `server ${formatBytes(s.server)}, peers ${formatBytes(s.peer)}, cache ${formatBytes(s.cache)}`;
}

function reportLine(r: PlayReport, prefix: string): string {
  const t = r.track;
  return (
    `${prefix}played ${t.title} — ${t.artist} (${formatDuration(t.durationMs)}, ${formatBytes(r.bytes)})\n` +
    `  latency ${latency(r.latencyMs)}, stutters ${r.stutters}\n` +
    `  sources: ${sources(r.sources)}\n` +
    (r.file ? `  written to ${r.file}\n` : '')
  );
}

function totalLine(reports: PlayReport[]): string {
  const sum = { server: 0, peer: 0, cache: 0 };
  for (const r of reports) for (const k of ['server', 'peer', 'cache'] as const) sum[k] += r.sources[k];
  const latencies = reports.map((r) => r.latencyMs).filter((l): l is number => l !== null).sort((a, b) => a - b);
  const median = latencies.length ? latencies[Math.floor(latencies.length / 2)]! : null;
  const bytes = reports.reduce((s, r) => s + r.bytes, 0);
  const durationMs = reports.reduce((s, r) => s + r.track.durationMs, 0);
  const stutters = reports.reduce((s, r) => s + r.stutters, 0);
  return (
    `total: ${reports.length} tracks (${formatDuration(durationMs)}, ${formatBytes(bytes)}), latency median ${latency(median)}, stutters ${stutters}\n` +
    `  sources: ${sources(sum)}\n`
  );
}

/** Streams a track from the client to `out` (or nowhere) and returns the play's figures. */
export async function playTrack(client: string, track: TrackInfo, out?: string): Promise<PlayReport> {
  const t0 = performance.now();
  const res = await fetch(new URL(`/audio/${track.id}`, client));
  if (!res.ok || !res.body) throw new Error(`client: ${res.status} ${res.statusText}`);
  const playId = Number(res.headers.get('x-tunemesh-play'));
  const sink = out ? createWriteStream(out) : undefined;
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of res.body) {
    bytes += chunk.length;
    hash.update(chunk);
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
    sha256: hash.digest('hex'),
    latencyMs: record.latencyMs,
    stutters: record.stutters,
    sources: record.sources,
    transferMs,
    ...(out ? { file: out } : {}),
  };
}

/**
 * `tunemesh play`: plays a track, an album, a playlist or several tracks through a running
 * client, one after another in order, and reports each track's latency and data sources and a
 * total.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { DEFAULT_CLIENT, getJson, requestJson, tracksFromArgs, UsageError } from '../client-api.ts';
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
  /** `sequential` for the next track of the queue (its start prefetched), `random` for a pick. */
  access: PlayRecord['access'];
  /** The play's state when the report was made. */
  state: string;
  /** `finished` when it played to the end, `stopped` when the listener left (skipped); null while it lasts. */
  endReason: PlayRecord['endReason'];
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
  listen?: boolean;
  skipAfter?: number;
}

/** How often a listener asks the client whether the play has ended, ms. */
const POLL_MS = 100;

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!(n > 0 && n < 86_400)) throw new InvalidArgumentError('seconds above 0');
  return n;
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
    .option('--listen', "play in real time, as a listener: the tracks go into the client's play queue and each starts when the previous one has played out, so the client prefetches the next track")
    .option('--skip-after <seconds>', 'with --listen: move on to the next track after this many seconds of each', parseSeconds)
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
  if (o.skipAfter !== undefined && !o.listen) throw new UsageError('--skip-after needs --listen');
  // A listener's tracks form the client's play queue: it prefetches each next one.
  if (o.listen) await requestJson(o.client, 'POST', '/api/queue', { trackIds: tracks.map((t) => t.id) });

  const reports: PlayReport[] = [];
  const width = String(tracks.length).length;
  for (const [i, track] of tracks.entries()) {
    const file = o.out ?? (o.outDir ? path.join(o.outDir, `${String(i + 1).padStart(3, '0')}-${track.id}.ogg`) : undefined);
    const report = await playTrack(o.client, track, file, o.listen ? { skipAfterMs: o.skipAfter === undefined ? undefined : o.skipAfter * 1000 } : undefined);
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
    `  latency ${latency(r.latencyMs)} (${r.access}), stutters ${r.stutters}${r.endReason === 'stopped' ? ', skipped' : ''}\n` +
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

/** How {@link playTrack} listens: in real time through the queue, moving on after `skipAfterMs`. */
export interface ListenOptions {
  skipAfterMs?: number;
}

/**
 * Streams a track from the client to `out` (or nowhere) and returns the play's figures. With
 * `listen`, returns only once the play has played out in real time — or, after `skipAfterMs`,
 * skips to the next track of the client's queue.
 */
export async function playTrack(client: string, track: TrackInfo, out?: string, listen?: ListenOptions): Promise<PlayReport> {
  const t0 = performance.now();
  const abort = new AbortController();
  const res = await fetch(new URL(`/audio/${track.id}`, client), { signal: abort.signal });
  if (!res.ok || !res.body) throw new Error(`client: ${res.status} ${res.statusText}`);
  const playId = Number(res.headers.get('x-tunemesh-play'));
  const sink = out ? createWriteStream(out) : undefined;
  const hash = createHash('sha256');
  let bytes = 0;
  let transferMs = 0;
  const body = res.body;
  const receive = (async () => {
    for await (const chunk of body) {
      bytes += chunk.length;
      hash.update(chunk);
      if (sink && !sink.write(chunk)) await once(sink, 'drain');
    }
    transferMs = performance.now() - t0;
  })();
  let record: PlayRecord;
  if (listen) {
    const skipAt = listen.skipAfterMs === undefined ? Infinity : t0 + listen.skipAfterMs;
    for (;;) {
      record = await getJson<PlayRecord>(client, `/api/plays/${playId}`);
      // Played out: all its audio was there, so the response completes too.
      if (record.state === 'ended') break;
      if (performance.now() >= skipAt) {
        await requestJson(client, 'POST', '/api/queue/next');
        abort.abort();
        record = await getJson<PlayRecord>(client, `/api/plays/${playId}`);
        break;
      }
      await delay(Math.max(1, Math.min(POLL_MS, skipAt - performance.now())));
    }
    await receive.catch((err: Error) => {
      if (err.name !== 'AbortError') throw err;
    });
  } else {
    await receive;
    record = await getJson<PlayRecord>(client, `/api/plays/${playId}`);
  }
  if (sink) {
    sink.end();
    await once(sink, 'finish');
  }
  return {
    track: { id: track.id, uri: track.uri, title: track.title, artist: track.artist, album: track.album, durationMs: track.durationMs, bytes: track.bytes },
    playId,
    bytes,
    sha256: hash.digest('hex'),
    latencyMs: record.latencyMs,
    stutters: record.stutters,
    access: record.access,
    state: record.state,
    endReason: record.endReason,
    sources: record.sources,
    transferMs: transferMs || performance.now() - t0,
    ...(out ? { file: out } : {}),
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

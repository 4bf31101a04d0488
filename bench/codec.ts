/**
 * Audio benchmarks: how fast test audio is made (synthesis + libvorbis in WebAssembly), how fast
 * the Ogg parser builds a seek index, and, as a baseline measured in the same run on the same
 * machine, how fast the native `oggdec` decodes the same file. Prints medians of 5 runs; never
 * fails on time.
 *
 *   npx tsx bench/codec.ts
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOgg } from '../src/audio/ogg.ts';
import { DEFAULT_QUALITY, synthesizeVorbis } from '../src/audio/synth.ts';
import { isMain, median, printTable } from './stats.ts';

const RUNS = 5;
const SYNTH_SEC = 30;
const PARSE_TARGET_BYTES = 5 * 1024 * 1024;

/** The figures `main` prints. Speeds are "x real time" (seconds of audio per second of wall time). */
export interface CodecFigures {
  /** Synthesis + Vorbis encoding of a 30 s stereo 44.1 kHz track, x real time. */
  synthEncodeXRealtime: number;
  /** Average bitrate of those tracks, bits/s. */
  synthBitrate: number;
  /** parseOgg (all pages, CRCs, seek index) throughput, MB/s (10^6 bytes). */
  parseMBps: number;
  /** Size of the parsed file, bytes, and its duration, s. */
  parseFileBytes: number;
  parseFileSec: number;
  /** oggdec decoding the same file to /dev/null, x real time; null when oggdec is not installed. */
  oggdecXRealtime: number | null;
  /** oggdec throughput over the Ogg input, MB/s; null without oggdec. */
  oggdecMBps: number | null;
  /** synthEncodeXRealtime / oggdecXRealtime: making audio vs. just decoding it natively. */
  synthVsOggdec: number | null;
  /** parseMBps / oggdecMBps: indexing without decoding vs. a full native decode. */
  parseVsOggdec: number | null;
}

function hasOggdec(): boolean {
  return spawnSync('sh', ['-c', 'command -v oggdec']).status === 0;
}

/** Runs the benchmark, prints a table, and returns the figures. */
export async function main(): Promise<CodecFigures> {
  // Warm-up: JIT and the encoder pool, so run 1 does not pay for compiling the wasm module.
  await synthesizeVorbis({ seed: 999, durationSec: 2 });

  const synthSpeeds: number[] = [];
  const bitrates: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const data = await synthesizeVorbis({ seed: 100 + i, durationSec: SYNTH_SEC });
    const ms = performance.now() - t0;
    synthSpeeds.push((SYNTH_SEC * 1000) / ms);
    bitrates.push(parseOgg(data).bitrate);
  }

  // A ~5 MB file: long enough at the default quality (not timed; this is setup).
  const seconds = Math.round((PARSE_TARGET_BYTES * 8) / median(bitrates));
  const big = await synthesizeVorbis({ seed: 7, durationSec: seconds, quality: DEFAULT_QUALITY });
  const bigInfo = parseOgg(big);
  const parseSpeeds: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    parseOgg(big);
    const ms = performance.now() - t0;
    parseSpeeds.push(big.length / 1e6 / (ms / 1000));
  }

  let oggdecX: number | null = null;
  let oggdecMBps: number | null = null;
  if (hasOggdec()) {
    const dir = mkdtempSync(join(tmpdir(), 'tunemesh-bench-codec-'));
    try {
      const path = join(dir, 'big.ogg');
      writeFileSync(path, big);
      const walls: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t0 = performance.now();
        const r = spawnSync('oggdec', ['-Q', '-o', '/dev/null', path]);
        walls.push(performance.now() - t0);
        if (r.status !== 0) throw new Error(`oggdec failed: ${r.stderr.toString()}`);
      }
      // Process start-up is included, as it is in any use of oggdec; on a 5 MB file it is noise.
      const wall = median(walls);
      oggdecX = bigInfo.durationMs / wall;
      oggdecMBps = big.length / 1e6 / (wall / 1000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const figures: CodecFigures = {
    synthEncodeXRealtime: median(synthSpeeds),
    synthBitrate: median(bitrates),
    parseMBps: median(parseSpeeds),
    parseFileBytes: big.length,
    parseFileSec: bigInfo.durationMs / 1000,
    oggdecXRealtime: oggdecX,
    oggdecMBps,
    synthVsOggdec: oggdecX ? median(synthSpeeds) / oggdecX : null,
    parseVsOggdec: oggdecMBps ? median(parseSpeeds) / oggdecMBps : null,
  };

  const f = (x: number | null, d = 1) => (x === null ? 'n/a' : x.toFixed(d));
  printTable(
    `codec (median of ${RUNS} runs; parse file ${(big.length / 1e6).toFixed(2)} MB, ${(bigInfo.durationMs / 1000).toFixed(0)} s)`,
    ['what', 'figure', 'unit', 'vs oggdec (same run)'],
    [
      ['synthesis + Vorbis encode, 30 s stereo', f(figures.synthEncodeXRealtime), 'x real time', f(figures.synthVsOggdec, 3)],
      ['  its average bitrate', f(figures.synthBitrate / 1000, 0), 'kbit/s', ''],
      ['parseOgg + seek index', f(figures.parseMBps), 'MB/s', f(figures.parseVsOggdec, 1)],
      ['oggdec decode (baseline)', f(figures.oggdecXRealtime), 'x real time', '1'],
      ['oggdec decode (baseline)', f(figures.oggdecMBps), 'MB/s', '1'],
    ],
  );
  if (oggdecX === null) console.log('oggdec not installed (Debian vorbis-tools): no baseline');
  return figures;
}

if (isMain(import.meta.url)) await main();

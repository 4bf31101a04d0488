import { pathToFileURL, fileURLToPath } from 'node:url';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { writeFile } from 'node:fs/promises';
import { synthesizeVorbis } from '../src/audio/synth.ts';
import { openDataDir, type DataDir } from '../src/server/data-dir.ts';
import { ingestPaths } from '../src/server/ingest.ts';
import type { TrackInfo } from '../src/core/track.ts';

/** Small helpers the benchmarks share: repeated runs, medians, percentiles, printing. */

/** The median of some numbers. */
export function median(xs: number[]): number {
  return percentile(xs, 0.5);
}

/** The q-quantile (0..1) of some numbers, by the nearest-rank method. */
export function percentile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** Runs `fn` `runs` times and returns each result. */
export async function repeat<T>(runs: number, fn: (run: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < runs; i++) out.push(await fn(i));
  return out;
}

/** Prints a table with aligned columns. */
export function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\n${title}\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const r of cells) console.log(line(r));
}

/** Resident memory of a process in MB, from /proc. */
export async function rssMb(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** True when the module at `url` is the script node was started with. */
export function isMain(url: string): boolean {
  return process.argv[1] !== undefined && url === pathToFileURL(process.argv[1]).href;
}

/** A numeric `--name value` command-line option, or the default. */
export function numberArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The compiled CLI as users run it (`npm run build`, then bin/tunemesh.js with its node flags). */
export const CLI = path.join(ROOT, 'bin/tunemesh.js');

/** A benchmark's child process, started by {@link startChild}. */
export interface Child {
  pid: number;
  /** Its first stdout line (commands started with --json print their endpoint there). */
  line: string;
  kill(): void;
}

/**
 * Starts `tunemesh <args>` as users run it, or a TypeScript script through tsx when `args[0]`
 * ends in .ts, and resolves once it printed its first stdout line.
 */
export function startChild(args: string[]): Promise<Child> {
  return new Promise((resolve, reject) => {
    const opts = { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] as ('ignore' | 'pipe' | 'inherit')[] };
    const p = args[0]?.endsWith('.ts') ? spawn(process.execPath, ['--import', 'tsx', ...args], opts) : spawn(CLI, args, opts);
    p.on('error', reject);
    p.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code} before starting`)));
    createInterface({ input: p.stdout! }).once('line', (line) => resolve({ kill: () => p.kill('SIGTERM'), pid: p.pid!, line }));
  });
}

/**
 * The throughput benches' track: 240 s of synthesized Vorbis written under `dir` and ingested into
 * a new data directory `<dir>/data` (stored encrypted; the file id is the SHA-256 of the
 * ciphertext). The data directory is left open for the caller to add users and close.
 */
export async function benchTrack(dir: string, album: string): Promise<{ src: Buffer; dataPath: string; data: DataDir; track: TrackInfo }> {
  const src = Buffer.from(await synthesizeVorbis({ seed: 8, durationSec: 240, tags: { title: 'Long Haul', artist: 'Bench', album } }));
  await writeFile(path.join(dir, 'long.ogg'), src);
  const dataPath = path.join(dir, 'data');
  const data = openDataDir(dataPath);
  const { added } = await ingestPaths([path.join(dir, 'long.ogg')], { data });
  return { src, dataPath, data, track: added[0]! };
}

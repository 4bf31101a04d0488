/**
 * Fixtures for the storage tests (catalog, store, ingest, CLI): temp directories and real Ogg
 * files made with Debian's sox + oggenc/opusenc, independent of tunemesh's own synthesizer.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { NewTrack } from '../../src/server/catalog.ts';

/** A fresh temp directory and a function removing it. */
export function tempDir(prefix = 'tunemesh-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Tags of a generated file; omitted fields are not written. */
export interface FixtureTags {
  title?: string;
  artist?: string;
  album?: string;
  trackNo?: number;
}

/**
 * Writes an Ogg Vorbis file of `seconds` of a sine tone at `freq` Hz (different frequencies give
 * different files) with the given tags, using sox and oggenc.
 */
export function makeVorbis(file: string, opts: { seconds?: number; freq?: number; tags?: FixtureTags } = {}): string {
  const wav = execFileSync('sox', ['-n', '-r', '44100', '-c', '2', '-b', '16', '-t', 'wav', '-', 'synth', String(opts.seconds ?? 2), 'sine', String(opts.freq ?? 440)], {
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const args = ['-Q', '-o', file];
  const t = opts.tags ?? {};
  if (t.title !== undefined) args.push('-t', t.title);
  if (t.artist !== undefined) args.push('-a', t.artist);
  if (t.album !== undefined) args.push('-l', t.album);
  if (t.trackNo !== undefined) args.push('-N', String(t.trackNo));
  args.push('-');
  execFileSync('oggenc', args, { input: wav, stdio: ['pipe', 'ignore', 'pipe'] });
  return file;
}

/** Writes an Ogg Opus file with opusenc (48 kHz stereo sine). */
export function makeOpus(file: string, opts: { seconds?: number; freq?: number; tags?: FixtureTags } = {}): string {
  const wav = execFileSync('sox', ['-n', '-r', '48000', '-c', '2', '-b', '16', '-t', 'wav', '-', 'synth', String(opts.seconds ?? 2), 'sine', String(opts.freq ?? 440)], {
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const args = ['--quiet'];
  const t = opts.tags ?? {};
  if (t.title !== undefined) args.push('--title', t.title);
  if (t.artist !== undefined) args.push('--artist', t.artist);
  if (t.album !== undefined) args.push('--album', t.album);
  if (t.trackNo !== undefined) args.push('--comment', `TRACKNUMBER=${t.trackNo}`);
  args.push('-', file);
  execFileSync('opusenc', args, { input: wav, stdio: ['pipe', 'ignore', 'pipe'] });
  return file;
}

/** A valid `NewTrack` for catalog tests; `n` makes the file id unique. */
export function newTrack(n: number, over: Partial<NewTrack> = {}): NewTrack {
  return {
    title: `Track ${n}`,
    artist: 'Test Artist',
    album: 'Test Album',
    trackNo: n,
    durationMs: 180_000 + n,
    bytes: 3_000_000 + n,
    fileId: n.toString(16).padStart(64, '0'),
    codec: 'vorbis',
    bitrate: 160_000,
    sampleRate: 44100,
    channels: 2,
    seekIndex: [
      { ms: 0, byte: 4000 },
      { ms: 250, byte: 9000 },
      { ms: 500, byte: 14500 },
    ],
    ...over,
  };
}

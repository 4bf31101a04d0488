/**
 * Test audio in an AP data directory: synthesized Ogg Vorbis tracks ingested with the real CLI,
 * with what tests compare against (the original bytes) and what peers ask for (the file id).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { synthesizeVorbis } from '../../src/audio/synth.ts';
import { openDataDir } from '../../src/server/data-dir.ts';
import { runCli } from './processes.ts';

/** A track as ingested: its id, its file id (the SHA-256 of the stored ciphertext) and the original audio. */
export interface IngestedTrack {
  id: string;
  fileId: string;
  src: Buffer;
  /** Where the original was written. */
  file: string;
}

/**
 * Synthesizes one track per entry of `durationsSec` (seeds `seed`, `seed + 1`, ...; titles
 * `<title> 0`, `<title> 1`, ...), writes each under `dir` and ingests it into the data directory
 * `data` with `tunemesh ingest`; the file ids come from the catalog.
 */
export async function ingestSynthTracks(
  dir: string,
  data: string,
  opts: { seed: number; durationsSec: number[]; title: string; artist: string; album: string },
): Promise<IngestedTrack[]> {
  const tracks: IngestedTrack[] = [];
  for (const [i, durationSec] of opts.durationsSec.entries()) {
    const src = Buffer.from(await synthesizeVorbis({ seed: opts.seed + i, durationSec, tags: { title: `${opts.title} ${i}`, artist: opts.artist, album: opts.album } }));
    const file = path.join(dir, `${opts.title.replace(/\W+/g, '-').toLowerCase()}-${i}.ogg`);
    await writeFile(file, src);
    const ingest = await runCli(['ingest', file, '--data', data, '--json']);
    assert.equal(ingest.code, 0, ingest.stderr);
    tracks.push({ id: JSON.parse(ingest.stdout).added[0].id, fileId: '', src, file });
  }
  const d = openDataDir(data);
  try {
    for (const t of tracks) t.fileId = (await d.catalog.getTrack(t.id))!.fileId;
  } finally {
    await d.close();
  }
  return tracks;
}

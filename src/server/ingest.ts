/**
 * Ingest: turns audio files on disk into catalog tracks with their files in the store.
 *
 * For each file: parse and check the Ogg stream (`parseOggFile`: codec, duration, bitrate, seek
 * index), read the tags (music-metadata), store it encrypted with its own random key (the store
 * files the ciphertext under its SHA-256, the key and chunk hashes go to `ContentKeys`: see
 * `content-protection.ts`), add the track to the catalog. A file that fails any step is reported
 * and skipped; the others go on. Ingesting a file again is harmless: the same plaintext finds its
 * stored file, so the same file id and track id. A data directory from before encryption is
 * migrated first.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseFile } from 'music-metadata';
import { parseOggFile } from '../audio/ogg.ts';
import type { TrackInfo } from '../core/track.ts';
import type { DataDir } from './data-dir.ts';
import { defaultConfig } from '../core/config.ts';
import { migratePlaintextFiles, storeFileEncrypted } from './content-protection.ts';

/** File name extensions picked up when a directory is ingested (case-insensitive). */
export const AUDIO_EXTENSIONS: readonly string[] = ['.ogg', '.oga', '.opus'];

/** Fallback artist name for files without an artist tag. */
export const UNKNOWN_ARTIST = 'Unknown Artist';
/** Fallback album title for files without an album tag. */
export const UNKNOWN_ALBUM = 'Unknown Album';

/** Options of {@link ingestPaths}. */
export interface IngestOptions {
  /** The data directory to ingest into (from `openDataDir`). */
  data: Pick<DataDir, 'catalog' | 'store' | 'keys'>;
  /** Chunk size the chunk hashes are computed for. @default config.chunkSize */
  chunkSize?: number;
  /** Called after each file, ingested or failed; `done` counts from 1 to `total`. */
  onProgress?(done: number, total: number, file: string): void;
  /** Called for each file that fails, with the error. */
  onError?(file: string, err: unknown): void;
  /** Files processed at once. @default 4 */
  concurrency?: number;
  /** Larger files are refused (parsing holds a file in memory). @default 1 GiB */
  maxFileBytes?: number;
}

/** What {@link ingestPaths} did, each list in the order of the expanded input. */
export interface IngestResult {
  /** Tracks new to the catalog. */
  added: TrackInfo[];
  /** Files whose content was already in the catalog (the existing track). */
  existing: TrackInfo[];
  /** Files that could not be ingested, with the reason. */
  failed: { file: string; error: string }[];
}

function isAudioName(name: string): boolean {
  return AUDIO_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a path component is not a directory',
  ELOOP: 'too many symbolic links',
  EIO: 'I/O error',
  ENOSPC: 'no space left on device',
};

/** The reason a file failed, without the file name (the result names the file separately). */
function errorText(err: unknown): string {
  if (err instanceof Error) {
    const e = err as Error & { problem?: unknown; code?: unknown };
    if (e.name === 'AudioFormatError' && typeof e.problem === 'string') return e.problem;
    if (typeof e.code === 'string' && ERRNO_TEXT[e.code]) return `${ERRNO_TEXT[e.code]} (${e.code})`;
    return e.message;
  }
  return String(err);
}

/**
 * Expands the arguments into the files to ingest: a file is taken as given (whatever its
 * extension); a directory is walked recursively (following symlinks, each directory once) for
 * `.ogg`/`.oga`/`.opus` files, skipping hidden entries; files are sorted by path within each
 * directory and each file appears once. A path that doesn't exist becomes a failure.
 */
export async function expandPaths(paths: readonly string[]): Promise<{ files: string[]; failed: IngestResult['failed'] }> {
  const items = await expand(paths);
  return {
    files: items.filter((i) => i.error === undefined).map((i) => i.file),
    failed: items.filter((i): i is { file: string; error: string } => i.error !== undefined),
  };
}

/** {@link expandPaths} as one list in argument order, failures in their place. */
async function expand(paths: readonly string[]): Promise<{ file: string; error?: string }[]> {
  const items: { file: string; error?: string }[] = [];
  const seenFiles = new Set<string>();
  const seenDirs = new Set<string>();

  const addFile = async (file: string) => {
    const real = await realpath(file).catch(() => path.resolve(file));
    if (seenFiles.has(real)) return;
    seenFiles.add(real);
    items.push({ file });
  };

  const walk = async (dir: string): Promise<void> => {
    const real = await realpath(dir);
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const st = await stat(full).catch(() => undefined);
        isDir = st?.isDirectory() ?? false;
        isFile = st?.isFile() ?? false;
      }
      if (isDir) await walk(full);
      else if (isFile && isAudioName(e.name)) await addFile(full);
    }
  };

  for (const p of paths) {
    try {
      const st = await stat(p);
      if (st.isDirectory()) await walk(p);
      else await addFile(p);
    } catch (err) {
      items.push({ file: p, error: errorText(err) });
    }
  }
  return items;
}

/** Track number from the leading digits of a file name ("03 - Song.ogg" → 3), or 0. */
export function trackNoFromFileName(file: string): number {
  const m = /^(\d{1,4})(?!\d)/.exec(path.basename(file));
  return m ? Number(m[1]) : 0;
}

function tagText(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v.replace(/\s+/gu, ' ').trim();
  // Cut by code points, not UTF-16 units, so a surrogate pair is never split.
  return s.length > 0 ? Array.from(s).slice(0, 500).join('') : undefined;
}

async function ingestOne(
  file: string,
  data: IngestOptions['data'],
  maxFileBytes: number,
  chunkSize: number,
): Promise<{ track: TrackInfo; added: boolean }> {
  const st = await stat(file);
  if (!st.isFile()) throw new Error(`${file} is not a regular file`);
  if (st.size > maxFileBytes) throw new Error(`file is ${st.size} bytes; larger than the ${maxFileBytes}-byte limit`);
  const info = await parseOggFile(file);
  let tags: { title?: string; artist?: string; album?: string; trackNo?: number } = {};
  try {
    const meta = await parseFile(file, { duration: false, skipCovers: true, skipPostHeaders: true });
    const c = meta.common;
    tags = {
      title: tagText(c.title),
      artist: tagText(c.artist) ?? tagText(c.albumartist),
      album: tagText(c.album),
      trackNo: typeof c.track?.no === 'number' && Number.isSafeInteger(c.track.no) && c.track.no > 0 ? c.track.no : undefined,
    };
  } catch {
    // The stream is valid (parseOggFile said so); unreadable tags only mean fallbacks.
  }
  const { fileId, bytes } = await storeFileEncrypted(file, data, chunkSize);
  if (bytes !== info.bytes) throw new Error(`file changed while being ingested (${info.bytes} bytes parsed, ${bytes} stored)`);
  return data.catalog.addTrack({
    title: tags.title ?? (tagText(path.basename(file, path.extname(file))) || path.basename(file)),
    artist: tags.artist ?? UNKNOWN_ARTIST,
    album: tags.album ?? UNKNOWN_ALBUM,
    trackNo: tags.trackNo ?? trackNoFromFileName(file),
    durationMs: info.durationMs,
    bytes,
    fileId,
    codec: info.codec,
    bitrate: info.bitrate,
    sampleRate: info.sampleRate,
    channels: info.channels,
    seekIndex: info.seekIndex,
  });
}

/**
 * Ingests files and directories into a data directory (see {@link expandPaths} for what is
 * picked up). Never throws for a bad file: every failure is in `failed` (and passed to
 * `onError`); the remaining files are still ingested. Tags: title falls back to the file name
 * without extension, artist to "Unknown Artist", album to "Unknown Album", track number to the
 * leading digits of the file name.
 */
export async function ingestPaths(paths: string[], opts: IngestOptions): Promise<IngestResult> {
  const items = await expand(paths);
  const total = items.length;
  type Outcome = { ok: true; track: TrackInfo; added: boolean } | { ok: false; error: string };
  const outcomes: Outcome[] = new Array(items.length);
  const maxFileBytes = opts.maxFileBytes ?? 1024 ** 3;
  const chunkSize = opts.chunkSize ?? defaultConfig.chunkSize;
  await migratePlaintextFiles(opts.data, chunkSize);
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const { file, error } = items[i]!;
      if (error !== undefined) {
        outcomes[i] = { ok: false, error };
        opts.onError?.(file, new Error(error));
      } else {
        try {
          const r = await ingestOne(file, opts.data, maxFileBytes, chunkSize);
          outcomes[i] = { ok: true, ...r };
        } catch (err) {
          outcomes[i] = { ok: false, error: errorText(err) };
          opts.onError?.(file, err);
        }
      }
      opts.onProgress?.(++done, total, file);
    }
  };
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? 4, items.length || 1));
  await Promise.all(Array.from({ length: concurrency }, worker));

  const result: IngestResult = { added: [], existing: [], failed: [] };
  outcomes.forEach((o, i) => {
    if (!o.ok) result.failed.push({ file: items[i]!.file, error: o.error });
    else if (o.added) result.added.push(o.track);
    else result.existing.push(o.track);
  });
  return result;
}

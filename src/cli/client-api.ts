/** Talking to a running client daemon's HTTP endpoint from the CLI. */
import type { TrackInfo } from '../core/track.ts';

/** Where `play` and `search` find the client daemon unless told. */
export const DEFAULT_CLIENT = process.env.TUNEMESH_CLIENT ?? 'http://127.0.0.1:7700';

/** GET a JSON document from the client, with a clear error when it is not running. */
export async function getJson<T>(base: string, path: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL(path, base));
  } catch (err) {
    throw new Error(`no tunemesh client at ${base} (${(err as Error).cause ? String((err as { cause: Error }).cause.message) : (err as Error).message}); start one with 'tunemesh client'`);
  }
  const body = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(`client: ${body.error ?? res.statusText}`);
  return body;
}

/** Tracks matching the words, best first. */
export async function searchTracks(base: string, words: string, limit = 20): Promise<TrackInfo[]> {
  const r = await getJson<{ tracks: TrackInfo[] }>(base, `/api/search?q=${encodeURIComponent(words)}&limit=${limit}`);
  return r.tracks;
}

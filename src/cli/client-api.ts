/** Talking to a running client daemon's HTTP endpoint from the CLI. */
import type { TrackInfo } from '../core/track.ts';
import type { ResolvedUri } from '../client/daemon.ts';

/** Where `play` and `search` find the client daemon unless told. */
export const DEFAULT_CLIENT = process.env.TUNEMESH_CLIENT ?? 'http://127.0.0.1:7700';

/**
 * Sends a request to the client and returns its JSON answer, with a clear error when the client
 * is not running or refuses the request. `body` goes as JSON.
 */
export async function requestJson<T>(base: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL(path, base), {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
  } catch (err) {
    throw new Error(`no tunemesh client at ${base} (${(err as Error).cause ? String((err as { cause: Error }).cause.message) : (err as Error).message}); start one with 'tunemesh client'`);
  }
  let answer: T & { error?: string };
  try {
    answer = (await res.json()) as T & { error?: string };
  } catch {
    throw new Error(`client: ${res.status} ${res.statusText} without a JSON answer`);
  }
  if (!res.ok) throw new Error(`client: ${answer.error ?? res.statusText}`);
  return answer;
}

/** GET a JSON document from the client, with a clear error when it is not running. */
export function getJson<T>(base: string, path: string): Promise<T> {
  return requestJson<T>(base, 'GET', path);
}

/** Tracks matching the words, best first. */
export async function searchTracks(base: string, words: string, limit = 20): Promise<TrackInfo[]> {
  const r = await getJson<{ tracks: TrackInfo[] }>(base, `/api/search?q=${encodeURIComponent(words)}&limit=${limit}`);
  return r.tracks;
}

/** The tracks a track, album or playlist URI stands for, in play order. */
export function resolveUri(base: string, uri: string): Promise<ResolvedUri> {
  return getJson<ResolvedUri>(base, `/api/resolve?uri=${encodeURIComponent(uri)}`);
}

/**
 * The tracks that command-line arguments name, in order: every argument a tunemesh URI (each
 * resolved in turn), or search words (the best matching track). Mixing both is refused.
 */
export async function tracksFromArgs(base: string, args: string[]): Promise<{ fromUris: ResolvedUri[] } | { searched: TrackInfo }> {
  const isUri = args.map((a) => /^tunemesh:/i.test(a.trim()));
  if (isUri.every(Boolean)) {
    const fromUris: ResolvedUri[] = [];
    for (const uri of args) fromUris.push(await resolveUri(base, uri.trim()));
    return { fromUris };
  }
  if (isUri.some(Boolean)) throw new UsageError('give either tunemesh URIs or search words, not both');
  const words = args.join(' ');
  const [best] = await searchTracks(base, words, 1);
  if (!best) throw new Error(`no track matches "${words}"`);
  return { searched: best };
}

/** A mistake in how a command was called (exit status 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * tunemesh URIs: `tunemesh:track:<id>`, `tunemesh:album:<id>`, `tunemesh:playlist:<id>`. What a
 * user copies, pastes and hands to `tunemesh play`; the client resolves each to its tracks in order.
 */
import { trackUri } from '../core/track.ts';

/** What a URI names. */
export type UriKind = 'track' | 'album' | 'playlist';

/** The kind and id a URI names. */
export interface ParsedUri {
  kind: UriKind;
  id: string;
}

/** Ids in URIs: short and URL-safe (catalog and playlist ids are 12 base62 characters). */
export const URI_ID = /^[A-Za-z0-9_-]{1,64}$/;
const URI = /^tunemesh:(track|album|playlist):([A-Za-z0-9_-]{1,64})$/;

/** The kind and id of a tunemesh URI, or undefined when `uri` is not one. */
export function parseUri(uri: string): ParsedUri | undefined {
  const m = typeof uri === 'string' ? URI.exec(uri.trim()) : null;
  return m ? { kind: m[1] as UriKind, id: m[2]! } : undefined;
}

/** True for strings that look like a tunemesh URI of any kind (valid or not), e.g. to tell URIs from search words. */
export function looksLikeUri(s: string): boolean {
  return /^tunemesh:/i.test(s.trim());
}

/** The URI of an album. */
export function albumUri(id: string): string {
  return `tunemesh:album:${id}`;
}

/** The URI of a playlist. */
export function playlistUri(id: string): string {
  return `tunemesh:playlist:${id}`;
}

/** The URI of a `kind` with this id. */
export function uriOf(kind: UriKind, id: string): string {
  return kind === 'track' ? trackUri(id) : kind === 'album' ? albumUri(id) : playlistUri(id);
}

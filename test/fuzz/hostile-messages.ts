/**
 * Structurally valid, semantically hostile messages (issue 6 item 4): every message type, with
 * fields set to unknown or real ids (of this user and of others), absurd numbers, very long
 * strings and query syntax, including messages of the wrong direction. Every message returned
 * encodes (the codec's bounds hold), so it reaches the handler rather than the decoder.
 */
import fc from 'fast-check';
import { encodeMessage } from '../../src/protocol/codec.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { allSamples, messageArb } from '../protocol/samples.ts';
import type { Rng } from './harness.ts';

/** Real names the hostile messages use besides made-up ones, so handlers get past their lookups. */
export interface HostileContext {
  trackIds: string[];
  fileIds: string[];
  albumIds: string[];
  artistIds: string[];
  /** Playlists of the attacker and of other users. */
  playlistIds: string[];
  peerIds: string[];
}

const ABSURD = [0, 1, 2, 255, 256, 65_535, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 2 ** 40, Number.MAX_SAFE_INTEGER];
const STRINGS = [
  '',
  ' ',
  'a'.repeat(1000),
  'é'.repeat(500),
  '"unterminated',
  'NEAR(a b) OR * AND -x',
  "'; DROP TABLE tracks; --",
  '\u0000\u0001\u001b[2J',
  '../../../../etc/passwd',
  '🎵'.repeat(250),
  '%s%n%x',
  '0'.repeat(64),
  'f'.repeat(64),
];
const ID_FIELDS: Record<string, keyof HostileContext> = {
  trackId: 'trackIds',
  fileId: 'fileIds',
  albumId: 'albumIds',
  artistId: 'artistIds',
  playlistId: 'playlistIds',
  target: 'peerIds',
  peerId: 'peerIds',
};

/** A pool of valid messages of every type to start from. */
export function messagePool(seed: number, size = 600): Message[] {
  return [...allSamples, ...fc.sample(messageArb, { numRuns: size, seed })];
}

function encodes(msg: Message): boolean {
  try {
    encodeMessage(msg);
    return true;
  } catch {
    return false;
  }
}

/**
 * A hostile variant of a message from `pool`: each field, with some probability, replaced by a
 * real id from `ctx`, an absurd number or a nasty string (kept only where it still encodes).
 * `types`, if given, restricts the message types.
 */
export function hostileMessage(rng: Rng, pool: readonly Message[], ctx: HostileContext, types?: ReadonlySet<string>): Message {
  let base: Message;
  do base = rng.pick(pool);
  while (types && !types.has(base.type));
  const msg = { ...base } as Record<string, unknown>;
  for (const key of Object.keys(msg)) {
    if (key === 'type' || !rng.chance(0.5)) continue;
    const before = msg[key];
    const idList = ID_FIELDS[key];
    if (idList && ctx[idList].length > 0 && rng.chance(0.7)) msg[key] = rng.pick(ctx[idList]);
    else if (typeof before === 'number') msg[key] = rng.pick(ABSURD);
    else if (typeof before === 'string') msg[key] = rng.pick(STRINGS);
    else if (Array.isArray(before) && key === 'trackIds') msg[key] = Array.from({ length: rng.pick([0, 1, 50, 2000]) }, () => (rng.chance(0.5) && ctx.trackIds.length ? rng.pick(ctx.trackIds) : rng.pick(STRINGS).slice(0, 64)));
    else if (before === null && key === 'position') msg[key] = rng.pick(ABSURD);
    if (!encodes(msg as Message)) msg[key] = before;
  }
  return msg as Message;
}

/**
 * The one binary codec of every {@link Message} (DESIGN §4), in the style of Holepunch's
 * compact-encoding: an {@link Encoding} is `{ preencode, encode, decode }` over a {@link State}
 * (a buffer and an offset); small primitives are combined into structs and messages.
 *
 * Decoding is bounds-checked everywhere and throws only {@link ProtocolError} subclasses:
 * reads past the end ({@link TruncatedError}), strings, byte fields and arrays over their bound,
 * unknown enum values, integers out of range, invalid UTF-8, non-canonical varints, booleans
 * other than 0/1 and ids that are not lowercase hex ({@link InvalidFieldError}), unknown type
 * ids ({@link UnknownMessageTypeError}) and bytes left over ({@link TrailingBytesError}).
 * No allocation is sized by a length that was not checked against both its bound and the bytes
 * actually present.
 *
 * Byte fields (`chunk.data`) decode as views into the payload, not copies.
 */
import type { AlbumInfo, ArtistInfo, Codec, SeekPoint, TrackInfo } from '../core/track.ts';
import {
  InvalidFieldError,
  ProtocolError,
  TrailingBytesError,
  TruncatedError,
  UnknownMessageTypeError,
} from './errors.ts';
import type { ErrorCode, Message, MessageOf, MessageType, MetricsReport, PeerAddress, PeerTicket, PlaylistInfo, Role, TicketKey } from './messages.ts';

/**
 * Encoding and decoding position. Encoding runs in two passes: `preencode` adds each value's
 * size to `end`, the caller allocates `end` bytes, then `encode` writes from `start`. Decoding
 * reads from `start` and never past `end`.
 */
export interface State {
  start: number;
  end: number;
  buffer: Uint8Array;
}

/** How one kind of value is sized, written and read. */
export interface Encoding<T> {
  /** Adds the encoded size of `value` to `state.end`; throws InvalidFieldError if it is not encodable. */
  preencode(state: State, value: T): void;
  /** Writes `value` at `state.start` and advances it. `preencode` has validated `value`. */
  encode(state: State, value: T): void;
  /** Reads a value at `state.start` and advances it; throws a ProtocolError on bad input. */
  decode(state: State): T;
}

/** The bounds every decoder checks; a sender exceeding them gets InvalidFieldError at encode time. */
export const LIMITS = Object.freeze({
  /** Track, artist, album, file and session ids, bytes. */
  idBytes: 128,
  /** Track URIs, bytes. */
  uriBytes: 256,
  /** Titles and names, bytes. */
  nameBytes: 1024,
  /** User names and agent strings, bytes. */
  userBytes: 256,
  /** Passwords, bytes. */
  passwordBytes: 1024,
  /** Search queries, bytes. */
  queryBytes: 1024,
  /** Human-readable text in `error` and `bye`, bytes. */
  textBytes: 4096,
  /** Tracks, artists or albums in one answer. */
  listItems: 10_000,
  /** Points in one track's seek index. */
  seekPoints: 100_000,
  /** Audio bytes in one `chunk` (the frame limit applies as well). */
  chunkDataBytes: 1024 * 1024,
  /** Peer ids: lowercase hex, characters (at least 1, except the AP's empty id in `hello`). */
  peerIdChars: 64,
  /** Host names and IP literals of peers (`PeerAddress.host`, `login-ok.observedHost`), bytes. */
  hostBytes: 255,
  /** Peers in one `tracker-peers` answer. */
  trackerPeers: 64,
  /** `peer-search.hops` and `peer-found.distance`. */
  searchHops: 8,
  /** Playlist names, bytes. */
  playlistNameBytes: 200,
  /** Tracks in one playlist, and track ids in one `add-to-playlist`. */
  playlistTracks: 10_000,
  /** Public keys in a `peer-ticket` (current and retired AP ticket keys). */
  ticketKeys: 16,
  /** Bytes of a ticket key (Ed25519: 32) and of a ticket signature (Ed25519: 64). */
  ticketKeyBytes: 64,
  signatureBytes: 128,
  /** Bytes of a content key and of its initial counter (AES-256-CTR: 32 and 16). */
  contentKeyBytes: 64,
  /** Bytes of chunk hashes in one `chunk-hashes` answer: 16 384 hashes (a 256 MiB file), half a frame. */
  chunkHashBytes: 32 * 16_384,
});

// ---------------------------------------------------------------------------------------------
// primitives

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function need(state: State, n: number): void {
  if (state.end - state.start < n) {
    throw new TruncatedError(`need ${n} bytes at offset ${state.start}, ${Math.max(0, state.end - state.start)} left`);
  }
}

function checkUint(value: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidFieldError(`${String(value)} is not an integer in [0, ${max}]`);
  }
}

/** Unsigned 8-bit integer. */
export const uint8: Encoding<number> = {
  preencode(state, value) {
    checkUint(value, 0xff);
    state.end += 1;
  },
  encode(state, value) {
    state.buffer[state.start++] = value;
  },
  decode(state) {
    need(state, 1);
    return state.buffer[state.start++]!;
  },
};

/** Unsigned 8-bit integer up to `max`: small counters such as hop counts. */
export function smallUint(max: number): Encoding<number> {
  if (!Number.isInteger(max) || max < 0 || max > 0xff) throw new RangeError('smallUint takes a maximum in 0..255');
  return {
    preencode(state, value) {
      checkUint(value, max);
      state.end += 1;
    },
    encode(state, value) {
      state.buffer[state.start++] = value;
    },
    decode(state) {
      need(state, 1);
      const v = state.buffer[state.start]!;
      if (v > max) throw new InvalidFieldError(`${v} exceeds the maximum ${max}`);
      state.start += 1;
      return v;
    },
  };
}

/** A boolean as one byte, 0 or 1; any other byte is refused. */
export const bool: Encoding<boolean> = {
  preencode(state, value) {
    if (typeof value !== 'boolean') throw new InvalidFieldError(`expected a boolean, got ${typeof value}`);
    state.end += 1;
  },
  encode(state, value) {
    state.buffer[state.start++] = value ? 1 : 0;
  },
  decode(state) {
    need(state, 1);
    const v = state.buffer[state.start]!;
    if (v > 1) throw new InvalidFieldError(`boolean byte ${v} is not 0 or 1`);
    state.start += 1;
    return v === 1;
  },
};

/** Unsigned 16-bit integer, little-endian. */
export const uint16: Encoding<number> = {
  preencode(state, value) {
    checkUint(value, 0xffff);
    state.end += 2;
  },
  encode(state, value) {
    const b = state.buffer;
    b[state.start++] = value & 0xff;
    b[state.start++] = value >>> 8;
  },
  decode(state) {
    need(state, 2);
    const b = state.buffer;
    const s = state.start;
    state.start += 2;
    return b[s]! | (b[s + 1]! << 8);
  },
};

function writeU32(b: Uint8Array, s: number, value: number): void {
  b[s] = value & 0xff;
  b[s + 1] = (value >>> 8) & 0xff;
  b[s + 2] = (value >>> 16) & 0xff;
  b[s + 3] = value >>> 24;
}

function readU32(b: Uint8Array, s: number): number {
  return (b[s]! | (b[s + 1]! << 8) | (b[s + 2]! << 16) | (b[s + 3]! << 24)) >>> 0;
}

/** Unsigned 32-bit integer, little-endian. */
export const uint32: Encoding<number> = {
  preencode(state, value) {
    checkUint(value, 0xffffffff);
    state.end += 4;
  },
  encode(state, value) {
    writeU32(state.buffer, state.start, value);
    state.start += 4;
  },
  decode(state) {
    need(state, 4);
    const v = readU32(state.buffer, state.start);
    state.start += 4;
    return v;
  },
};

function varintSize(value: number): number {
  return value < 0xfd ? 1 : value <= 0xffff ? 3 : value <= 0xffffffff ? 5 : 9;
}

function writeVarint(state: State, value: number): void {
  const b = state.buffer;
  if (value < 0xfd) {
    b[state.start++] = value;
  } else if (value <= 0xffff) {
    b[state.start++] = 0xfd;
    b[state.start++] = value & 0xff;
    b[state.start++] = value >>> 8;
  } else if (value <= 0xffffffff) {
    b[state.start++] = 0xfe;
    writeU32(b, state.start, value);
    state.start += 4;
  } else {
    b[state.start++] = 0xff;
    writeU32(b, state.start, value >>> 0);
    writeU32(b, state.start + 4, Math.floor(value / 0x100000000));
    state.start += 8;
  }
}

function readVarint(state: State): number {
  need(state, 1);
  const b = state.buffer;
  const first = b[state.start]!;
  if (first < 0xfd) {
    state.start += 1;
    return first;
  }
  if (first === 0xfd) {
    need(state, 3);
    const v = b[state.start + 1]! | (b[state.start + 2]! << 8);
    if (v < 0xfd) throw new InvalidFieldError('non-canonical varint');
    state.start += 3;
    return v;
  }
  if (first === 0xfe) {
    need(state, 5);
    const v = readU32(b, state.start + 1);
    if (v <= 0xffff) throw new InvalidFieldError('non-canonical varint');
    state.start += 5;
    return v;
  }
  need(state, 9);
  const lo = readU32(b, state.start + 1);
  const hi = readU32(b, state.start + 5);
  if (hi > 0x1fffff) throw new InvalidFieldError('varint exceeds 2^53 - 1');
  if (hi === 0) throw new InvalidFieldError('non-canonical varint');
  state.start += 9;
  return hi * 0x100000000 + lo;
}

/**
 * Unsigned integer up to `max` (at most 2^53 - 1) as a compact-encoding varint: one byte below
 * 0xfd, else a marker byte and 2, 4 or 8 little-endian bytes. Non-canonical forms are rejected,
 * so every value has exactly one encoding.
 */
export function uint(max: number = MAX_SAFE): Encoding<number> {
  return {
    preencode(state, value) {
      checkUint(value, max);
      state.end += varintSize(value);
    },
    encode: writeVarint,
    decode(state) {
      const v = readVarint(state);
      if (v > max) throw new InvalidFieldError(`${v} exceeds the maximum ${max}`);
      return v;
    },
  };
}

/**
 * A position that may be absent: `null` as varint 0, a number `n` in 0..`max` as `n + 1`.
 * One encoding per value, like {@link uint}.
 */
export function nullableUint(max: number): Encoding<number | null> {
  const inner = uint(max + 1);
  return {
    preencode(state, value) {
      if (value === null) {
        state.end += 1;
        return;
      }
      checkUint(value, max);
      inner.preencode(state, value + 1);
    },
    encode(state, value) {
      writeVarint(state, value === null ? 0 : value + 1);
    },
    decode(state) {
      const v = inner.decode(state);
      return v === 0 ? null : v - 1;
    },
  };
}

/**
 * A value that may be absent (`undefined`): one byte 0, or 1 and the value. A struct leaves an
 * absent field out of the decoded object (not `field: undefined`).
 */
export function optional<T>(inner: Encoding<T>): Encoding<T | undefined> {
  return {
    preencode(state, value) {
      state.end += 1;
      if (value !== undefined) inner.preencode(state, value);
    },
    encode(state, value) {
      state.buffer[state.start++] = value === undefined ? 0 : 1;
      if (value !== undefined) inner.encode(state, value);
    },
    decode(state) {
      const present = bool.decode(state);
      return present ? inner.decode(state) : undefined;
    },
  };
}

/** Varint up to 2^16 - 1. */
export const varUint16 = uint(0xffff);
/** Varint up to 2^32 - 1. */
export const varUint32 = uint(0xffffffff);
/** Varint up to 2^53 - 1 (byte offsets, durations). */
export const varUint53 = uint(MAX_SAFE);

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

function isWellFormed(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed();
}

function utf8Length(value: string, maxBytes: number): number {
  if (typeof value !== 'string') throw new InvalidFieldError(`expected a string, got ${typeof value}`);
  // A lone surrogate would be written as U+FFFD and not survive a round trip.
  if (!isWellFormed(value)) throw new InvalidFieldError('string has a lone surrogate');
  const len = Buffer.byteLength(value, 'utf8');
  if (len > maxBytes) throw new InvalidFieldError(`string of ${len} bytes exceeds ${maxBytes} bytes`);
  return len;
}

/** UTF-8 string of at most `maxBytes` bytes, prefixed by its byte length (varint). */
export function string(maxBytes: number): Encoding<string> {
  return {
    preencode(state, value) {
      const len = utf8Length(value, maxBytes);
      state.end += varintSize(len) + len;
    },
    encode(state, value) {
      const len = Buffer.byteLength(value, 'utf8');
      writeVarint(state, len);
      const b = state.buffer;
      if (Buffer.isBuffer(b)) b.write(value, state.start, len, 'utf8');
      else utf8Encoder.encodeInto(value, b.subarray(state.start, state.start + len));
      state.start += len;
    },
    decode(state) {
      const len = readVarint(state);
      if (len > maxBytes) throw new InvalidFieldError(`string of ${len} bytes exceeds ${maxBytes} bytes`);
      need(state, len);
      const s = state.start;
      let value: string;
      try {
        value = utf8Decoder.decode(state.buffer.subarray(s, s + len));
      } catch (err) {
        throw new InvalidFieldError('invalid UTF-8', { cause: err });
      }
      state.start += len;
      return value;
    },
  };
}

/**
 * Byte string of at most `maxBytes`, prefixed by its length (varint). Decodes as a view into
 * the decoded buffer (no copy): it stays valid as long as that buffer is not overwritten.
 */
export function bytes(maxBytes: number): Encoding<Uint8Array> {
  return {
    preencode(state, value) {
      if (!(value instanceof Uint8Array)) throw new InvalidFieldError('expected a Uint8Array');
      if (value.byteLength > maxBytes) {
        throw new InvalidFieldError(`${value.byteLength} bytes exceed the bound of ${maxBytes}`);
      }
      state.end += varintSize(value.byteLength) + value.byteLength;
    },
    encode(state, value) {
      writeVarint(state, value.byteLength);
      state.buffer.set(value, state.start);
      state.start += value.byteLength;
    },
    decode(state) {
      const len = readVarint(state);
      if (len > maxBytes) throw new InvalidFieldError(`${len} bytes exceed the bound of ${maxBytes}`);
      need(state, len);
      const b = state.buffer;
      const view = new Uint8Array(b.buffer, b.byteOffset + state.start, len);
      state.start += len;
      return view;
    },
  };
}

/**
 * The length prefix of a {@link bytes} field without its content: for writing the content
 * separately (zero-copy framing of `chunk.data`). Same bound checks as {@link bytes}.
 */
function bytesLengthOnly(maxBytes: number): Encoding<Uint8Array> {
  const full = bytes(maxBytes);
  return {
    preencode(state, value) {
      const before = state.end;
      full.preencode(state, value);
      state.end = before + varintSize(value.byteLength);
    },
    encode(state, value) {
      writeVarint(state, value.byteLength);
    },
    decode() {
      throw new Error('bytesLengthOnly is for encoding only');
    },
  };
}

const LOWER_HEX = /^[0-9a-f]*$/;

/** Whether byte `c` is an ASCII lowercase hex digit. */
function isLowerHexByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}

/**
 * A lowercase hex string of `minChars`..`maxChars` characters, as ASCII prefixed by its length
 * (varint). Uppercase, other characters and lengths outside the range are refused both ways.
 */
export function hexString(minChars: number, maxChars: number): Encoding<string> {
  const check = (len: number) => {
    if (len < minChars || len > maxChars) throw new InvalidFieldError(`hex string of ${len} characters is not within ${minChars}..${maxChars}`);
  };
  return {
    preencode(state, value) {
      if (typeof value !== 'string') throw new InvalidFieldError(`expected a string, got ${typeof value}`);
      check(value.length);
      if (!LOWER_HEX.test(value)) throw new InvalidFieldError(`${JSON.stringify(value.slice(0, 80))} is not lowercase hex`);
      state.end += varintSize(value.length) + value.length;
    },
    encode(state, value) {
      writeVarint(state, value.length);
      const b = state.buffer;
      for (let i = 0; i < value.length; i++) b[state.start + i] = value.charCodeAt(i);
      state.start += value.length;
    },
    decode(state) {
      const len = readVarint(state);
      check(len);
      need(state, len);
      const b = state.buffer;
      const s = state.start;
      for (let i = s; i < s + len; i++) {
        if (!isLowerHexByte(b[i]!)) throw new InvalidFieldError(`byte 0x${b[i]!.toString(16)} at offset ${i} is not a lowercase hex digit`);
      }
      state.start += len;
      return Buffer.from(b.buffer, b.byteOffset + s, len).toString('latin1');
    },
  };
}

/**
 * A hex string of exactly `2 * byteCount` lowercase characters (a hash), written as its
 * `byteCount` raw bytes. Every byte string decodes, to exactly one valid value.
 */
export function fixedHex(byteCount: number): Encoding<string> {
  const chars = 2 * byteCount;
  return {
    preencode(state, value) {
      if (typeof value !== 'string') throw new InvalidFieldError(`expected a string, got ${typeof value}`);
      if (value.length !== chars || !LOWER_HEX.test(value)) {
        throw new InvalidFieldError(`${JSON.stringify(value.slice(0, 80))} is not ${chars} lowercase hex characters`);
      }
      state.end += byteCount;
    },
    encode(state, value) {
      const b = state.buffer;
      for (let i = 0; i < byteCount; i++) b[state.start + i] = parseInt(value.slice(2 * i, 2 * i + 2), 16);
      state.start += byteCount;
    },
    decode(state) {
      need(state, byteCount);
      const b = state.buffer;
      const value = Buffer.from(b.buffer, b.byteOffset + state.start, byteCount).toString('hex');
      state.start += byteCount;
      return value;
    },
  };
}

/** One of a fixed list of string values, as its index (uint8). Order is part of the protocol. */
export function enumeration<T extends string>(values: readonly T[]): Encoding<T> {
  if (values.length > 256) throw new RangeError('an enumeration has at most 256 values');
  const index = new Map<string, number>(values.map((v, i) => [v, i]));
  return {
    preencode(state, value) {
      if (!index.has(value)) throw new InvalidFieldError(`${JSON.stringify(value)} is not one of ${values.join(', ')}`);
      state.end += 1;
    },
    encode(state, value) {
      state.buffer[state.start++] = index.get(value)!;
    },
    decode(state) {
      need(state, 1);
      const i = state.buffer[state.start]!;
      const value = values[i];
      if (value === undefined) throw new InvalidFieldError(`enum value ${i} is not one of 0..${values.length - 1}`);
      state.start += 1;
      return value;
    },
  };
}

function annotate(err: unknown, segment: string): never {
  if (err instanceof ProtocolError) {
    err.field = err.field === undefined ? segment : err.field.startsWith('[') ? segment + err.field : `${segment}.${err.field}`;
  }
  throw err;
}

/**
 * Array of at most `maxCount` elements, prefixed by its count (varint). `minElementBytes` is the
 * smallest encoded element; a count the remaining bytes cannot hold is rejected before decoding.
 */
export function array<T>(element: Encoding<T>, maxCount: number, minElementBytes = 1): Encoding<T[]> {
  return {
    preencode(state, value) {
      if (!Array.isArray(value)) throw new InvalidFieldError('expected an array');
      if (value.length > maxCount) throw new InvalidFieldError(`array of ${value.length} exceeds ${maxCount} elements`);
      state.end += varintSize(value.length);
      for (let i = 0; i < value.length; i++) {
        try {
          element.preencode(state, value[i]!);
        } catch (err) {
          annotate(err, `[${i}]`);
        }
      }
    },
    encode(state, value) {
      writeVarint(state, value.length);
      for (let i = 0; i < value.length; i++) element.encode(state, value[i]!);
    },
    decode(state) {
      const count = readVarint(state);
      if (count > maxCount) throw new InvalidFieldError(`array of ${count} exceeds ${maxCount} elements`);
      if (count * minElementBytes > state.end - state.start) {
        throw new TruncatedError(`array of ${count} elements cannot fit in ${state.end - state.start} bytes`);
      }
      const out: T[] = [];
      for (let i = 0; i < count; i++) {
        try {
          out.push(element.decode(state));
        } catch (err) {
          annotate(err, `[${i}]`);
        }
      }
      return out;
    },
  };
}

type Fields = Record<string, Encoding<any>>;
/** The value type a record of field encodings describes. */
export type StructOf<F extends Fields> = { [K in keyof F]: F[K] extends Encoding<infer T> ? T : never };

function fieldsCodec<F extends Fields>(fields: F, make: () => Record<string, unknown>): Encoding<StructOf<F>> {
  const entries = Object.entries(fields);
  return {
    preencode(state, value) {
      if (typeof value !== 'object' || value === null) throw new InvalidFieldError('expected an object');
      for (const [name, enc] of entries) {
        try {
          enc.preencode(state, (value as Record<string, unknown>)[name]);
        } catch (err) {
          annotate(err, name);
        }
      }
    },
    encode(state, value) {
      for (const [name, enc] of entries) enc.encode(state, (value as Record<string, unknown>)[name]);
    },
    decode(state) {
      const out = make();
      for (const [name, enc] of entries) {
        try {
          const v = enc.decode(state);
          if (v !== undefined) out[name] = v;
        } catch (err) {
          annotate(err, name);
        }
      }
      return out as StructOf<F>;
    },
  };
}

/** An object whose fields are encoded one after the other, in the order they are listed here. */
export function struct<F extends Fields>(fields: F): Encoding<StructOf<F>> {
  return fieldsCodec(fields, () => ({}));
}

/** A message: its fields as in {@link struct}; `type` is not encoded (it is the frame's type id). */
function message<T extends MessageType, F extends Fields>(type: T, fields: F): Encoding<{ type: T } & StructOf<F>> {
  return fieldsCodec(fields, () => ({ type })) as unknown as Encoding<{ type: T } & StructOf<F>>;
}

// ---------------------------------------------------------------------------------------------
// domain types

const id = string(LIMITS.idBytes);
const name = string(LIMITS.nameBytes);
const text = string(LIMITS.textBytes);

/** Roles, in wire order. */
export const roleEncoding = enumeration<Role>(['peer', 'leecher']);
/** Error codes, in wire order; append new codes at the end. */
export const errorCodeEncoding = enumeration<ErrorCode>([
  'bad-request',
  'unauthorized',
  'not-found',
  'not-here',
  'busy',
  'version',
  'internal',
]);
/** Audio codecs, in wire order. */
export const codecEncoding = enumeration<Codec>(['vorbis', 'opus']);

/** One seek point: two varints. */
export const seekPointEncoding: Encoding<SeekPoint> = struct({ ms: varUint53, byte: varUint53 });

/** A seek index; each point takes at least 2 bytes. */
export const seekIndexEncoding: Encoding<SeekPoint[]> = array(seekPointEncoding, LIMITS.seekPoints, 2);

/** Track metadata, fields in the order of {@link TrackInfo}. */
export const trackInfoEncoding: Encoding<TrackInfo> = struct({
  id,
  uri: string(LIMITS.uriBytes),
  title: name,
  artist: name,
  album: name,
  trackNo: varUint32,
  durationMs: varUint53,
  bytes: varUint53,
  fileId: id,
  codec: codecEncoding,
  bitrate: varUint32,
  sampleRate: varUint32,
  channels: uint8,
  seekIndex: seekIndexEncoding,
});

/** Artist in browse answers. */
export const artistInfoEncoding: Encoding<ArtistInfo> = struct({ id, name, albumCount: varUint32 });

/** Album in browse answers. */
export const albumInfoEncoding: Encoding<AlbumInfo> = struct({
  id,
  title: name,
  artist: name,
  artistId: id,
  trackCount: varUint32,
});

/** A playlist as listed, fields in the order of {@link PlaylistInfo}. */
export const playlistInfoEncoding: Encoding<PlaylistInfo> = struct({
  id,
  uri: string(LIMITS.uriBytes),
  name: string(LIMITS.playlistNameBytes),
  owner: string(LIMITS.userBytes),
  trackCount: uint(LIMITS.playlistTracks),
  durationMs: varUint53,
  createdAt: varUint53,
  updatedAt: varUint53,
});

/** Encoded size of a track in a list answer, bytes: for filling pages up to a byte budget. */
export function trackInfoSize(track: TrackInfo): number {
  const state: State = { start: 0, end: 0, buffer: EMPTY };
  trackInfoEncoding.preencode(state, track);
  return state.end;
}

// Smallest encodings, for the array pre-checks: every string and varint takes at least one byte.
const tracks = array(trackInfoEncoding, LIMITS.listItems, 15);
const playlists = array(playlistInfoEncoding, LIMITS.listItems, 8);
const playlistName = string(LIMITS.playlistNameBytes);
/** A position in a playlist, 0-based. */
const playlistPosition = uint(LIMITS.playlistTracks - 1);
const artists = array(artistInfoEncoding, LIMITS.listItems, 3);
const albums = array(albumInfoEncoding, LIMITS.listItems, 5);

/** A client's peer id: 1..64 lowercase hex characters. */
export const peerIdEncoding = hexString(1, LIMITS.peerIdChars);
/** The peer id in `hello`: as {@link peerIdEncoding}, or empty (the AP has none). */
const helloPeerId = hexString(0, LIMITS.peerIdChars);
/**
 * File ids of the peer messages: the lowercase hex SHA-256 of the file (as the store names it),
 * sent as its 32 bytes. (The catalog and chunk messages carry file ids as plain `id` strings.)
 */
export const fileIdEncoding = fixedHex(32);
const host = string(LIMITS.hostBytes);
/** Where a peer accepts connections; port 0 = nowhere. At least 5 bytes. */
export const peerAddressEncoding: Encoding<PeerAddress> = struct({ peerId: peerIdEncoding, host, port: uint16 });
const peers = array(peerAddressEncoding, LIMITS.trackerPeers, 5);

/** An AP ticket key id: 8 bytes, as 16 lowercase hex characters. */
const ticketKeyId = fixedHex(8);
/** A peer ticket (DESIGN §5), fields in the order of {@link PeerTicket}. At least 8 + 1 + 1 + 32 + 1 + 1 + 1 bytes. */
export const peerTicketEncoding: Encoding<PeerTicket> = struct({
  keyId: ticketKeyId,
  peerId: peerIdEncoding,
  user: string(LIMITS.userBytes),
  certFingerprint: fixedHex(32),
  issuedAt: varUint53,
  expiresAt: varUint53,
  signature: bytes(LIMITS.signatureBytes),
});
/** An AP public ticket key. */
export const ticketKeyEncoding: Encoding<TicketKey> = struct({ keyId: ticketKeyId, publicKey: bytes(LIMITS.ticketKeyBytes) });
const hops = smallUint(LIMITS.searchHops);

/** A client's metric report: every field a varint up to 2^53 - 1, in the order of {@link MetricsReport}. */
export const metricsReportEncoding: Encoding<MetricsReport> = struct({
  plays: varUint53,
  playsWithStutter: varUint53,
  latencyMedianUs: varUint53,
  bytesServer: varUint53,
  bytesPeer: varUint53,
  bytesCache: varUint53,
  searches: varUint53,
  searchFoundAt1: varUint53,
  searchFoundAt2: varUint53,
  searchNotFound: varUint53,
  trackerQueries: varUint53,
  trackerFound: varUint53,
});

// ---------------------------------------------------------------------------------------------
// messages

/**
 * The wire type id of every message type. Ids are part of the protocol: never reuse or renumber
 * one; 0 is reserved. Groups: link control 1-15, session 16-31, catalog 32-63, chunks 64-95,
 * tracker and connect-back relay 96-111, overlay 112-127.
 */
export const MESSAGE_TYPE_IDS = Object.freeze({
  hello: 1,
  bye: 2,
  error: 3,
  ping: 4,
  pong: 5,
  cancel: 6,
  ok: 7,
  login: 16,
  'login-ok': 17,
  reachability: 18,
  metrics: 19,
  'ticket-request': 20,
  'peer-ticket': 21,
  search: 32,
  'search-result': 33,
  'list-artists': 34,
  artists: 35,
  'get-artist': 36,
  artist: 37,
  'get-album': 38,
  album: 39,
  'get-track': 40,
  track: 41,
  'list-playlists': 42,
  playlists: 43,
  'get-playlist': 44,
  playlist: 45,
  'create-playlist': 46,
  'playlist-info': 47,
  'add-to-playlist': 48,
  'remove-from-playlist': 49,
  'rename-playlist': 50,
  'delete-playlist': 51,
  'chunk-request': 64,
  chunk: 65,
  'chunk-end': 66,
  'get-chunk-hashes': 67,
  'chunk-hashes': 68,
  'get-file-key': 69,
  'file-key': 70,
  announce: 96,
  'tracker-query': 97,
  'tracker-peers': 98,
  'connect-back-request': 99,
  'connect-back': 100,
  'peer-search': 112,
  'peer-found': 113,
} as const satisfies Record<MessageType, number>);

const messageEncodings: { [K in MessageType]: Encoding<MessageOf<K>> } = {
  // New fields go after the old ones (version first: a peer can always read it).
  hello: message('hello', {
    version: uint16,
    role: roleEncoding,
    agent: string(LIMITS.userBytes),
    peerId: helloPeerId,
    listenPort: uint16,
    ticket: optional(peerTicketEncoding),
  }),
  bye: message('bye', { reason: text }),
  error: message('error', { code: errorCodeEncoding, message: text }),
  ping: message('ping', { nonce: uint32 }),
  pong: message('pong', { nonce: uint32 }),
  cancel: message('cancel', {}),
  ok: message('ok', {}),
  login: message('login', { user: string(LIMITS.userBytes), password: string(LIMITS.passwordBytes) }),
  'login-ok': message('login-ok', { user: string(LIMITS.userBytes), sessionId: id, observedHost: host }),
  reachability: message('reachability', { reachable: bool }),
  metrics: message('metrics', { report: metricsReportEncoding }),
  'ticket-request': message('ticket-request', {}),
  'peer-ticket': message('peer-ticket', { ticket: peerTicketEncoding, keys: array(ticketKeyEncoding, LIMITS.ticketKeys, 9) }),
  search: message('search', { query: string(LIMITS.queryBytes), limit: varUint32 }),
  'search-result': message('search-result', { tracks, artists, albums }),
  'list-artists': message('list-artists', { offset: varUint32, limit: varUint32 }),
  artists: message('artists', { artists }),
  'get-artist': message('get-artist', { artistId: id }),
  artist: message('artist', { artist: artistInfoEncoding, albums }),
  'get-album': message('get-album', { albumId: id }),
  album: message('album', { album: albumInfoEncoding, tracks }),
  'get-track': message('get-track', { trackId: id }),
  track: message('track', { track: trackInfoEncoding }),
  'list-playlists': message('list-playlists', { offset: varUint32, limit: varUint32 }),
  playlists: message('playlists', { playlists, total: varUint32 }),
  'get-playlist': message('get-playlist', { playlistId: id, offset: uint(LIMITS.playlistTracks), limit: varUint32 }),
  playlist: message('playlist', { playlist: playlistInfoEncoding, offset: uint(LIMITS.playlistTracks), tracks: array(trackInfoEncoding, LIMITS.playlistTracks, 15) }),
  'create-playlist': message('create-playlist', { name: playlistName }),
  'playlist-info': message('playlist-info', { playlist: playlistInfoEncoding }),
  'add-to-playlist': message('add-to-playlist', {
    playlistId: id,
    trackIds: array(id, LIMITS.playlistTracks, 1),
    position: nullableUint(LIMITS.playlistTracks),
  }),
  'remove-from-playlist': message('remove-from-playlist', { playlistId: id, position: playlistPosition }),
  'rename-playlist': message('rename-playlist', { playlistId: id, name: playlistName }),
  'delete-playlist': message('delete-playlist', { playlistId: id }),
  'chunk-request': message('chunk-request', { fileId: id, first: varUint32, count: varUint32, urgency: uint8 }),
  // `data` must stay the last field: framing writes it after the rest without copying it.
  chunk: message('chunk', { fileId: id, index: varUint32, data: bytes(LIMITS.chunkDataBytes) }),
  'chunk-end': message('chunk-end', { fileId: id, first: varUint32, count: varUint32 }),
  'get-chunk-hashes': message('get-chunk-hashes', { fileId: fileIdEncoding, first: varUint32, count: varUint32 }),
  'chunk-hashes': message('chunk-hashes', {
    fileId: fileIdEncoding,
    chunkSize: varUint32,
    total: varUint32,
    first: varUint32,
    hashes: bytes(LIMITS.chunkHashBytes),
  }),
  'get-file-key': message('get-file-key', { fileId: fileIdEncoding }),
  'file-key': message('file-key', { fileId: fileIdEncoding, key: bytes(LIMITS.contentKeyBytes), iv: bytes(LIMITS.contentKeyBytes) }),
  announce: message('announce', { fileId: fileIdEncoding }),
  'tracker-query': message('tracker-query', { fileId: fileIdEncoding }),
  'tracker-peers': message('tracker-peers', { fileId: fileIdEncoding, peers }),
  'connect-back-request': message('connect-back-request', { target: peerIdEncoding, fileId: fileIdEncoding }),
  'connect-back': message('connect-back', { requester: peerAddressEncoding, fileId: fileIdEncoding }),
  'peer-search': message('peer-search', { queryId: uint32, fileId: fileIdEncoding, hops }),
  'peer-found': message('peer-found', { queryId: uint32, fileId: fileIdEncoding, holder: peerAddressEncoding, distance: hops }),
};

const byTypeId: (Encoding<Message> | undefined)[] = new Array(256).fill(undefined);
for (const [type, typeId] of Object.entries(MESSAGE_TYPE_IDS)) {
  byTypeId[typeId] = messageEncodings[type as MessageType] as Encoding<Message>;
}

function encodingOf(msg: Message): Encoding<Message> {
  const enc = typeof msg === 'object' && msg !== null ? (messageEncodings as Record<string, Encoding<Message> | undefined>)[msg.type] : undefined;
  if (enc === undefined || !Object.hasOwn(MESSAGE_TYPE_IDS, msg.type)) {
    throw new InvalidFieldError(`unknown message type ${JSON.stringify((msg as { type?: unknown })?.type)}`);
  }
  return enc;
}

function withFieldInMessage(err: unknown, type: string): never {
  if (err instanceof ProtocolError && err.field !== undefined && !err.message.includes(' (at ')) {
    err.message = `${err.message} (at ${type}.${err.field})`;
  }
  throw err;
}

/** The wire type id of a message type. */
export function typeIdOf(type: MessageType): number {
  return MESSAGE_TYPE_IDS[type];
}

/**
 * Adds the payload size of `msg` to `state.end`, validating every field. For framing code that
 * writes a header and the payload into one buffer; most callers want {@link encodeMessage}.
 */
export function preencodeMessage(state: State, msg: Message): void {
  const enc = encodingOf(msg);
  try {
    enc.preencode(state, msg);
  } catch (err) {
    withFieldInMessage(err, msg.type);
  }
}

const chunkHead = message('chunk', { fileId: id, index: varUint32, data: bytesLengthOnly(LIMITS.chunkDataBytes) });

/**
 * Like {@link preencodeMessage} for a `chunk`, but sizes everything except the content of
 * `data`, which is the last field: a framer writes `data` itself right after, without a copy.
 */
export function preencodeChunkHead(state: State, msg: MessageOf<'chunk'>): void {
  try {
    chunkHead.preencode(state, msg);
  } catch (err) {
    withFieldInMessage(err, 'chunk');
  }
}

/** Writes what {@link preencodeChunkHead} sized. */
export function encodeChunkHeadInto(state: State, msg: MessageOf<'chunk'>): void {
  chunkHead.encode(state, msg);
}

/** Writes the payload of `msg` at `state.start`; call {@link preencodeMessage} first. */
export function encodeMessageInto(state: State, msg: Message): void {
  encodingOf(msg).encode(state, msg);
}

/**
 * The payload bytes of `msg` (without its type id, which the frame carries).
 * Throws InvalidFieldError if a field is out of range or over its bound.
 */
export function encodeMessage(msg: Message): Uint8Array {
  const state: State = { start: 0, end: 0, buffer: EMPTY };
  preencodeMessage(state, msg);
  state.buffer = Buffer.allocUnsafe(state.end);
  encodeMessageInto(state, msg);
  return state.buffer;
}

const EMPTY = new Uint8Array(0);

/**
 * Decodes the payload of a message with wire type id `typeId`. Byte fields are views into
 * `payload`. Throws only ProtocolError subclasses.
 */
export function decodeMessage(typeId: number, payload: Uint8Array): Message {
  const enc = byTypeId[typeId];
  if (enc === undefined) throw new UnknownMessageTypeError(typeId);
  const state: State = { start: 0, end: payload.byteLength, buffer: payload };
  let msg: Message;
  try {
    msg = enc.decode(state);
  } catch (err) {
    withFieldInMessage(err, typeNameOf(typeId));
  }
  if (state.start !== state.end) {
    throw new TrailingBytesError(`${state.end - state.start} bytes left after a ${msg.type} message`);
  }
  return msg;
}

function typeNameOf(typeId: number): string {
  for (const [type, tid] of Object.entries(MESSAGE_TYPE_IDS)) if (tid === typeId) return type;
  return String(typeId);
}

/**
 * Ogg Vorbis / Ogg Opus inspection: codec parameters, duration, bitrate and the time<->byte seek
 * index the AP hands to clients (DESIGN §3: random access fetches "~15 s of audio" from the AP, and
 * the AP never sends more than 15 s ahead, so the client must map times to bytes without decoding).
 *
 * Parsing is strict: every page's CRC is checked and anything that is not exactly one Vorbis or
 * Opus logical stream is refused with an `AudioFormatError` (DESIGN §5: bad input gets a clear
 * error, never a half-ingested track).
 */
import { readFile } from 'node:fs/promises';
import type { Codec, SeekPoint } from '../core/track.ts';
import { FLAG_BOS, FLAG_EOS, NO_GRANULE, PacketAssembler, readPage } from './ogg-page.ts';

/** A file that is not a single well-formed Ogg Vorbis or Ogg Opus stream. */
export class AudioFormatError extends Error {
  override name = 'AudioFormatError';
  /** The file (path or caller-given name) the problem was found in. */
  readonly file: string;
  /** What is wrong, without the file name. */
  readonly problem: string;

  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.file = file;
    this.problem = problem;
  }
}

/** What `parseOgg` learns about a file. */
export interface OggInfo {
  codec: Codec;
  /** Output sample rate in Hz. For Opus this is always 48000 (the decoder's rate); the encoder's input rate is informational only. */
  sampleRate: number;
  channels: number;
  /** Playable length in ms (Opus pre-skip removed), rounded to the nearest ms. */
  durationMs: number;
  /** Average bits/s over the whole file, headers included (what a download of the file costs per second of audio). */
  bitrate: number;
  /** `bitrate_nominal` from the Vorbis identification header; 0 if unset, and always 0 for Opus. */
  nominalBitrate: number;
  /** File size in bytes. */
  bytes: number;
  /** Byte offset of the first page after the header pages. */
  audioStart: number;
  /** Time-to-byte index: starts at `{ ms: 0, byte: audioStart }`, strictly ascending in both fields, points >= 250 ms apart. */
  seekIndex: SeekPoint[];
}

/** Seek points closer together than this are dropped: finer points only make the index bigger. */
export const SEEK_INDEX_SPACING_MS = 250;

interface CodecHeader {
  codec: Codec;
  sampleRate: number;
  channels: number;
  nominalBitrate: number;
  /** Samples at the start to discard (Opus pre-skip), in granule units. */
  preSkip: number;
  /** Granule units per second. */
  granuleRate: number;
  /** Number of header packets before audio. */
  headerPackets: number;
}

/**
 * Parses a whole Ogg file held in memory.
 * @param data the file content
 * @param name how errors refer to the file
 * @throws AudioFormatError when the data is not exactly one intact Vorbis or Opus logical stream
 */
export function parseOgg(data: Uint8Array, name = '<buffer>'): OggInfo {
  // A function declaration (not an arrow) so TypeScript narrows after calls to it.
  function fail(problem: string): never {
    throw new AudioFormatError(name, problem);
  }
  if (data.length === 0) fail('empty file');
  if (data.length < 4 && startsWith(new Uint8Array(ascii('OggS')), Array.from(data))) {
    fail(`truncated page at byte 0 (${data.length} bytes)`);
  }
  if (!startsWith(data, ascii('OggS'))) {
    fail(`not an Ogg stream (no OggS capture pattern at byte 0${sniff(data)})`);
  }

  const assembler = new PacketAssembler();
  let header: CodecHeader | undefined;
  let headerPacketsSeen = 0;
  let audioStart = -1;
  let serial = 0;
  let expectSeq = 0;
  let ended = false;
  let lastPageOffset = 0;

  // Seek index state. `prevGranule` is the granule of the last page before the current one on
  // which a packet finished: every sample up to it is decodable from bytes before this page.
  let prevGranule = 0n;
  let lastGranule = -1n;
  const index: SeekPoint[] = [];

  let offset = 0;
  while (offset < data.length) {
    const r = readPage(data, offset);
    if (!r.ok) fail(r.problem);
    const page = r.page;
    if (offset === 0) {
      if (!(page.flags & FLAG_BOS)) fail('first page is not marked as the beginning of a stream');
      serial = page.serial;
      expectSeq = page.sequence;
    } else {
      if (page.serial !== serial || page.flags & FLAG_BOS || ended) {
        fail(
          `more than one logical stream (serial 0x${page.serial.toString(16)} at byte ${offset}` +
            ` after serial 0x${serial.toString(16)}): multiplexed or chained Ogg files are not supported`,
        );
      }
    }
    if (page.sequence !== expectSeq) {
      fail(`page sequence number ${page.sequence} at byte ${offset}, expected ${expectSeq} (pages missing or reordered)`);
    }
    expectSeq = (expectSeq + 1) >>> 0;
    if (page.flags & FLAG_EOS) ended = true;
    lastPageOffset = offset;

    if (audioStart < 0) {
      // Header pages: reassemble packets until all codec headers are in.
      const packets = assembler.push(page);
      if (typeof packets === 'string') fail(packets);
      for (const pkt of packets) {
        if (!header) {
          header = identify(pkt, fail);
        } else if (headerPacketsSeen < header.headerPackets) {
          checkSecondaryHeader(header.codec, headerPacketsSeen - 1, pkt, fail);
        } else {
          // Both codecs require the first audio packet to start on a fresh page, so a page
          // that mixes headers and audio is a broken stream (and would break the seek index).
          fail(`audio data shares page ${page.sequence} at byte ${offset} with the codec headers`);
        }
        headerPacketsSeen++;
      }
      if (header && headerPacketsSeen === header.headerPackets) {
        if (assembler.pending) fail(`audio data shares page ${page.sequence} at byte ${offset} with the codec headers`);
        audioStart = offset + page.length;
      }
    } else {
      // Audio page. Granules are not needed per packet, so packets are not reassembled here.
      if (page.granule !== NO_GRANULE) {
        if (page.granule > 0x1fffffffffffffn) fail(`invalid granule position ${page.granule} in page at byte ${offset}`);
        if (page.granule < prevGranule) {
          fail(`granule position goes backwards at byte ${offset} (${page.granule} after ${prevGranule})`);
        }
      }
      const h = header!; // set: audioStart >= 0 only once all headers are in
      const ms = Math.max(0, Math.ceil((Number(prevGranule - BigInt(h.preSkip)) * 1000) / h.granuleRate));
      const last = index[index.length - 1];
      if (!last) index.push({ ms: 0, byte: offset });
      else if (ms - last.ms >= SEEK_INDEX_SPACING_MS) index.push({ ms, byte: offset });
      if (page.granule !== NO_GRANULE) {
        prevGranule = page.granule;
        lastGranule = page.granule;
      }
    }
    offset += page.length;
  }

  if (!header) fail('no complete codec identification header');
  const h: CodecHeader = header;
  if (audioStart < 0) fail(`incomplete codec headers (${headerPacketsSeen} of ${h.headerPackets} header packets)`);
  // A cut that happens to fall on a page boundary leaves valid pages; only the missing
  // end-of-stream flag shows that the file is incomplete.
  if (!ended) fail(`truncated: the last page (at byte ${lastPageOffset}) is not marked end-of-stream`);
  if (index.length === 0 || lastGranule < 0n) fail('zero duration (no audio pages)');
  const samples = Number(lastGranule) - h.preSkip;
  const durationMs = Math.round((samples * 1000) / h.granuleRate);
  if (durationMs <= 0) fail('zero duration');
  // Point times are rounded up and the duration to nearest: keep the index inside the track.
  while (index.length > 1 && index[index.length - 1]!.ms > durationMs) index.pop();
  return {
    codec: h.codec,
    sampleRate: h.sampleRate,
    channels: h.channels,
    durationMs,
    bitrate: Math.round((data.length * 8 * 1000) / durationMs),
    nominalBitrate: h.nominalBitrate,
    bytes: data.length,
    audioStart,
    seekIndex: index,
  };
}

/**
 * Reads and parses a file.
 * @throws AudioFormatError naming `path` when the file is not a single intact Vorbis or Opus stream
 */
export async function parseOggFile(path: string): Promise<OggInfo> {
  return parseOgg(await readFile(path), path);
}

/** Decodes the first header packet into codec parameters, or fails naming the codec found. */
function identify(pkt: Uint8Array, fail: (problem: string) => never): CodecHeader {
  const view = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  if (startsWith(pkt, [0x01, ...ascii('vorbis')])) {
    // Vorbis I spec §4.2.2: version u32, channels u8, rate u32, bitrate max/nominal/min i32,
    // blocksizes u8, framing bit.
    if (pkt.length < 30) fail(`Vorbis identification header too short (${pkt.length} bytes)`);
    const version = view.getUint32(7, true);
    const channels = view.getUint8(11);
    const sampleRate = view.getUint32(12, true);
    const nominal = view.getInt32(20, true);
    if (version !== 0) fail(`unsupported Vorbis version ${version}`);
    if (channels === 0) fail('Vorbis identification header has 0 channels');
    if (sampleRate === 0) fail('Vorbis identification header has sample rate 0');
    if ((view.getUint8(29) & 1) === 0) fail('Vorbis identification header framing bit not set');
    return {
      codec: 'vorbis',
      sampleRate,
      channels,
      nominalBitrate: nominal > 0 ? nominal : 0,
      preSkip: 0,
      granuleRate: sampleRate,
      headerPackets: 3,
    };
  }
  if (startsWith(pkt, ascii('OpusHead'))) {
    // RFC 7845 §5.1: version u8, channels u8, pre-skip u16, input rate u32, gain i16, mapping u8.
    if (pkt.length < 19) fail(`OpusHead too short (${pkt.length} bytes)`);
    const version = view.getUint8(8);
    if (version >> 4 !== 0) fail(`unsupported Ogg Opus version ${version}`);
    const channels = view.getUint8(9);
    if (channels === 0) fail('OpusHead has 0 channels');
    return {
      codec: 'opus',
      sampleRate: 48000,
      channels,
      nominalBitrate: 0,
      preSkip: view.getUint16(10, true),
      granuleRate: 48000,
      headerPackets: 2,
    };
  }
  const known: [number[], string][] = [
    [[0x7f, ...ascii('FLAC')], 'Ogg FLAC'],
    [[0x80, ...ascii('theora')], 'Theora video'],
    [ascii('Speex   '), 'Speex'],
    [ascii('fishead\0'), 'Ogg Skeleton'],
    [[0x80, ...ascii('kate')], 'Kate'],
    [ascii('\x01video\0\0\0'), 'OGM video'],
  ];
  for (const [sig, what] of known) {
    if (startsWith(pkt, sig)) fail(`unsupported codec: ${what} (only Vorbis and Opus are supported)`);
  }
  return fail('unknown codec in the first Ogg packet (only Vorbis and Opus are supported)');
}

/** Checks the signature of header packet number `n` (0-based, counted after the identification header). */
function checkSecondaryHeader(codec: Codec, n: number, pkt: Uint8Array, fail: (problem: string) => never): void {
  if (codec === 'vorbis') {
    const type = n === 0 ? 0x03 : 0x05;
    if (!startsWith(pkt, [type, ...ascii('vorbis')])) {
      fail(`missing Vorbis ${type === 0x03 ? 'comment' : 'setup'} header (packet ${n + 1})`);
    }
  } else if (!startsWith(pkt, ascii('OpusTags'))) {
    fail('missing OpusTags header (packet 1)');
  }
}

/** Names a few common non-Ogg formats so the error says what the file is. */
function sniff(data: Uint8Array): string {
  const sigs: [number[], string][] = [
    [ascii('ID3'), 'MP3 with ID3 tag'],
    [[0xff, 0xfb], 'MP3'],
    [[0xff, 0xf3], 'MP3'],
    [[0xff, 0xf2], 'MP3'],
    [ascii('RIFF'), 'RIFF/WAV'],
    [ascii('fLaC'), 'FLAC'],
    [ascii('FORM'), 'AIFF'],
  ];
  for (const [sig, what] of sigs) if (startsWith(data, sig)) return `; looks like ${what}`;
  if (data.length >= 8 && startsWith(data.subarray(4), ascii('ftyp'))) return '; looks like MP4/M4A';
  return '';
}

function ascii(s: string): number[] {
  return Array.from(s, (c) => c.charCodeAt(0));
}

function startsWith(data: Uint8Array, sig: readonly number[]): boolean {
  if (data.length < sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (data[i] !== sig[i]) return false;
  return true;
}

/**
 * Where to start reading to play from `ms`: the byte of the last seek point at or before `ms`
 * (the first point for negative times, the last point beyond the end). Pure, no I/O.
 *
 * The point's page is where the first sample after the previous page's granule completes; a Vorbis
 * decoder needs one packet to prime, so the first few tens of ms after a point may only come out
 * of the following packet. Callers that need sample accuracy should read from one point earlier.
 */
export function byteForTime(index: readonly SeekPoint[], ms: number): number {
  if (index.length === 0) return 0;
  // Binary search for the last point with point.ms <= ms.
  let lo = 0;
  let hi = index.length - 1;
  if (!(ms >= index[0]!.ms)) return index[0]!.byte;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (index[mid]!.ms <= ms) lo = mid;
    else hi = mid - 1;
  }
  return index[lo]!.byte;
}

/**
 * How much audio, in ms from the start, is fully decodable when the file is present from byte 0
 * up to (not including) `byte`: the ms of the last seek point whose byte is <= `byte`. A step
 * function, so it never claims audio that is not there; monotonic in `byte`. Pure, no I/O.
 *
 * The index stops at the last point, up to 250 ms before the end, so pass `total` (the file size
 * and duration) to get the whole duration once the whole file is present.
 */
export function timeForByte(
  index: readonly SeekPoint[],
  byte: number,
  total?: { bytes: number; durationMs: number },
): number {
  if (total && byte >= total.bytes) return total.durationMs;
  if (index.length === 0 || !(byte >= index[0]!.byte)) return 0;
  let lo = 0;
  let hi = index.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (index[mid]!.byte <= byte) lo = mid;
    else hi = mid - 1;
  }
  return index[lo]!.ms;
}

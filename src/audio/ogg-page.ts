/**
 * Ogg page framing (RFC 3533): the CRC, reading one page, writing one page, and splitting packets
 * into pages. One implementation shared by the parser (`ogg.ts`) and the synthesizer (`synth.ts`),
 * so the bytes we write are checked by the same code that checks files we ingest.
 *
 * Everything here is pure and bounds-checked; problems are returned, not thrown, so the caller can
 * wrap them in an error that names the file.
 */

/** Page header flag: this page starts with the continuation of a packet from the previous page. */
export const FLAG_CONTINUED = 0x01;
/** Page header flag: first page of a logical stream. */
export const FLAG_BOS = 0x02;
/** Page header flag: last page of a logical stream. */
export const FLAG_EOS = 0x04;

/** Granule position meaning "no packet finishes on this page" (-1 as an unsigned 64-bit value). */
export const NO_GRANULE = 0xffffffffffffffffn;

/** Bytes of the fixed part of a page header, before the segment table. */
export const PAGE_HEADER_BYTES = 27;

/**
 * The Ogg CRC-32 table: polynomial 0x04c11db7, MSB first, no reflection. This is not the zlib CRC
 * (which is reflected), so `zlib.crc32` cannot be used.
 */
const CRC_TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/**
 * Ogg CRC-32 (initial value 0, no final xor) of `data[start, end)`, continuing from `crc`.
 * @returns the CRC as an unsigned 32-bit number
 */
export function oggCrc32(data: Uint8Array, start = 0, end = data.length, crc = 0): number {
  let c = crc >>> 0;
  for (let i = start; i < end; i++) c = ((c << 8) ^ CRC_TABLE[((c >>> 24) ^ data[i]!) & 0xff]!) >>> 0;
  return c;
}

/** One parsed Ogg page. `body` and `lacing` are views into the input, not copies. */
export interface OggPage {
  /** Byte offset of the page's capture pattern in the input. */
  offset: number;
  /** Header type flags (`FLAG_CONTINUED`, `FLAG_BOS`, `FLAG_EOS`). */
  flags: number;
  /** Granule position as an unsigned 64-bit value; `NO_GRANULE` when no packet finishes here. */
  granule: bigint;
  /** Bitstream serial number (unsigned). */
  serial: number;
  /** Page sequence number (unsigned). */
  sequence: number;
  /** The lacing values of the segment table. */
  lacing: Uint8Array;
  /** The page body (all segments). */
  body: Uint8Array;
  /** Header plus body length in bytes: the next page starts at `offset + length`. */
  length: number;
}

/** The result of reading a page: the page, or a human-readable problem at `offset`. */
export type PageRead = { ok: true; page: OggPage } | { ok: false; problem: string };

/** The capture pattern "OggS". */
const CAPTURE = [0x4f, 0x67, 0x67, 0x53] as const;

/** True if `data` has the capture pattern "OggS" at `offset`. */
export function hasCapturePattern(data: Uint8Array, offset: number): boolean {
  if (offset < 0 || offset + 4 > data.length) return false;
  for (let i = 0; i < 4; i++) if (data[offset + i] !== CAPTURE[i]) return false;
  return true;
}

/**
 * Reads and verifies the page at `offset`: capture pattern, stream structure version 0, that the
 * header, segment table and body lie within `data`, and the CRC.
 */
export function readPage(data: Uint8Array, offset: number): PageRead {
  if (!hasCapturePattern(data, offset)) {
    return offset + 4 > data.length && offset < data.length
      ? { ok: false, problem: `truncated page at byte ${offset} (${data.length - offset} bytes left)` }
      : { ok: false, problem: `no OggS capture pattern at byte ${offset}` };
  }
  if (offset + PAGE_HEADER_BYTES > data.length) {
    return { ok: false, problem: `truncated page header at byte ${offset} (${data.length - offset} of ${PAGE_HEADER_BYTES} bytes)` };
  }
  const view = new DataView(data.buffer, data.byteOffset + offset, PAGE_HEADER_BYTES);
  const version = view.getUint8(4);
  if (version !== 0) return { ok: false, problem: `unsupported Ogg stream structure version ${version} in page at byte ${offset}` };
  const flags = view.getUint8(5);
  if (flags & ~0x07) return { ok: false, problem: `reserved header flags 0x${flags.toString(16)} set in page at byte ${offset}` };
  const granule = view.getBigUint64(6, true);
  const serial = view.getUint32(14, true);
  const sequence = view.getUint32(18, true);
  const storedCrc = view.getUint32(22, true);
  const nSegs = view.getUint8(26);
  const tableEnd = offset + PAGE_HEADER_BYTES + nSegs;
  if (tableEnd > data.length) {
    return { ok: false, problem: `truncated page at byte ${offset} (segment table runs past the end of the file)` };
  }
  const lacing = data.subarray(offset + PAGE_HEADER_BYTES, tableEnd);
  let bodyLen = 0;
  for (let i = 0; i < nSegs; i++) bodyLen += lacing[i]!;
  const end = tableEnd + bodyLen;
  if (end > data.length) {
    return { ok: false, problem: `truncated page at byte ${offset} (body needs ${bodyLen} bytes, ${data.length - tableEnd} left)` };
  }
  // The CRC is computed with the CRC field itself set to zero: feed the header in three parts
  // (before the field, four zero bytes, after the field) rather than copying the page.
  let crc = oggCrc32(data, offset, offset + 22);
  crc = oggCrc32(ZERO4, 0, 4, crc);
  crc = oggCrc32(data, offset + 26, end, crc);
  if (crc !== storedCrc) {
    return {
      ok: false,
      problem: `bad CRC in page ${sequence} at byte ${offset} (stored 0x${hex32(storedCrc)}, computed 0x${hex32(crc)})`,
    };
  }
  return {
    ok: true,
    page: { offset, flags, granule, serial, sequence, lacing, body: data.subarray(tableEnd, end), length: end - offset },
  };
}

const ZERO4 = new Uint8Array(4);

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** The fields needed to write a page. */
export interface PageFields {
  flags: number;
  granule: bigint;
  serial: number;
  sequence: number;
  lacing: ArrayLike<number>;
  body: Uint8Array;
}

/** Serializes one page and computes its CRC. The lacing values must add up to `body.length`. */
export function writePage(p: PageFields): Uint8Array {
  const n = p.lacing.length;
  if (n > 255) throw new RangeError(`an Ogg page holds at most 255 segments, got ${n}`);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p.lacing[i]!;
  if (sum !== p.body.length) throw new RangeError(`lacing values add up to ${sum}, body is ${p.body.length} bytes`);
  const out = new Uint8Array(PAGE_HEADER_BYTES + n + p.body.length);
  const view = new DataView(out.buffer);
  out.set(CAPTURE, 0);
  view.setUint8(4, 0);
  view.setUint8(5, p.flags);
  view.setBigUint64(6, BigInt.asUintN(64, p.granule), true);
  view.setUint32(14, p.serial >>> 0, true);
  view.setUint32(18, p.sequence >>> 0, true);
  view.setUint8(26, n);
  for (let i = 0; i < n; i++) out[PAGE_HEADER_BYTES + i] = p.lacing[i]!;
  out.set(p.body, PAGE_HEADER_BYTES + n);
  view.setUint32(22, oggCrc32(out), true);
  return out;
}

/**
 * Rewrites the sequence number of a serialized page in place and recomputes its CRC. Used when
 * pages are inserted before it (e.g. a longer comment header needs another page).
 */
export function setPageSequence(page: Uint8Array, sequence: number): void {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  view.setUint32(18, sequence >>> 0, true);
  view.setUint32(22, 0, true);
  view.setUint32(22, oggCrc32(page), true);
}

/** Options of `paginate`. */
export interface PaginateOptions {
  serial: number;
  /** Sequence number of the first page written. */
  firstSequence: number;
  /** Flags of the first page (e.g. `FLAG_BOS`); `FLAG_CONTINUED` is managed by `paginate`. */
  firstFlags?: number;
  /** Granule position of every page on which a packet finishes (0 for header packets). */
  granule: bigint;
  /**
   * Close a page once its body reaches this many bytes. libogg uses 4096 for the same reason:
   * small pages let a reader start (and verify a CRC) early.
   */
  targetBody?: number;
}

/**
 * Lays `packets` out on pages. The last page ends exactly at the end of the last packet (a
 * "flush"), which is what Vorbis and Opus require after the header packets. Pages where no packet
 * finishes get granule -1, as RFC 3533 demands.
 */
export function paginate(packets: readonly Uint8Array[], opts: PaginateOptions): Uint8Array[] {
  const target = opts.targetBody ?? 4096;
  // Segment list: [packet index, start, length] with the lacing value equal to length; a packet of
  // length L is L/255 segments of 255 followed by one of L % 255 (possibly 0).
  const segs: { pkt: number; start: number; len: number }[] = [];
  packets.forEach((p, pkt) => {
    let pos = 0;
    for (;;) {
      const len = Math.min(255, p.length - pos);
      segs.push({ pkt, start: pos, len });
      pos += len;
      if (len < 255) break;
    }
  });
  const pages: Uint8Array[] = [];
  let i = 0;
  let continued = false;
  let seq = opts.firstSequence;
  while (i < segs.length) {
    const lacing: number[] = [];
    const parts: Uint8Array[] = [];
    let bodyLen = 0;
    let packetEnded = false;
    while (i < segs.length && lacing.length < 255 && bodyLen < target) {
      const s = segs[i++]!;
      lacing.push(s.len);
      parts.push(packets[s.pkt]!.subarray(s.start, s.start + s.len));
      bodyLen += s.len;
      if (s.len < 255) packetEnded = true;
    }
    const body = new Uint8Array(bodyLen);
    let o = 0;
    for (const part of parts) {
      body.set(part, o);
      o += part.length;
    }
    const flags = (pages.length === 0 ? (opts.firstFlags ?? 0) : 0) | (continued ? FLAG_CONTINUED : 0);
    pages.push(
      writePage({ flags, granule: packetEnded ? opts.granule : NO_GRANULE, serial: opts.serial, sequence: seq++, lacing, body }),
    );
    continued = lacing[lacing.length - 1] === 255;
  }
  return pages;
}

/**
 * Reassembles packets from consecutive pages of one logical stream.
 * Feed pages in order with `push`; complete packets come back from it.
 */
export class PacketAssembler {
  private parts: Uint8Array[] = [];

  /**
   * Adds a page's segments.
   * @returns the packets that finished on this page; a problem string if the page's continuation
   *          flag does not match whether a packet was left open by the previous page.
   */
  push(page: OggPage): Uint8Array[] | string {
    const open = this.parts.length > 0;
    const continued = (page.flags & FLAG_CONTINUED) !== 0;
    if (continued !== open) {
      return continued
        ? `page ${page.sequence} at byte ${page.offset} continues a packet, but no packet was left open`
        : `page ${page.sequence} at byte ${page.offset} starts a new packet, but the previous packet was not finished`;
    }
    const out: Uint8Array[] = [];
    let pos = 0;
    for (let i = 0; i < page.lacing.length; i++) {
      const len = page.lacing[i]!;
      this.parts.push(page.body.subarray(pos, pos + len));
      pos += len;
      if (len < 255) {
        out.push(concat(this.parts));
        this.parts = [];
      }
    }
    return out;
  }

  /** True while a packet is unfinished. */
  get pending(): boolean {
    return this.parts.length > 0;
  }
}

/** Concatenates byte arrays into a new array. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!.slice();
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Chunk hashes (DESIGN §5, issue 6): the SHA-256 of every `chunkSize` chunk of a stored (encrypted)
 * file, in order, as one flat list. The AP computes it at ingest and hands it to logged-in clients;
 * a client checks every chunk a peer sends against it before the chunk is used, cached or served on.
 *
 * A flat list rather than a Merkle tree as in PPSP (RFC 7574): `bench/integrity.ts` measured both
 * and docs/security.md gives the figures. In short, the list costs 32 bytes per chunk (20 KB for a
 * 10 MB track, 0.2 %) fetched once from the AP in parallel with the track's first seconds, which
 * come from the AP anyway; the tree would need its uncle hashes (~10 × 32 bytes) with every chunk
 * from a peer, a change of the peer protocol, and more bytes over a whole file.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { chunkCount } from './track.ts';

/** Bytes of one chunk hash (SHA-256). */
export const CHUNK_HASH_BYTES = 32;

/** The hashes of one file: `hashes` holds `count` SHA-256 digests back to back. */
export interface ChunkHashList {
  chunkSize: number;
  /** Number of chunks (and hashes). */
  count: number;
  hashes: Uint8Array;
}

/** A hash list whose length does not match its count. */
export class ChunkHashListError extends Error {
  override name = 'ChunkHashListError';
}

/** SHA-256 of one chunk. */
export function chunkHash(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Builds the list incrementally from a file's bytes in order (any piece sizes). */
export class ChunkHasher {
  private readonly parts: Buffer[] = [];
  private hash = createHash('sha256');
  private inChunk = 0;
  private total = 0;

  constructor(private readonly chunkSize: number) {
    if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new RangeError(`chunk size must be a positive integer, got ${chunkSize}`);
  }

  update(data: Uint8Array): void {
    let off = 0;
    while (off < data.byteLength) {
      const n = Math.min(this.chunkSize - this.inChunk, data.byteLength - off);
      this.hash.update(data.subarray(off, off + n));
      this.inChunk += n;
      off += n;
      if (this.inChunk === this.chunkSize) this.endChunk();
    }
    this.total += data.byteLength;
  }

  private endChunk(): void {
    this.parts.push(this.hash.digest());
    this.hash = createHash('sha256');
    this.inChunk = 0;
  }

  /** The list; the hasher is used up. */
  digest(): ChunkHashList {
    if (this.inChunk > 0) this.endChunk();
    const count = chunkCount(this.total, this.chunkSize);
    return { chunkSize: this.chunkSize, count, hashes: Buffer.concat(this.parts) };
  }
}

/** The hash list of a whole file in memory. */
export function hashChunks(data: Uint8Array, chunkSize: number): ChunkHashList {
  const h = new ChunkHasher(chunkSize);
  h.update(data);
  return h.digest();
}

/** Checks a list's shape: `count` hashes of 32 bytes. */
export function checkHashList(list: ChunkHashList): void {
  if (list.hashes.byteLength !== list.count * CHUNK_HASH_BYTES) {
    throw new ChunkHashListError(`hash list of ${list.count} chunks must be ${list.count * CHUNK_HASH_BYTES} bytes, got ${list.hashes.byteLength}`);
  }
}

/** Whether `data` is chunk `index` of the file the list describes. */
export function verifyChunk(list: ChunkHashList, index: number, data: Uint8Array): boolean {
  if (!Number.isInteger(index) || index < 0 || index >= list.count) return false;
  const expected = list.hashes.subarray(index * CHUNK_HASH_BYTES, (index + 1) * CHUNK_HASH_BYTES);
  if (expected.byteLength !== CHUNK_HASH_BYTES) return false;
  return timingSafeEqual(chunkHash(data), expected);
}

/**
 * Start-up cost of chunk verification (issue 6 item 3): a flat per-file hash list against a
 * Merkle tree as in PPSP (RFC 7574), for typical track sizes (3-10 MB, 16 KiB chunks), measured in
 * the same run. "Start-up" is what must reach the client, and what it must compute, before the
 * first chunk from a peer can be verified and played:
 *
 * - hash list: the AP's `chunk-hashes` answer (32 bytes per chunk, one frame), decoded, then one
 *   SHA-256 of the chunk compared with its entry;
 * - Merkle tree: the root (32 bytes, with the track info) and, with the chunk, its uncle hashes
 *   (ceil(log2 n) × 32 bytes, the RFC 7574 INTEGRITY messages), then the chunk's SHA-256 and one
 *   SHA-256 per level up to the root.
 *
 * Bytes are exact (encoded frames of our codec; for the tree, the hashes alone, which favours it).
 * Times are medians of many repetitions in-process, plus the transfer time of those bytes at
 * 8 Mbit/s, a typical access link (loopback would hide it). Also printed: the verification
 * bytes over a whole file downloaded from peers, where the tree's per-chunk uncles add up.
 *
 * Run: npx tsx bench/integrity.ts [--reps 200]
 */
import { createHash, randomBytes } from 'node:crypto';
import { hashChunks, verifyChunk } from '../src/core/chunk-hashes.ts';
import { decodeMessage, encodeMessage, MESSAGE_TYPE_IDS } from '../src/protocol/codec.ts';
import { defaultConfig } from '../src/core/config.ts';
import { median, printTable, isMain, numberArg } from './stats.ts';

const CS = defaultConfig.chunkSize;
/** Access link the transfer time is computed for, bytes per ms (8 Mbit/s). */
const LINK_BYTES_PER_MS = 8e6 / 8 / 1000;
/** Frame overhead on the wire: length, type, request id, priority (framing.ts), about. */
const FRAME_HEAD = 8;

const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** A binary Merkle tree over the chunk hashes, padded to a power of two with zero hashes (RFC 7574 §5). */
function merkle(leaves: Buffer[]): Buffer[][] {
  let width = 1;
  while (width < leaves.length) width *= 2;
  const zero = Buffer.alloc(32);
  const levels: Buffer[][] = [[...leaves, ...Array.from({ length: width - leaves.length }, () => zero)]];
  while (levels[levels.length - 1]!.length > 1) {
    const below = levels[levels.length - 1]!;
    const up: Buffer[] = [];
    for (let i = 0; i < below.length; i += 2) up.push(sha(below[i]!, below[i + 1]!));
    levels.push(up);
  }
  return levels;
}

/** The uncle hashes of leaf `index`, bottom up. */
function uncles(levels: Buffer[][], index: number): Buffer[] {
  const out: Buffer[] = [];
  for (let l = 0, i = index; l < levels.length - 1; l++, i >>= 1) out.push(levels[l]![i ^ 1]!);
  return out;
}

function verifyMerkle(root: Buffer, index: number, chunk: Uint8Array, path: Buffer[]): boolean {
  let h = sha(chunk);
  for (let l = 0, i = index; l < path.length; l++, i >>= 1) h = i & 1 ? sha(path[l]!, h) : sha(h, path[l]!);
  return h.equals(root);
}

function timeMs(reps: number, fn: () => void): number {
  const xs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

export async function main(): Promise<Record<string, number>> {
  const reps = numberArg('reps', 200);
  const figures: Record<string, number> = {};
  const rows: (string | number)[][] = [];
  const whole: (string | number)[][] = [];
  for (const mb of [3, 5, 10]) {
    const file = randomBytes(mb * 1e6);
    const n = Math.ceil(file.length / CS);
    const chunk0 = file.subarray(0, CS);
    const fileId = sha(file).toString('hex');
    // Hash list: one chunk-hashes frame.
    const list = hashChunks(file, CS);
    const frame = encodeMessage({ type: 'chunk-hashes', fileId, chunkSize: CS, total: n, first: 0, hashes: list.hashes });
    const listBytes = frame.length + FRAME_HEAD;
    const listMs = timeMs(reps, () => {
      const m = decodeMessage(MESSAGE_TYPE_IDS['chunk-hashes'], frame);
      if (m.type !== 'chunk-hashes' || !verifyChunk({ chunkSize: CS, count: m.total, hashes: m.hashes }, 0, chunk0)) throw new Error('list');
    });
    // Merkle tree: root + uncles of chunk 0.
    const levels = merkle(Array.from({ length: n }, (_, i) => sha(file.subarray(i * CS, (i + 1) * CS))));
    const root = levels[levels.length - 1]![0]!;
    const path0 = uncles(levels, 0);
    const treeBytes = 32 + path0.length * 32;
    const treeMs = timeMs(reps, () => {
      if (!verifyMerkle(root, 0, chunk0, path0)) throw new Error('tree');
    });
    const listTotal = listMs + listBytes / LINK_BYTES_PER_MS;
    const treeTotal = treeMs + treeBytes / LINK_BYTES_PER_MS;
    figures[`list_${mb}MB_bytes`] = listBytes;
    figures[`tree_${mb}MB_bytes`] = treeBytes;
    figures[`list_${mb}MB_ms`] = listTotal;
    figures[`tree_${mb}MB_ms`] = treeTotal;
    figures[`ratio_${mb}MB_ms`] = listTotal / treeTotal;
    rows.push([`${mb} MB`, n, listBytes, treeBytes, listMs.toFixed(3), treeMs.toFixed(3), listTotal.toFixed(2), treeTotal.toFixed(2), (listTotal / treeTotal).toFixed(1)]);
    // Over a whole file from peers: the list once; the tree's uncles with every chunk (a client
    // could cache inner nodes and send fewer, RFC 7574 §5.4; this is the simple upper bound).
    const treeWhole = 32 + n * path0.length * 32;
    whole.push([`${mb} MB`, listBytes, treeWhole, ((100 * listBytes) / file.length).toFixed(2), ((100 * treeWhole) / file.length).toFixed(2)]);
    figures[`tree_${mb}MB_whole_bytes`] = treeWhole;
  }
  printTable(
    `Start-up cost of verifying the first chunk (16 KiB chunks; compute = median of ${reps}; total adds transfer at 8 Mbit/s)`,
    ['track', 'chunks', 'list bytes', 'tree bytes', 'list compute ms', 'tree compute ms', 'list total ms', 'tree total ms', 'list/tree'],
    rows,
  );
  printTable('Verification bytes over a whole file fetched from peers', ['track', 'list bytes', 'tree bytes (uncles per chunk)', 'list % of file', 'tree % of file'], whole);
  return figures;
}

if (isMain(import.meta.url)) await main();

/**
 * Putting audio into the store encrypted (DESIGN §5, issue 6), for ingest and for the migration of
 * data directories from before encryption.
 *
 * Each file gets its own random AES-256-CTR key and initial counter (`content-cipher.ts` says why
 * CTR). One pass over the plaintext hashes it (SHA-256: ingesting the same audio again finds the
 * stored file), encrypts it into a temp file and hashes the ciphertext per chunk; the store then
 * files the ciphertext under its own SHA-256, and the key, plaintext hash and chunk hashes go into
 * `ContentKeys`. The store never holds plaintext and never sees a key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ChunkHasher, type ChunkHashList } from '../core/chunk-hashes.ts';
import { CONTENT_IV_BYTES, CONTENT_KEY_BYTES, fileCipher, type ContentKey } from '../core/content-cipher.ts';
import type { ContentKeys } from './content-keys.ts';
import type { FileStore } from './file-store.ts';

/** The Ogg capture pattern: what a scan for plaintext audio looks for. */
const OGG_CAPTURE = Buffer.from('OggS');
/** Keys tried before giving up on a ciphertext free of the capture pattern (each try fails with p ≈ size / 2^32). */
const MAX_KEY_TRIES = 8;
const READ_BLOCK = 256 * 1024;

/** The outcome of {@link storeEncrypted}. */
export interface StoredFile {
  /** SHA-256 of the ciphertext: the id of the file in the store, the catalog and on the wire. */
  fileId: string;
  bytes: number;
  /** False when the same plaintext was already stored (its existing file id is returned). */
  added: boolean;
}

type Source = AsyncIterable<Uint8Array>;

/** Encrypts `source()` into `out` with `key`; hashes both sides. */
async function encryptInto(source: () => Source, out: string, key: ContentKey, chunkSize: number) {
  const fh = await open(out, 'w', 0o600);
  const cipher = fileCipher(key);
  const plain = createHash('sha256');
  const chunks = new ChunkHasher(chunkSize);
  let bytes = 0;
  let tail = Buffer.alloc(0);
  let capture = false;
  try {
    for await (const piece of source()) {
      plain.update(piece);
      const enc = cipher.update(piece);
      chunks.update(enc);
      // Across piece boundaries too: keep the last 3 bytes of the previous piece.
      const window = Buffer.concat([tail, enc]);
      if (window.includes(OGG_CAPTURE)) capture = true;
      tail = window.subarray(Math.max(0, window.length - 3));
      for (let off = 0; off < enc.length; ) off += (await fh.write(enc, off, enc.length - off)).bytesWritten;
      bytes += piece.byteLength;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { plainSha256: plain.digest('hex'), hashes: chunks.digest(), bytes, capture };
}

/**
 * Stores the audio that `source()` yields (called again for each attempt) encrypted with a new
 * random key, unless the same plaintext is stored already. A ciphertext that happens to contain
 * the Ogg capture pattern is made again with another key, so a scan for plaintext audio never
 * matches by chance.
 */
export async function storeEncrypted(
  source: () => Source,
  target: { store: FileStore; keys: ContentKeys },
  chunkSize: number,
  onStored?: (rec: { fileId: string; plainSha256: string; key: ContentKey; hashes: ChunkHashList }) => string,
): Promise<StoredFile> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-enc-'));
  try {
    const tmp = path.join(dir, 'cipher');
    let tries = 0;
    for (;;) {
      const key: ContentKey = { key: randomBytes(CONTENT_KEY_BYTES), iv: randomBytes(CONTENT_IV_BYTES) };
      const r = await encryptInto(source, tmp, key, chunkSize);
      const existing = target.keys.byPlaintext(r.plainSha256);
      if (existing !== undefined) return { fileId: existing, bytes: r.bytes, added: false };
      if (r.capture && ++tries < MAX_KEY_TRIES) continue;
      const { fileId, bytes } = await target.store.putFile(tmp);
      const rec = { fileId, plainSha256: r.plainSha256, ...key, hashes: r.hashes };
      const kept = onStored ? onStored({ fileId, plainSha256: r.plainSha256, key, hashes: r.hashes }) : target.keys.put(rec);
      return { fileId: kept, bytes, added: kept === fileId };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Stores a local audio file encrypted (see {@link storeEncrypted}). */
export function storeFileEncrypted(file: string, target: { store: FileStore; keys: ContentKeys }, chunkSize: number): Promise<StoredFile> {
  return storeEncrypted(() => createReadStream(file, { highWaterMark: READ_BLOCK }), target, chunkSize);
}

/** A stored file read front to back. */
async function* readStored(store: FileStore, fileId: string): AsyncIterable<Uint8Array> {
  for (let off = 0; ; off += READ_BLOCK) {
    const block = await store.read(fileId, off, READ_BLOCK);
    if (block.length === 0) return;
    yield block;
    if (block.length < READ_BLOCK) return;
  }
}

/**
 * Migrates a data directory from before encryption, at AP start (and before an ingest): every
 * catalog track whose file has no key is stored again encrypted, the track is pointed at the new
 * file (keeping its id, so playlists keep working), and the plaintext file is deleted. Crash-safe:
 * the new record and the track change are one transaction; a crash before it leaves the plaintext
 * in use (migrated at the next start), after it a plaintext file that nothing names, deleted here
 * the next time. Returns the number of files migrated.
 */
export async function migratePlaintextFiles(
  data: { store: FileStore; keys: ContentKeys },
  chunkSize: number,
  log?: (line: string) => void,
): Promise<number> {
  let migrated = 0;
  for (const oldId of data.keys.unprotectedTrackFiles()) {
    if ((await data.store.size(oldId)) === undefined) continue;
    let repointed = false;
    await storeEncrypted(() => readStored(data.store, oldId), data, chunkSize, (rec) => {
      data.keys.replacePlaintext(oldId, { ...rec, ...rec.key });
      repointed = true;
      return data.keys.byPlaintext(rec.plainSha256) ?? rec.fileId;
    });
    // The same audio already stored encrypted under another track (cannot happen through ingest,
    // which migrates first): leave this track and its file alone rather than lose either.
    if (!repointed) {
      log?.(`ap: file ${oldId} is stored encrypted already under another track; left as it is`);
      continue;
    }
    await data.store.remove(oldId);
    migrated++;
  }
  if (migrated > 0) log?.(`ap: encrypted ${migrated} plaintext audio file(s) from an earlier tunemesh (issue 6)`);
  return migrated;
}

/**
 * The chunk hashes of a stored file for `chunkSize`: the recorded ones, or (when the AP runs with
 * another chunk size than at ingest) computed from the stored ciphertext and recorded.
 */
export async function chunkHashesOf(data: { store: FileStore; keys: ContentKeys }, fileId: string, chunkSize: number): Promise<ChunkHashList | undefined> {
  const rec = data.keys.get(fileId);
  if (!rec) return undefined;
  if (rec.hashes.chunkSize === chunkSize) return rec.hashes;
  const h = new ChunkHasher(chunkSize);
  for await (const block of readStored(data.store, fileId)) h.update(block);
  const list = h.digest();
  data.keys.setHashes(fileId, list);
  return list;
}

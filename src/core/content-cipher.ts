/**
 * Encryption of stored and shared audio (DESIGN §5, issue 6): AES-256-CTR with one random key and
 * initial counter per file. CTR is a stream cipher, so the ciphertext is exactly as long as the
 * plaintext (byte offsets, chunk indices, Range requests and seek indices stay valid) and any byte
 * range decrypts on its own: the counter of the 16-byte block at offset `o` is `iv + floor(o/16)`.
 * CTR brings no integrity; that comes from the chunk hashes (`chunk-hashes.ts`), which are over the
 * ciphertext so verification needs no key. Deterministic: the key and iv are chosen by the caller.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

/** Bytes of a content key (AES-256). */
export const CONTENT_KEY_BYTES = 32;
/** Bytes of the initial counter block. */
export const CONTENT_IV_BYTES = 16;
const BLOCK = 16;

/** A file's key: what the AP hands to logged-in clients. */
export interface ContentKey {
  key: Uint8Array;
  iv: Uint8Array;
}

/** A key or iv of the wrong length. */
export class ContentKeyError extends Error {
  override name = 'ContentKeyError';
}

function check(k: ContentKey): void {
  if (k.key.byteLength !== CONTENT_KEY_BYTES) throw new ContentKeyError(`content key must be ${CONTENT_KEY_BYTES} bytes, got ${k.key.byteLength}`);
  if (k.iv.byteLength !== CONTENT_IV_BYTES) throw new ContentKeyError(`content iv must be ${CONTENT_IV_BYTES} bytes, got ${k.iv.byteLength}`);
}

/** The counter block `iv + n` (big-endian, modulo 2^128: what AES-CTR itself does when it wraps). */
export function counterAt(iv: Uint8Array, n: number): Buffer {
  const out = Buffer.from(iv);
  let carry = BigInt(n);
  for (let i = CONTENT_IV_BYTES - 1; i >= 0 && carry > 0n; i--) {
    const sum = BigInt(out[i]!) + (carry & 0xffn);
    out[i] = Number(sum & 0xffn);
    carry = (carry >> 8n) + (sum >> 8n);
  }
  return out;
}

/**
 * Encrypts or decrypts (the same operation in CTR) `data`, which sits at byte `offset` of the file.
 * Returns a new buffer of the same length.
 */
export function cryptAt(k: ContentKey, offset: number, data: Uint8Array): Buffer {
  check(k);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`bad offset ${offset}`);
  const skip = offset % BLOCK;
  const cipher = createDecipheriv('aes-256-ctr', k.key, counterAt(k.iv, Math.floor(offset / BLOCK)));
  if (skip > 0) cipher.update(Buffer.alloc(skip));
  const out = cipher.update(data);
  cipher.final();
  return out;
}

/**
 * A streaming encryptor (or decryptor) from byte 0 of a file: feed the file in order. For ingest,
 * which encrypts whole files while it hashes them.
 */
export function fileCipher(k: ContentKey): { update(data: Uint8Array): Buffer } {
  check(k);
  return createCipheriv('aes-256-ctr', k.key, Buffer.from(k.iv));
}

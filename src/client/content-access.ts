/**
 * What a client asks the AP for to use protected content (DESIGN §5, issue 6): the chunk hashes of
 * a file, against which every chunk from a peer is checked, and the file's key, with which the
 * local player endpoint decrypts. Both only for a logged-in client; both kept in memory only (the
 * key must never reach the cache directory; after a restart the client asks again).
 */
import { CHUNK_HASH_BYTES, checkHashList, type ChunkHashList } from '../core/chunk-hashes.ts';
import { CONTENT_IV_BYTES, CONTENT_KEY_BYTES, type ContentKey } from '../core/content-cipher.ts';
import type { Message } from '../protocol/messages.ts';

/** The AP answered something unusable (wrong file, wrong sizes): a typed error, nothing cached. */
export class ContentAccessError extends Error {
  override name = 'ContentAccessError';
}

/** The part of the AP link this needs. */
export interface ApRequester {
  request(msg: Message, timeoutMs?: number): Promise<Message>;
}

/** Files whose hashes and keys are kept; the least recently used beyond are forgotten (asked again). */
const MAX_FILES = 256;

export class ContentAccess {
  private readonly hashLists = new Map<string, Promise<ChunkHashList>>();
  private readonly keys = new Map<string, Promise<ContentKey>>();

  constructor(
    private readonly ap: ApRequester,
    private readonly chunkSize: number,
  ) {}

  /** The chunk hashes of a file (asked of the AP once, page by page; failures are not kept). */
  hashes(fileId: string): Promise<ChunkHashList> {
    return remember(this.hashLists, fileId, () => this.fetchHashes(fileId));
  }

  /** The hashes if they are known already (no request). */
  async hashesIfKnown(fileId: string): Promise<ChunkHashList | undefined> {
    const p = this.hashLists.get(fileId);
    return p ? p.catch(() => undefined) : undefined;
  }

  /** The key of a file, from the AP (refused before login). */
  key(fileId: string): Promise<ContentKey> {
    return remember(this.keys, fileId, async () => {
      const answer = await this.ap.request({ type: 'get-file-key', fileId });
      if (answer.type !== 'file-key' || answer.fileId !== fileId) throw new ContentAccessError(`unexpected answer ${answer.type} to get-file-key`);
      if (answer.key.byteLength !== CONTENT_KEY_BYTES || answer.iv.byteLength !== CONTENT_IV_BYTES) throw new ContentAccessError('file key of the wrong size');
      // Copies: the decoded fields are views into a frame buffer.
      return { key: Uint8Array.from(answer.key), iv: Uint8Array.from(answer.iv) };
    });
  }

  private async fetchHashes(fileId: string): Promise<ChunkHashList> {
    const parts: Uint8Array[] = [];
    let first = 0;
    let total = 0;
    let chunkSize = this.chunkSize;
    do {
      const answer = await this.ap.request({ type: 'get-chunk-hashes', fileId, first, count: 0xffffffff });
      if (answer.type !== 'chunk-hashes' || answer.fileId !== fileId || answer.first !== first) {
        throw new ContentAccessError(`unexpected answer ${answer.type} to get-chunk-hashes`);
      }
      if (answer.chunkSize !== this.chunkSize) throw new ContentAccessError(`the AP hashes ${answer.chunkSize}-byte chunks, this client uses ${this.chunkSize}`);
      const n = answer.hashes.byteLength / CHUNK_HASH_BYTES;
      if (!Number.isInteger(n) || (n === 0 && first < answer.total)) throw new ContentAccessError('malformed chunk hash answer');
      chunkSize = answer.chunkSize;
      total = answer.total;
      parts.push(Uint8Array.from(answer.hashes));
      first += n;
    } while (first < total);
    const list = { chunkSize, count: total, hashes: Buffer.concat(parts) };
    checkHashList(list);
    return list;
  }
}

function remember<T>(map: Map<string, Promise<T>>, fileId: string, make: () => Promise<T>): Promise<T> {
  let p = map.get(fileId);
  if (p) {
    map.delete(fileId);
    map.set(fileId, p);
    return p;
  }
  p = make();
  map.set(fileId, p);
  p.catch(() => {
    if (map.get(fileId) === p) map.delete(fileId);
  });
  while (map.size > MAX_FILES) map.delete(map.keys().next().value as string);
  return p;
}

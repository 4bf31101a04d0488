/**
 * Where audio files live on the site (DESIGN §6): content-addressed by SHA-256. Since issue 6 the
 * files are encrypted (AES-256-CTR, see `content-protection.ts`) and their id is the SHA-256 of
 * the ciphertext; the store never sees a key. Callers see
 * only this interface, so an S3-compatible store can replace the local directory.
 */
export interface FileStore {
  /** Stores a local file under its content address; idempotent. */
  putFile(path: string): Promise<{ fileId: string; bytes: number }>;
  /** Size in bytes, or undefined when the store does not hold the file. */
  size(fileId: string): Promise<number | undefined>;
  /** `length` bytes from `offset`; shorter only at the end of the file. */
  read(fileId: string, offset: number, length: number): Promise<Buffer>;
  /** Deletes a stored file (no error when it is not there). Used to drop plaintext after migration. */
  remove(fileId: string): Promise<void>;
  close(): Promise<void>;
}

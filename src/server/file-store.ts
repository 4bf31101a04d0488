/**
 * Where audio files live on the site (DESIGN §6): content-addressed by SHA-256. Callers see
 * only this interface, so an S3-compatible store can replace the local directory.
 */
export interface FileStore {
  /** Stores a local file under its content address; idempotent. */
  putFile(path: string): Promise<{ fileId: string; bytes: number }>;
  /** Size in bytes, or undefined when the store does not hold the file. */
  size(fileId: string): Promise<number | undefined>;
  /** `length` bytes from `offset`; shorter only at the end of the file. */
  read(fileId: string, offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

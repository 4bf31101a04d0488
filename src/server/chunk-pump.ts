/**
 * Sends the chunks a client asked for, one link at a time: the most urgent request first,
 * reading from the store only as fast as the link drains, so a hundred clients asking for whole
 * files do not pull whole files into memory.
 */
import type { Link } from '../net/link.ts';
import type { FileStore } from './file-store.ts';

/** One chunk request being answered. */
export interface ChunkJob {
  requestId: number;
  fileId: string;
  /** File size in bytes. */
  size: number;
  first: number;
  count: number;
  /** 0 = most urgent. */
  urgency: number;
}

/** Bulk bytes allowed to wait in a link's send queue before the pump stops reading. */
const BACKLOG_BYTES = 256 * 1024;
/** Chunks read from the store at once. */
const READ_CHUNKS = 8;

/** Where the pump reads chunks: the AP's store, or a client's cache when it serves peers. */
export type ChunkReader = Pick<FileStore, 'read'>;

export class ChunkPump {
  private jobs: (ChunkJob & { next: number; seq: number; onDone?: () => void })[] = [];
  /** Called when the last queued job is done (or cancelled): the link's upload is over. */
  onIdle?: () => void;
  private running = false;
  private stopped = false;
  private seq = 0;
  /** Earliest time the next chunk may go, when a rate cap is set. */
  private nextSendAt = 0;

  constructor(
    private readonly link: Link,
    private readonly store: ChunkReader,
    private readonly chunkSize: number,
    /** Bytes per second, 0 = uncapped. */
    private readonly maxRate: number,
    private readonly onSent: (bytes: number) => void,
  ) {}

  /** Queues a request; `onDone` runs once when it is answered, cancelled or the pump stops. */
  enqueue(job: ChunkJob, onDone?: () => void): void {
    if (this.stopped) {
      onDone?.();
      return;
    }
    this.jobs.push({ ...job, next: job.first, seq: this.seq++, onDone });
    // Most urgent first; among equals, first come first served.
    this.jobs.sort((a, b) => a.urgency - b.urgency || a.seq - b.seq);
    if (!this.running) void this.run();
  }

  /** Stops answering a request (the client sent `cancel`). */
  cancel(requestId: number): void {
    const gone = this.jobs.filter((j) => j.requestId === requestId);
    this.jobs = this.jobs.filter((j) => j.requestId !== requestId);
    for (const j of gone) j.onDone?.();
    if (gone.length > 0 && this.jobs.length === 0 && !this.running) this.onIdle?.();
  }

  /** Answers every queued request `busy` and drops it (the uploader stopped uploading). */
  refuseAll(reason: string): void {
    const jobs = this.jobs;
    this.jobs = [];
    for (const j of jobs) {
      this.link.send({ type: 'error', code: 'busy', message: reason }, j.requestId);
      j.onDone?.();
    }
    if (jobs.length > 0 && !this.running) this.onIdle?.();
  }

  stop(): void {
    this.stopped = true;
    for (const j of this.jobs) j.onDone?.();
    this.jobs = [];
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.stopped && this.jobs.length > 0 && !this.link.closed) {
        if (this.link.bulkBacklog > BACKLOG_BYTES) {
          await this.link.waitForBulkDrain(BACKLOG_BYTES / 2);
          continue;
        }
        const job = this.jobs[0]!;
        // One store read covers several chunks: reads, not encryption or framing, dominate.
        const first = job.next;
        const n = Math.min(READ_CHUNKS, job.first + job.count - first);
        if (n > 0) {
          job.next += n;
          const offset = first * this.chunkSize;
          let block: Uint8Array;
          try {
            block = await this.store.read(job.fileId, offset, Math.min(n * this.chunkSize, job.size - offset));
          } catch (err) {
            // A store failure answers this request; the others, and the link, go on.
            if (this.remove(job)) {
              this.link.send({ type: 'error', code: 'internal', message: `reading ${job.fileId}: ${(err as Error).message}` }, job.requestId);
              job.onDone?.();
            }
            continue;
          }
          for (let k = 0; k < n; k++) {
            const data = block.subarray(k * this.chunkSize, (k + 1) * this.chunkSize);
            if (this.maxRate > 0) await this.pace(data.length);
            if (this.stopped || !this.jobs.includes(job)) break; // cancelled meanwhile
            this.link.send({ type: 'chunk', fileId: job.fileId, index: first + k, data }, job.requestId);
            this.onSent(data.length);
          }
        }
        // Done, wherever it now stands in the queue: a more urgent request may have been put
        // in front of it while its last chunks were read.
        if (job.next >= job.first + job.count && this.remove(job)) {
          this.link.send({ type: 'chunk-end', fileId: job.fileId, first: job.first, count: job.count }, job.requestId);
          job.onDone?.();
        }
      }
    } finally {
      this.running = false;
      if (!this.stopped && this.jobs.length === 0) this.onIdle?.();
    }
  }

  /** Takes a job out of the queue; false when it is no longer there (cancelled, refused, stopped). */
  private remove(job: ChunkJob): boolean {
    const at = this.jobs.indexOf(job as (typeof this.jobs)[number]);
    if (at < 0) return false;
    this.jobs.splice(at, 1);
    return true;
  }

  private async pace(bytes: number): Promise<void> {
    const now = performance.now();
    const at = Math.max(now, this.nextSendAt);
    this.nextSendAt = at + (bytes * 1000) / this.maxRate;
    if (at > now) await new Promise((r) => setTimeout(r, at - now));
  }
}

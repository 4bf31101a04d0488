/**
 * A TCP delay proxy for end-to-end tests and benchmarks: it sits between a dialler and a real
 * listener on loopback and emulates network round-trip time (and optionally a bandwidth cap).
 *
 * Every chunk of data arriving from either side is written to the other side `delayMs` after it
 * arrived, strictly in order per direction: each direction keeps one FIFO queue with a single
 * timer for its head, so changing the delay mid-stream can never reorder data (data arriving
 * after a shorter delay was set simply waits behind the older data).
 */
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

/** Options of {@link startDelayProxy}. */
export interface DelayProxyOptions {
  /** Where connections go: host and port of the real listener. */
  target: { host: string; port: number };
  /** Added one-way delay, ms, in each direction (RTT grows by twice this). */
  delayMs: number;
  /** Optional: cap on bytes per second in each direction per connection (0/undefined = none). */
  rateBytesPerSec?: number;
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port to listen on; 0 picks a free one. @default 0 */
  port?: number;
}

/** A running delay proxy, as returned by {@link startDelayProxy}. */
export interface DelayProxy {
  /** The interface the proxy listens on. */
  host: string;
  /** The port the proxy listens on (the chosen one when 0 was asked for). */
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Bytes forwarded client->target and target->client. */
  readonly bytes: { up: number; down: number };
  /** Changes the one-way delay for data arriving from now on. */
  setDelay(ms: number): void;
  /** Closes the listener and destroys every open connection (queued data is dropped). */
  close(): Promise<void>;
}

/**
 * Bytes queued in one direction (waiting for their delay or the rate cap) above which the
 * source is paused until the queue has drained to half of it. Large enough not to limit the
 * throughput of a delayed loopback link in practice (8 MiB per 40 ms is 200 MB/s).
 */
const QUEUE_HIGH_WATER = 8 * 1024 * 1024;

/** One piece of queued data and the time (performance.now()) its delay has passed. */
interface Queued {
  data: Buffer;
  ready: number;
}

/** One direction of one connection: source socket -> FIFO queue -> destination socket. */
class Pipe {
  private readonly queue: (Queued | undefined)[] = [];
  private head = 0;
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Time until which the emulated link is busy serialising earlier bytes (rate cap only). */
  private busyUntil = 0;
  /** The destination's write returned false; waiting for 'drain'. */
  private blocked = false;
  /** Paused because the queue is over QUEUE_HIGH_WATER. */
  private full = false;
  /** The source sent its FIN; forward it once the queue is empty. */
  private sourceEnded = false;
  private endForwarded = false;
  private stopped = false;

  constructor(
    private readonly source: net.Socket,
    private readonly dest: net.Socket,
    private readonly delay: () => number,
    private readonly rate: number,
    private readonly count: (n: number) => void,
  ) {
    source.on('data', (chunk: Buffer) => this.onData(chunk));
    source.on('end', () => {
      this.sourceEnded = true;
      this.pump();
    });
    dest.on('drain', () => {
      this.blocked = false;
      this.pump();
      this.updateFlow();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.stopped) return;
    const ready = performance.now() + this.delay();
    // With a rate cap, slice big chunks (about 10 ms of transmission each) so they are released
    // progressively instead of in one burst after their whole serialisation time.
    const slice = this.rate > 0 ? Math.max(1, Math.min(65_536, Math.floor(this.rate / 100))) : chunk.length;
    for (let at = 0; at < chunk.length; at += slice) {
      this.queue.push({ data: chunk.subarray(at, Math.min(chunk.length, at + slice)), ready });
    }
    this.queuedBytes += chunk.length;
    this.pump();
    this.updateFlow();
  }

  /** Time the head may be released: its delay has passed and, with a rate cap, its bytes have been serialised. */
  private due(item: Queued): number {
    if (this.rate <= 0) return item.ready;
    return Math.max(item.ready, this.busyUntil) + (item.data.length * 1000) / this.rate;
  }

  /** Writes every queued piece that is due, then arms the single timer for the next head. */
  private pump(): void {
    if (this.stopped) return;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.head < this.queue.length && !this.blocked) {
      const item = this.queue[this.head]!;
      const due = this.due(item);
      const now = performance.now();
      if (due > now) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
          this.updateFlow();
        }, Math.max(1, Math.ceil(due - now)));
        break;
      }
      this.queue[this.head++] = undefined; // release the buffer; compacted below
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.queuedBytes -= item.data.length;
      if (this.rate > 0) this.busyUntil = due;
      this.count(item.data.length);
      if (!this.dest.write(item.data)) this.blocked = true;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      if (this.sourceEnded && !this.endForwarded) {
        this.endForwarded = true;
        this.dest.end();
      }
    }
  }

  /** Pauses the source while the destination is blocked or the queue is full; resumes it otherwise. */
  private updateFlow(): void {
    if (this.stopped || this.sourceEnded) return;
    if (this.queuedBytes >= QUEUE_HIGH_WATER) this.full = true;
    else if (this.queuedBytes <= QUEUE_HIGH_WATER / 2) this.full = false;
    if (this.blocked || this.full) this.source.pause();
    else this.source.resume();
  }

  /** Drops queued data and clears the timer. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
  }
}

/**
 * Starts a delay proxy listening on `opts.host:opts.port` (127.0.0.1 and a free port by
 * default). Each accepted connection is paired with a new connection to `opts.target`; data is
 * forwarded in both directions after `delayMs` (see {@link DelayProxy.setDelay}), and, with
 * `rateBytesPerSec`, no faster than that rate: a piece of data is released only once the
 * previous bytes of its direction and its own bytes have had their serialisation time.
 *
 * Backpressure is kept: when a destination's write returns false, its source is paused until
 * 'drain'. A half-close (FIN) is forwarded after the delayed data of its direction; an error or
 * an abrupt close of either side destroys the other; if the target cannot be reached, the
 * accepted socket is destroyed.
 */
export async function startDelayProxy(opts: DelayProxyOptions): Promise<DelayProxy> {
  checkDelay(opts.delayMs);
  const rate = opts.rateBytesPerSec ?? 0;
  if (!Number.isFinite(rate) || rate < 0) throw new RangeError(`rateBytesPerSec must be a finite number >= 0, got ${rate}`);
  let delayMs = opts.delayMs;
  let connections = 0;
  const bytes = { up: 0, down: 0 };
  const open = new Set<{ destroy(): void }>();

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    connections++;
    client.setNoDelay(true);
    const target = net.connect({ host: opts.target.host, port: opts.target.port, allowHalfOpen: true });
    target.setNoDelay(true);
    const delay = (): number => delayMs;
    const up = new Pipe(client, target, delay, rate, (n) => (bytes.up += n));
    const down = new Pipe(target, client, delay, rate, (n) => (bytes.down += n));
    const conn = {
      destroy(): void {
        up.stop();
        down.stop();
        client.destroy();
        target.destroy();
        open.delete(conn);
      },
    };
    open.add(conn);
    client.on('error', () => conn.destroy());
    target.on('error', () => conn.destroy());
    // A clean close (FIN both ways, everything flushed) leaves the other side to finish
    // flushing what is queued for it; anything else tears the pair down.
    const onClose = (self: net.Socket): void => {
      const clean = self.readableEnded && self.writableFinished;
      if (!clean || (client.destroyed && target.destroyed)) conn.destroy();
    };
    client.on('close', () => onClose(client));
    target.on('close', () => onClose(target));
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;

  return {
    host,
    port,
    get connections() {
      return connections;
    },
    get bytes() {
      return { ...bytes };
    },
    setDelay(ms: number): void {
      checkDelay(ms);
      delayMs = ms;
    },
    close(): Promise<void> {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const conn of [...open]) conn.destroy();
      return closed;
    },
  };
}

function checkDelay(ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delayMs must be a finite number >= 0, got ${ms}`);
}

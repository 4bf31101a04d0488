/**
 * A link: one connection to the AP or to a peer, carrying framed messages both ways
 * (DESIGN §3 "connections", §4). It multiplexes requests from both sides, sends interactive
 * frames before bulk audio, keeps itself alive, and closes itself — never the process — on bad
 * input.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { TunemeshConfig } from '../core/config.ts';
import { LinkClosedError, LinkTimeoutError, ProtocolError, RemoteError, RequestTimeoutError } from '../protocol/errors.ts';
import { encodeFrame, encodeFrameParts, FrameDecoder, MAX_REQUEST_ID, type Frame } from '../protocol/framing.ts';
import { Priority, priorityOf, type Message } from '../protocol/messages.ts';

/**
 * Which end of the connection this link is. The side that dialled uses odd request ids, the side
 * that accepted even ones, so both can make requests on one link without colliding.
 */
export type LinkSide = 'dialer' | 'acceptor';

/** Options of a {@link Link}. */
export interface LinkOptions {
  side: LinkSide;
  config: Pick<TunemeshConfig, 'keepAliveMs' | 'linkTimeoutMs' | 'maxFrameBytes'>;
  /**
   * Bulk frames are handed to the socket only while its `writableLength` is below this, so an
   * interactive frame never waits behind more than this much audio in user space. Raised to the
   * socket's own `writableHighWaterMark` if that is larger (otherwise 'drain' would never fire).
   * @default 65536
   */
  bulkHighWaterBytes?: number;
  /**
   * Most bulk bytes in flight: written to the socket but not yet known to be read by the peer.
   * The kernel's socket buffers hold megabytes that user space cannot see or reorder, so without
   * this window an interactive frame would queue behind them. The peer acknowledges by answering
   * the `ping` the link sends every quarter window (no extra message type; any tunemesh link
   * answers pings). Bounds bulk throughput per link to about window / round-trip time.
   * @default 262144
   */
  bulkWindowBytes?: number;
  /** Timeout of {@link Link.request} when the call gives none, ms. @default config.linkTimeoutMs */
  requestTimeoutMs?: number;
}

/**
 * Events of a {@link Link}.
 *
 * - `'message' (msg, requestId)`: a frame that is not an answer to one of our requests: a request
 *   from the other side (answer it with `link.send(reply, requestId)`), a `cancel` of one of its
 *   requests (queued bulk frames of that request have already been dropped), or an unsolicited
 *   message (`requestId` 0). Pings, pongs and `bye` are handled by the link and not emitted.
 * - `'close' (err?)`: emitted exactly once. `err` is undefined for an orderly close (our
 *   `close()`, or the peer's `bye`); otherwise a LinkClosedError (connection lost or ended without
 *   `bye`, cause attached), a LinkTimeoutError (keep-alive), a ProtocolError subclass (the peer sent
 *   a malformed frame), or the error a `'message'` listener threw.
 */
export interface LinkEvents {
  message: [msg: Message, requestId: number];
  close: [err?: Error];
}

/** Options of {@link Link.request}. */
export interface RequestOptions {
  /** Reject with RequestTimeoutError (and send `cancel`) after this long, ms; `Infinity`: never. @default LinkOptions.requestTimeoutMs */
  timeoutMs?: number;
  /** Abort: sends `cancel` and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of {@link Link.stream}. */
export interface StreamOptions {
  /** Reject with RequestTimeoutError (and send `cancel`) when no answer frame came for this long, ms. @default none */
  idleTimeoutMs?: number;
  /** Abort: sends `cancel` and rejects `done` with the signal's reason. */
  signal?: AbortSignal;
}

/** A multi-frame request in progress. */
export interface StreamHandle {
  /** The request id the answers carry. */
  requestId: number;
  /**
   * Resolves when `onMessage` returned `'done'` or `cancel()` was called; rejects with RemoteError
   * on an `error` answer, LinkClosedError when the link closes, or what `onMessage` threw.
   */
  done: Promise<void>;
  /** Stops the stream: sends `cancel` with its id; later answers are dropped. */
  cancel(): void;
}

interface Pending {
  deliver(msg: Message): void;
  fail(err: Error): void;
}

interface QueuedFrame {
  /** The frame, in consecutive parts (a chunk's audio is its own part, not copied). */
  parts: Uint8Array[];
  size: number;
  requestId: number;
}

const DEFAULT_BULK_HIGH_WATER = 64 * 1024;
const DEFAULT_BULK_WINDOW = 256 * 1024;
/** How long an ended socket may take to close before it is destroyed, ms. */
const END_GRACE_MS = 5_000;
/** Longest `bye` reason we send, UTF-16 units (the codec bound is 4096 bytes). */
const MAX_REASON_CHARS = 1000;

/**
 * A framed, multiplexed, prioritised connection over a connected duplex socket (a
 * `tls.TLSSocket` in the product, any `net.Socket`/Duplex in tests).
 *
 * Sending: interactive frames are written at once; bulk frames (`chunk`) wait in a queue and are
 * handed to the socket only while its buffer is below a small high-water mark and fewer than
 * `bulkWindowBytes` are in flight (written but not acknowledged through a ping/pong round trip;
 * see {@link LinkOptions.bulkWindowBytes}), so an interactive frame overtakes all queued audio
 * and waits behind at most about one window. Frames of one request keep their order: an
 * interactive answer (`chunk-end`, `error`) to a request with bulk frames still queued goes
 * behind them.
 *
 * Receiving: frames answering our requests (our id parity) go to the waiting request or
 * stream; answers that come after a request finished (cancelled, timed out) are dropped. Frames
 * of the other side's parity, and id 0, are emitted as `'message'`.
 *
 * Keep-alive: a `ping` goes out after `keepAliveMs` without receiving or without sending; pings
 * are answered with pongs; after `linkTimeoutMs` without receiving anything the link closes with
 * LinkTimeoutError. Timers are unref'd.
 *
 * `bytesSent`/`bytesReceived` count frame bytes (before TLS).
 */
export class Link extends EventEmitter<LinkEvents> {
  /** Frame bytes handed to the socket. */
  bytesSent = 0;
  /** Frame bytes received from the socket. */
  bytesReceived = 0;
  /** Answers dropped because their request had already finished (late, after cancel or timeout). */
  lateAnswers = 0;

  private readonly socket: Duplex;
  private readonly config: LinkOptions['config'];
  private readonly parity: 0 | 1;
  private readonly decoder: FrameDecoder;
  private readonly bulkHighWater: number;
  private readonly requestTimeoutMs: number;

  private readonly pending = new Map<number, Pending>();
  private nextRequestId: number;

  private bulk: (QueuedFrame | undefined)[] = [];
  private bulkHead = 0;
  private bulkBytes = 0;
  /** Queued bulk frames per request id, so later interactive frames of that request keep order. */
  private readonly bulkPerRequest = new Map<number, number>();
  private drainWaiters: { threshold: number; resolve: () => void }[] = [];
  private readonly bulkWindow: number;
  /** Cumulative bulk bytes written, acknowledged by the peer, and covered by a window ping. */
  private bulkWritten = 0;
  private bulkAcked = 0;
  private bulkMarked = 0;
  /** Window pings awaiting their pong, oldest first. */
  private windowPings: { nonce: number; upTo: number }[] = [];

  private isClosed = false;
  private lastReceivedAt: number;
  private lastSentAt: number;
  private lastPingAt: number;
  private pingNonce = 0;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private endTimer: NodeJS.Timeout | undefined;

  constructor(socket: Duplex, options: LinkOptions) {
    super();
    this.socket = socket;
    this.config = options.config;
    this.parity = options.side === 'dialer' ? 1 : 0;
    this.nextRequestId = options.side === 'dialer' ? 1 : 2;
    this.decoder = new FrameDecoder({ maxFrameBytes: options.config.maxFrameBytes });
    this.bulkHighWater = Math.max(options.bulkHighWaterBytes ?? DEFAULT_BULK_HIGH_WATER, socket.writableHighWaterMark ?? 0);
    this.bulkWindow = Math.max(1, options.bulkWindowBytes ?? DEFAULT_BULK_WINDOW);
    this.requestTimeoutMs = options.requestTimeoutMs ?? options.config.linkTimeoutMs;
    const now = performance.now();
    this.lastReceivedAt = now;
    this.lastSentAt = now;
    this.lastPingAt = now;

    socket.on('data', (chunk: Uint8Array) => this.onData(chunk));
    socket.on('drain', () => this.pump());
    socket.on('end', () => {
      if (!this.isClosed) this.finish(new LinkClosedError('the peer ended the connection without bye'));
      this.endSocket();
    });
    // Keep an 'error' listener for the socket's whole life: an unhandled one would crash the process.
    socket.on('error', (err: Error) => {
      if (!this.isClosed) this.finish(new LinkClosedError(`connection lost: ${err.message}`, { cause: err }));
      socket.destroy();
    });
    socket.on('close', () => {
      clearTimeout(this.endTimer);
      if (!this.isClosed) this.finish(new LinkClosedError('connection closed'));
    });
    if (socket.destroyed) {
      queueMicrotask(() => {
        if (!this.isClosed) this.finish(new LinkClosedError('the socket was already closed'));
      });
    }
    this.scheduleKeepAlive();
  }

  /** True once the link is closed (by either side or by an error); nothing more is sent. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Alias of {@link closed}. */
  get destroyed(): boolean {
    return this.isClosed;
  }

  /** Bytes of bulk frames queued and not yet handed to the socket. */
  get bulkBacklog(): number {
    return this.bulkBytes;
  }

  /**
   * Sends `msg` with `requestId` (0: not part of a request; to answer a request, the id it came
   * with). Returns false, sending nothing, if the link is closed. Throws InvalidFieldError for a
   * message that cannot be encoded and FrameTooLargeError for one over `maxFrameBytes`.
   *
   * A `chunk`'s `data` is written as it is, not copied: do not change that buffer after sending.
   */
  send(msg: Message, requestId = 0): boolean {
    if (this.isClosed) return false;
    const parts = encodeFrameParts(msg, requestId, { maxFrameBytes: this.config.maxFrameBytes });
    if (priorityOf(msg) === Priority.Bulk || (requestId !== 0 && this.bulkPerRequest.has(requestId))) {
      this.enqueueBulk(parts, requestId);
    } else {
      this.writeParts(parts);
    }
    return true;
  }

  /**
   * Resolves when at most `threshold` bulk bytes are queued, or when the link closes (check
   * {@link closed}). For producers of bulk data: keep the backlog small, refill on drain.
   */
  waitForBulkDrain(threshold = 0): Promise<void> {
    if (this.isClosed || this.bulkBytes <= threshold) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push({ threshold, resolve }));
  }

  /**
   * Sends a request and resolves with the first answer carrying its id. An `error` answer
   * rejects with RemoteError; the link closing rejects with LinkClosedError; no answer within
   * the timeout rejects with RequestTimeoutError and sends `cancel`.
   */
  request(msg: Message, options: RequestOptions = {}): Promise<Message> {
    return new Promise<Message>((resolve, reject) => {
      if (this.isClosed) return reject(new LinkClosedError(`link closed; ${msg.type} not sent`));
      if (options.signal?.aborted) return reject(options.signal.reason);
      const requestId = this.allocateRequestId();
      const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
      const signal = options.signal;
      const finish = () => {
        this.pending.delete(requestId);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        finish();
        this.sendCancel(requestId);
        reject(signal!.reason);
      };
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            finish();
            this.sendCancel(requestId);
            reject(new RequestTimeoutError(`no answer to ${msg.type} (request ${requestId}) within ${timeoutMs} ms`));
          }, timeoutMs).unref()
        : undefined;
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(requestId, {
        deliver: (answer) => {
          finish();
          if (answer.type === 'error') reject(new RemoteError(answer.code, answer.message));
          else resolve(answer);
        },
        fail: (err) => {
          finish();
          reject(err);
        },
      });
      try {
        this.send(msg, requestId);
      } catch (err) {
        finish();
        reject(err);
      }
    });
  }

  /**
   * Sends a request answered by several frames (`chunk-request` -> `chunk`* `chunk-end`) and
   * calls `onMessage` with each answer until it returns `'done'`. An `error` answer rejects
   * `done` with RemoteError and is not passed to `onMessage`.
   */
  stream(msg: Message, onMessage: (m: Message) => 'more' | 'done', options: StreamOptions = {}): StreamHandle {
    let resolveDone!: () => void;
    let rejectDone!: (err: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });
    if (this.isClosed) {
      rejectDone(new LinkClosedError(`link closed; ${msg.type} not sent`));
      return { requestId: 0, done, cancel() {} };
    }
    const requestId = this.allocateRequestId();
    const signal = options.signal;
    const idleMs = options.idleTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let active = true;
    const finish = () => {
      active = false;
      this.pending.delete(requestId);
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const stop = (err: unknown) => {
      finish();
      this.sendCancel(requestId);
      rejectDone(err);
    };
    const onAbort = () => stop(signal!.reason);
    const armIdle = () => {
      if (idleMs === undefined || !Number.isFinite(idleMs)) return;
      clearTimeout(timer);
      timer = setTimeout(
        () => stop(new RequestTimeoutError(`${msg.type} (request ${requestId}): no answer for ${idleMs} ms`)),
        idleMs,
      );
      timer.unref();
    };
    this.pending.set(requestId, {
      deliver: (answer) => {
        if (answer.type === 'error') {
          finish();
          rejectDone(new RemoteError(answer.code, answer.message));
          return;
        }
        let next: 'more' | 'done';
        try {
          next = onMessage(answer);
        } catch (err) {
          stop(err);
          return;
        }
        if (next === 'done') {
          finish();
          resolveDone();
        } else if (active) {
          armIdle();
        }
      },
      fail: (err) => {
        finish();
        rejectDone(err);
      },
    });
    if (signal?.aborted) {
      finish();
      rejectDone(signal.reason);
      return { requestId, done, cancel() {} };
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      this.send(msg, requestId);
      armIdle();
    } catch (err) {
      finish();
      rejectDone(err);
    }
    return {
      requestId,
      done,
      cancel: () => {
        if (!active) return;
        finish();
        this.sendCancel(requestId);
        resolveDone();
      },
    };
  }

  /**
   * Closes the link: sends `bye` with `reason` when the socket still takes data, ends the socket
   * (destroying it if it has not closed after a grace period), drops queued bulk frames, rejects
   * pending requests with LinkClosedError and emits `'close'` without an error.
   */
  close(reason = 'closed'): void {
    if (this.isClosed) return;
    this.sendBye(reason);
    this.finish(undefined, `link closed: ${reason}`);
    this.endSocket();
  }

  // -------------------------------------------------------------------------------------------
  // sending

  private write(bytes: Uint8Array): void {
    this.bytesSent += bytes.byteLength;
    this.lastSentAt = performance.now();
    this.socket.write(bytes);
  }

  /** Writes a frame's parts as one write (corked: TLS makes one record of them, not two). */
  private writeParts(parts: Uint8Array[]): number {
    if (parts.length === 1) {
      this.write(parts[0]!);
      return parts[0]!.byteLength;
    }
    let size = 0;
    this.socket.cork();
    for (const part of parts) {
      this.write(part);
      size += part.byteLength;
    }
    this.socket.uncork();
    return size;
  }

  private enqueueBulk(parts: Uint8Array[], requestId: number): void {
    let size = 0;
    for (const part of parts) size += part.byteLength;
    this.bulk.push({ parts, size, requestId });
    this.bulkBytes += size;
    if (requestId !== 0) this.bulkPerRequest.set(requestId, (this.bulkPerRequest.get(requestId) ?? 0) + 1);
    this.pump();
  }

  /**
   * Hands queued bulk frames to the socket while its buffer is under the high-water mark and the
   * window has room; 'drain' and window pongs call it again.
   */
  private pump(): void {
    const socket = this.socket;
    const markEvery = this.bulkWindow / 4;
    while (
      this.bulkHead < this.bulk.length &&
      !this.isClosed &&
      socket.writableLength < this.bulkHighWater &&
      this.bulkWritten - this.bulkAcked < this.bulkWindow
    ) {
      const item = this.bulk[this.bulkHead]!;
      this.bulk[this.bulkHead++] = undefined;
      this.bulkBytes -= item.size;
      if (item.requestId !== 0) {
        const n = this.bulkPerRequest.get(item.requestId)! - 1;
        if (n === 0) this.bulkPerRequest.delete(item.requestId);
        else this.bulkPerRequest.set(item.requestId, n);
      }
      this.writeParts(item.parts);
      this.bulkWritten += item.size;
      if (this.bulkWritten - this.bulkMarked >= markEvery) this.sendWindowPing();
    }
    // Stopped by the window: every byte in flight must be covered by a ping, or nothing would reopen it.
    if (this.bulkHead < this.bulk.length && this.bulkWritten > this.bulkMarked && !this.isClosed) this.sendWindowPing();
    if (this.bulkHead === this.bulk.length) {
      this.bulk = [];
      this.bulkHead = 0;
    } else if (this.bulkHead > 1024 && this.bulkHead * 2 > this.bulk.length) {
      this.bulk = this.bulk.slice(this.bulkHead);
      this.bulkHead = 0;
    }
    if (this.drainWaiters.length > 0) this.wakeDrainWaiters();
  }

  private wakeDrainWaiters(): void {
    const still: typeof this.drainWaiters = [];
    for (const w of this.drainWaiters) {
      if (this.isClosed || this.bulkBytes <= w.threshold) w.resolve();
      else still.push(w);
    }
    this.drainWaiters = still;
  }

  /** Drops queued frames of a request the other side cancelled. */
  private dropQueued(requestId: number): void {
    if (requestId === 0 || !this.bulkPerRequest.has(requestId)) return;
    const kept: QueuedFrame[] = [];
    for (let i = this.bulkHead; i < this.bulk.length; i++) {
      const item = this.bulk[i]!;
      if (item.requestId === requestId) this.bulkBytes -= item.size;
      else kept.push(item);
    }
    this.bulk = kept;
    this.bulkHead = 0;
    this.bulkPerRequest.delete(requestId);
    if (this.drainWaiters.length > 0) this.wakeDrainWaiters();
  }

  /** Pings the peer; its pong proves it has read every bulk byte written before. */
  private sendWindowPing(): void {
    this.pingNonce = (this.pingNonce + 1) >>> 0;
    this.windowPings.push({ nonce: this.pingNonce, upTo: this.bulkWritten });
    this.bulkMarked = this.bulkWritten;
    this.write(encodeFrame({ type: 'ping', nonce: this.pingNonce }));
  }

  private onPong(nonce: number): void {
    const pings = this.windowPings;
    if (pings.length === 0) return;
    const i = pings.findIndex((p) => p.nonce === nonce);
    if (i < 0) return; // a keep-alive pong
    this.bulkAcked = pings[i]!.upTo;
    this.windowPings = i === pings.length - 1 ? [] : pings.slice(i + 1);
    this.pump();
  }

  private sendCancel(requestId: number): void {
    if (!this.isClosed) this.send({ type: 'cancel' }, requestId);
  }

  private sendBye(reason: string): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    for (const text of [reason.slice(0, MAX_REASON_CHARS), 'closed']) {
      try {
        this.write(encodeFrame({ type: 'bye', reason: text }));
        return;
      } catch {
        // e.g. a lone surrogate where the reason was cut: fall back to the plain reason
      }
    }
  }

  private allocateRequestId(): number {
    for (;;) {
      const id = this.nextRequestId;
      this.nextRequestId += 2;
      if (this.nextRequestId > MAX_REQUEST_ID) this.nextRequestId = this.parity === 1 ? 1 : 2;
      if (!this.pending.has(id)) return id;
    }
  }

  // -------------------------------------------------------------------------------------------
  // receiving

  private onData(chunk: Uint8Array): void {
    if (this.isClosed) return;
    this.bytesReceived += chunk.byteLength;
    this.lastReceivedAt = performance.now();
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.failProtocol(err as Error);
      return;
    }
    for (const frame of frames) {
      if (this.isClosed) return;
      try {
        this.dispatch(frame);
      } catch (err) {
        // A throwing 'message' listener (or request callback) closes this link, not the process.
        if (err instanceof ProtocolError) this.failProtocol(err);
        else this.failHard(err instanceof Error ? err : new Error(String(err)));
        return;
      }
    }
  }

  private dispatch({ message: msg, requestId }: Frame): void {
    if (msg.type === 'bye') {
      this.finish(undefined, `the peer closed the link: ${msg.reason}`);
      this.endSocket();
      return;
    }
    if (requestId !== 0 && (requestId & 1) === this.parity) {
      const pending = this.pending.get(requestId);
      if (pending) pending.deliver(msg);
      else this.lateAnswers++;
      return;
    }
    switch (msg.type) {
      case 'ping':
        this.send({ type: 'pong', nonce: msg.nonce }, requestId);
        return;
      case 'pong':
        this.onPong(msg.nonce); // a window ping's answer, or keep-alive (receiving it was the point)
        return;
      case 'cancel':
        this.dropQueued(requestId);
        break;
    }
    this.emit('message', msg, requestId);
  }

  // -------------------------------------------------------------------------------------------
  // keep-alive and closing

  private scheduleKeepAlive(): void {
    if (this.isClosed) return;
    const { keepAliveMs, linkTimeoutMs } = this.config;
    const now = performance.now();
    if (now - this.lastReceivedAt >= linkTimeoutMs) {
      this.failHard(new LinkTimeoutError(`no data from the peer for ${Math.round(now - this.lastReceivedAt)} ms`));
      return;
    }
    const idleSince = Math.min(this.lastReceivedAt, this.lastSentAt);
    if (now - idleSince >= keepAliveMs && now - this.lastPingAt >= keepAliveMs) {
      this.lastPingAt = now;
      this.pingNonce = (this.pingNonce + 1) >>> 0;
      this.send({ type: 'ping', nonce: this.pingNonce });
    }
    const nextPing = Math.max(idleSince, this.lastPingAt) + keepAliveMs;
    const deadline = this.lastReceivedAt + linkTimeoutMs;
    const delay = Math.max(1, Math.min(nextPing, deadline) - now);
    this.keepAliveTimer = setTimeout(() => this.scheduleKeepAlive(), delay);
    this.keepAliveTimer.unref();
  }

  /** Closes on a bad frame: tell the peer why, then end. */
  private failProtocol(err: Error): void {
    if (this.isClosed) return;
    this.sendBye(`${err.name}: ${err.message}`);
    this.finish(err);
    this.endSocket();
  }

  /** Closes without ceremony (timeout, broken socket, application fault). */
  private failHard(err: Error): void {
    if (this.isClosed) return;
    this.finish(err);
    this.socket.destroy();
  }

  private endSocket(): void {
    if (this.socket.destroyed) return;
    this.socket.end();
    if (this.endTimer === undefined) {
      this.endTimer = setTimeout(() => this.socket.destroy(), END_GRACE_MS);
      this.endTimer.unref();
    }
  }

  /**
   * Marks the link closed: rejects pending requests with LinkClosedError, drops queued frames,
   * wakes drain waiters and emits `'close'` (once) with `err`.
   */
  private finish(err: Error | undefined, why?: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearTimeout(this.keepAliveTimer);
    this.bulk = [];
    this.bulkHead = 0;
    this.bulkBytes = 0;
    this.bulkPerRequest.clear();
    const closedError = () =>
      err instanceof LinkClosedError
        ? err
        : new LinkClosedError(why ?? `link closed: ${err ? `${err.name}: ${err.message}` : 'closed'}`, err ? { cause: err } : undefined);
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.fail(closedError());
    this.wakeDrainWaiters();
    try {
      this.emit('close', err);
    } catch (listenerError) {
      // We may be inside a socket handler: a faulty 'close' listener must not take the process down.
      process.emitWarning(listenerError instanceof Error ? listenerError : String(listenerError), 'LinkCloseListenerError');
    }
  }
}

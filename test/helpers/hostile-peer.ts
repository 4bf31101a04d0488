/**
 * A kit for playing a hostile peer (issue 6 item 4) against a real client's peer port or a real
 * AP port on loopback: raw TCP or TLS connections that send garbage, oversized frames, floods,
 * replayed tickets, or open and stall (handshake never finished, hello never sent, answers never
 * read or read a byte at a time). Each connection records the frames it got back (a `bye`
 * carries the reason) and when it was closed, so a test can assert how it was refused.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { encodeFrame, FrameDecoder, type Frame } from '../../src/protocol/framing.ts';
import { PROTOCOL_VERSION, type Message, type PeerTicket } from '../../src/protocol/messages.ts';
import type { TlsIdentity } from '../../src/net/identity.ts';

/** One hostile connection: what it received and how it ended. */
export class HostileConnection {
  /** Frames received (decoded; a frame the attacker cannot decode ends the list). */
  readonly frames: Frame[] = [];
  /** Raw bytes received. */
  received = 0;
  /** Set once the connection is closed: ms after it was opened. */
  closedAfterMs: number | undefined;
  private readonly openedAt = performance.now();
  private readonly decoder = new FrameDecoder({ maxFrameBytes: 64 * 1024 * 1024 });
  private readonly done: Promise<void>;

  constructor(readonly socket: net.Socket, opts: { decode?: boolean } = {}) {
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      this.received += d.length;
      if (opts.decode === false) return;
      try {
        this.frames.push(...this.decoder.push(d));
      } catch {
        // not our problem: we are the attacker
      }
    });
    this.done = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAfterMs = performance.now() - this.openedAt;
        resolve();
      }),
    );
  }

  /** Writes raw bytes (if the socket still takes them). */
  sendRaw(bytes: Uint8Array): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(bytes);
  }

  /** Writes one framed message. */
  send(msg: Message, requestId = 0): void {
    this.sendRaw(encodeFrame(msg, requestId));
  }

  /** Resolves with true when the other side closed the connection within `ms`, false otherwise. */
  async closedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
    const r = await Promise.race([this.done.then(() => true as const), timeout]);
    clearTimeout(timer);
    return r;
  }

  /** The reason in the `bye` we were sent, if any. */
  get byeReason(): string | undefined {
    const bye = this.frames.find((f) => f.message.type === 'bye');
    return bye?.message.type === 'bye' ? bye.message.reason : undefined;
  }

  /** The first frame answering `requestId`, if any. */
  answer(requestId: number): Message | undefined {
    return this.frames.find((f) => f.requestId === requestId)?.message;
  }

  /** Waits until a frame answering `requestId` arrived (or the connection closed, or `ms` passed). */
  async waitForAnswer(requestId: number, ms = 5_000): Promise<Message | undefined> {
    const until = performance.now() + ms;
    while (performance.now() < until && this.closedAfterMs === undefined && !this.answer(requestId)) await new Promise((r) => setTimeout(r, 10));
    return this.answer(requestId);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A plain TCP connection (no TLS at all). */
export async function tcpConnection(port: number, host = '127.0.0.1'): Promise<HostileConnection> {
  const socket = net.connect(port, host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return new HostileConnection(socket, { decode: false });
}

/** A TLS 1.3 connection, presenting `identity` if given; resolves once the handshake is done. */
export async function tlsConnection(port: number, identity?: TlsIdentity, host = '127.0.0.1'): Promise<HostileConnection> {
  const socket = tls.connect({ port, host, minVersion: 'TLSv1.3', rejectUnauthorized: false, ...(identity ? { key: identity.key, cert: identity.cert } : {}) });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  return new HostileConnection(socket);
}

/** A peer hello as a client sends it, with `ticket` if given. */
export function peerHello(peerId: string, ticket?: PeerTicket): Message {
  return { type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'hostile', peerId, listenPort: 0, ...(ticket ? { ticket } : {}) };
}

/**
 * A TLS connection that shows `ticket` in its hello and waits for the answer: an admitted peer
 * (when the ticket is valid for `peerId` and `identity`), ready to misbehave.
 */
export async function admittedPeer(port: number, peerId: string, ticket: PeerTicket, identity: TlsIdentity): Promise<HostileConnection> {
  const c = await tlsConnection(port, identity);
  c.send(peerHello(peerId, ticket), 1);
  const answer = await c.waitForAnswer(1);
  if (answer?.type !== 'hello') throw new Error(`not admitted: ${answer ? JSON.stringify(answer).slice(0, 200) : `no answer (bye: ${c.byeReason})`}`);
  return c;
}

/** Random bytes that are not a valid frame (the length prefix alone claims a huge frame). */
export function garbage(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    b[i] = s & 0xff;
  }
  return b;
}

/** The header of a frame claiming `length` bytes (a lie when nothing follows), with a valid type and priority. */
export function oversizedFrameHeader(length = 0xfffffff0): Uint8Array {
  const b = Buffer.alloc(10);
  b.writeUInt32BE(length, 0);
  b[4] = 1;
  b[5] = 0;
  return b;
}

/**
 * Sends `n` overlay searches (distinct query ids) as fast as the socket takes them; returns how
 * many were written before the connection was closed.
 */
export function floodSearches(c: HostileConnection, fileId: string, n: number): number {
  let written = 0;
  for (let i = 0; i < n && c.closedAfterMs === undefined && !c.socket.destroyed; i++, written++) {
    c.send({ type: 'peer-search', queryId: (0x40000000 + i) >>> 0, fileId, hops: 2 });
  }
  return written;
}

/**
 * Reads the connection at most `bytesPerTick` every `tickMs` (slow-loris reading): pauses the
 * socket and resumes it for one read now and then. Returns a stop function.
 */
export function readSlowly(c: HostileConnection, bytesPerTick: number, tickMs: number): () => void {
  const s = c.socket;
  s.pause();
  // read() in paused mode emits 'data' for what it returns: the connection counts it.
  const timer = setInterval(() => {
    if (s.readableLength > 0) s.read(Math.min(bytesPerTick, s.readableLength));
  }, tickMs);
  return () => clearInterval(timer);
}

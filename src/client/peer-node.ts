/**
 * The client's side of the overlay (DESIGN §3): it listens for peer connections on the port it
 * advertises, dials peers it wants a file from, keeps one connection per peer pair whoever
 * dialled, and serves complete files from the cache to at most `maxUploads` peers at once.
 * Policy lives in the cores (`Neighbours`, `UploadSlots`); this file turns it into sockets.
 */
import { EventEmitter } from 'node:events';
import type { TunemeshConfig } from '../core/config.ts';
import { Neighbours } from '../core/neighbours.ts';
import { UploadSlots } from '../core/upload-slots.ts';
import { OverlaySearch, type SearchResult } from '../core/overlay-search.ts';
import { KeyedRateLimiter } from '../core/rate-limit.ts';
import { randomInt } from 'node:crypto';
import { PROTOCOL_VERSION, type Message, type PeerAddress, type Role } from '../protocol/messages.ts';
import type { Link } from '../net/link.ts';
import { connectTls, listenTls, type TlsListener } from '../net/tls.ts';
import type { TlsIdentity } from '../net/identity.ts';
import { PeerAdmission } from '../net/peer-ticket.ts';
import { PeerAdmissionError, type AdmissionReason, type PeerTicket } from '../core/peer-ticket.ts';
import { ChunkPump } from '../server/chunk-pump.ts';
import { PeerBans } from '../core/peer-ban.ts';
import type { DiskCache } from './disk-cache.ts';
import type { OnChunk } from './ap-connection.ts';

/** A request to a peer that cannot be answered (it lacks the file, is busy, or is gone). */
export class PeerUnavailableError extends Error {
  override name = 'PeerUnavailableError';
}

/** Options of {@link PeerNode.start}. */
export interface PeerNodeOptions {
  peerId: string;
  role: Role;
  identity: TlsIdentity;
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port to listen on; 0 picks a free one; undefined: accept no incoming connections. */
  port?: number;
  config: TunemeshConfig;
  cache: DiskCache;
  /** Cap on the bytes per second uploaded to each peer; 0 = none. */
  maxUploadRate?: number;
  /**
   * The port peers should dial when it differs from the one listened on: a port forward on a
   * router (what UPnP sets up) or a proxy in front of the listener. @default the listen port
   */
  advertisePort?: number;
  /**
   * Our peer ticket and the AP's keys (DESIGN §5): every peer link, accepted or dialled, needs a
   * valid ticket from the other side for its peer id and its TLS certificate. @default empty:
   * no ticket and no keys, so every peer is refused until the AP sends them
   */
  admission?: PeerAdmission;
  log?: (line: string) => void;
}

interface PeerLink {
  peerId: string;
  link: Link;
  address: PeerAddress;
  /** Who dialled: the rule that keeps one connection per pair compares these. */
  dialerId: string;
  pump: ChunkPump;
}

type Events = {
  /** A peer link is up (after the hello exchange). */
  'peer:connect': [peerId: string];
  'peer:disconnect': [peerId: string];
};

export class PeerNode extends EventEmitter<Events> {
  private listener?: TlsListener;
  private readonly links = new Map<string, PeerLink>();
  private readonly dialing = new Map<string, Promise<PeerLink>>();
  readonly neighbours: Neighbours;
  readonly uploads: UploadSlots;
  /** Chunk bytes received from peers and sent to peers. */
  bytesIn = 0;
  bytesOut = 0;
  /** Requests we refused because every upload slot was taken. */
  refusedBusy = 0;

  readonly search: OverlaySearch;
  readonly admission: PeerAdmission;
  /** Peers kept out after a chunk that failed its hash check (issue 6): not dialled, not accepted. */
  readonly bans: PeerBans;
  /** Our host as peers see it (the AP tells us at login). */
  advertisedHost = '127.0.0.1';
  /** Whether peers can dial our listen port (the AP's probe tells us). */
  reachable = false;
  private pruneTimer?: NodeJS.Timeout;
  private stallTimer?: NodeJS.Timeout;
  /** When each upload-slot holder's upload last advanced (a chunk handed to its link). */
  private readonly uploadProgress = new Map<string, number>();
  /** Peers disconnected because their upload stalled (`uploadStallTimeoutMs`). */
  stalledUploads = 0;
  private readonly searchWaiters = new Map<number, (r: SearchResult) => void>();
  /** Overlay searches per neighbour (issue 6: floods are dropped, persistent flooders disconnected). */
  readonly searchLimit: KeyedRateLimiter;

  private constructor(private readonly opts: PeerNodeOptions) {
    super();
    this.neighbours = new Neighbours(opts.config);
    this.uploads = new UploadSlots(opts.config);
    this.search = new OverlaySearch({ config: opts.config, rng: { next: () => randomInt(2 ** 32) / 2 ** 32 } });
    this.admission = opts.admission ?? new PeerAdmission();
    this.bans = new PeerBans(opts.config);
    this.searchLimit = new KeyedRateLimiter({
      ratePerMin: opts.config.searchRatePerMin,
      burst: opts.config.searchBurst,
      disconnectAfter: opts.config.searchFloodDisconnectAfter,
    });
  }

  /** Connections refused or closed before their hello (`/api/stats`): over the pending bound, no hello in time. */
  get unadmitted(): { refusedPending: number; helloTimeouts: number; pending: number } {
    return this.listener?.stats ?? { refusedPending: 0, helloTimeouts: 0, pending: 0 };
  }

  /** How peers reach us: port 0 when they cannot dial us. */
  get self(): PeerAddress {
    return { peerId: this.opts.peerId, host: this.advertisedHost, port: this.reachable ? this.advertisedPort : 0 };
  }

  /**
   * Floods a search for a file through the overlay (2 hops, DESIGN §3) and collects the holders
   * that answer within `waitMs`.
   */
  async searchFile(fileId: string, waitMs: number): Promise<PeerAddress[]> {
    const targets = this.neighbours.searchTargets();
    const now = Date.now();
    const { queryId, sends } = this.search.start(fileId, targets, now);
    this.sendAll(sends);
    const holders: PeerAddress[] = [];
    if (targets.length > 0) {
      this.searchWaiters.set(queryId, (r) => holders.push(r.holder));
      await new Promise((r) => setTimeout(r, waitMs));
      this.searchWaiters.delete(queryId);
    }
    this.search.finish(queryId, Date.now());
    return holders;
  }

  private sendAll(sends: readonly { to: string; msg: Message }[]): void {
    for (const { to, msg } of sends) this.links.get(to)?.link.send(msg);
  }

  /** The port peers connect to; 0 when this client accepts no incoming connections. */
  get listenPort(): number {
    return this.listener?.port ?? 0;
  }

  /** The port peers are told to dial: the advertised one, else the listen port; 0 when none. */
  get advertisedPort(): number {
    return this.listenPort === 0 ? 0 : (this.opts.advertisePort ?? this.listenPort);
  }

  /** Peers connected now. */
  get connectedPeers(): string[] {
    return [...this.links.keys()];
  }

  static async start(opts: PeerNodeOptions): Promise<PeerNode> {
    const node = new PeerNode(opts);
    // Periodic pruning below the soft limit by the eviction utility (P2P'11).
    node.pruneTimer = setInterval(() => node.prune(), opts.config.neighbourPruneIntervalMs);
    node.pruneTimer.unref();
    // A peer that asks and then does not read must not keep an upload slot (issue 6).
    node.stallTimer = setInterval(() => node.checkStalledUploads(Date.now()), Math.max(250, opts.config.uploadStallTimeoutMs / 4));
    node.stallTimer.unref();
    if (opts.port !== undefined) {
      node.listener = await listenTls({
        host: opts.host ?? '127.0.0.1',
        port: opts.port,
        identity: opts.identity,
        config: opts.config,
        handshakeTimeoutMs: opts.config.handshakeTimeoutMs,
        helloTimeoutMs: opts.config.helloTimeoutMs,
        maxPending: opts.config.maxPendingConnections,
        onLink: (link, info) => node.accept(link, info.remoteAddress, info.clientFingerprint, info.admitted),
      });
    }
    return node;
  }

  isConnected(peerId: string): boolean {
    return this.links.has(peerId);
  }

  /**
   * The link to a peer, dialling it when there is none. Connections are made only to fetch a
   * file the peer is thought to have (DESIGN §3), and not above the soft limit.
   */
  async connect(address: PeerAddress, how: { connectBack?: boolean } = {}): Promise<void> {
    if (address.peerId === this.opts.peerId) throw new PeerUnavailableError('that is us');
    if (this.bans.isBanned(address.peerId, Date.now())) throw new PeerUnavailableError(`peer ${address.peerId} is banned (it sent a bad chunk)`);
    if (this.links.has(address.peerId)) return;
    const pending = this.dialing.get(address.peerId);
    if (pending) {
      await pending;
      return;
    }
    // A connect-back stands for an incoming connection the other side could not make: it is
    // bound by the hard limit, not the soft one.
    if (how.connectBack ? !this.neighbours.canAccept() : !this.neighbours.canDial()) {
      throw new PeerUnavailableError(`at the neighbour ${how.connectBack ? 'hard' : 'soft'} limit (${this.neighbours.count})`);
    }
    if (address.port === 0) throw new PeerUnavailableError(`peer ${address.peerId} accepts no connections`);
    const dial = (async () => {
      // Our certificate goes to the peer (its ticket check needs it); theirs is the server's.
      const { link, fingerprint } = await connectTls({ host: address.host, port: address.port, config: this.opts.config, timeoutMs: 5_000, identity: this.opts.identity });
      try {
        const hello = await link.request(this.hello(), { timeoutMs: 5_000 });
        if (hello.type !== 'hello' || hello.peerId !== address.peerId) throw new PeerUnavailableError(`${address.host}:${address.port} is not peer ${address.peerId}`);
        const reason = this.admission.check(hello.ticket, hello.peerId, fingerprint);
        if (reason) {
          this.log(`client: refused peer ${hello.peerId} at ${address.host}:${address.port}: ${reason}`);
          link.close(`peer admission refused: ${reason}`);
          throw new PeerAdmissionError(reason);
        }
        return this.register(link, address, this.opts.peerId, hello.role);
      } catch (err) {
        link.close('handshake failed');
        throw err;
      }
    })();
    this.dialing.set(address.peerId, dial);
    try {
      await dial;
    } finally {
      this.dialing.delete(address.peerId);
    }
  }

  /**
   * Fetches chunks [first, first+count) of a file from a connected peer. Rejects with
   * PeerUnavailableError when the peer lacks the file or is busy, or LinkClosedError when it goes.
   */
  fetchChunks(peerId: string, fileId: string, first: number, count: number, urgency: number, onChunk: OnChunk): { done: Promise<void>; cancel(): void } {
    const peer = this.links.get(peerId);
    if (!peer) return { done: Promise.reject(new PeerUnavailableError(`not connected to ${peerId}`)), cancel() {} };
    let got = 0;
    const s = peer.link.stream({ type: 'chunk-request', fileId, first, count, urgency }, (m) => {
      if (m.type === 'chunk' && m.fileId === fileId && m.index >= first && m.index < first + count) {
        got++;
        this.bytesIn += m.data.length;
        this.neighbours.recordReceived(peerId, m.data.length, Date.now());
        onChunk(m.index, m.data);
        return 'more';
      }
      return m.type === 'chunk-end' ? 'done' : 'more';
    });
    const done = s.done.then(() => {
      if (got < count) throw new PeerUnavailableError(`peer ${peerId} sent ${got} of ${count} chunks`);
    });
    done.catch(() => {});
    return {
      done: done.catch((err: Error) => {
        if (err.name === 'RemoteError') throw new PeerUnavailableError(`peer ${peerId}: ${err.message}`);
        throw err;
      }),
      cancel: () => s.cancel(),
    };
  }

  /**
   * Keeps a peer out for `badPeerBanMs` (it sent a chunk that failed its hash check): its link
   * is closed now, and it is neither dialled nor accepted until the ban ends.
   */
  ban(peerId: string, reason: string): void {
    this.bans.ban(peerId, Date.now());
    this.log(`client: banned peer ${peerId}: ${reason}`);
    this.links.get(peerId)?.link.close(`banned: ${reason}`);
  }

  /**
   * Disconnects upload-slot holders whose upload has not advanced for `uploadStallTimeoutMs`
   * (their waiting requests go with the link; the slot passes on). A holder is first seen
   * here with no progress yet: its clock starts then.
   */
  private checkStalledUploads(now: number): void {
    const limit = this.opts.config.uploadStallTimeoutMs;
    for (const [peerId, peer] of this.links) {
      if (!this.uploads.holds(peerId)) {
        this.uploadProgress.delete(peerId);
        continue;
      }
      const since = this.uploadProgress.get(peerId);
      if (since === undefined) {
        this.uploadProgress.set(peerId, now);
      } else if (now - since >= limit) {
        this.stalledUploads++;
        this.log(`client: disconnected peer ${peerId}: its upload made no progress for ${now - since} ms`);
        peer.link.close(`upload stalled for ${now - since} ms`);
      }
    }
  }

  /** Disconnects the neighbours of lowest utility when there are too many. */
  prune(): string[] {
    const victims = this.neighbours.prune(Date.now());
    for (const id of victims) this.links.get(id)?.link.close('pruned');
    return victims;
  }

  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    clearInterval(this.stallTimer);
    for (const p of this.links.values()) p.link.close('client shutting down');
    await this.listener?.close();
  }

  private hello(): Message {
    const ticket: PeerTicket | undefined = this.admission.ticket;
    return {
      type: 'hello',
      version: PROTOCOL_VERSION,
      role: this.opts.role,
      agent: 'tunemesh-client/0.1',
      peerId: this.opts.peerId,
      listenPort: this.advertisedPort,
      ...(ticket ? { ticket } : {}),
    };
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** Refuses a peer at admission: an `error` answer naming the reason, then the link is closed with it. */
  private refuse(link: Link, requestId: number, reason: AdmissionReason, remoteHost: string): void {
    this.log(`client: refused a peer link from ${remoteHost}: ${reason}`);
    link.send({ type: 'error', code: 'unauthorized', message: `peer admission refused: ${reason}` }, requestId);
    link.close(`peer admission refused: ${reason}`);
  }

  private accept(link: Link, remoteHost: string, certFingerprint: string | undefined, admitted: () => void): void {
    if (!this.neighbours.canAccept()) {
      link.close('at the neighbour hard limit');
      return;
    }
    const onFirst = (msg: Message, requestId: number) => {
      link.off('message', onFirst);
      if (msg.type !== 'hello' || msg.version !== PROTOCOL_VERSION || !msg.peerId) {
        link.close('hello expected first');
        return;
      }
      const reason = this.admission.check(msg.ticket, msg.peerId, certFingerprint);
      if (reason) {
        this.refuse(link, requestId, reason, remoteHost);
        return;
      }
      if (this.bans.isBanned(msg.peerId, Date.now())) {
        link.send({ type: 'error', code: 'unauthorized', message: 'banned: sent a bad chunk' }, requestId);
        link.close('banned peer');
        return;
      }
      link.send(this.hello(), requestId);
      admitted();
      this.register(link, { peerId: msg.peerId, host: remoteHost, port: msg.listenPort }, msg.peerId, msg.role);
    };
    link.on('message', onFirst);
  }

  /** Adds a link after its hello; keeps one link per pair: the one dialled by the smaller id. */
  private register(link: Link, address: PeerAddress, dialerId: string, role: Role): PeerLink {
    const existing = this.links.get(address.peerId);
    if (existing) {
      if (existing.dialerId <= dialerId) {
        link.close('duplicate connection');
        return existing;
      }
      existing.link.close('duplicate connection');
      this.drop(existing);
    }
    const pump = new ChunkPump(link, { read: (fileId, offset, length) => this.opts.cache.readRange(fileId, offset, offset + length) }, this.opts.config.chunkSize, this.opts.maxUploadRate ?? 0, (bytes) => {
      this.bytesOut += bytes;
      this.neighbours.recordSent(address.peerId, bytes, Date.now());
      this.uploadProgress.set(address.peerId, Date.now());
    });
    const peer: PeerLink = { peerId: address.peerId, link, address, dialerId, pump };
    if (this.neighbours.add(address.peerId, { direction: dialerId === this.opts.peerId ? 'out' : 'in', role, now: Date.now() }) === 'full') {
      link.close('at the neighbour hard limit');
      return peer;
    }
    this.links.set(address.peerId, peer);
    pump.onIdle = () => this.releaseSlot(peer);
    link.on('message', (msg: Message, requestId: number) => this.handle(peer, msg, requestId));
    link.on('close', () => this.drop(peer));
    this.emit('peer:connect', address.peerId);
    return peer;
  }

  private drop(peer: PeerLink): void {
    if (this.links.get(peer.peerId) !== peer) return;
    this.links.delete(peer.peerId);
    const waiting = this.waiting.get(peer.peerId);
    if (waiting) {
      this.waiting.delete(peer.peerId);
      this.uploads.cancel(peer.peerId);
      for (const j of waiting) j.unpin();
    }
    peer.pump.stop();
    this.neighbours.remove(peer.peerId);
    this.searchLimit.forget(peer.peerId);
    this.uploadProgress.delete(peer.peerId);
    this.releaseSlot(peer);
    this.emit('peer:disconnect', peer.peerId);
  }

  private handle(peer: PeerLink, msg: Message, requestId: number): void {
    switch (msg.type) {
      case 'chunk-request':
        this.serve(peer, msg, requestId);
        return;
      case 'cancel':
        peer.pump.cancel(requestId);
        return;
      case 'peer-search': {
        // Over the neighbour's search rate: dropped (counted); a persistent flooder is dropped.
        const decision = this.searchLimit.take(peer.peerId, Date.now());
        if (decision === 'disconnect') {
          this.log(`client: disconnected peer ${peer.peerId}: flooding searches`);
          peer.link.close('too many searches');
          return;
        }
        if (decision === 'dropped') return;
        const sends = this.search.onQuery(peer.peerId, msg, {
          neighbours: this.neighbours.searchTargets(peer.peerId),
          // Only complete files are shared, and a leecher never answers (DESIGN §3).
          have: (fileId) => this.opts.role === 'peer' && this.opts.cache.isShareable(fileId),
          self: this.self,
        }, Date.now());
        this.sendAll(sends);
        return;
      }
      case 'peer-found': {
        const out = this.search.onFound(peer.peerId, msg, Date.now());
        if ('result' in out) {
          this.neighbours.recordPeersFound(peer.peerId, 1, Date.now());
          this.searchWaiters.get(msg.queryId)?.(out.result);
        } else {
          this.sendAll(out);
        }
        return;
      }
      case 'bye':
        peer.link.close('bye');
        return;
      default:
        peer.link.send({ type: 'error', code: 'bad-request', message: `unexpected ${msg.type} on a peer link` }, requestId);
    }
  }

  /** Serves only complete (and checked) files, to at most `maxUploads` peers at once (DESIGN §3). */
  private serve(peer: PeerLink, msg: Extract<Message, { type: 'chunk-request' }>, requestId: number): void {
    const { cache, config } = this.opts;
    // Complete and checked since start (DESIGN §5): a file cached before a restart is served only
    // once its chunks passed the AP's hashes again.
    const size = cache.isShareable(msg.fileId) ? cache.sizeOf(msg.fileId) : undefined;
    if (size === undefined || this.opts.role === 'leecher') {
      peer.link.send({ type: 'error', code: 'not-here', message: `no complete copy of ${msg.fileId} here` }, requestId);
      return;
    }
    const chunks = Math.ceil(size / config.chunkSize);
    if (msg.count < 1 || msg.first < 0 || msg.first + msg.count > chunks) {
      peer.link.send({ type: 'error', code: 'bad-request', message: `chunk range ${msg.first}+${msg.count} outside 0..${chunks}` }, requestId);
      return;
    }
    const grant = this.uploads.tryAcquire(peer.peerId, msg.urgency, Date.now());
    if (grant === 'refused') {
      this.refusedBusy++;
      peer.link.send({ type: 'error', code: 'busy', message: `serving ${config.maxUploads} peers already` }, requestId);
      return;
    }
    const job = { requestId, fileId: msg.fileId, size, first: msg.first, count: msg.count, urgency: msg.urgency };
    cache.pin(msg.fileId);
    const unpin = () => cache.unpin(msg.fileId);
    if (grant === 'granted') {
      peer.pump.enqueue(job, unpin);
    } else {
      this.waiting.set(peer.peerId, [...(this.waiting.get(peer.peerId) ?? []), { job, unpin }]);
    }
  }

  private readonly waiting = new Map<string, { job: Parameters<ChunkPump['enqueue']>[0]; unpin: () => void }[]>();

  /**
   * Emergency mode took a peer's upload slot or queue place (UploadSlots.setEmergency): its
   * waiting requests are answered busy so it fetches elsewhere; running ones are cancelled.
   */
  refuseWaiting(peerId: string): void {
    const peer = this.links.get(peerId);
    for (const j of this.waiting.get(peerId) ?? []) {
      peer?.link.send({ type: 'error', code: 'busy', message: 'not uploading: low on buffer' }, j.job.requestId);
      j.unpin();
    }
    this.waiting.delete(peerId);
    peer?.pump.refuseAll('not uploading: low on buffer');
  }

  /** A peer's uploads are done (or it left): give its slot to the next waiting peer. */
  private releaseSlot(peer: PeerLink): void {
    let next = this.uploads.release(peer.peerId);
    // A granted peer that has left meanwhile passes its slot on at once.
    while (next) {
      const nextPeer = this.links.get(next);
      const jobs = this.waiting.get(next) ?? [];
      this.waiting.delete(next);
      if (nextPeer && jobs.length > 0) {
        for (const j of jobs) nextPeer.pump.enqueue(j.job, j.unpin);
        return;
      }
      for (const j of jobs) j.unpin();
      next = this.uploads.release(next);
    }
  }
}

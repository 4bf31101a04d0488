/**
 * The access point (DESIGN §1): holds a persistent TLS link to every logged-in client and
 * serves login, catalog search and browse, track metadata and chunk data (the server source).
 */
import { EventEmitter } from 'node:events';
import { writeFile, rename } from 'node:fs/promises';
import type { TunemeshConfig } from '../core/config.ts';
import { chunkCount, type TrackInfo } from '../core/track.ts';
import { PROTOCOL_VERSION, type ErrorCode, type Message } from '../protocol/messages.ts';
import { LIMITS, trackInfoSize } from '../protocol/codec.ts';
import type { Link } from '../net/link.ts';
import { listenTls } from '../net/tls.ts';
import { loadOrCreateIdentity, formatServerAddress } from '../net/identity.ts';
import type { DataDir } from './data-dir.ts';
import { PlaylistError, UnknownPlaylistError, type PlaylistPage, type SearchResult } from './catalog.ts';
import { ChunkPump } from './chunk-pump.ts';
import { PeerServices, type OverlayMember } from './peer-services.ts';
import { TicketKeyring } from './ticket-keys.ts';
import { chunkHashesOf, migratePlaintextFiles } from './content-protection.ts';
import { CHUNK_HASH_BYTES } from '../core/chunk-hashes.ts';

/** Options of {@link AccessPoint.start}. */
export interface AccessPointOptions {
  data: DataDir;
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  config: TunemeshConfig;
  /** Cap on the chunk bytes per second sent to each client; 0 = none. For tests and emulated links. */
  maxRatePerClient?: number;
  /** Where operational messages go. @default nothing */
  log?: (line: string) => void;
  /** Answer tracker queries with no peers, so only the overlay search finds them (tests, studies). */
  trackerOff?: boolean;
}

/** One connected client as the AP sees it. */
interface Session {
  link: Link;
  remote: string;
  helloDone: boolean;
  /** The client in the overlay, once logged in (not for clients without a peer id). */
  member?: OverlayMember;
  hello?: Extract<Message, { type: 'hello' }>;
  /** Fingerprint of the TLS certificate the client presented on this link: what its peer tickets bind. */
  clientFingerprint?: string;
  user?: string;
  sessionId?: string;
  pump: ChunkPump;
  /** Tells the listener the session logged in: the hello timer stops, the pending slot is freed. */
  admitted(): void;
  /** A login's password check is running (one at a time per link). */
  loginPending?: boolean;
}

/** Largest chunk range one request may ask for: a whole 10-minute 320 kbps file is ~1500 chunks. */
const MAX_CHUNKS_PER_REQUEST = 4096;
const MAX_BROWSE_LIMIT = 500;
/** Most tracks in one `playlist` answer; pages are also cut to half a frame (see {@link pageWithin}). */
const MAX_PLAYLIST_PAGE = 1000;

/** Answer a request with a typed error. */
class RequestError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'RequestError';
  }
}

/**
 * The error answer for a failed request: its own code for a RequestError; for a playlist error
 * `not-found` (an unknown playlist, or another user's) or `bad-request` (an unknown track to add,
 * a bad name or position, a limit); undefined for anything else (an internal error).
 */
function errorAnswer(err: Error): { code: ErrorCode; message: string } | undefined {
  if (err instanceof RequestError) return { code: err.code, message: err.message };
  if (err instanceof UnknownPlaylistError) return { code: 'not-found', message: err.message };
  if (err instanceof PlaylistError) return { code: 'bad-request', message: err.message };
  return undefined;
}

/** Counters an operator (and the benchmarks) read. */
export interface AccessPointStats {
  clients: number;
  loggedIn: number;
  chunkBytesSent: number;
  chunksSent: number;
  loginsFailed: number;
  protocolErrors: number;
  /** Peer tickets issued, and ticket key rotations. */
  ticketsIssued: number;
  keyRotations: number;
}

export class AccessPoint extends EventEmitter {
  private readonly sessions = new Set<Session>();
  private closeServer?: () => Promise<void>;
  private nextSession = 1;
  readonly stats: AccessPointStats = { clients: 0, loggedIn: 0, chunkBytesSent: 0, chunksSent: 0, loginsFailed: 0, protocolErrors: 0, ticketsIssued: 0, keyRotations: 0 };
  /** `host:port#fingerprint`, what clients are given to connect and pin the AP's key. */
  address = '';
  port = 0;

  readonly peers: PeerServices;
  private keyring!: TicketKeyring;
  private pruneKeysTimer?: NodeJS.Timeout;
  /** Pending switch to a rotated key: fresh tickets for everyone once it signs. */
  private keySwitchTimer?: NodeJS.Timeout;

  private constructor(private readonly opts: AccessPointOptions) {
    super();
    this.peers = new PeerServices({ config: opts.config, rng: { next: Math.random }, trackerOff: opts.trackerOff });
  }

  /** Creates the TLS identity on first start, listens, and writes the address to `<data>/address`. */
  static async start(opts: AccessPointOptions): Promise<AccessPoint> {
    const ap = new AccessPoint(opts);
    // A data directory from before encryption is encrypted before anyone is served (DESIGN §5).
    await migratePlaintextFiles(opts.data, opts.config.chunkSize, opts.log);
    const identity = await loadOrCreateIdentity(opts.data.paths.tls);
    ap.keyring = await TicketKeyring.open(opts.data.paths.tls, Date.now());
    // Retired ticket keys are dropped once every ticket they signed has expired.
    ap.pruneKeysTimer = setInterval(() => ap.keyring.prune(Date.now()), 60_000);
    ap.pruneKeysTimer.unref();
    const host = opts.host ?? '127.0.0.1';
    const server = await listenTls({
      host,
      port: opts.port ?? 0,
      identity,
      config: opts.config,
      handshakeTimeoutMs: opts.config.handshakeTimeoutMs,
      // Until login: a connection that never logs in holds no session slot for long.
      helloTimeoutMs: opts.config.helloTimeoutMs,
      maxPending: opts.config.maxPendingConnections,
      onLink: (link, info) => ap.accept(link, info?.remote ?? '?', info?.clientFingerprint, info.admitted),
    });
    ap.closeServer = server.close;
    ap.port = server.port;
    ap.address = formatServerAddress({ host, port: server.port, fingerprint: identity.fingerprint });
    const tmp = `${opts.data.paths.address}.tmp`;
    await writeFile(tmp, ap.address + '\n');
    await rename(tmp, opts.data.paths.address);
    return ap;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** The id of the key that signs new peer tickets. */
  get ticketKeyId(): string {
    return this.keyring.currentKeyId(Date.now());
  }

  /**
   * Rotates the peer-ticket signing key without dropping anyone and without a moment in which a
   * peer refuses a ticket for its key: the new key is announced to every logged-in client at once
   * (a `peer-ticket` still signed with the old key, listing the new key) and starts signing
   * `ticketKeyAnnounceMs` later, when every client gets a fresh ticket of it. The old key stays
   * valid until every ticket it signed has expired. Returns the new key id.
   */
  async rotateTicketKey(): Promise<string> {
    const announceMs = this.opts.config.ticketKeyAnnounceMs;
    const keyId = await this.keyring.rotate(Date.now(), this.opts.config.peerTicketTtlMs, announceMs);
    this.stats.keyRotations++;
    this.log(`ap: peer ticket key ${keyId} announced; it signs from ${announceMs} ms on`);
    this.pushTickets();
    clearTimeout(this.keySwitchTimer);
    this.keySwitchTimer = setTimeout(() => {
      this.log(`ap: peer tickets now signed with ${this.keyring.currentKeyId(Date.now())}`);
      this.pushTickets();
    }, announceMs + 1);
    this.keySwitchTimer.unref();
    return keyId;
  }

  /** Sends every logged-in client a fresh ticket and the current key set. */
  private pushTickets(): void {
    const issued: [Session, Message][] = [];
    for (const s of this.sessions) {
      const msg = this.ticketFor(s);
      if (msg) issued.push([s, msg]);
    }
    for (const [s, msg] of issued) s.link.send(msg);
  }

  /** A `peer-ticket` for a logged-in session with a peer id and a client certificate. */
  private ticketFor(s: Session): Message | undefined {
    if (!s.user || !s.hello?.peerId || !s.clientFingerprint) return undefined;
    const now = Date.now();
    const ticket = this.keyring.issue({ peerId: s.hello.peerId, user: s.user, certFingerprint: s.clientFingerprint }, now, this.opts.config.peerTicketTtlMs);
    this.stats.ticketsIssued++;
    return { type: 'peer-ticket', ticket, keys: this.keyring.publicKeys(now) };
  }

  private accept(link: Link, remote: string, clientFingerprint: string | undefined, admitted: () => void): void {
    const session: Session = {
      link,
      admitted,
      remote,
      ...(clientFingerprint ? { clientFingerprint } : {}),
      helloDone: false,
      pump: new ChunkPump(link, this.opts.data.store, this.opts.config.chunkSize, this.opts.maxRatePerClient ?? 0, (bytes) => {
        this.stats.chunkBytesSent += bytes;
        this.stats.chunksSent++;
      }),
    };
    this.sessions.add(session);
    this.stats.clients = this.sessions.size;
    link.on('message', (msg: Message, requestId: number) => {
      this.handle(session, msg, requestId).catch((err: Error) => {
        const answer = errorAnswer(err);
        if (answer) {
          link.send({ type: 'error', ...answer }, requestId);
        } else {
          this.log(`ap: request ${msg.type} from ${remote} failed: ${err.stack ?? err.message}`);
          link.send({ type: 'error', code: 'internal', message: 'internal error' }, requestId);
        }
      });
    });
    link.on('close', (err?: Error) => {
      session.pump.stop();
      if (session.member) this.peers.leave(session.member);
      this.sessions.delete(session);
      this.stats.clients = this.sessions.size;
      if (session.user) this.stats.loggedIn--;
      if (err && err.name !== 'LinkClosedError') {
        this.stats.protocolErrors++;
        this.log(`ap: link from ${remote}${session.user ? ` (${session.user})` : ''} closed: ${err.name}: ${err.message}`);
      }
    });
  }

  private async handle(s: Session, msg: Message, requestId: number): Promise<void> {
    const { catalog, accounts, store } = this.opts.data;
    if (!s.helloDone && msg.type !== 'hello') {
      s.link.close('hello expected first');
      return;
    }
    switch (msg.type) {
      case 'hello':
        // One hello per link: the peer id it names goes into the tickets and the tracker, so a
        // second hello must not change who this link is.
        if (s.helloDone) throw new RequestError('bad-request', 'hello already received on this link');
        if (msg.version !== PROTOCOL_VERSION) {
          s.link.send({ type: 'error', code: 'version', message: `protocol version ${msg.version} not supported (AP speaks ${PROTOCOL_VERSION})` }, requestId);
          s.link.close('version mismatch');
          return;
        }
        s.helloDone = true;
        s.hello = msg;
        // The AP is no peer: no peer id, no port for peer connections.
        s.link.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'tunemesh-ap/0.1', peerId: '', listenPort: 0 }, requestId);
        return;
      case 'login': {
        // One password check at a time per link: each costs an scrypt, so a link pipelining
        // logins would otherwise occupy every thread of the pool (issue 6: hostile input).
        if (s.loginPending) throw new RequestError('busy', 'a login is already being checked on this link');
        s.loginPending = true;
        let ok: boolean;
        try {
          ok = await accounts.verify(msg.user, msg.password);
        } finally {
          s.loginPending = false;
        }
        if (!ok) {
          this.stats.loginsFailed++;
          throw new RequestError('unauthorized', 'wrong user name or password');
        }
        if (!s.user) this.stats.loggedIn++;
        s.user = msg.user;
        s.sessionId = `s${this.nextSession++}`;
        s.admitted();
        s.link.send({ type: 'login-ok', user: msg.user, sessionId: s.sessionId, observedHost: observedHostOf(s.remote) }, requestId);
        if (s.hello?.peerId && !s.member) {
          s.member = { peerId: s.hello.peerId, role: s.hello.role, link: s.link, host: observedHostOf(s.remote), listenPort: s.hello.listenPort, reachable: false };
          this.peers.join(s.member);
        }
        return;
      }
      case 'ping':
      case 'pong':
        return;
      case 'bye':
        s.link.close('bye');
        return;
      case 'cancel':
        s.pump.cancel(requestId);
        return;
    }
    if (!s.user) throw new RequestError('unauthorized', 'log in first');
    switch (msg.type) {
      case 'search': {
        const limit = clampLimit(msg.limit);
        // A blank query browses: artists in order, with their albums' tracks.
        const r = msg.query.trim() ? await catalog.search(msg.query, limit) : await this.browseAll(limit);
        s.link.send({ type: 'search-result', ...r, tracks: r.tracks.map(listed) }, requestId);
        return;
      }
      case 'list-artists': {
        const artists = await catalog.listArtists(Math.max(0, msg.offset), clampLimit(msg.limit));
        s.link.send({ type: 'artists', artists }, requestId);
        return;
      }
      case 'get-artist': {
        const r = await catalog.getArtist(msg.artistId);
        if (!r) throw new RequestError('not-found', `no artist ${msg.artistId}`);
        s.link.send({ type: 'artist', ...r }, requestId);
        return;
      }
      case 'get-album': {
        const r = await catalog.getAlbum(msg.albumId);
        if (!r) throw new RequestError('not-found', `no album ${msg.albumId}`);
        s.link.send({ type: 'album', album: r.album, tracks: r.tracks.map(listed) }, requestId);
        return;
      }
      // Playlists: every call acts for the session's user (DESIGN §1); catalog errors become
      // error answers in errorAnswer().
      case 'list-playlists': {
        const r = await catalog.listPlaylists(s.user, msg.offset, clampLimit(msg.limit));
        s.link.send({ type: 'playlists', playlists: r.playlists, total: r.total }, requestId);
        return;
      }
      case 'get-playlist': {
        const page = await catalog.getPlaylist(s.user, msg.playlistId, msg.offset, Math.min(msg.limit, MAX_PLAYLIST_PAGE));
        s.link.send({ type: 'playlist', ...pageWithin(page, this.opts.config.maxFrameBytes / 2) }, requestId);
        return;
      }
      case 'create-playlist':
        s.link.send({ type: 'playlist-info', playlist: await catalog.createPlaylist(s.user, msg.name) }, requestId);
        return;
      case 'add-to-playlist':
        s.link.send({ type: 'playlist-info', playlist: await catalog.addToPlaylist(s.user, msg.playlistId, msg.trackIds, msg.position) }, requestId);
        return;
      case 'remove-from-playlist':
        s.link.send({ type: 'playlist-info', playlist: await catalog.removeFromPlaylist(s.user, msg.playlistId, msg.position) }, requestId);
        return;
      case 'rename-playlist':
        s.link.send({ type: 'playlist-info', playlist: await catalog.renamePlaylist(s.user, msg.playlistId, msg.name) }, requestId);
        return;
      case 'delete-playlist':
        await catalog.deletePlaylist(s.user, msg.playlistId);
        s.link.send({ type: 'ok' }, requestId);
        return;
      case 'get-track': {
        const track = await catalog.getTrack(msg.trackId);
        if (!track) throw new RequestError('not-found', `no track ${msg.trackId}`);
        s.link.send({ type: 'track', track }, requestId);
        return;
      }
      case 'announce':
        if (s.member) this.peers.announce(s.member, msg.fileId);
        return;
      case 'tracker-query':
        s.link.send({ type: 'tracker-peers', fileId: msg.fileId, peers: s.member ? this.peers.query(s.member, msg.fileId) : [] }, requestId);
        return;
      case 'connect-back-request':
        if (!s.member || !this.peers.connectBack(s.member, msg.target, msg.fileId)) throw new RequestError('not-found', `peer ${msg.target} is not online`);
        s.link.send({ type: 'ok' }, requestId);
        return;
      case 'metrics':
        if (s.member) s.member.report = msg.report;
        return;
      case 'ticket-request': {
        if (!s.hello?.peerId) throw new RequestError('bad-request', 'a peer ticket needs a peer id in the hello');
        const answer = this.ticketFor(s);
        if (!answer) throw new RequestError('unauthorized', 'present a TLS client certificate on the AP link to get a peer ticket');
        s.link.send(answer, requestId);
        return;
      }
      case 'get-chunk-hashes': {
        const list = await chunkHashesOf(this.opts.data, msg.fileId, this.opts.config.chunkSize);
        if (!list) throw new RequestError('not-found', `no file ${msg.fileId}`);
        if (msg.first > list.count) throw new RequestError('bad-request', `first chunk ${msg.first} outside 0..${list.count}`);
        // At most half a frame of hashes per answer; the client asks again for the rest.
        const count = Math.min(msg.count, list.count - msg.first, Math.floor(LIMITS.chunkHashBytes / CHUNK_HASH_BYTES));
        const hashes = list.hashes.subarray(msg.first * CHUNK_HASH_BYTES, (msg.first + count) * CHUNK_HASH_BYTES);
        s.link.send({ type: 'chunk-hashes', fileId: msg.fileId, chunkSize: list.chunkSize, total: list.count, first: msg.first, hashes }, requestId);
        return;
      }
      case 'get-file-key': {
        // Only here, after the login check above: nobody without an account gets a key.
        const rec = this.opts.data.keys.get(msg.fileId);
        if (!rec) throw new RequestError('not-found', `no file ${msg.fileId}`);
        s.link.send({ type: 'file-key', fileId: msg.fileId, key: rec.key, iv: rec.iv }, requestId);
        return;
      }
      case 'chunk-request': {
        const size = await store.size(msg.fileId);
        if (size === undefined) throw new RequestError('not-found', `no file ${msg.fileId}`);
        const chunks = chunkCount(size, this.opts.config.chunkSize);
        if (msg.count < 1 || msg.count > MAX_CHUNKS_PER_REQUEST || msg.first < 0 || msg.first + msg.count > chunks) {
          throw new RequestError('bad-request', `chunk range ${msg.first}+${msg.count} outside 0..${chunks}`);
        }
        s.pump.enqueue({ requestId, fileId: msg.fileId, size, first: msg.first, count: msg.count, urgency: msg.urgency });
        return;
      }
      default:
        throw new RequestError('bad-request', `unexpected ${msg.type} from a client`);
    }
  }

  /** The start of the catalog in browse order, for a blank search. */
  private async browseAll(limit: number): Promise<SearchResult> {
    const { catalog } = this.opts.data;
    const result: SearchResult = { tracks: [], artists: await catalog.listArtists(0, limit), albums: [] };
    for (const artist of result.artists) {
      const a = await catalog.getArtist(artist.id);
      for (const album of a?.albums ?? []) {
        if (result.tracks.length >= limit) return result;
        result.albums.push(album);
        const tracks = (await catalog.getAlbum(album.id))?.tracks ?? [];
        result.tracks.push(...tracks.slice(0, limit - result.tracks.length));
      }
    }
    return result;
  }

  /** Closes every link and the listener. */
  async stop(): Promise<void> {
    clearInterval(this.pruneKeysTimer);
    clearTimeout(this.keySwitchTimer);
    for (const s of this.sessions) s.link.close('server shutting down');
    await this.closeServer?.();
  }
}

/**
 * A track as listed in search and browse answers: without its seek index, which only `get-track`
 * carries, so a page of results stays small (a 4-minute track has ~1000 seek points).
 */
function listed(track: TrackInfo): TrackInfo {
  return { ...track, seekIndex: [] };
}

/**
 * A playlist page cut to at most `budgetBytes` of encoded tracks (at least one track when there
 * are any), so the answer stays well within the frame limit however long the titles are; the
 * client asks for the next page from `offset + tracks.length`.
 */
export function pageWithin(page: PlaylistPage, budgetBytes: number): PlaylistPage {
  let used = 0;
  let count = 0;
  for (const track of page.tracks) {
    used += trackInfoSize(track);
    if (count > 0 && used > budgetBytes) break;
    count++;
  }
  return count === page.tracks.length ? page : { ...page, tracks: page.tracks.slice(0, count) };
}

/**
 * The client's IP address as the AP sees it, from the link's `address:port` (`[v6]:port` for
 * IPv6): what peers will dial. An IPv4 address seen on a dual-stack socket (`::ffff:a.b.c.d`)
 * is given as plain IPv4. '' when the address is not known.
 */
export function observedHostOf(remote: string): string {
  let host: string;
  const v6 = /^\[([^\]]+)\](?::\d*)?$/.exec(remote);
  if (v6) {
    host = v6[1]!;
  } else {
    const colon = remote.indexOf(':');
    // One colon: IPv4 or a name with a port. More: a bare IPv6 address without a port.
    host = colon >= 0 && colon === remote.lastIndexOf(':') ? remote.slice(0, colon) : remote;
  }
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(host);
  if (mapped) host = mapped[1]!;
  // '?': the socket had no address (already closed); never more than the codec's host bound.
  return host === '?' || Buffer.byteLength(host) > LIMITS.hostBytes ? '' : host;
}

function clampLimit(n: number): number {
  return Math.max(1, Math.min(MAX_BROWSE_LIMIT, Math.floor(n) || 1));
}

/**
 * The client daemon (DESIGN §1): one persistent link to the AP, the disk cache, the downloads,
 * the plays with their playback clocks, and the local HTTP endpoint a player uses.
 */
import { randomBytes } from 'node:crypto';
import { link as hardLink, mkdir, open, readFile, statfs, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { TunemeshConfig } from '../core/config.ts';
import { defaultCacheSize } from '../core/cache-policy.ts';
import type { TrackInfo } from '../core/track.ts';
import { PlayQueue } from '../core/play-queue.ts';
import { startByteFor } from '../core/playback-clock.ts';
import { timeForByte } from '../audio/ogg.ts';
import { LIMITS } from '../protocol/codec.ts';
import type { SearchResult } from '../server/catalog.ts';
import type { Message, MessageOf, MessageType, MetricsReport, PlaylistInfo, Role } from '../protocol/messages.ts';
import { albumUri, parseUri, type UriKind } from '../protocol/uris.ts';
import { parseServerAddress, loadOrCreateIdentity, type TlsIdentity } from '../net/identity.ts';
import { ticketRefreshDelay } from '../core/peer-ticket.ts';
import { ApConnection } from './ap-connection.ts';
import { PeerNode } from './peer-node.ts';
import { PeerLookup } from './peer-lookup.ts';
import { DiskCache } from './disk-cache.ts';
import { TrackFetcher } from './track-fetcher.ts';
import { ContentAccess } from './content-access.ts';
import { Plays, heldChunks, type PlayRecord } from './plays.ts';
import { startHttpApi, type HttpApi } from './http-api.ts';
import { systemClock } from './system-clock.ts';

/** Options of {@link ClientDaemon.start}. */
export interface ClientOptions {
  /** The AP, `host:port#fingerprint` (pinned) or `host:port` (trust on first use). */
  server: string;
  /** Cache directory: cached audio, the AP's trusted key, this client's peer id. */
  cacheDir: string;
  /** Cache limit in bytes; default 10 % of free disk within [50 MB, 10 GB] (DESIGN §3). */
  cacheSize?: number;
  /** Local HTTP port; 0 picks a free one. */
  httpPort: number;
  /**
   * Interface of the local HTTP endpoint; must be a loopback address unless
   * `httpAllowNonLoopback` (the endpoint has no authentication). @default '127.0.0.1'
   */
  httpHost?: string;
  /** Serve the HTTP endpoint on a non-loopback `httpHost` anyway (see docs/hostile-input.md). @default false */
  httpAllowNonLoopback?: boolean;
  user: string;
  password: string;
  /** Port for peer connections; 0 picks a free one; null accepts none (connect-back still works one way). @default 0 */
  peerPort?: number | null;
  /** Interface peers connect to. @default '127.0.0.1' */
  peerHost?: string;
  /** Cap on bytes per second uploaded to each peer; 0 = none. @default 0 */
  maxUploadRate?: number;
  /** Port peers should dial, when a port forward or proxy stands in front of `peerPort`. @default the listen port */
  advertisePort?: number;
  /** A leecher (a phone on battery) downloads from peers but never serves, announces or gets queries (DESIGN §3). @default 'peer' */
  role?: Role;
  config: TunemeshConfig;
  log?: (line: string) => void;
}

/** A playlist with all its tracks in order. */
export interface PlaylistWithTracks {
  playlist: PlaylistInfo;
  tracks: TrackInfo[];
}

/** What a URI stands for, as an ordered track list (`GET /api/resolve`). */
export interface ResolvedUri {
  uri: string;
  kind: UriKind;
  id: string;
  /** The track's title, the album's title or the playlist's name. */
  name: string;
  tracks: TrackInfo[];
}

/** Thrown for a URI that is not a tunemesh track, album or playlist URI. */
export class InvalidUriError extends Error {
  override name = 'InvalidUriError';
}

/** Tracks asked for per `get-playlist` page (the AP may send fewer). */
const PLAYLIST_PAGE = 1000;
/** Times a playlist is read again when it changed between its pages. */
const PLAYLIST_READ_ATTEMPTS = 3;

/** How often a client sends its metric report to the AP, ms. */
const METRICS_INTERVAL_MS = 30_000;
/**
 * How often the daemon checks whether the next track of the queue is due for prefetching
 * (30 s before the current one ends); the 10 s AP fallback is timed by the scheduler itself.
 */
const PREFETCH_CHECK_MS = 250;

/** A track of the play queue as `/api/queue` shows it. */
export type QueuedTrack = Pick<TrackInfo, 'id' | 'uri' | 'title' | 'artist' | 'album' | 'durationMs' | 'bytes'>;

/** The play queue as `/api/queue` shows it. */
export interface QueueState {
  tracks: QueuedTrack[];
  /** Index of the current track; equal to the length once the queue has played out. */
  position: number;
  /** The track the player should play now, if any. */
  current: QueuedTrack | null;
  /** The track after it: prefetched from 30 s before the current one ends. */
  next: QueuedTrack | null;
  /** The next track's download, once started. */
  prefetch: { trackId: string; complete: boolean } | null;
  /** Prefetches started; plays of the next track (played on or skipped to); those whose start was already held. */
  stats: { prefetches: number; sequentialPlays: number; prefetchedStarts: number };
}

function queued(t: TrackInfo): QueuedTrack {
  return { id: t.id, uri: t.uri, title: t.title, artist: t.artist, album: t.album, durationMs: t.durationMs, bytes: t.bytes };
}

export class ClientDaemon {
  readonly ap: ApConnection;
  readonly fetcher: TrackFetcher;
  /** Chunk hashes and file keys from the AP (DESIGN §5), in memory only. */
  readonly content: ContentAccess;
  private rechecking = false;
  readonly plays: Plays;
  private http?: HttpApi;
  private readonly tracks = new Map<string, TrackInfo>();
  private readonly dataWaiters = new Map<string, Set<() => void>>();
  private readonly startedAt = Date.now();

  readonly lookup: PeerLookup;
  /** What the listener plays one after another; its next track is prefetched. */
  readonly queue: PlayQueue<TrackInfo>;
  /** The next track of the queue while it is being prefetched. */
  private prefetch?: TrackInfo;
  /** The chunks of the prefetched track the cache held before the prefetch: its play counts only those as the cache source. */
  private prefetchHeld?: Uint8Array;
  /** The track the listener skipped to: its play is sequential. */
  private skippedTo?: string;
  private readonly queueStats = { prefetches: 0, sequentialPlays: 0, prefetchedStarts: 0 };
  private prefetchTimer?: NodeJS.Timeout;
  /** Files announced to the tracker since start. */
  announced = 0;
  private metricsTimer?: NodeJS.Timeout;
  private ticketTimer?: NodeJS.Timeout;
  private stopped = false;

  private constructor(
    readonly opts: ClientOptions,
    readonly cache: DiskCache,
    /** This client's stable peer id (hex), from `<cacheDir>/peer-id`. */
    readonly peerId: string,
    readonly node: PeerNode,
    identity: TlsIdentity,
  ) {
    const addr = parseServerAddress(opts.server);
    this.ap = new ApConnection({
      host: addr.host,
      port: addr.port,
      fingerprint: addr.fingerprint,
      trustFile: path.join(opts.cacheDir, 'trusted-aps.json'),
      user: opts.user,
      password: opts.password,
      role: opts.role ?? 'peer',
      peerId,
      listenPort: node.advertisedPort,
      // Our peer identity is our client certificate on the AP link: the AP binds our tickets to it.
      identity,
      config: opts.config,
      log: opts.log,
    });
    // Peer tickets (DESIGN §5): asked for after each login and at half their life; the AP pushes
    // new ones (and its new keys) when it rotates its key.
    this.ap.on('ready', () => {
      if (this.ap.connects > 1) void this.refreshTicket();
    });
    this.ap.on('push', (msg) => {
      if (msg.type === 'peer-ticket') this.takeTicket(msg);
    });
    this.lookup = new PeerLookup(this.ap, node, opts.config, opts.log);
    this.content = new ContentAccess(this.ap, opts.config.chunkSize);
    // After a restart (and after a reconnect, if a recheck was cut short) the complete cached
    // files are checked against the AP's hashes before they are shared again (issue 6).
    this.ap.on('ready', () => void this.recheckCache());
    this.queue = new PlayQueue(opts.config);
    this.fetcher = new TrackFetcher(this.ap, cache, opts.config, {
      log: opts.log,
      peers: this.lookup,
      hashes: this.content,
      // The scheduler plans around where the listener is (the playback clocks of the plays), and
      // around when the next track of the queue starts.
      playback: (fileId, now) => this.plays.playbackOf(fileId, now) ?? this.prefetchPlayback(fileId, now),
      // Emergency mode (buffer under 3 s): stop uploading while it lasts (DESIGN §3).
      onEmergency: (on) => {
        for (const peerId of node.uploads.setEmergency(on)) node.refuseWaiting(peerId);
      },
      // A file downloaded for a play and verified complete: the tracker learns we have it.
      onComplete: (fileId) => {
        if (opts.role === 'leecher') return; // a leecher never announces (DESIGN §3)
        this.announced++;
        this.ap.send({ type: 'announce', fileId });
      },
    });
    this.plays = new Plays(cache, this.fetcher, systemClock, opts.config);
    cache.on('chunk', (fileId: string) => {
      const waiters = this.dataWaiters.get(fileId);
      if (!waiters) return;
      this.dataWaiters.delete(fileId);
      for (const w of waiters) w();
    });
  }

  get config(): TunemeshConfig {
    return this.opts.config;
  }

  /** The base URL of the local HTTP endpoint. */
  get url(): string {
    return this.http?.url ?? '';
  }

  /** Opens the cache, connects to the AP (resolves once logged in) and starts the HTTP endpoint. */
  static async start(opts: ClientOptions): Promise<ClientDaemon> {
    await mkdir(opts.cacheDir, { recursive: true });
    let limitBytes = opts.cacheSize;
    if (limitBytes === undefined) {
      const fs = await statfs(opts.cacheDir);
      limitBytes = defaultCacheSize(fs.bavail * fs.bsize, opts.config);
    }
    const peerId = await loadOrCreatePeerId(path.join(opts.cacheDir, 'peer-id'), opts.log);
    const cache = await DiskCache.open(path.join(opts.cacheDir, 'cache'), { limitBytes, chunkSize: opts.config.chunkSize, clock: { now: () => Date.now() } });
    const identity = await loadOrCreateIdentity(path.join(opts.cacheDir, 'tls'));
    const node = await PeerNode.start({
      peerId,
      role: opts.role ?? 'peer',
      identity,
      host: opts.peerHost ?? '127.0.0.1',
      port: opts.peerPort === null ? undefined : (opts.peerPort ?? 0),
      config: opts.config,
      cache,
      maxUploadRate: opts.maxUploadRate,
      advertisePort: opts.advertisePort,
      log: opts.log,
    });
    const daemon = new ClientDaemon(opts, cache, peerId, node, identity);
    try {
      await daemon.ap.start();
      await daemon.refreshTicket();
      daemon.metricsTimer = setInterval(() => daemon.ap.send({ type: 'metrics', report: daemon.metricsReport() }), METRICS_INTERVAL_MS);
      daemon.metricsTimer.unref();
      daemon.prefetchTimer = setInterval(() => daemon.checkPrefetch(), PREFETCH_CHECK_MS);
      daemon.prefetchTimer.unref();
      daemon.http = await startHttpApi(daemon, opts.httpHost ?? '127.0.0.1', opts.httpPort, { allowNonLoopback: opts.httpAllowNonLoopback ?? false });
    } catch (err) {
      await daemon.stop();
      throw err;
    }
    return daemon;
  }

  /** Checks the complete cached files not yet checked since start (one pass at a time). */
  private async recheckCache(): Promise<void> {
    if (this.rechecking || this.stopped || this.cache.uncheckedFiles().length === 0) return;
    this.rechecking = true;
    try {
      await this.fetcher.recheckCache(this.content);
    } finally {
      this.rechecking = false;
    }
  }

  /** A track's metadata, from memory, the cache, or the AP. */
  async trackInfo(id: string): Promise<TrackInfo> {
    const known = this.tracks.get(id) ?? this.cache.findMeta<TrackInfo>((m) => m?.id === id);
    if (known) {
      this.tracks.set(id, known);
      return known;
    }
    const answer = await this.ap.request({ type: 'get-track', trackId: id });
    if (answer.type !== 'track') throw new Error(`AP answered get-track with ${answer.type}`);
    this.tracks.set(id, answer.track);
    return answer.track;
  }

  async search(query: string, limit: number): Promise<SearchResult> {
    const answer = await this.ap.request({ type: 'search', query, limit });
    if (answer.type !== 'search-result') throw new Error(`AP answered search with ${answer.type}`);
    return { tracks: answer.tracks, artists: answer.artists, albums: answer.albums.map(withAlbumUri) };
  }

  /**
   * Asks the AP and checks the answer's type. `once`: for changes that must not happen twice
   * (adding or removing playlist entries, creating a playlist): sent on the current link only,
   * never re-sent on the next one after a drop, so a lost answer is an error, not a repeat.
   */
  private async ask<T extends MessageType>(msg: Message, expected: T, opts: { once?: boolean } = {}): Promise<MessageOf<T>> {
    const answer = opts.once ? await (await this.ap.ready()).request(msg, { timeoutMs: 15_000 }) : await this.ap.request(msg);
    if (answer.type !== expected) throw new Error(`AP answered ${msg.type} with ${answer.type}`);
    return answer as MessageOf<T>;
  }

  /** A page of the user's playlists, in creation order, and how many there are. */
  async playlists(offset: number, limit: number): Promise<{ playlists: PlaylistInfo[]; total: number }> {
    const a = await this.ask({ type: 'list-playlists', offset, limit }, 'playlists');
    return { playlists: a.playlists, total: a.total };
  }

  async createPlaylist(name: string): Promise<PlaylistInfo> {
    return (await this.ask({ type: 'create-playlist', name }, 'playlist-info', { once: true })).playlist;
  }

  /**
   * A playlist with all its tracks in order, read page by page; read again from the start when
   * it changed in between (its `updatedAt` moved), so the list is one version of it.
   */
  async playlist(id: string): Promise<PlaylistWithTracks> {
    for (let attempt = 1; ; attempt++) {
      const first = await this.ask({ type: 'get-playlist', playlistId: id, offset: 0, limit: PLAYLIST_PAGE }, 'playlist');
      const tracks = [...first.tracks];
      let changed = false;
      while (tracks.length < first.playlist.trackCount) {
        const page = await this.ask({ type: 'get-playlist', playlistId: id, offset: tracks.length, limit: PLAYLIST_PAGE }, 'playlist');
        if (page.playlist.updatedAt !== first.playlist.updatedAt || page.tracks.length === 0) {
          changed = true;
          break;
        }
        tracks.push(...page.tracks);
      }
      if (!changed || attempt >= PLAYLIST_READ_ATTEMPTS) return { playlist: first.playlist, tracks: tracks.slice(0, first.playlist.trackCount) };
    }
  }

  /** Inserts tracks before `position`, or appends them (null). */
  async addToPlaylist(id: string, trackIds: string[], position: number | null): Promise<PlaylistInfo> {
    return (await this.ask({ type: 'add-to-playlist', playlistId: id, trackIds, position }, 'playlist-info', { once: true })).playlist;
  }

  async removeFromPlaylist(id: string, position: number): Promise<PlaylistInfo> {
    return (await this.ask({ type: 'remove-from-playlist', playlistId: id, position }, 'playlist-info', { once: true })).playlist;
  }

  async renamePlaylist(id: string, name: string): Promise<PlaylistInfo> {
    return (await this.ask({ type: 'rename-playlist', playlistId: id, name }, 'playlist-info')).playlist;
  }

  async deletePlaylist(id: string): Promise<void> {
    await this.ask({ type: 'delete-playlist', playlistId: id }, 'ok', { once: true });
  }

  /**
   * The tracks a track, album or playlist URI stands for, in play order: the track alone, the
   * album's tracks by track number, the playlist's tracks in its order. Throws InvalidUriError
   * for anything else, and the AP's `not-found` for unknown ids.
   */
  async resolve(uri: string): Promise<ResolvedUri> {
    const parsed = parseUri(uri);
    if (!parsed) throw new InvalidUriError(`not a tunemesh track, album or playlist URI: ${JSON.stringify(uri.slice(0, 100))}`);
    const { kind, id } = parsed;
    const canonical = uri.trim();
    switch (kind) {
      case 'track': {
        const track = await this.trackInfo(id);
        return { uri: canonical, kind, id, name: track.title, tracks: [track] };
      }
      case 'album': {
        const a = await this.ask({ type: 'get-album', albumId: id }, 'album');
        return { uri: canonical, kind, id, name: a.album.title, tracks: a.tracks };
      }
      case 'playlist': {
        const p = await this.playlist(id);
        return { uri: canonical, kind, id, name: p.playlist.name, tracks: p.tracks };
      }
    }
  }

  /** Browse: artists (paged), an artist's albums, an album's tracks in order. */
  async browse(what: { artists: { offset: number; limit: number } } | { artist: string } | { album: string }): Promise<object> {
    const msg: Message =
      'artists' in what
        ? { type: 'list-artists', offset: what.artists.offset, limit: what.artists.limit }
        : 'artist' in what
          ? { type: 'get-artist', artistId: what.artist }
          : { type: 'get-album', albumId: what.album };
    const answer = await this.ap.request(msg);
    switch (answer.type) {
      case 'artists':
        return { artists: answer.artists };
      case 'artist':
        return { artist: answer.artist, albums: answer.albums.map(withAlbumUri) };
      case 'album':
        return { album: withAlbumUri(answer.album), tracks: answer.tracks };
      default:
        throw new Error(`AP answered ${msg.type} with ${answer.type}`);
    }
  }

  /**
   * Starts a play of `track` at byte `start` (0 = from the start) for a player, and makes sure
   * its audio is on the way. The queue follows: a play of its next track advances it (a
   * sequential play, whose start was prefetched), and the track the listener left stops
   * downloading. Returns the play's id.
   */
  async startPlay(track: TrackInfo, start: number): Promise<number> {
    const before = this.queue.current;
    const move = this.queue.played(track.id);
    if ((move === 'next' || move === 'jump') && before && before.id !== track.id) this.leave(before);
    const sequential = start === 0 && (move === 'next' || (move === 'current' && this.skippedTo === track.id));
    this.skippedTo = undefined;
    const heldBefore = this.prefetch?.id === track.id ? this.prefetchHeld : undefined;
    if (this.prefetch?.id === track.id) this.prefetch = undefined;
    if (sequential) {
      this.queueStats.sequentialPlays++;
      if (this.cache.contiguousEnd(track.fileId, 0) > 0) this.queueStats.prefetchedStarts++;
    }
    this.plays.endTrack(track.id);
    // Decoding resumes at the Ogg page holding the position, which may start a chunk earlier.
    const pageStart = Math.min(start, startByteFor(track, start > 0 ? timeForByte(track.seekIndex, start) : 0));
    await this.fetcher.want(track, Math.floor(pageStart / this.config.chunkSize));
    return this.plays.start(track, start, sequential ? 'sequential' : 'random', heldBefore);
  }

  /** Replaces the play queue with the tracks of `uris` (tracks, albums, playlists) and `trackIds`, in order. */
  async setQueue(refs: { uris?: string[]; trackIds?: string[] }, start: number): Promise<QueueState> {
    const tracks = await this.tracksOf(refs);
    if (tracks.length > 0 && start >= tracks.length) throw new RangeError(`start ${start} is past the ${tracks.length} queued tracks`);
    this.queue.set(tracks, tracks.length === 0 ? 0 : start);
    this.skippedTo = undefined;
    this.checkPrefetch();
    return this.queueState();
  }

  /** Adds tracks at the end of the play queue. */
  async appendToQueue(refs: { uris?: string[]; trackIds?: string[] }): Promise<QueueState> {
    const tracks = await this.tracksOf(refs);
    if (this.queue.tracks.length + tracks.length > LIMITS.playlistTracks) throw new RangeError(`the queue holds at most ${LIMITS.playlistTracks} tracks`);
    this.queue.append(tracks);
    this.checkPrefetch();
    return this.queueState();
  }

  /** The listener moves on to the next track of the queue (skip); the player plays `current` next. */
  skip(): QueueState {
    const left = this.queue.current;
    const now = this.queue.skip();
    if (left) this.leave(left);
    this.skippedTo = now?.id;
    this.checkPrefetch();
    return this.queueState();
  }

  clearQueue(): QueueState {
    this.queue.clear();
    this.skippedTo = undefined;
    this.checkPrefetch();
    return this.queueState();
  }

  queueState(): QueueState {
    const current = this.queue.current;
    const next = this.queue.upcoming;
    return {
      tracks: this.queue.tracks.map(queued),
      position: this.queue.position,
      current: current ? queued(current) : null,
      next: next ? queued(next) : null,
      prefetch: this.prefetch ? { trackId: this.prefetch.id, complete: this.cache.isComplete(this.prefetch.fileId) } : null,
      stats: { ...this.queueStats },
    };
  }

  private async tracksOf(refs: { uris?: string[]; trackIds?: string[] }): Promise<TrackInfo[]> {
    const tracks: TrackInfo[] = [];
    for (const uri of refs.uris ?? []) tracks.push(...(await this.resolve(uri)).tracks);
    for (const id of refs.trackIds ?? []) tracks.push(await this.trackInfo(id));
    if (tracks.length > LIMITS.playlistTracks) throw new RangeError(`the queue holds at most ${LIMITS.playlistTracks} tracks`);
    return tracks;
  }

  /** The listener left a track of the queue: its play ends and, unless complete, its download stops. */
  private leave(track: TrackInfo): void {
    this.plays.endTrack(track.id);
    if (!this.cache.isComplete(track.fileId)) this.fetcher.drop(track.fileId);
  }

  /** Audio left of the queue's current track while it is being played, ms. */
  private remainingOfCurrent(now: number): number | undefined {
    const current = this.queue.current;
    const at = current && this.plays.playbackOf(current.fileId, now);
    return at ? Math.max(0, current.durationMs - at.positionMs) : undefined;
  }

  /** For the scheduler: the next track of the queue starts when the current one ends. */
  private prefetchPlayback(fileId: string, now: number): { positionMs: number; playing: boolean; startsInMs: number } | undefined {
    if (this.prefetch?.fileId !== fileId) return undefined;
    // Once the current track has ended (or was never started), the next one is due now.
    return { positionMs: 0, playing: false, startsInMs: this.remainingOfCurrent(now) ?? 0 };
  }

  /**
   * From 30 s before the current track of the queue ends, downloads the next one (peers first;
   * the scheduler turns to the AP 10 s before if none is found); drops a prefetch the listener
   * moved away from.
   */
  private checkPrefetch(): void {
    const stale = this.prefetch;
    // A prefetch the listener skipped to stays until its play starts; others the queue left are dropped.
    if (stale && stale.id !== this.queue.upcoming?.id && stale.id !== this.queue.current?.id) {
      this.prefetch = undefined;
      if (!this.plays.playbackOf(stale.fileId, systemClock.now())) this.fetcher.drop(stale.fileId);
    }
    if (this.prefetch) return;
    const target = this.queue.prefetchTarget(this.remainingOfCurrent(systemClock.now()));
    if (!target || this.cache.isComplete(target.track.fileId)) return;
    this.prefetch = target.track;
    this.prefetchHeld = heldChunks(this.cache, target.track, this.config.chunkSize);
    this.queueStats.prefetches++;
    // Albums and playlists list tracks without their seek index; the download needs it.
    this.trackInfo(target.track.id)
      .then((track) => {
        if (this.prefetch?.id !== track.id) return;
        this.prefetch = track;
        return this.fetcher.want(track, 0);
      })
      .catch((err: Error) => this.opts.log?.(`client: prefetch of ${target.track.id}: ${err.message}`));
  }

  /** Resolves when a chunk of the file arrives, or after `timeoutMs` (rejects then). */
  waitForData(fileId: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let set = this.dataWaiters.get(fileId);
      if (!set) this.dataWaiters.set(fileId, (set = new Set()));
      const timer = setTimeout(() => {
        set.delete(done);
        reject(new Error(`no data for ${fileId} in ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      set.add(done);
    });
  }

  /** Asks the AP for a fresh peer ticket; on failure tries again in a while. */
  private async refreshTicket(): Promise<void> {
    clearTimeout(this.ticketTimer);
    try {
      const answer = await this.ap.request({ type: 'ticket-request' });
      if (answer.type !== 'peer-ticket') throw new Error(`AP answered ticket-request with ${answer.type}`);
      this.takeTicket(answer);
    } catch (err) {
      if (this.stopped) return;
      this.opts.log?.(`client: no peer ticket from the AP (${(err as Error).message}); peers will refuse us until we get one`);
      this.ticketTimer = setTimeout(() => void this.refreshTicket(), TICKET_RETRY_MS);
      this.ticketTimer.unref();
    }
  }

  /** A ticket from the AP (an answer or a push): use it, and ask for the next at half its life. */
  private takeTicket(msg: MessageOf<'peer-ticket'>): void {
    if (this.stopped) return;
    this.node.admission.update(msg.ticket, msg.keys);
    clearTimeout(this.ticketTimer);
    // Clamped: node fires a timeout above 2^31 - 1 ms at once, so an absurd ticket life (a hostile
    // or broken AP) would turn into a loop of ticket requests (found by test/fuzz/handlers.test.ts).
    this.ticketTimer = setTimeout(() => void this.refreshTicket(), Math.min(ticketRefreshDelay(msg.ticket), MAX_TIMER_MS));
    this.ticketTimer.unref();
  }

  /** Everything `/api/stats` reports. */
  stats(): object {
    const plays = this.plays.history;
    const latencyOf = (records: readonly PlayRecord[]) => {
      const ms = records.map((p) => p.latencyMs).filter((l): l is number => l !== null).sort((a, b) => a - b);
      const pick = (q: number) => (ms.length ? ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]! : null);
      return { started: ms.length, latencyMedianMs: pick(0.5), latencyP90Ms: pick(0.9) };
    };
    const all = latencyOf(plays);
    const stuttered = plays.filter((p) => p.stutters > 0).length;
    return {
      uptimeMs: Date.now() - this.startedAt,
      ap: { connected: this.ap.connected, connects: this.ap.connects },
      // Downloaded bytes by source, and played bytes by source.
      bytes: { server: this.fetcher.received.server, peer: this.fetcher.received.peer, cache: this.plays.played.cache },
      played: { ...this.plays.played },
      playback: {
        plays: plays.length,
        ...all,
        playsWithStutter: stuttered,
        stutterRate: plays.length ? stuttered / plays.length : 0,
        // Picks and seeks vs next tracks of the queue (their start prefetched).
        random: { plays: plays.filter((p) => p.access === 'random').length, ...latencyOf(plays.filter((p) => p.access === 'random')) },
        sequential: { plays: plays.filter((p) => p.access === 'sequential').length, ...latencyOf(plays.filter((p) => p.access === 'sequential')) },
      },
      plays: plays.slice(-50),
      cache: this.cache.stats(),
      downloads: this.fetcher.active,
      neighbours: this.node.neighbours.count,
      peers: {
        peerId: this.peerId,
        listenPort: this.node.listenPort,
        advertisedPort: this.node.advertisedPort,
        reachable: this.lookup.reachable,
        connected: this.node.connectedPeers.length,
        announced: this.announced,
        uploadedBytes: this.node.bytesOut,
        downloadedBytes: this.node.bytesIn,
        uploadsActive: this.node.uploads.active,
        refusedBusy: this.node.refusedBusy,
        tracker: { queries: this.lookup.stats.trackerQueries, found: this.lookup.stats.trackerFound },
        // Overlay searches: found at distance 1, at distance 2 (counted as P2P'11 does), not found.
        search: this.node.search.stats(),
        // Searches from neighbours over their rate limit (dropped), and flooders disconnected (issue 6).
        searchLimit: { dropped: this.node.searchLimit.dropped, disconnected: this.node.searchLimit.disconnected },
        // Connections dropped before their hello: over the pending bound, or silent past the hello timeout.
        unadmitted: this.node.unadmitted,
        // Peers disconnected for holding an upload slot without reading (uploadStallTimeoutMs).
        stalledUploads: this.node.stalledUploads,
        connectBacks: { asked: this.lookup.stats.connectBacksAsked, succeeded: this.lookup.stats.connectBacksSucceeded },
        // Peer admission (DESIGN §5): our ticket's key and expiry, the AP keys we accept, refusals by reason.
        admission: {
          ticketKeyId: this.node.admission.ticket?.keyId ?? null,
          ticketExpiresAt: this.node.admission.ticket?.expiresAt ?? null,
          keys: this.node.admission.keys,
          refused: { ...this.node.admission.refused },
        },
      },
      // Requests to the AP by reason: first seconds, emergency, no peer, prefetch fallback, slow peer.
      apRequests: this.fetcher.apRequests,
      // Integrity (issue 6): bad peer chunks, peers banned for them, cached files rechecked after a restart.
      integrity: { ...this.fetcher.integrity, shareableFiles: this.cache.stats().completeFiles - this.cache.uncheckedFiles().length },
      queue: { length: this.queue.tracks.length, position: this.queue.position, ...this.queueStats },
      emergency: this.fetcher.emergency,
    };
  }

  /** What the client reports to the AP every {@link METRICS_INTERVAL_MS}. */
  metricsReport(): MetricsReport {
    const plays = this.plays.history;
    const latencies = plays.map((p) => p.latencyMs).filter((l): l is number => l !== null).sort((a, b) => a - b);
    const search = this.node.search.stats();
    return {
      plays: plays.length,
      playsWithStutter: plays.filter((p) => p.stutters > 0).length,
      latencyMedianUs: latencies.length ? Math.round(latencies[Math.floor(latencies.length / 2)]! * 1000) : 0,
      bytesServer: this.plays.played.server,
      bytesPeer: this.plays.played.peer,
      bytesCache: this.plays.played.cache,
      searches: search.searches,
      searchFoundAt1: search.foundAt1,
      searchFoundAt2: search.foundAt2,
      searchNotFound: search.notFound,
      trackerQueries: this.lookup.stats.trackerQueries,
      trackerFound: this.lookup.stats.trackerFound,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.ticketTimer);
    clearInterval(this.metricsTimer);
    clearInterval(this.prefetchTimer);
    this.plays.stop();
    this.fetcher.stop();
    this.ap.close();
    await this.node.stop();
    await this.http?.close();
    await this.cache.close();
  }
}

/** An album with its URI, as the HTTP API shows albums. */
function withAlbumUri<A extends { id: string }>(album: A): A & { uri: string } {
  return { ...album, uri: albumUri(album.id) };
}

/** Longest delay node's timers take (2^31 - 1 ms, ~24.8 days); longer ones fire at once. */
const MAX_TIMER_MS = 0x7fffffff;

/** How soon to ask again for a peer ticket the AP did not give, ms. */
const TICKET_RETRY_MS = 30_000;

/** Bytes of randomness in a peer id (its hex is twice as long). */
const PEER_ID_BYTES = 16;
const PEER_ID = /^[0-9a-f]{1,64}$/;

/**
 * This client's peer id: read from `file`, or created there (16 random bytes, hex) on first
 * start. Written atomically and never replaced once there: a temporary file is fsynced and
 * hard-linked into place, which fails if another process created the file first (then its id
 * is used). A file that holds no valid id is replaced with a new one.
 */
export async function loadOrCreatePeerId(file: string, log?: (line: string) => void): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    let existing: string | undefined;
    try {
      existing = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (existing !== undefined) {
      if (PEER_ID.test(existing)) return existing;
      if (attempt > 0) throw new Error(`${file} holds no valid peer id`);
      log?.(`client: ${file} holds no valid peer id; creating a new one`);
      await unlink(file).catch(() => {});
    }
    const id = randomBytes(PEER_ID_BYTES).toString('hex');
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(`${id}\n`, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await hardLink(tmp, file);
      return id;
    } catch (err) {
      // EEXIST: another process won the race; read its id on the next turn.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw err;
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }
}

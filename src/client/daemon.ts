/**
 * The client daemon (DESIGN §1): one persistent link to the AP, the disk cache, the downloads,
 * the plays with their playback clocks, and the local HTTP endpoint a player uses.
 */
import { mkdir, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { TunemeshConfig } from '../core/config.ts';
import { defaultCacheSize } from '../core/cache-policy.ts';
import type { TrackInfo } from '../core/track.ts';
import type { SearchResult } from '../server/catalog.ts';
import type { Message } from '../protocol/messages.ts';
import { parseServerAddress } from '../net/identity.ts';
import { ApConnection } from './ap-connection.ts';
import { DiskCache } from './disk-cache.ts';
import { TrackFetcher } from './track-fetcher.ts';
import { Plays } from './plays.ts';
import { startHttpApi, type HttpApi } from './http-api.ts';
import { systemClock } from './system-clock.ts';

/** Options of {@link ClientDaemon.start}. */
export interface ClientOptions {
  /** The AP, `host:port#fingerprint` (pinned) or `host:port` (trust on first use). */
  server: string;
  /** Cache directory: cached audio, the AP's trusted key. */
  cacheDir: string;
  /** Cache limit in bytes; default 10 % of free disk within [50 MB, 10 GB] (DESIGN §3). */
  cacheSize?: number;
  /** Local HTTP port; 0 picks a free one. */
  httpPort: number;
  /** @default '127.0.0.1' */
  httpHost?: string;
  user: string;
  password: string;
  config: TunemeshConfig;
  log?: (line: string) => void;
}

export class ClientDaemon {
  readonly ap: ApConnection;
  readonly fetcher: TrackFetcher;
  readonly plays: Plays;
  private http?: HttpApi;
  private readonly tracks = new Map<string, TrackInfo>();
  private readonly dataWaiters = new Map<string, Set<() => void>>();
  private readonly startedAt = Date.now();

  private constructor(
    readonly opts: ClientOptions,
    readonly cache: DiskCache,
  ) {
    const addr = parseServerAddress(opts.server);
    this.ap = new ApConnection({
      host: addr.host,
      port: addr.port,
      fingerprint: addr.fingerprint,
      trustFile: path.join(opts.cacheDir, 'trusted-aps.json'),
      user: opts.user,
      password: opts.password,
      role: 'peer',
      config: opts.config,
      log: opts.log,
    });
    this.fetcher = new TrackFetcher(this.ap, cache, opts.config.chunkSize, { log: opts.log });
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
    const cache = await DiskCache.open(path.join(opts.cacheDir, 'cache'), { limitBytes, chunkSize: opts.config.chunkSize, clock: { now: () => Date.now() } });
    const daemon = new ClientDaemon(opts, cache);
    try {
      await daemon.ap.start();
      daemon.http = await startHttpApi(daemon, opts.httpHost ?? '127.0.0.1', opts.httpPort);
    } catch (err) {
      await daemon.stop();
      throw err;
    }
    return daemon;
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
    return { tracks: answer.tracks, artists: answer.artists, albums: answer.albums };
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
        return { artist: answer.artist, albums: answer.albums };
      case 'album':
        return { album: answer.album, tracks: answer.tracks };
      default:
        throw new Error(`AP answered ${msg.type} with ${answer.type}`);
    }
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

  /** Everything `/api/stats` reports. */
  stats(): object {
    const plays = this.plays.history;
    const latencies = plays.map((p) => p.latencyMs).filter((l): l is number => l !== null).sort((a, b) => a - b);
    const pick = (q: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! : null);
    const stuttered = plays.filter((p) => p.stutters > 0).length;
    return {
      uptimeMs: Date.now() - this.startedAt,
      ap: { connected: this.ap.connected, connects: this.ap.connects },
      // Downloaded bytes by source, and played bytes by source.
      bytes: { server: this.ap.chunkBytes, peer: 0, cache: this.plays.played.cache },
      played: { ...this.plays.played },
      playback: {
        plays: plays.length,
        started: latencies.length,
        latencyMedianMs: pick(0.5),
        latencyP90Ms: pick(0.9),
        playsWithStutter: stuttered,
        stutterRate: plays.length ? stuttered / plays.length : 0,
      },
      plays: plays.slice(-50),
      cache: this.cache.stats(),
      downloads: this.fetcher.active,
      neighbours: 0,
    };
  }

  async stop(): Promise<void> {
    this.plays.stop();
    this.fetcher.stop();
    this.ap.close();
    await this.http?.close();
    await this.cache.close();
  }
}

/**
 * The client's local HTTP endpoint on 127.0.0.1: the audio of a track with Range support,
 * streamed while it arrives (so a browser `<audio>`, mpv or ffplay can play and seek), search,
 * browse, track metadata, the user's playlists, URI resolution, stats, and a small player page.
 * Every route is one row of {@link ROUTES}.
 */
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { ClientDaemon } from './daemon.ts';
import type { TrackInfo } from '../core/track.ts';
import { cryptAt } from '../core/content-cipher.ts';
import { LIMITS } from '../protocol/codec.ts';

/** A request the endpoint refuses, with its HTTP status. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Bytes read from the cache and written per step: large enough for throughput, small enough to start at once. */
const STEP = 256 * 1024;
/** Give up on a response when no data arrives for this long. */
const STALL_TIMEOUT_MS = 60_000;
/** Largest JSON request body: 10 000 track ids take about 160 kB. */
const MAX_BODY_BYTES = 1024 * 1024;
/** Most playlists in one `GET /api/playlists` page. */
const MAX_PLAYLISTS_PAGE = 500;

const playerPage = fileURLToPath(new URL('./web/player.html', import.meta.url));

export interface HttpApi {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** The HTTP status for a failed request: its own, or one for the AP's error code. */
function statusOf(err: Error): number {
  if (err instanceof HttpError) return err.status;
  if (err.name === 'InvalidUriError' || err instanceof RangeError) return 400;
  if (err.name === 'RemoteError') {
    const code = (err as { code?: string }).code;
    if (code === 'not-found') return 404;
    if (code === 'bad-request') return 400;
  }
  return 502;
}

/** Options of {@link startHttpApi}. */
export interface HttpApiOptions {
  /**
   * Listen on a host that is not a loopback address. Refused without it: the endpoint has no
   * authentication (anyone who can reach it plays, searches and edits the user's playlists as
   * the user), so it is meant for players on this machine only. @default false
   */
  allowNonLoopback?: boolean;
}

/** Thrown when the endpoint is asked to listen on a non-loopback address without `allowNonLoopback`. */
export class NonLoopbackHostError extends Error {
  override name = 'NonLoopbackHostError';
}

/** Whether `host` is a loopback address or name (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = /^(?:::ffff:)?127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return v4 !== null && v4.slice(1).every((o) => Number(o) <= 255);
}

export async function startHttpApi(daemon: ClientDaemon, host: string, port: number, options: HttpApiOptions = {}): Promise<HttpApi> {
  if (!isLoopbackHost(host) && !options.allowNonLoopback) {
    throw new NonLoopbackHostError(`refusing to serve the local HTTP endpoint on ${host}: it has no authentication, so it listens on loopback only (force with allowNonLoopback)`);
  }
  const page = await readFile(playerPage);
  const server = http.createServer((req, res) => {
    route({ daemon, page, bindHost: host }, req, res).catch((err: Error) => {
      if (!res.headersSent) {
        sendJson(res, statusOf(err), { error: err.message });
      } else {
        res.destroy(err);
      }
    });
  });
  // Keep-alive sockets of players would otherwise hold `close()` open.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    url: `http://${host}:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// routes

interface Server {
  daemon: ClientDaemon;
  page: Buffer;
  /** The interface the endpoint listens on. */
  bindHost: string;
}

/** One request being answered: the path's captured parts are `params`. */
interface Call {
  daemon: ClientDaemon;
  page: Buffer;
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  params: string[];
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

interface Route {
  method: Method;
  /** Matched against the path with runs of '/' collapsed and no trailing '/'. */
  path: RegExp;
  /** Query parameters the route reads; any other, or one given twice, is a 400. @default none */
  query?: string[];
  handle(call: Call): Promise<void> | void;
}

const ROUTES: Route[] = [
  { method: 'GET', path: /^\/(?:index\.html)?$/, handle: ({ page, req, res }) => sendPage(page, req, res) },
  { method: 'GET', path: /^\/audio\/([^/]+)$/, handle: ({ daemon, params, req, res }) => serveAudio(daemon, validId(params[0]!, 'track'), req, res) },
  { method: 'GET', path: /^\/api\/stats$/, handle: ({ daemon, res }) => sendJson(res, 200, daemon.stats()) },
  {
    method: 'GET',
    path: /^\/api\/search$/,
    query: ['q', 'limit'],
    async handle({ daemon, url, res }) {
      const q = url.searchParams.get('q') ?? '';
      if (q.length > 200) throw new HttpError(400, 'query too long (at most 200 characters)');
      if (/\p{Cc}/u.test(q) || !(q as string & { isWellFormed(): boolean }).isWellFormed()) throw new HttpError(400, 'q must be text without control characters');
      const limit = intParam(url, 'limit', 20, 1, 100);
      sendJson(res, 200, await daemon.search(q, limit));
    },
  },
  {
    method: 'GET',
    path: /^\/api\/artists$/,
    query: ['offset', 'limit'],
    async handle({ daemon, url, res }) {
      const offset = intParam(url, 'offset', 0, 0, 0xffffffff);
      const limit = intParam(url, 'limit', 100, 1, 500);
      sendJson(res, 200, await daemon.browse({ artists: { offset, limit } }));
    },
  },
  { method: 'GET', path: /^\/api\/artists\/([^/]+)$/, handle: async ({ daemon, params, res }) => sendJson(res, 200, await daemon.browse({ artist: validId(params[0]!, 'artist') })) },
  { method: 'GET', path: /^\/api\/albums\/([^/]+)$/, handle: async ({ daemon, params, res }) => sendJson(res, 200, await daemon.browse({ album: validId(params[0]!, 'album') })) },
  { method: 'GET', path: /^\/api\/tracks\/([^/]+)$/, handle: async ({ daemon, params, res }) => sendJson(res, 200, await daemon.trackInfo(validId(params[0]!, 'track'))) },
  {
    method: 'GET',
    path: /^\/api\/plays\/([^/]+)$/,
    handle({ daemon, params, res }) {
      if (!/^\d{1,9}$/.test(params[0]!)) throw new HttpError(400, 'a play id is a non-negative integer');
      const record = daemon.plays.record(Number(params[0]));
      if (!record) throw new HttpError(404, 'no such play');
      sendJson(res, 200, record);
    },
  },
  // playlists of the logged-in user (they live at the AP)
  {
    method: 'GET',
    path: /^\/api\/playlists$/,
    query: ['offset', 'limit'],
    async handle({ daemon, url, res }) {
      const offset = intParam(url, 'offset', 0, 0, 0xffffffff);
      const limit = intParam(url, 'limit', MAX_PLAYLISTS_PAGE, 1, MAX_PLAYLISTS_PAGE);
      sendJson(res, 200, { ...(await daemon.playlists(offset, limit)), offset });
    },
  },
  {
    method: 'POST',
    path: /^\/api\/playlists$/,
    async handle({ daemon, req, res }) {
      const body = await readJsonBody(req, ['name']);
      const playlist = await daemon.createPlaylist(playlistName(body.name));
      res.setHeader('location', `/api/playlists/${playlist.id}`);
      sendJson(res, 201, { playlist });
    },
  },
  { method: 'GET', path: /^\/api\/playlists\/([^/]+)$/, handle: async ({ daemon, params, res }) => sendJson(res, 200, await daemon.playlist(validId(params[0]!, 'playlist'))) },
  {
    method: 'PATCH',
    path: /^\/api\/playlists\/([^/]+)$/,
    async handle({ daemon, params, req, res }) {
      const id = validId(params[0]!, 'playlist');
      const body = await readJsonBody(req, ['name']);
      sendJson(res, 200, { playlist: await daemon.renamePlaylist(id, playlistName(body.name)) });
    },
  },
  {
    method: 'DELETE',
    path: /^\/api\/playlists\/([^/]+)$/,
    async handle({ daemon, params, res }) {
      const id = validId(params[0]!, 'playlist');
      await daemon.deletePlaylist(id);
      sendJson(res, 200, { deleted: id });
    },
  },
  {
    method: 'POST',
    path: /^\/api\/playlists\/([^/]+)\/tracks$/,
    async handle({ daemon, params, req, res }) {
      const id = validId(params[0]!, 'playlist');
      const body = await readJsonBody(req, ['trackIds', 'position']);
      const trackIds = body.trackIds;
      if (!Array.isArray(trackIds) || trackIds.length === 0 || trackIds.length > LIMITS.playlistTracks) {
        throw new HttpError(400, `trackIds must be an array of 1 to ${LIMITS.playlistTracks} track ids`);
      }
      trackIds.forEach((t, i) => {
        if (typeof t !== 'string' || !ID.test(t)) throw new HttpError(400, `trackIds[${i}] is not a track id`);
      });
      const position = body.position ?? null;
      if (position !== null && !(Number.isSafeInteger(position) && (position as number) >= 0 && (position as number) <= LIMITS.playlistTracks)) {
        throw new HttpError(400, `position must be an integer from 0 to ${LIMITS.playlistTracks}, or absent to append`);
      }
      sendJson(res, 200, { playlist: await daemon.addToPlaylist(id, trackIds as string[], position as number | null) });
    },
  },
  {
    method: 'DELETE',
    path: /^\/api\/playlists\/([^/]+)\/tracks\/([^/]+)$/,
    async handle({ daemon, params, res }) {
      const id = validId(params[0]!, 'playlist');
      const position = /^\d{1,5}$/.test(params[1]!) ? Number(params[1]) : NaN;
      if (!(position < LIMITS.playlistTracks)) throw new HttpError(400, `the position must be an integer from 0 to ${LIMITS.playlistTracks - 1}`);
      sendJson(res, 200, { playlist: await daemon.removeFromPlaylist(id, position) });
    },
  },
  // the play queue: its next track is prefetched (DESIGN §3, sequential playback)
  { method: 'GET', path: /^\/api\/queue$/, handle: ({ daemon, res }) => sendJson(res, 200, daemon.queueState()) },
  {
    method: 'POST',
    path: /^\/api\/queue$/,
    async handle({ daemon, req, res }) {
      const body = await readJsonBody(req, ['uris', 'trackIds', 'start']);
      const start = body.start ?? 0;
      if (!(Number.isSafeInteger(start) && (start as number) >= 0 && (start as number) < LIMITS.playlistTracks)) {
        throw new HttpError(400, `start must be an integer from 0 to ${LIMITS.playlistTracks - 1}`);
      }
      sendJson(res, 200, await daemon.setQueue(trackRefs(body), start as number));
    },
  },
  {
    method: 'POST',
    path: /^\/api\/queue\/tracks$/,
    async handle({ daemon, req, res }) {
      sendJson(res, 200, await daemon.appendToQueue(trackRefs(await readJsonBody(req, ['uris', 'trackIds']))));
    },
  },
  { method: 'POST', path: /^\/api\/queue\/next$/, handle: ({ daemon, res }) => sendJson(res, 200, daemon.skip()) },
  { method: 'DELETE', path: /^\/api\/queue$/, handle: ({ daemon, res }) => sendJson(res, 200, daemon.clearQueue()) },
  {
    method: 'GET',
    path: /^\/api\/resolve$/,
    query: ['uri'],
    async handle({ daemon, url, res }) {
      const uri = url.searchParams.get('uri');
      if (uri === null || uri.length === 0) throw new HttpError(400, 'uri is required (a tunemesh track, album or playlist URI)');
      if (uri.length > 200) throw new HttpError(400, 'uri too long');
      sendJson(res, 200, await daemon.resolve(uri));
    },
  },
];

async function route(server: Server, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  // Every route, GETs and the audio included: a page elsewhere must not read (or play) anything.
  checkSameMachine(server, req);
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    throw new HttpError(400, 'bad request target');
  }
  const path = '/' + url.pathname.split('/').filter(Boolean).join('/');
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const matching = ROUTES.map((r) => ({ r, m: r.path.exec(path) })).filter((x) => x.m !== null);
  if (matching.length === 0) throw new HttpError(404, `nothing at ${url.pathname}`);
  const hit = matching.find((x) => x.r.method === method);
  if (!hit) {
    const allowed = [...new Set(matching.flatMap((x) => (x.r.method === 'GET' ? ['GET', 'HEAD'] : [x.r.method])))];
    res.setHeader('allow', allowed.join(', '));
    throw new HttpError(405, `${req.method} is not allowed here; allowed: ${allowed.join(', ')}`);
  }
  checkQuery(url, hit.r.query ?? []);
  await hit.r.handle({ daemon: server.daemon, page: server.page, req, res, url, params: hit.m!.slice(1) });
}

/**
 * Every request must come from this machine, not from a web page the user happens to visit:
 *
 * - the Host must be a loopback name or address (or the address the endpoint listens on), which
 *   defeats DNS rebinding (a name of the attacker's that resolves to 127.0.0.1 arrives with that
 *   name as Host);
 * - a browser's Origin, when sent, must be this endpoint's own (`http://` + Host): a cross-origin
 *   `fetch` is refused before anything runs, so it can neither read nor cause anything;
 * - a browser's `Sec-Fetch-Site`, when sent, must be `same-origin` or `none` (typed in by the
 *   user): a page on another origin gets nothing even where browsers send no Origin (`<audio>`,
 *   `<img>`, `<script>` and no-cors requests). Players other than browsers send neither header.
 *
 * No response carries CORS headers, so no other origin is ever allowed to read one; bodies are
 * JSON only, so a cross-site form cannot post one without a preflight this endpoint never grants.
 */
function checkSameMachine(server: Server, req: http.IncomingMessage): void {
  const host = req.headers.host;
  if (host === undefined || host.length === 0 || host.length > 300) throw new HttpError(403, 'a Host header naming this machine is required');
  let hostname: string;
  try {
    const parsed = new URL(`http://${host}`);
    if (parsed.username || parsed.password || parsed.pathname !== '/' || parsed.search || parsed.hash) throw new Error('not a host');
    hostname = parsed.hostname;
  } catch {
    throw new HttpError(403, 'bad Host header');
  }
  const bind = server.bindHost.includes(':') ? `[${server.bindHost}]` : server.bindHost;
  if (!isLoopbackHost(hostname) && hostname !== bind) throw new HttpError(403, 'requests are accepted only from this machine (Host is not a loopback address)');
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`) throw new HttpError(403, 'cross-origin requests are not accepted (Origin)');
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, `cross-origin requests are not accepted (Sec-Fetch-Site: ${site})`);
}

/** Refuses query parameters the route does not read, and any given twice. */
function checkQuery(url: URL, allowed: readonly string[]): void {
  const seen = new Set<string>();
  for (const key of url.searchParams.keys()) {
    if (!allowed.includes(key)) {
      throw new HttpError(400, allowed.length === 0 ? `no query parameters here (got ${JSON.stringify(key.slice(0, 40))})` : `unknown query parameter ${JSON.stringify(key.slice(0, 40))}; expected ${allowed.join(', ')}`);
    }
    if (seen.has(key)) throw new HttpError(400, `query parameter ${key} given twice`);
    seen.add(key);
  }
}

/** Reads a JSON object body of at most {@link MAX_BODY_BYTES} with only the `allowed` keys. */
async function readJsonBody(req: http.IncomingMessage, allowed: string[]): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new HttpError(415, 'the body must be JSON (content-type: application/json)');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    parts.push(chunk as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'the body must be a JSON object');
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new HttpError(400, `unknown field ${JSON.stringify(unknown[0])}; expected ${allowed.join(', ')}`);
  return body as Record<string, unknown>;
}

/** `uris` (tunemesh track, album or playlist URIs) and `trackIds` of a queue request, checked. */
function trackRefs(body: Record<string, unknown>): { uris: string[]; trackIds: string[] } {
  const list = (name: string, valid: (v: string) => boolean): string[] => {
    const v = body[name] ?? [];
    if (!Array.isArray(v) || v.length > LIMITS.playlistTracks) throw new HttpError(400, `${name} must be an array of at most ${LIMITS.playlistTracks} entries`);
    v.forEach((x, i) => {
      if (typeof x !== 'string' || !valid(x)) throw new HttpError(400, `${name}[${i}] is not valid`);
    });
    return v as string[];
  };
  const uris = list('uris', (u) => u.length > 0 && u.length <= 200);
  const trackIds = list('trackIds', (t) => ID.test(t));
  if (uris.length + trackIds.length === 0) throw new HttpError(400, 'give uris or trackIds (at least one)');
  return { uris, trackIds };
}

/**
 * A playlist name from a request: a string of 1 to 200 bytes once runs of whitespace are one
 * space and the ends trimmed (as the AP stores it), without control characters.
 */
function playlistName(name: unknown): string {
  if (typeof name !== 'string') throw new HttpError(400, 'name must be a string');
  const trimmed = name.replace(/\s+/gu, ' ').trim();
  if (trimmed.length === 0) throw new HttpError(400, 'name must not be empty');
  if (Buffer.byteLength(trimmed) > LIMITS.playlistNameBytes) throw new HttpError(400, `name is longer than ${LIMITS.playlistNameBytes} bytes`);
  if (/\p{Cc}/u.test(trimmed)) throw new HttpError(400, 'name must not hold control characters');
  if (!(trimmed as string & { isWellFormed(): boolean }).isWellFormed()) throw new HttpError(400, 'name is not valid Unicode');
  return trimmed;
}

/** An optional integer query parameter in [min, max]; anything else is a 400. */
function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const v = url.searchParams.get(name);
  if (v === null) return fallback;
  const n = /^\d{1,10}$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) throw new HttpError(400, `${name} must be an integer from ${min} to ${max}`);
  return n;
}

function sendPage(page: Buffer, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': page.length });
  res.end(req.method === 'HEAD' ? undefined : page);
}

function validId(id: string, what: string): string {
  if (!ID.test(id)) throw new HttpError(400, `bad ${what} id`);
  return id;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': data.length, 'cache-control': 'no-store' });
  res.end(data);
}

/** A parsed `Range: bytes=` header: inclusive first and last byte. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) throw new HttpError(416, 'unsupported range');
  if (m[1] === '') {
    const suffix = Math.min(Number(m[2]), size);
    if (suffix === 0) throw new HttpError(416, 'empty range');
    return { start: size - suffix, end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) throw new HttpError(416, 'range not satisfiable');
  return { start, end };
}

/**
 * A request near the end of the file that is not a continuation is a player probing for the
 * duration, not a listener seeking: it is served but is not a play.
 */
function isProbe(track: TrackInfo, start: number): boolean {
  return start > 0 && track.bytes - start <= Math.max(64 * 1024, track.bytes * 0.02);
}

async function serveAudio(daemon: ClientDaemon, id: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const track = await daemon.trackInfo(id);
  let range: { start: number; end: number } | undefined;
  try {
    range = parseRange(req.headers.range, track.bytes);
  } catch (err) {
    res.writeHead(416, { 'content-range': `bytes */${track.bytes}` });
    res.end();
    void err;
    return;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? track.bytes - 1;
  const headers: http.OutgoingHttpHeaders = {
    'content-type': track.codec === 'opus' ? 'audio/ogg; codecs=opus' : 'audio/ogg',
    'accept-ranges': 'bytes',
    'content-length': end - start + 1,
    'cache-control': 'no-store',
  };
  if (range) headers['content-range'] = `bytes ${start}-${end}/${track.bytes}`;
  if (req.method === 'HEAD') {
    res.writeHead(range ? 206 : 200, headers);
    res.end();
    return;
  }

  const fileId = track.fileId;
  // The cache holds ciphertext (DESIGN §5); the key, from the AP and kept in memory only, decrypts
  // each piece on its way out. AES-CTR keeps offsets, so the byte ranges are the plaintext's.
  const key = await daemon.content.key(fileId);
  const probe = isProbe(track, start);
  let playId: number | undefined;
  if (probe) {
    await daemon.fetcher.fetchRange(track, start, end + 1);
  } else {
    playId = await daemon.startPlay(track, start);
    headers['x-tunemesh-play'] = String(playId);
  }
  daemon.cache.touch(fileId);
  daemon.cache.pin(fileId);
  // Headers go out at once, before any audio is here: an open-ended request is answered now.
  res.writeHead(range ? 206 : 200, headers);
  res.flushHeaders();
  let closed = false;
  res.on('close', () => (closed = true));
  try {
    let pos = start;
    while (pos <= end && !closed) {
      const avail = daemon.cache.contiguousEnd(fileId, pos);
      if (avail <= pos) {
        await daemon.waitForData(fileId, STALL_TIMEOUT_MS);
        continue;
      }
      const upto = Math.min(avail, end + 1, pos + STEP);
      const buf = cryptAt(key, pos, await daemon.cache.readRange(fileId, pos, upto));
      if (closed) break;
      if (playId !== undefined) daemon.plays.delivered(playId, pos, upto);
      if (!res.write(buf)) await drainOrClose(res);
      pos = upto;
    }
    res.end();
  } finally {
    daemon.cache.unpin(fileId);
  }
}

/** Resolves when the response can take more data or has closed. */
function drainOrClose(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * The client's local HTTP endpoint on 127.0.0.1: the audio of a track with Range support,
 * streamed while it arrives (so a browser `<audio>`, mpv or ffplay can play and seek), search,
 * track metadata, stats, and a small player page.
 */
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { ClientDaemon } from './daemon.ts';
import type { TrackInfo } from '../core/track.ts';
import { startByteFor } from '../core/playback-clock.ts';
import { timeForByte } from '../audio/ogg.ts';

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

const playerPage = fileURLToPath(new URL('./web/player.html', import.meta.url));

export interface HttpApi {
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startHttpApi(daemon: ClientDaemon, host: string, port: number): Promise<HttpApi> {
  const page = await readFile(playerPage);
  const server = http.createServer((req, res) => {
    route(daemon, page, req, res).catch((err: Error) => {
      const status = err instanceof HttpError ? err.status : err.name === 'RemoteError' && (err as { code?: string }).code === 'not-found' ? 404 : 502;
      if (!res.headersSent) {
        sendJson(res, status, { error: err.message });
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

async function route(daemon: ClientDaemon, page: Buffer, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'only GET and HEAD');
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts.length === 0 || url.pathname === '/index.html') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': page.length });
    res.end(req.method === 'HEAD' ? undefined : page);
    return;
  }
  if (parts[0] === 'audio' && parts.length === 2) return serveAudio(daemon, validId(parts[1]!), req, res);
  if (parts[0] === 'api') {
    switch (parts[1]) {
      case 'stats':
        return sendJson(res, 200, daemon.stats());
      case 'search': {
        const q = url.searchParams.get('q') ?? '';
        if (q.length > 200) throw new HttpError(400, 'query too long');
        const limit = Math.min(100, Math.max(1, Number(url.searchParams.get('limit') ?? 20) || 20));
        return sendJson(res, 200, await daemon.search(q, limit));
      }
      case 'artists':
        if (parts.length === 2) {
          const offset = Math.max(0, Number(url.searchParams.get('offset') ?? 0) || 0);
          const limit = Math.min(500, Math.max(1, Number(url.searchParams.get('limit') ?? 100) || 100));
          return sendJson(res, 200, await daemon.browse({ artists: { offset, limit } }));
        }
        if (parts.length === 3) return sendJson(res, 200, await daemon.browse({ artist: validId(parts[2]!) }));
        break;
      case 'albums':
        if (parts.length === 3) return sendJson(res, 200, await daemon.browse({ album: validId(parts[2]!) }));
        break;
      case 'tracks':
        if (parts.length === 3) return sendJson(res, 200, await daemon.trackInfo(validId(parts[2]!)));
        break;
      case 'plays':
        if (parts.length === 3) {
          const record = daemon.plays.record(Number(parts[2]));
          if (!record) throw new HttpError(404, 'no such play');
          return sendJson(res, 200, record);
        }
        break;
    }
  }
  throw new HttpError(404, `nothing at ${url.pathname}`);
}

function validId(id: string): string {
  if (!ID.test(id)) throw new HttpError(400, 'bad track id');
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
  const probe = isProbe(track, start);
  let playId: number | undefined;
  if (probe) {
    await daemon.fetcher.fetchRange(track, start, end + 1);
  } else {
    daemon.plays.endTrack(track.id);
    // Decoding resumes at the Ogg page holding the position, which may start a chunk earlier.
    const pageStart = Math.min(start, startByteFor(track, start > 0 ? timeForByte(track.seekIndex, start) : 0));
    await daemon.fetcher.want(track, Math.floor(pageStart / daemon.config.chunkSize));
    playId = daemon.plays.start(track, start);
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
      const buf = await daemon.cache.readRange(fileId, pos, upto);
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

/**
 * Streaming under a listening workload on loopback with emulated round-trip times: a real AP
 * process and N real client daemon processes (as users run them, from `bin/tunemesh.js`), each
 * client behind its own TCP delay proxy to the AP (50 ms RTT by default) and with its peer port
 * behind its own delay proxy (RTT drawn from 20–100 ms), uploads capped per peer like an ADSL
 * uplink. After an unmeasured warm-up (each client downloads a few popular tracks, as a
 * long-running service has warm caches, and the tracker learns the holders), every client runs
 * seeded listening sessions in real time, in parallel, until the scripted number of plays has
 * been played: an album in order (from its first track or from a random one, each next track
 * played on or, with a small probability, skipped partway), or a single track (a random access)
 * listened to for 10–30 s or to its end: half of these replay one of the listener's own tracks,
 * the others are picked by Zipf popularity.
 *
 * Prints playback latency median / p75 / p90 / p99, the share of plays with stutter and the
 * share of played bytes from the AP / peers / cache beside the published figures (DESIGN §3:
 * 265 ms median, under 1 % stutter, 8.8 % / 35.8 % / 55.4 %), the same split by access (random /
 * sequential), AP requests by reason, tracker and overlay-search success and the play queue's
 * prefetch counters; then the same seeded workload again in "AP only" mode (a fresh AP with
 * `--no-tracker`, clients with `--no-listen`, fresh caches, same warm-up) as the baseline of the
 * same run. Never fails on time.
 *
 * Run: npx tsx bench/streaming.ts [--plays 200] [--clients 50] [--seed 1] [--upload-rate 1000000]
 *      [--ap-rtt 50] [--peer-rtt-min 20] [--peer-rtt-max 100] [--warm 8] [--spread 15] [--no-baseline] [--dump plays.json]
 * (`npm run build` first: the processes run the compiled CLI.)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeFile } from 'node:fs/promises';
import { writeDemoLibrary } from '../src/audio/synth.ts';
import { openDataDir } from '../src/server/data-dir.ts';
import { ingestPaths } from '../src/server/ingest.ts';
import { seededRng, randomInt, type Rng } from '../src/core/clock.ts';
import type { TrackInfo } from '../src/core/track.ts';
import { parseServerAddress } from '../src/net/identity.ts';
import { playTrack, type PlayReport } from '../src/cli/commands/play.ts';
import { requestJson } from '../src/cli/client-api.ts';
import { startDelayProxy, type DelayProxy } from '../test/helpers/delay-proxy.ts';
import { median, percentile, printTable, rssMb, isMain, numberArg, CLI, ROOT } from './stats.ts';

/** The published figures (DESIGN §3, P2P'10). */
const PUBLISHED = { latencyMedianMs: 265, stutterPct: 1, serverPct: 8.8, peerPct: 35.8, cachePct: 55.4 };
/** The AP's published share of the data that did not come from the cache: 8.8 / (8.8 + 35.8). */
const PUBLISHED_AP_OF_NON_CACHE = (100 * PUBLISHED.serverPct) / (PUBLISHED.serverPct + PUBLISHED.peerPct);

/**
 * Probability that a session is an album (else a single track picked at random): 0.7 gives about
 * 60 % of plays in predictable order, as published (61 %).
 */
const ALBUM_SESSION = 0.7;
/**
 * Probability that a single pick replays one of the listener's own tracks (its warm favourites
 * and what it played before) rather than a track drawn from the catalog's popularity: listeners
 * replay a lot (P2P'10: 55.4 % of played data came from the local cache).
 */
const REPLAY = 0.5;
/** Probability that an album session starts at its first track (else at a random one). */
const ALBUM_FROM_START = 0.7;
/** Probability that a track of an album is skipped partway (published: 92 % of next tracks are played). */
const SKIP_IN_ALBUM = 0.08;
/** Probability that a single pick is listened to its end (else for 10–30 s). */
const SINGLE_TO_END = 0.3;
/** A full listen that has not ended this long after the track's duration is skipped (a guard). */
const END_GUARD_MS = 30_000;
/** Beyond the listening time, a play that has not returned after this long is given up. */
const PLAY_TIMEOUT_SLACK_MS = 60_000;
/** Clients started at once. */
const START_CONCURRENCY = 4;
/** The measured phase of one run stops starting plays after this long. */
const PHASE_DEADLINE_MS = 12 * 60_000;

// ---------------------------------------------------------------------------------------------
// Child processes, with a start timeout and their stderr kept (not mixed into the bench output)

interface Proc {
  pid: number;
  /** Its first stdout line. */
  line: string;
  /** Stderr lines so far. */
  readonly log: string[];
  stop(): Promise<void>;
}

const running = new Set<Proc>();

/** Starts `tunemesh <args>` from the compiled CLI; resolves on its first stdout line. */
function startCli(args: string[], timeoutMs = 60_000): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const p = spawn(CLI, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const log: string[] = [];
    let exited = false;
    const exitedP = new Promise<void>((r) => p.once('exit', () => ((exited = true), r())));
    createInterface({ input: p.stderr! }).on('line', (l) => {
      if (log.length < 20_000) log.push(l);
    });
    const out = createInterface({ input: p.stdout! });
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`tunemesh ${args[0]} did not start in ${timeoutMs} ms; stderr: ${log.slice(-5).join(' | ')}`));
    }, timeoutMs);
    p.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    p.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tunemesh ${args[0]} exited with ${code} before starting; stderr: ${log.slice(-5).join(' | ')}`));
    });
    let first = true;
    out.on('line', (line) => {
      if (!first) return;
      first = false;
      clearTimeout(timer);
      const proc: Proc = {
        pid: p.pid!,
        line,
        log,
        async stop() {
          running.delete(proc);
          if (exited) return;
          p.kill('SIGTERM');
          const killer = setTimeout(() => p.kill('SIGKILL'), 5_000);
          await exitedP;
          clearTimeout(killer);
        },
      };
      running.add(proc);
      resolve(proc);
    });
  });
}

/** Kills whatever is still running when the bench is interrupted. */
function killAllNow(): void {
  for (const p of running) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {}
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves with `p`, or rejects after `ms`. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function getJsonT<T>(url: string, p: string, ms = 10_000): Promise<T> {
  const res = await fetch(new URL(p, url), { signal: AbortSignal.timeout(ms) });
  if (!res.ok) throw new Error(`${p}: ${res.status}`);
  return (await res.json()) as T;
}

/** A free TCP port on 127.0.0.1 (listen on 0, close). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r, j) => s.once('error', j).listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Runs `fn` over `items` with at most `n` at once. */
async function pool<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** Numeric leaves of `a` minus those of `b` (same shape; missing leaves count as 0). */
function diff(a: unknown, b: unknown): unknown {
  if (typeof a === 'number') return a - (typeof b === 'number' ? b : 0);
  if (a && typeof a === 'object' && !Array.isArray(a)) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a)) o[k] = diff(v, (b as Record<string, unknown> | undefined)?.[k]);
    return o;
  }
  return undefined;
}

/** Adds the numeric leaves of `x` into `sum`. */
function addInto(sum: Record<string, unknown>, x: unknown): void {
  if (!x || typeof x !== 'object') return;
  for (const [k, v] of Object.entries(x)) {
    if (typeof v === 'number') sum[k] = ((sum[k] as number | undefined) ?? 0) + v;
    else if (v && typeof v === 'object' && !Array.isArray(v)) addInto((sum[k] ??= {}) as Record<string, unknown>, v);
  }
}

function num(o: unknown, ...keys: string[]): number {
  let v: unknown = o;
  for (const k of keys) v = (v as Record<string, unknown> | undefined)?.[k];
  return typeof v === 'number' ? v : 0;
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
const pct = (a: number, b: number): number => (b > 0 ? (100 * a) / b : NaN);

// ---------------------------------------------------------------------------------------------
// The workload: Zipf popularity and seeded listening sessions

/** Samples indices 0..n-1 with weight 1/(rank+1) over a seeded random ranking. */
class Zipf {
  private readonly cum: number[] = [];
  constructor(
    private readonly order: number[],
    private readonly rng: Rng,
  ) {
    let s = 0;
    for (let r = 0; r < order.length; r++) this.cum.push((s += 1 / (r + 1)));
  }
  next(): number {
    const x = this.rng.next() * this.cum[this.cum.length - 1]!;
    let r = 0;
    while (this.cum[r]! < x) r++;
    return this.order[r]!;
  }
}

function shuffled(n: number, rng: Rng): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** One planned play: the track and when the listener moves on (undefined: listens to its end). */
interface PlannedPlay {
  track: TrackInfo;
  skipAfterMs?: number;
}

/** A session: the play queue it sets and the plays in order. */
interface Session {
  kind: 'album' | 'single';
  queue: TrackInfo[];
  start: number;
  plays: PlannedPlay[];
}

interface ClientScript {
  /** Tracks downloaded in the warm-up. */
  warm: TrackInfo[];
  sessions: Session[];
  /**
   * Delay before the first session, ms: listeners do not all press play at the same instant (40
   * random accesses within 3 s, each with its lookups and peer connections, load two cores enough
   * to add a few hundred ms to the latency of the P2P run).
   */
  startDelayMs: number;
  /** One-way delay of its peer proxy, ms. */
  peerDelayMs: number;
}

function planScripts(tracks: TrackInfo[], albums: TrackInfo[][], o: Options): ClientScript[] {
  const world = seededRng(o.seed);
  const trackOrder = shuffled(tracks.length, world);
  const albumOrder = shuffled(albums.length, world);
  const scripts: ClientScript[] = [];
  for (let c = 0; c < o.clients; c++) {
    const rng = seededRng((o.seed * 1_000_003 + c * 7919 + 17) >>> 0);
    const trackPop = new Zipf(trackOrder, rng);
    const albumPop = new Zipf(albumOrder, rng);
    const quota = Math.floor(o.plays / o.clients) + (c < o.plays % o.clients ? 1 : 0);
    const warm = new Set<TrackInfo>();
    for (let tries = 0; warm.size < Math.min(o.warm, tracks.length) && tries < 1000; tries++) warm.add(tracks[trackPop.next()]!);
    const sessions: Session[] = [];
    /** The listener's own tracks: favourites in its cache and everything it played. */
    const history = new Set<TrackInfo>(warm);
    let planned = 0;
    while (planned < quota) {
      if (rng.next() < ALBUM_SESSION) {
        const album = albums[albumPop.next()]!;
        const start = rng.next() < ALBUM_FROM_START ? 0 : randomInt(rng, album.length);
        const plays: PlannedPlay[] = [];
        for (let i = start; i < album.length && planned < quota; i++, planned++) {
          const t = album[i]!;
          history.add(t);
          // A skip partway: after 10 % to 90 % of the track.
          plays.push(rng.next() < SKIP_IN_ALBUM ? { track: t, skipAfterMs: Math.round(t.durationMs * (0.1 + 0.8 * rng.next())) } : { track: t });
        }
        sessions.push({ kind: 'album', queue: album, start, plays });
      } else {
        const own = [...history];
        const t = own.length > 0 && rng.next() < REPLAY ? own[randomInt(rng, own.length)]! : tracks[trackPop.next()]!;
        history.add(t);
        const listen = rng.next() < SINGLE_TO_END ? undefined : 10_000 + rng.next() * 20_000;
        sessions.push({ kind: 'single', queue: [t], start: 0, plays: [listen === undefined || listen >= t.durationMs ? { track: t } : { track: t, skipAfterMs: Math.round(listen) }] });
        planned++;
      }
    }
    const rtt = o.peerRttMin + rng.next() * (o.peerRttMax - o.peerRttMin);
    scripts.push({ warm: [...warm], sessions, startDelayMs: Math.round(rng.next() * o.spreadS * 1000), peerDelayMs: rtt / 2 });
  }
  return scripts;
}

// ---------------------------------------------------------------------------------------------
// One run: an AP, N clients, warm-up, measured sessions

interface Options {
  plays: number;
  clients: number;
  seed: number;
  uploadRate: number;
  apRtt: number;
  peerRttMin: number;
  peerRttMax: number;
  warm: number;
  /** Clients start their first session at a uniformly random time within this many seconds. */
  spreadS: number;
  baseline: boolean;
}

/** A measured play: what was planned and what the client reported. */
interface Outcome {
  client: number;
  kind: Session['kind'];
  planned: PlannedPlay;
  /** The track was in this client's cache before (warm-up or an earlier play of this run). */
  heldBefore: boolean;
  report?: PlayReport;
  error?: string;
  /** Wall time of the play, from the request until the listener moved on, ms. */
  elapsedMs?: number;
  /** When the play was requested, ms into the measured phase. */
  atMs?: number;
}

interface RunResult {
  mode: 'p2p' | 'ap-only';
  outcomes: Outcome[];
  /** Sums over clients of `/api/stats` deltas over the measured phase. */
  stats: Record<string, unknown>;
  /** Sums over clients of `/api/queue` `.stats` deltas. */
  queue: Record<string, unknown>;
  startMs: number;
  warmMs: number;
  measuredMs: number;
  warmAnnounced: { wanted: number; announced: number };
  clientRssMb: number[];
  /** Each client's neighbours (open peer links) at the end of the measured phase. */
  neighbours: number[];
  apRssMb: number;
  logLines: Map<string, number>;
  /** Event-loop delay of this (the bench's) process during the measured phase, ms: it runs every delay proxy. */
  loopDelayMs: { p50: number; p99: number; max: number };
}

interface ClientHandle {
  proc: Proc;
  url: string;
}

async function runOnce(mode: RunResult['mode'], dir: string, dataPath: string, scripts: ScriptsBundle, o: Options): Promise<RunResult> {
  const procs: Proc[] = [];
  const proxies: DelayProxy[] = [];
  const t0 = performance.now();
  try {
    const ap = await startCli(['server', '--data', dataPath, '--port', '0', '--json', ...(mode === 'ap-only' ? ['--no-tracker'] : [])]);
    procs.push(ap);
    const apAddr = parseServerAddress(JSON.parse(ap.line).address as string);

    const clients = await pool(scripts.clients, START_CONCURRENCY, async (script, i): Promise<ClientHandle> => {
      for (let attempt = 1; ; attempt++) {
        const apProxy = await startDelayProxy({ target: { host: apAddr.host, port: apAddr.port }, delayMs: o.apRtt / 2 });
        proxies.push(apProxy);
        const args = ['client', '--server', `127.0.0.1:${apProxy.port}#${apAddr.fingerprint}`, '--cache', path.join(dir, mode, `client-${i}`), '--http-port', '0'];
        if (mode === 'p2p') {
          const peerPort = await freePort();
          const peerProxy = await startDelayProxy({ target: { host: '127.0.0.1', port: peerPort }, delayMs: script.peerDelayMs });
          proxies.push(peerProxy);
          args.push('--peer-port', String(peerPort), '--advertise-port', String(peerProxy.port), '--max-upload-rate', String(o.uploadRate));
        } else {
          args.push('--no-listen');
        }
        args.push('--user', 'bench', '--password', 'pw', '--json');
        try {
          const proc = await startCli(args);
          procs.push(proc);
          return { proc, url: JSON.parse(proc.line).url as string };
        } catch (err) {
          // A free port taken between the probe and the client's listen: try another.
          if (attempt >= 3) throw err;
        }
      }
    });
    const startMs = performance.now() - t0;

    // Warm-up (not measured): each client downloads its few popular tracks, read as fast as they come.
    const tw = performance.now();
    await Promise.all(
      clients.map(async (c, i) => {
        for (const t of scripts.clients[i]!.warm) {
          try {
            const res = await fetch(`${c.url}/audio/${t.id}`, { signal: AbortSignal.timeout(120_000) });
            await res.arrayBuffer();
          } catch (err) {
            console.log(`warm-up: client ${i} track ${t.id}: ${(err as Error).message}`);
          }
        }
      }),
    );
    // The tracker knows the holders once each client has announced its warm tracks.
    let announced = 0;
    const wanted = scripts.clients.reduce((s, c) => s + c.warm.length, 0);
    for (const deadline = performance.now() + 30_000; performance.now() < deadline; ) {
      const counts = await Promise.all(clients.map((c) => getJsonT<{ peers: { announced: number } }>(c.url, '/api/stats').then((s) => s.peers.announced, () => 0)));
      announced = counts.reduce((s, n) => s + n, 0);
      if (counts.every((n, i) => n >= scripts.clients[i]!.warm.length)) break;
      await sleep(250);
    }
    await sleep(1_000);
    const warmMs = performance.now() - tw;

    const before = await Promise.all(clients.map((c) => getJsonT<object>(c.url, '/api/stats')));
    const queueBefore = await Promise.all(clients.map((c) => getJsonT<{ stats: object }>(c.url, '/api/queue').then((q) => q.stats)));

    // Measured phase: every client plays its sessions in real time, all in parallel.
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const tm = performance.now();
    const phaseDeadline = tm + PHASE_DEADLINE_MS;
    const outcomes: Outcome[] = [];
    let done = 0;
    const total = scripts.clients.reduce((s, c) => s + c.sessions.reduce((n, x) => n + x.plays.length, 0), 0);
    const progress = setInterval(() => console.log(`  ${mode}: ${done}/${total} plays done, ${((performance.now() - tm) / 1000).toFixed(0)} s`), 30_000);
    try {
      await Promise.all(
        clients.map(async (c, i) => {
          const script = scripts.clients[i]!;
          const held = new Set(script.warm.map((t) => t.id));
          await sleep(script.startDelayMs);
          for (const session of script.sessions) {
            if (performance.now() > phaseDeadline) break;
            try {
              await withTimeout(requestJson(c.url, 'POST', '/api/queue', { trackIds: session.queue.map((t) => t.id), start: session.start }), 15_000, 'POST /api/queue');
            } catch (err) {
              console.log(`client ${i}: setting the queue: ${(err as Error).message}`);
            }
            for (const planned of session.plays) {
              if (performance.now() > phaseDeadline) break;
              const outcome: Outcome = { client: i, kind: session.kind, planned, heldBefore: held.has(planned.track.id) };
              const listenMs = planned.skipAfterMs ?? planned.track.durationMs + END_GUARD_MS;
              const tp = performance.now();
              outcome.atMs = Math.round(tp - tm);
              const play = playTrack(c.url, planned.track, undefined, { skipAfterMs: listenMs });
              try {
                outcome.report = await withTimeout(play, listenMs + PLAY_TIMEOUT_SLACK_MS, `play of ${planned.track.id}`);
                outcome.elapsedMs = performance.now() - tp;
              } catch (err) {
                play.catch(() => {}); // a play given up on finishes (or fails) on its own
                outcome.error = (err as Error).message;
              }
              held.add(planned.track.id);
              outcomes.push(outcome);
              done++;
            }
          }
        }),
      );
    } finally {
      clearInterval(progress);
    }
    const measuredMs = performance.now() - tm;
    loop.disable();
    const loopDelayMs = { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };

    const after = await Promise.all(clients.map((c) => getJsonT<object>(c.url, '/api/stats')));
    const queueAfter = await Promise.all(clients.map((c) => getJsonT<{ stats: object }>(c.url, '/api/queue').then((q) => q.stats)));
    const stats: Record<string, unknown> = {};
    const queue: Record<string, unknown> = {};
    for (let i = 0; i < clients.length; i++) {
      addInto(stats, diff(after[i], before[i]));
      addInto(queue, diff(queueAfter[i], queueBefore[i]));
    }
    const neighbours = after.map((a) => num(a, 'neighbours'));
    const clientRssMb = await Promise.all(clients.map((c) => rssMb(c.proc.pid).catch(() => NaN)));
    const apRssMb = await rssMb(ap.pid).catch(() => NaN);

    // What the daemons logged, by kind (numbers and ids blanked out).
    const logLines = new Map<string, number>();
    for (const p of procs) {
      for (const l of p.log) {
        const key = l
          .replace(/[0-9a-f]{16,}/g, '<id>')
          .replace(/\d+/g, '#')
          .slice(0, 110);
        logLines.set(key, (logLines.get(key) ?? 0) + 1);
      }
    }
    return { mode, outcomes, stats, queue, startMs, warmMs, measuredMs, warmAnnounced: { wanted, announced }, clientRssMb, neighbours, apRssMb, logLines, loopDelayMs };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(proxies.map((p) => p.close()));
  }
}

interface ScriptsBundle {
  clients: ClientScript[];
}

// ---------------------------------------------------------------------------------------------
// Figures of a run

interface Figures {
  plays: number;
  failed: number;
  neverStarted: number;
  latency: number[];
  byAccess: Record<'random' | 'sequential', { latency: number[]; plays: number; stuttered: number }>;
  stuttered: number;
  stutterPct: number;
  bytes: { server: number; peer: number; cache: number; total: number };
  share: { server: number; peer: number; cache: number };
  /** By where the bytes came from: downloads of the measured phase, and replays of tracks the client held before. */
  origin: { server: number; peer: number; cache: number; total: number };
  originShare: { server: number; peer: number; cache: number };
  /** The AP's share of the bytes that did not come from the cache, by origin, %. */
  apOfNonCache: number;
  skipped: number;
}

function figuresOf(r: RunResult): Figures {
  const ok = r.outcomes.filter((x) => x.report);
  const reports = ok.map((x) => x.report!);
  const latency = reports.map((p) => p.latencyMs).filter((l): l is number => l !== null);
  const byAccess: Figures['byAccess'] = { random: { latency: [], plays: 0, stuttered: 0 }, sequential: { latency: [], plays: 0, stuttered: 0 } };
  for (const p of reports) {
    const b = byAccess[p.access] ?? byAccess.random;
    b.plays++;
    if (p.latencyMs !== null) b.latency.push(p.latencyMs);
    if (p.stutters > 0) b.stuttered++;
  }
  const stuttered = reports.filter((p) => p.stutters > 0).length;
  const bytes = { server: 0, peer: 0, cache: 0, total: 0 };
  for (const p of reports) for (const k of ['server', 'peer', 'cache'] as const) bytes[k] += p.sources[k];
  bytes.total = bytes.server + bytes.peer + bytes.cache;
  // By origin: what the clients downloaded during the measured phase (AP / peers), plus the cache
  // bytes of plays of tracks the client held before (warm-up or an earlier play). A check on the
  // clients' own attribution, which has to tell a prefetched next track from a cached one.
  const replayCache = ok.filter((x) => x.heldBefore).reduce((s, x) => s + x.report!.sources.cache, 0);
  const origin = { server: num(r.stats, 'bytes', 'server'), peer: num(r.stats, 'bytes', 'peer'), cache: replayCache, total: 0 };
  origin.total = origin.server + origin.peer + origin.cache;
  return {
    plays: reports.length,
    failed: r.outcomes.length - reports.length,
    neverStarted: reports.filter((p) => p.latencyMs === null).length,
    latency,
    byAccess,
    stuttered,
    stutterPct: pct(stuttered, reports.length),
    bytes,
    share: { server: pct(bytes.server, bytes.total), peer: pct(bytes.peer, bytes.total), cache: pct(bytes.cache, bytes.total) },
    origin,
    originShare: { server: pct(origin.server, origin.total), peer: pct(origin.peer, origin.total), cache: pct(origin.cache, origin.total) },
    apOfNonCache: pct(origin.server, origin.server + origin.peer),
    skipped: ok.filter((x) => x.planned.skipAfterMs !== undefined).length,
  };
}

const q = (xs: number[], p: number): number => (xs.length ? percentile(xs, p) : NaN);

function printRun(r: RunResult, f: Figures, o: Options, b?: { r: RunResult; f: Figures }): void {
  const label = r.mode === 'p2p' ? 'P2P' : 'AP only';
  const bf = b?.f;
  const yes = (v: boolean | undefined): string => (v === undefined ? '' : v ? 'yes' : 'no');
  const ratio = (a: number, c: number | undefined): string => (c === undefined ? '' : f2(a / c));
  const row = (name: string, v: number, published: string, beats: boolean | undefined, bv: number | undefined) => [name, f1(v), published, yes(beats), ...(bf ? [bv === undefined ? '' : f1(bv), ratio(v, bv)] : [])];
  const lat = f.latency;
  const blat = bf?.latency;
  printTable(
    `Streaming, ${f.plays} plays by ${o.clients} clients on loopback (AP RTT ${o.apRtt} ms, peer RTT ${o.peerRttMin}–${o.peerRttMax} ms, upload cap ${o.uploadRate} B/s per peer): ${label} beside the published figures`,
    ['figure', label, 'published', 'beats it', ...(bf ? ['AP only (baseline)', `${label} / AP only`] : [])],
    [
      row('latency median (ms)', median(lat), String(PUBLISHED.latencyMedianMs), median(lat) < PUBLISHED.latencyMedianMs, blat && median(blat)),
      row('latency p75 (ms)', q(lat, 0.75), '', undefined, blat && q(blat, 0.75)),
      row('latency p90 (ms)', q(lat, 0.9), '', undefined, blat && q(blat, 0.9)),
      row('latency p99 (ms)', q(lat, 0.99), '', undefined, blat && q(blat, 0.99)),
      row('plays with stutter (%)', f.stutterPct, `< ${PUBLISHED.stutterPct}`, f.stutterPct < PUBLISHED.stutterPct, bf?.stutterPct),
      row('played bytes from the AP (%, as the client counts)', f.share.server, String(PUBLISHED.serverPct), f.share.server < PUBLISHED.serverPct, bf?.share.server),
      row('played bytes from peers (%, as the client counts)', f.share.peer, String(PUBLISHED.peerPct), undefined, bf?.share.peer),
      row('played bytes from the cache (%, as the client counts)', f.share.cache, String(PUBLISHED.cachePct), undefined, bf?.share.cache),
      row('bytes from the AP (%, by origin)', f.originShare.server, String(PUBLISHED.serverPct), f.originShare.server < PUBLISHED.serverPct, bf?.originShare.server),
      row('bytes from peers (%, by origin)', f.originShare.peer, String(PUBLISHED.peerPct), undefined, bf?.originShare.peer),
      row('bytes from the cache (%, by origin: replays)', f.originShare.cache, String(PUBLISHED.cachePct), undefined, bf?.originShare.cache),
      row('AP share of the bytes not from the cache (%, by origin)', f.apOfNonCache, f1(PUBLISHED_AP_OF_NON_CACHE), f.apOfNonCache < PUBLISHED_AP_OF_NON_CACHE, bf?.apOfNonCache),
    ],
  );
  console.log(
    '"as the client counts": played bytes (delivered to the player) by source, summed over the play records (a chunk the cache held\n' +
      'before the play, or before its prefetch began, counts as cache). "by origin": bytes the clients downloaded from the AP / peers\n' +
      'during the measured phase (prefetched and skipped-over data included) plus the cache bytes of plays of tracks the client held\n' +
      `before. Not from the cache: the AP's share of the rest (published ${f1(PUBLISHED_AP_OF_NON_CACHE)} %), which depends less on how warm the caches are.`,
  );

  const accessRows: (string | number)[][] = [];
  for (const [name, fig] of [[label, f], ...(bf ? [['AP only', bf] as const] : [])] as [string, Figures][]) {
    for (const access of ['random', 'sequential'] as const) {
      const a = fig.byAccess[access];
      accessRows.push([name, access, a.plays, f1(pct(a.plays, fig.plays)), f1(median(a.latency)), f1(q(a.latency, 0.75)), f1(q(a.latency, 0.9)), f1(q(a.latency, 0.99)), a.stuttered]);
    }
  }
  printTable('Latency by access (ms): random = a pick or the first track of a session; sequential = the next track of the queue', ['run', 'access', 'plays', '% of plays', 'median', 'p75', 'p90', 'p99', 'with stutter'], accessRows);

  const reasons = ['first-seconds', 'emergency', 'no-peer', 'prefetch-fallback', 'slow-peer'];
  printTable(
    'AP requests by reason, summed over the clients (measured phase)',
    ['reason', `${label} requests`, `${label} chunks`, ...(b ? ['AP only requests', 'AP only chunks'] : [])],
    reasons.map((k) => [k, num(r.stats, 'apRequests', 'requests', k), num(r.stats, 'apRequests', 'chunks', k), ...(b ? [num(b.r.stats, 'apRequests', 'requests', k), num(b.r.stats, 'apRequests', 'chunks', k)] : [])]),
  );

  const s = r.stats;
  const searches = num(s, 'peers', 'search', 'searches');
  const tq = num(s, 'peers', 'tracker', 'queries');
  printTable(`Finding peers, ${label} run (measured phase, summed over the clients)`, ['what', 'count', '%', 'published %'], [
    ['tracker queries', tq, '', ''],
    ['  found a peer', num(s, 'peers', 'tracker', 'found'), f1(pct(num(s, 'peers', 'tracker', 'found'), tq)), '84.1'],
    ['overlay searches', searches, '', ''],
    ['  found at distance 1', num(s, 'peers', 'search', 'foundAt1'), f1(pct(num(s, 'peers', 'search', 'foundAt1'), searches)), '60.4'],
    ['  found at distance 2', num(s, 'peers', 'search', 'foundAt2'), f1(pct(num(s, 'peers', 'search', 'foundAt2'), searches)), '77.4'],
    ['  found (any)', searches - num(s, 'peers', 'search', 'notFound'), f1(pct(searches - num(s, 'peers', 'search', 'notFound'), searches)), '81.8'],
    ['connect-backs asked / succeeded', `${num(s, 'peers', 'connectBacks', 'asked')} / ${num(s, 'peers', 'connectBacks', 'succeeded')}`, '', ''],
    ['files announced', num(s, 'peers', 'announced'), '', ''],
    ['bytes uploaded to peers (MB)', f1(num(s, 'peers', 'uploadedBytes') / 1e6), '', ''],
    ['peer requests refused busy', num(s, 'peers', 'refusedBusy'), '', ''],
  ]);

  const qs = r.queue;
  printTable(`Play queue, summed over the clients`, ['counter', label, ...(b ? ['AP only'] : [])], [
    ['prefetches started', num(qs, 'prefetches'), ...(b ? [num(b.r.queue, 'prefetches')] : [])],
    ['sequential plays', num(qs, 'sequentialPlays'), ...(b ? [num(b.r.queue, 'sequentialPlays')] : [])],
    ['  whose start was already held', num(qs, 'prefetchedStarts'), ...(b ? [num(b.r.queue, 'prefetchedStarts')] : [])],
  ]);

  const stutteredPlays = r.outcomes.filter((x) => x.report && x.report.stutters > 0);
  if (stutteredPlays.length > 0) {
    printTable(
      `${label}: plays with stutter (first 10)`,
      ['client', 'track', 'access', 'latency ms', 'stutters', 'state', 'server/peer/cache kB'],
      stutteredPlays.slice(0, 10).map((x) => {
        const p = x.report!;
        return [x.client, p.track.id, p.access, f1(p.latencyMs ?? NaN), p.stutters, p.state, `${(p.sources.server / 1e3).toFixed(0)}/${(p.sources.peer / 1e3).toFixed(0)}/${(p.sources.cache / 1e3).toFixed(0)}`];
      }),
    );
  }
  const slow = r.outcomes.filter((x) => x.report && (x.report.latencyMs ?? Infinity) > 1_000);
  if (slow.length > 0) {
    printTable(
      `${label}: plays that took over 1 s to start (first 10)`,
      ['client', 'track', 'access', 'latency ms', 'state', 'server/peer/cache kB'],
      slow.slice(0, 10).map((x) => {
        const p = x.report!;
        return [x.client, p.track.id, p.access, f1(p.latencyMs ?? NaN), p.state, `${(p.sources.server / 1e3).toFixed(0)}/${(p.sources.peer / 1e3).toFixed(0)}/${(p.sources.cache / 1e3).toFixed(0)}`];
      }),
    );
  }
  printSummary(label, r, f);
  if (b) printSummary('AP only', b.r, b.f);
}

/** One line of counts per run, failures, and the daemons' most frequent log lines. */
function printSummary(label: string, r: RunResult, f: Figures): void {
  const errors = r.outcomes.filter((x) => x.error);
  for (const e of errors.slice(0, 5)) console.log(`${label}: client ${e.client} play of ${e.planned.track.id} failed: ${e.error}`);
  // A full listen cut by the guard took the track's duration plus the guard.
  const guarded = r.outcomes.filter((x) => x.report && x.planned.skipAfterMs === undefined && (x.elapsedMs ?? 0) >= x.planned.track.durationMs + END_GUARD_MS).length;
  const rss = r.clientRssMb.filter(Number.isFinite);
  console.log(
    `${label}: ${f.plays} plays (${f.failed} failed, ${f.neverStarted} never started, ${f.skipped} left partway as planned, ${guarded} full listens cut by the ${END_GUARD_MS / 1000} s guard); ` +
      `played ${(f.bytes.total / 1e6).toFixed(1)} MB; client start ${(r.startMs / 1000).toFixed(1)} s, warm-up ${(r.warmMs / 1000).toFixed(1)} s ` +
      `(${r.warmAnnounced.announced}/${r.warmAnnounced.wanted} warm tracks announced), measured phase ${(r.measuredMs / 1000).toFixed(1)} s; ` +
      `neighbours per client at the end median ${median(r.neighbours)}, max ${Math.max(...r.neighbours)}; client RSS median ${f1(median(rss))} MB, max ${f1(Math.max(...rss))} MB; AP RSS ${f1(r.apRssMb)} MB; ` +
      `event-loop delay of the bench process (it runs every delay proxy) p50 ${f1(r.loopDelayMs.p50)} ms, p99 ${f1(r.loopDelayMs.p99)} ms, max ${f1(r.loopDelayMs.max)} ms`,
  );
  const logs = [...r.logLines.entries()].sort((a, c) => c[1] - a[1]).slice(0, 8);
  if (logs.length > 0) {
    console.log(`${label}: most frequent daemon log lines (stderr of the AP and the clients):`);
    for (const [line, n] of logs) console.log(`  ${String(n).padStart(6)}  ${line}`);
  }
}

// ---------------------------------------------------------------------------------------------

function options(): Options {
  return {
    plays: numberArg('plays', 200),
    clients: numberArg('clients', 50),
    seed: numberArg('seed', 1),
    uploadRate: numberArg('upload-rate', 1_000_000),
    apRtt: numberArg('ap-rtt', 50),
    peerRttMin: numberArg('peer-rtt-min', 20),
    peerRttMax: numberArg('peer-rtt-max', 100),
    warm: numberArg('warm', 8),
    spreadS: numberArg('spread', 15),
    baseline: !process.argv.includes('--no-baseline'),
  };
}

export async function main(): Promise<Record<string, number>> {
  const o = options();
  if (!(o.plays >= 1 && o.clients >= 1 && o.clients <= o.plays)) throw new RangeError(`need 1 <= --clients <= --plays, got ${o.clients} and ${o.plays}`);
  const t0 = performance.now();
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-bench-stream-'));
  const onSignal = (): void => {
    killAllNow();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const figures: Record<string, number> = {};
  try {
    // The catalog: 12 albums of 4 tracks of 40–70 s.
    const dataPath = path.join(dir, 'data');
    const data = openDataDir(dataPath);
    const files = await writeDemoLibrary(path.join(dir, 'music'), { artists: 6, albumsPerArtist: 2, tracksPerAlbum: 4, seed: 21, minSec: 40, maxSec: 70 });
    const { added } = await ingestPaths(files, { data });
    await data.accounts.setPassword('bench', 'pw');
    data.close();
    const byAlbum = new Map<string, TrackInfo[]>();
    for (const t of added) {
      const key = `${t.artist}\u0000${t.album}`;
      byAlbum.set(key, [...(byAlbum.get(key) ?? []), t]);
    }
    const albums = [...byAlbum.values()].map((a) => a.sort((x, y) => x.trackNo - y.trackNo));
    const catalogMs = performance.now() - t0;
    const audioSec = added.reduce((s, t) => s + t.durationMs, 0) / 1000;
    console.log(`catalog: ${added.length} tracks in ${albums.length} albums (${(audioSec / 60).toFixed(0)} min of audio, ${(added.reduce((s, t) => s + t.bytes, 0) / 1e6).toFixed(1)} MB), made in ${(catalogMs / 1000).toFixed(1)} s`);

    const scripts: ScriptsBundle = { clients: planScripts(added, albums, o) };
    const planned = scripts.clients.flatMap((c) => c.sessions.flatMap((s) => s.plays.map((p, i) => ({ s, p, i }))));
    const scriptMs = scripts.clients.map((c) => c.startDelayMs + c.sessions.reduce((n, s) => n + s.plays.reduce((m, p) => m + (p.skipAfterMs ?? p.track.durationMs), 0), 0));
    console.log(
      `script: ${planned.length} plays in ${scripts.clients.reduce((n, c) => n + c.sessions.length, 0)} sessions; ` +
        `${f1(pct(planned.filter((x) => x.s.kind === 'album' && x.i > 0).length, planned.length))} % next tracks of an album (published: 61 % in predictable order), ` +
        `${planned.filter((x) => x.p.skipAfterMs !== undefined).length} left partway; listening time per client median ${f1(median(scriptMs) / 1000)} s, longest ${f1(Math.max(...scriptMs) / 1000)} s`,
    );
    const peerRtts = scripts.clients.map((c) => 2 * c.peerDelayMs);
    console.log(
      `emulated RTT: AP ${o.apRtt} ms for every client; peers ${f1(Math.min(...peerRtts))}–${f1(Math.max(...peerRtts))} ms (median ${f1(median(peerRtts))} ms; ` +
        `a link to a peer takes that peer's delay). ${o.clients} clients, ${o.plays} plays, seed ${o.seed}, ${o.warm} warm tracks per client, first plays spread over ${o.spreadS} s`,
    );

    console.log('P2P run ...');
    const p2p = await runOnce('p2p', dir, dataPath, scripts, o);
    const pf = figuresOf(p2p);
    let base: { r: RunResult; f: Figures } | undefined;
    if (o.baseline) {
      console.log('AP-only run (baseline) ...');
      const r = await runOnce('ap-only', dir, dataPath, scripts, o);
      base = { r, f: figuresOf(r) };
    }
    printRun(p2p, pf, o, base);
    const dump = process.argv.indexOf('--dump');
    if (dump > 0 && process.argv[dump + 1]) {
      const plays = (r: RunResult) => r.outcomes.map((x) => ({ client: x.client, kind: x.kind, heldBefore: x.heldBefore, skipAfterMs: x.planned.skipAfterMs, elapsedMs: x.elapsedMs, atMs: x.atMs, error: x.error, ...x.report, track: x.planned.track.id }));
      await writeFile(process.argv[dump + 1]!, JSON.stringify({ p2p: plays(p2p), apOnly: base ? plays(base.r) : undefined, p2pStats: p2p.stats, apOnlyStats: base?.r.stats }, null, 1));
    }
    const wallS = (performance.now() - t0) / 1000;
    console.log(`wall time: ${wallS.toFixed(0)} s (catalog ${(catalogMs / 1000).toFixed(0)} s)`);

    Object.assign(figures, {
      plays: pf.plays,
      latency_median_ms: median(pf.latency),
      latency_p75_ms: q(pf.latency, 0.75),
      latency_p90_ms: q(pf.latency, 0.9),
      latency_p99_ms: q(pf.latency, 0.99),
      latency_random_median_ms: median(pf.byAccess.random.latency),
      latency_sequential_median_ms: median(pf.byAccess.sequential.latency),
      stutter_pct: pf.stutterPct,
      ap_share_pct: pf.share.server,
      peer_share_pct: pf.share.peer,
      cache_share_pct: pf.share.cache,
      ap_origin_share_pct: pf.originShare.server,
      ap_of_non_cache_pct: pf.apOfNonCache,
      peer_origin_share_pct: pf.originShare.peer,
      cache_origin_share_pct: pf.originShare.cache,
      wall_s: wallS,
    });
    if (base) {
      Object.assign(figures, {
        baseline_latency_median_ms: median(base.f.latency),
        baseline_latency_p90_ms: q(base.f.latency, 0.9),
        baseline_stutter_pct: base.f.stutterPct,
        baseline_ap_share_pct: base.f.share.server,
        baseline_ap_origin_share_pct: base.f.originShare.server,
        latency_median_ratio: median(pf.latency) / median(base.f.latency),
        ap_origin_share_ratio: pf.originShare.server / base.f.originShare.server,
      });
    }
  } finally {
    killAllNow();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await rm(dir, { recursive: true, force: true });
  }
  return figures;
}

if (isMain(import.meta.url)) await main();

/**
 * The simulated users and catalog (issue 5 item 3).
 *
 * Catalog: albums of 8-14 tracks, 2-6 min each; every track in two qualities that are separate
 * files (160 kbit/s, the default, and 320 kbit/s for the listeners who chose high quality), so a
 * peer serves only the exact file. Popularity is Zipf-like over albums (tracks of an album a bit
 * less popular the further down the album), with the exponent solved so that the top 12 % of
 * tracks get 88 % of the plays (P2P'10).
 *
 * Users: an ADSL-like access link, an RTT to the AP, reachability from a country row of Table II
 * (P2P'11: no NAT or UPnP worked = reachable), a cache size of 10 % of a drawn free disk within
 * [50 MB, 10 GB] (DESIGN §3; the spread puts about half over 5 GB), a quality, and a library:
 * tracks played before, most of them in the cache when the run starts (the cache persists when
 * the user is offline). Sessions follow a ~24 h pattern: an offline user logs in at a rate that
 * depends on the hour of day, stays logged in for a drawn time (the desktop client stays open),
 * and alternates listening and idle periods while logged in.
 */
import { randomInt, type Rng } from '../core/clock.ts';
import type { TunemeshConfig } from '../core/config.ts';
import { defaultCacheSize } from '../core/cache-policy.ts';

export const QUALITIES = [160_000, 320_000] as const;
const GiB = 1024 ** 3;

/** Table II of P2P'11: % of IP addresses with no NAT / UPnP worked (the rest cannot accept connections). */
export const NAT_TABLE: Readonly<Record<string, { noNat: number; upnp: number }>> = {
  ES: { noNat: 11.58, upnp: 9.09 },
  FI: { noNat: 60.15, upnp: 11.54 },
  FR: { noNat: 11.0, upnp: 47.58 },
  GB: { noNat: 11.68, upnp: 38.87 },
  NL: { noNat: 14.77, upnp: 18.04 },
  NO: { noNat: 23.73, upnp: 27.44 },
  SE: { noNat: 45.47, upnp: 26.69 },
};

/** Relative login activity per hour of day (low at night, high in the evening). */
const DIURNAL = [0.35, 0.22, 0.14, 0.1, 0.09, 0.12, 0.25, 0.45, 0.65, 0.75, 0.8, 0.85, 0.9, 0.9, 0.88, 0.88, 0.92, 1.0, 1.1, 1.2, 1.25, 1.15, 0.9, 0.6];

/** Tunables of the workload. */
export const WORKLOAD = {
  /** Catalog tracks per simulated user (at least `minTracks`). */
  tracksPerUser: 4,
  minTracks: 4_000,
  /** Share of the catalog's plays on its top 12 % of tracks (P2P'10: 88 %). */
  topShare: 0.88,
  /** Library (tracks played before) per user: uniform in [min, max]. */
  libraryMin: 30,
  libraryMax: 250,
  /** A random pick comes from the user's library with this probability, else from the whole catalog. */
  libraryPick: 0.5,
  /** Share of users with the high quality (320 kbit/s) file. */
  highQuality: 0.15,
  /** Hour of day at the start of the run. */
  startHourOfDay: 18,
  /** Mean session (logged in) length, hours (lognormal, sigma 0.8). */
  sessionHours: 3,
  /** Mean time offline at the busiest hour, hours; scaled by the diurnal activity. */
  offlineHoursAtPeak: 1.6,
  /** Listening and idle periods while logged in, mean minutes (exponential). */
  listenMinutes: 50,
  idleMinutes: 15,
  /**
   * A play is left before its last 30 s (the listener picks something else) with this probability;
   * otherwise the next track of the queue plays unless the listener leaves in the last 30 s (8 %,
   * P2P'10: 92 %) and, of those who reach the last 10 s, 6 % (94 %). Tuned so that ~61 % of plays
   * are sequential (P2P'10).
   */
  leaveEarly: 0.26,
  leaveIn30: 0.08,
  leaveIn10: 0.06,
  /** Download capacity, Mbit/s: lognormal around this median; upload: around `upMedianMbit`. */
  downMedianMbit: 8,
  upMedianMbit: 0.75,
  /** RTT to the AP, ms, uniform; between peers, ms, uniform per pair. */
  apRttMin: 30,
  apRttMax: 80,
  peerRttMin: 20,
  peerRttMax: 150,
  /** AP upload capacity per simulated user, bits/s (the AP is provisioned for the population). */
  apUpBitsPerUser: 100_000,
} as const;

/** The catalog: per track its album, duration; popularity as a cumulative table for sampling. */
export class Catalog {
  readonly tracks: number;
  readonly albumOf: Int32Array;
  /** First track of each album, and the album count. */
  readonly albumStart: Int32Array;
  readonly albums: number;
  readonly durationMs: Float64Array;
  /** Cumulative popularity over tracks (for sampling); `weight` normalised. */
  private readonly cumulative: Float64Array;
  readonly zipfExponent: number;
  readonly topShare: number;

  constructor(tracks: number, rng: Rng) {
    const albumOf: number[] = [];
    const albumStart: number[] = [];
    while (albumOf.length < tracks) {
      const n = Math.min(tracks - albumOf.length, 8 + randomInt(rng, 7));
      albumStart.push(albumOf.length);
      for (let k = 0; k < n; k++) albumOf.push(albumStart.length - 1);
    }
    this.tracks = tracks;
    this.albums = albumStart.length;
    this.albumOf = Int32Array.from(albumOf);
    this.albumStart = Int32Array.from(albumStart);
    this.durationMs = new Float64Array(tracks);
    for (let t = 0; t < tracks; t++) this.durationMs[t] = Math.round(120_000 + rng.next() * 240_000);
    // Album ranks are a random permutation (popular albums are spread over the id space).
    const rank = new Int32Array(this.albums);
    for (let a = 0; a < this.albums; a++) rank[a] = a;
    for (let a = this.albums - 1; a > 0; a--) {
      const j = randomInt(rng, a + 1);
      const t = rank[a]!;
      rank[a] = rank[j]!;
      rank[j] = t;
    }
    const weightsFor = (s: number) => {
      const w = new Float64Array(tracks);
      for (let t = 0; t < tracks; t++) {
        const a = this.albumOf[t]!;
        w[t] = Math.pow(rank[a]! + 1, -s) / (1 + 0.15 * (t - this.albumStart[a]!));
      }
      return w;
    };
    const top = Math.max(1, Math.round(tracks * 0.12));
    const shareOf = (w: Float64Array) => {
      const sorted = Float64Array.from(w).sort().reverse();
      let sum = 0;
      let head = 0;
      for (let i = 0; i < sorted.length; i++) {
        sum += sorted[i]!;
        if (i < top) head += sorted[i]!;
      }
      return head / sum;
    };
    let lo = 0;
    let hi = 3;
    for (let k = 0; k < 30; k++) {
      const mid = (lo + hi) / 2;
      if (shareOf(weightsFor(mid)) < WORKLOAD.topShare) lo = mid;
      else hi = mid;
    }
    this.zipfExponent = hi;
    const w = weightsFor(hi);
    this.topShare = shareOf(w);
    this.cumulative = new Float64Array(tracks);
    let sum = 0;
    for (let t = 0; t < tracks; t++) this.cumulative[t] = sum += w[t]!;
    for (let t = 0; t < tracks; t++) this.cumulative[t]! /= sum;
  }

  /** A track drawn by popularity. */
  sample(rng: Rng): number {
    const u = rng.next();
    const c = this.cumulative;
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (c[mid]! <= u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The file of a track in a quality (0 = 160 kbit/s, 1 = 320 kbit/s). */
  fileOf(track: number, quality: number): number {
    return track * 2 + quality;
  }

  /** How many files there are: every track in each quality ({@link fileOf} numbers them 0 up to this). */
  get files(): number {
    return this.tracks * QUALITIES.length;
  }

  /** File size, bytes: the audio at the file's bitrate plus 4 kB of headers. */
  bytesOf(file: number): number {
    const track = file >> 1;
    return Math.round((this.durationMs[track]! * QUALITIES[file & 1]!) / 8000) + 4096;
  }

  bitrateOf(file: number): number {
    return QUALITIES[file & 1]!;
  }

  /** The queue a pick starts: the rest of the track's album, then the next album, up to 20 tracks. */
  queueFrom(track: number): number[] {
    const out: number[] = [];
    for (let t = track; out.length < 20; t = (t + 1) % this.tracks) out.push(t);
    return out;
  }
}

/** The static description of the users: typed arrays, one slot per user. */
export class Population {
  readonly n: number;
  readonly reachable: Uint8Array;
  /** Bytes per ms. */
  readonly up: Float64Array;
  readonly down: Float64Array;
  readonly apRttMs: Float64Array;
  readonly cacheBytes: Float64Array;
  readonly quality: Uint8Array;
  /** Library of each user: tracks in `libraryTracks[libraryStart[u] .. libraryStart[u + 1])`. */
  readonly libraryStart: Int32Array;
  readonly libraryTracks: Int32Array;

  constructor(n: number, natCountry: string, catalog: Catalog, config: TunemeshConfig, rng: Rng) {
    const nat = NAT_TABLE[natCountry.toUpperCase()];
    if (!nat) throw new RangeError(`unknown NAT country ${natCountry}; one of ${Object.keys(NAT_TABLE).join(', ')}`);
    const pReach = (nat.noNat + nat.upnp) / 100;
    this.n = n;
    this.reachable = new Uint8Array(n);
    this.up = new Float64Array(n);
    this.down = new Float64Array(n);
    this.apRttMs = new Float64Array(n);
    this.cacheBytes = new Float64Array(n);
    this.quality = new Uint8Array(n);
    this.libraryStart = new Int32Array(n + 1);
    const lib: number[] = [];
    for (let u = 0; u < n; u++) {
      this.reachable[u] = rng.next() < pReach ? 1 : 0;
      this.down[u] = (WORKLOAD.downMedianMbit * Math.exp(0.5 * gauss(rng)) * 1e6) / 8 / 1000;
      this.up[u] = (WORKLOAD.upMedianMbit * Math.exp(0.4 * gauss(rng)) * 1e6) / 8 / 1000;
      this.apRttMs[u] = WORKLOAD.apRttMin + rng.next() * (WORKLOAD.apRttMax - WORKLOAD.apRttMin);
      // Free disk: lognormal with median 55 GB: ~half the caches over 5 GB, ~15 % at the 10 GB cap.
      const freeDisk = 55 * GiB * Math.exp(1.1 * gauss(rng));
      this.cacheBytes[u] = defaultCacheSize(freeDisk, config);
      this.quality[u] = rng.next() < WORKLOAD.highQuality ? 1 : 0;
      this.libraryStart[u] = lib.length;
      const size = WORKLOAD.libraryMin + randomInt(rng, WORKLOAD.libraryMax - WORKLOAD.libraryMin + 1);
      for (let k = 0; k < size; k++) lib.push(catalog.sample(rng));
    }
    this.libraryStart[n] = lib.length;
    this.libraryTracks = Int32Array.from(lib);
  }

  librarySize(u: number): number {
    return this.libraryStart[u + 1]! - this.libraryStart[u]!;
  }

  libraryTrack(u: number, k: number): number {
    return this.libraryTracks[this.libraryStart[u]! + k]!;
  }
}

/** Diurnal activity (relative login rate) at simulated time `ms`. */
export function activityAt(ms: number): number {
  const hour = (WORKLOAD.startHourOfDay + ms / 3_600_000) % 24;
  const h = Math.floor(hour);
  const f = hour - h;
  return DIURNAL[h]! * (1 - f) + DIURNAL[(h + 1) % 24]! * f;
}

const MAX_ACTIVITY = Math.max(...DIURNAL);

/** Time of the next login of an offline user after `from` (non-homogeneous Poisson, by thinning). */
export function nextLogin(from: number, rng: Rng): number {
  const peakRate = 1 / (WORKLOAD.offlineHoursAtPeak * 3_600_000);
  let t = from;
  for (let k = 0; k < 10_000; k++) {
    t += -Math.log(1 - rng.next()) / peakRate;
    if (rng.next() * MAX_ACTIVITY <= activityAt(t)) return t;
  }
  return t;
}

/** A session length, ms (lognormal with the configured mean). */
export function sessionLength(rng: Rng): number {
  const sigma = 0.8;
  const mu = Math.log(WORKLOAD.sessionHours * 3_600_000) - (sigma * sigma) / 2;
  return Math.exp(mu + sigma * gauss(rng));
}

/** Share of users online at `ms` in steady state (for the start of the run). */
export function onlineShareAt(ms: number): number {
  const offline = WORKLOAD.offlineHoursAtPeak * (MAX_ACTIVITY / Math.max(0.05, activityAt(ms)));
  return WORKLOAD.sessionHours / (WORKLOAD.sessionHours + offline);
}

export function exponential(rng: Rng, mean: number): number {
  return -Math.log(1 - rng.next()) * mean;
}

/** A standard normal draw (Box-Muller). */
export function gauss(rng: Rng): number {
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

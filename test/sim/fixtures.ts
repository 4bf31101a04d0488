/**
 * Hand-made simulator reports for the tests of the renderers: a plausible run, a run with
 * nothing measured (no plays, no searches, empty series) and a run of one sample.
 */
import type { SimReport } from '../../src/sim/report.ts';

const latency = (plays: number, median: number) => ({ plays, medianMs: median, p75Ms: median * 1.6, p90Ms: median * 3, p99Ms: median * 9 });

/** A 1 000-peer, 24-hour run with figures near the published ones. */
export function fixtureReport(label = 'baseline', tweak: Partial<SimReport> = {}): SimReport {
  const hours = Array.from({ length: 25 }, (_, h) => h);
  const server = 880_000_000;
  const peer = 3_580_000_000;
  const cache = 5_540_000_000;
  const total = server + peer + cache;
  return {
    params: { peers: 1000, hours: 24, seed: 1, natCountry: 'GB', tracker: true, overlay: true, prefetch: true, overrides: {}, label },
    sources: { server, peer, cache, serverShare: server / total, peerShare: peer / total, cacheShare: cache / total },
    latency: { ...latency(12_000, 262), random: latency(4_680, 390), sequential: latency(7_320, 120) },
    latencyHistogram: { boundsMs: [50, 100, 200, 300, 500, 1000, 2000, 5000, 10000], counts: [3100, 900, 1500, 2900, 1800, 1100, 420, 200, 80] },
    stutter: { plays: 12_000, playsWithStutter: 76, rate: 76 / 12_000 },
    access: { sequential: 7_320, random: 4_680, sequentialShare: 0.61 },
    nextTrackPlayed: { at30s: 0.918, at10s: 0.941 },
    search: { searches: 5_100, anyShare: 0.79, distance1Share: 0.58, distance2Share: 0.75 },
    tracker: { queries: 5_100, foundShare: 0.83 },
    neighboursByHoursSinceLogin: hours.slice(0, 13).map((h) => ({ hoursSinceLogin: h, mean: 30 - h * 1.1, median: 28 - h, zeroShare: 0.1 + h * 0.02, samples: 900 - h * 60 })),
    apBandwidth: hours.map((h) => ({ hour: h, value: 2_000_000 + 1_500_000 * Math.sin((h / 24) * 2 * Math.PI) })),
    online: hours.map((h) => ({ hour: h, value: Math.round(300 + 200 * Math.sin((h / 24) * 2 * Math.PI)) })),
    invariants: { checks: 48_000, violations: [] },
    model: {
      chunkSize: 65_536,
      deliveryStep: 1,
      catalogTracks: 40_000,
      catalogTopShare: 0.874,
      zipfExponent: 1.1,
      apUploadBytesPerSec: 12_500_000,
      connectBacks: 310,
      dialFailures: 42,
      apRequests: { requests: { randomAccess: 4_680, lowBuffer: 900, prefetchFallback: 120, emergency: 0 }, chunks: { randomAccess: 37_000 } },
    },
    run: { events: 4_200_000, wallMs: 21_500, eventsPerSec: 195_348, peakRssMb: 412 },
    ...tweak,
  };
}

/** A run in which nothing happened: no plays, no searches, empty series. */
export function emptyReport(): SimReport {
  const none = { plays: 0, medianMs: 0, p75Ms: 0, p90Ms: 0, p99Ms: 0 };
  const { model: _model, ...r } = fixtureReport('empty', {
    sources: { server: 0, peer: 0, cache: 0, serverShare: 0, peerShare: 0, cacheShare: 0 },
    latency: { ...none, random: none, sequential: none },
    latencyHistogram: { boundsMs: [], counts: [] },
    stutter: { plays: 0, playsWithStutter: 0, rate: 0 },
    access: { sequential: 0, random: 0, sequentialShare: 0 },
    nextTrackPlayed: { at30s: 0, at10s: 0 },
    search: { searches: 0, anyShare: 0, distance1Share: 0, distance2Share: 0 },
    tracker: { queries: 0, foundShare: 0 },
    neighboursByHoursSinceLogin: [],
    apBandwidth: [],
    online: [],
    invariants: { checks: 0, violations: [] },
    run: { events: 0, wallMs: 0, eventsPerSec: 0, peakRssMb: 50 },
  });
  return r;
}

/** A run with one point in each series and one histogram bucket. */
export function singlePointReport(): SimReport {
  return fixtureReport('single', {
    latencyHistogram: { boundsMs: [300], counts: [1] },
    neighboursByHoursSinceLogin: [{ hoursSinceLogin: 0, mean: 3, median: 3, zeroShare: 0, samples: 1 }],
    apBandwidth: [{ hour: 0, value: 1000 }],
    online: [{ hour: 0, value: 1 }],
  });
}

/**
 * The simulator's network model (issue 5 item 2).
 *
 * - **Access links**: every node has an upload and a download capacity (bytes per ms). Clients get
 *   ADSL-like asymmetric links; the AP is one node with a large upload capacity.
 * - **Flows**: one transfer (one chunk request being served) is a flow from an uploader to a
 *   downloader. Its rate is a simple fair share, `min(up(u) / uploads(u), down(d) / downloads(d))`,
 *   recomputed for the flows of the two endpoints whenever a flow starts or ends there: O(flows of
 *   the two endpoints) per change. Not max-min fair (a flow held back at one end leaves its share
 *   at the other end unused); the difference is small with at most 4 uploads per client.
 *   The AP's flows are many: they are re-rated only when their downloader's flows change, with
 *   the AP's share taken as `up(AP) / AP flows` at that moment.
 * - **Delivery**: a flow carries `units` (chunks) and fires one event per `step` units; at that
 *   event it reports each unit with the time it completed (the rate was constant in between, or
 *   the flow was settled at the rate change), so the receiver sees per-chunk times without one
 *   event per chunk.
 * - **Latency**: round-trip times are drawn per pair of peers (from a hash of the pair, so nothing
 *   is stored) and per client to the AP; a flow starts one one-way delay after the uploader began
 *   serving (the first byte travels), and a connection costs {@link CONNECT_RTTS} round trips.
 */
import type { Engine, Timer } from './engine.ts';
import { mix32 } from './engine.ts';

/** TCP handshake (1 RTT) + TLS 1.3 (1 RTT) + our hello (0.5 RTT). */
export const CONNECT_RTTS = 2.5;

/** One transfer; it is its own delivery event ({@link Timer}). */
export interface Flow extends Timer {
  readonly from: number;
  readonly to: number;
  /** Bytes of each unit but the last, and of all units. */
  readonly unitBytes: number;
  readonly totalBytes: number;
  readonly units: number;
  /** Bytes sent by `lastT`. */
  sent: number;
  lastT: number;
  /** Bytes per ms. */
  rate: number;
  /** Units reported to the receiver so far, and units known complete (times in `doneTimes`). */
  reported: number;
  completed: number;
  doneTimes: number[];
  /** An empty array for the next `doneTimes` (a report hands the current one to the sink, then clears and keeps it); null while lent out. */
  spare: number[] | null;
  step: number;
  active: boolean;
  /** Told of the units done since the last report (shared by many flows: no closure per flow). */
  sink: FlowSink;
  /** What the flow carries, for its sink (the simulator: the request). */
  readonly owner: unknown;
}

/** Units of `f` done since its last report, with their completion times; `end` once the last unit is in. `times` is valid during the call only. */
export type FlowSink = (f: Flow, first: number, times: readonly number[], end: boolean) => void;

export interface NetworkOptions {
  /** Upload and download capacity per node, bytes per ms. */
  up: Float64Array;
  down: Float64Array;
  /** Index of the AP node (its flows are re-rated lazily, see the file comment). */
  apNode: number;
}

export class Network {
  private readonly upFlows: (Flow[] | undefined)[];
  private readonly downFlows: (Flow[] | undefined)[];
  /** Bytes sent by each node (flows settled so far). */
  readonly sentBytes: Float64Array;
  private apFlows = 0;

  constructor(
    private readonly engine: Engine,
    private readonly opts: NetworkOptions,
  ) {
    const n = opts.up.length;
    this.upFlows = new Array<Flow[] | undefined>(n);
    this.downFlows = new Array<Flow[] | undefined>(n);
    this.sentBytes = new Float64Array(n);
  }

  /** Active uploads of a node. */
  uploads(node: number): number {
    return node === this.opts.apNode ? this.apFlows : (this.upFlows[node]?.length ?? 0);
  }

  downloads(node: number): number {
    return this.downFlows[node]?.length ?? 0;
  }

  /** Starts a flow of `totalBytes` in units of `unitBytes`, reported every `step` units. */
  start(from: number, to: number, unitBytes: number, totalBytes: number, step: number, sink: FlowSink, owner: unknown = null): Flow {
    const now = this.engine.now();
    const units = Math.max(1, Math.ceil(totalBytes / unitBytes));
    const f: Flow = { from, to, unitBytes, totalBytes, units, sent: 0, lastT: now, rate: 0, reported: 0, completed: 0, doneTimes: [], spare: null, step: Math.max(1, step), timerSlot: -1, active: true, sink, owner };
    if (from === this.opts.apNode) this.apFlows++;
    else (this.upFlows[from] ??= []).push(f);
    (this.downFlows[to] ??= []).push(f);
    this.rerate(from, to, now);
    return f;
  }

  /** Stops a flow (cancelled, or an endpoint left); nothing more is reported. */
  cancel(f: Flow): void {
    if (!f.active) return;
    const now = this.engine.now();
    this.settle(f, now);
    this.remove(f);
    this.rerate(f.from, f.to, now);
  }

  /**
   * Reports the units of a flow completed by now without waiting for its next event (the receiver
   * is about to decide, or to cancel it); never its end, which its own event reports.
   */
  flush(f: Flow): void {
    if (!f.active) return;
    const now = this.engine.now();
    this.settle(f, now);
    if (f.completed <= f.reported) return;
    const first = f.reported;
    f.reported = f.completed;
    this.schedule(f, now);
    report(f, first, false);
  }

  /** Changes how many units a flow reports per event (from its next report on). */
  setStep(f: Flow, step: number): void {
    step = Math.max(1, step);
    if (!f.active || f.step === step) return;
    f.step = step;
    const now = this.engine.now();
    this.settle(f, now);
    this.schedule(f, now);
  }

  /** Fair share of a flow now. */
  private shareOf(f: Flow): number {
    const up = f.from === this.opts.apNode ? this.opts.up[f.from]! / Math.max(1, this.apFlows) : this.opts.up[f.from]! / Math.max(1, this.upFlows[f.from]!.length);
    const down = this.opts.down[f.to]! / Math.max(1, this.downFlows[f.to]!.length);
    return Math.min(up, down);
  }

  private rerate(from: number, to: number, now: number): void {
    if (from !== this.opts.apNode) {
      const ups = this.upFlows[from];
      if (ups) for (const f of ups) this.update(f, now);
    }
    const downs = this.downFlows[to];
    if (downs) for (const f of downs) if (f.from === this.opts.apNode || f.from !== from) this.update(f, now);
  }

  private update(f: Flow, now: number): void {
    const rate = this.shareOf(f);
    if (rate === f.rate && f.timerSlot >= 0) return;
    this.settle(f, now);
    f.rate = rate;
    this.schedule(f, now);
  }

  /** Accounts the bytes sent up to `now` at the current rate and the units that completed. */
  private settle(f: Flow, now: number): void {
    if (now <= f.lastT) return;
    const before = f.sent;
    const sent = Math.min(f.totalBytes, before + f.rate * (now - f.lastT));
    while (f.completed < f.units) {
      const end = Math.min(f.totalBytes, (f.completed + 1) * f.unitBytes);
      if (end > sent + 1e-6) break;
      f.doneTimes.push(f.rate > 0 ? f.lastT + (end - before) / f.rate : now);
      f.completed++;
    }
    this.sentBytes[f.from]! += sent - before;
    f.sent = sent;
    f.lastT = now;
  }

  /** The next report: when unit `reported + step` (or the last) completes at the current rate. */
  private schedule(f: Flow, now: number): void {
    if (!(f.rate > 0)) {
      this.engine.unschedule(f);
      return;
    }
    const target = Math.min(f.units, Math.max(f.completed + 1, f.reported + f.step));
    const end = Math.min(f.totalBytes, target * f.unitBytes);
    const at = now + Math.max(0, end - f.sent) / f.rate;
    this.engine.schedule(f, at, this.fireFlow);
  }

  private readonly fireFlow = (f: Flow): void => this.fire(f);

  private fire(f: Flow): void {
    if (!f.active) return;
    const now = this.engine.now();
    this.settle(f, now);
    // Floating point: the unit due now counts as complete.
    if (f.completed < f.units) {
      const target = Math.min(f.units, Math.max(f.completed + 1, f.reported + f.step));
      const end = Math.min(f.totalBytes, target * f.unitBytes);
      if (end - f.sent < 1e-3) {
        this.sentBytes[f.from]! += end - f.sent;
        f.sent = end;
        while (f.completed < target) {
          f.doneTimes.push(now);
          f.completed++;
        }
      }
    }
    const end = f.completed >= f.units;
    if (end) {
      this.remove(f);
      this.rerate(f.from, f.to, now);
    } else {
      this.schedule(f, now);
    }
    const first = f.reported;
    const some = f.completed > first;
    f.reported = f.completed;
    if (some || end) report(f, first, end);
  }

  private remove(f: Flow): void {
    f.active = false;
    this.engine.unschedule(f);
    if (f.from === this.opts.apNode) this.apFlows--;
    else removeFrom(this.upFlows[f.from], f);
    removeFrom(this.downFlows[f.to], f);
  }
}

/**
 * Hands the flow's completed units to its sink. The times array is lent for the call and then
 * kept as the flow's spare (a report from within the sink, a flush of the same flow, takes a new
 * one): a flow reports many times, and an array per report outlived the young generation.
 */
function report(f: Flow, first: number, end: boolean): void {
  const times = f.doneTimes;
  f.doneTimes = f.spare ?? [];
  f.spare = null;
  f.sink(f, first, times, end);
  times.length = 0;
  f.spare = times;
}

function removeFrom(list: Flow[] | undefined, f: Flow): void {
  if (!list) return;
  const i = list.indexOf(f);
  if (i < 0) return;
  list[i] = list[list.length - 1]!;
  list.pop();
}

/** Round-trip time between two peers, ms, in [min, max): fixed per unordered pair by a hash. */
export function pairRttMs(a: number, b: number, seed: number, min: number, max: number): number {
  const lo = a < b ? a : b;
  const hi = a < b ? b : a;
  const h = mix32((mix32(lo ^ seed) + Math.imul(hi, 0x9e3779b1)) >>> 0);
  return min + (h / 4294967296) * (max - min);
}

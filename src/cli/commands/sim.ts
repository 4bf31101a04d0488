/**
 * `tunemesh sim`: runs the simulator (issue 5) — the product's cores with N simulated peers on a
 * virtual clock — and prints its figures beside the published ones (DESIGN §3), as a table, as
 * JSON, and as SVG figures; `--sweep` runs several variants with one seed side by side.
 */
import { InvalidArgumentError, type Command } from 'commander';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { makeConfig, type TunemeshConfig } from '../../core/config.ts';
import type { SimReport } from '../../sim/report.ts';
import type { SimOptions } from '../../sim/run.ts';
import { renderJson, renderReport, renderRunCost, renderSweep } from '../../sim/render.ts';
import { writeReportFigures, writeSweepFigures } from '../../sim/svg.ts';
import { parseSweep, scenarioLabel, SweepSpecError, type Scenario, type SweepVariant } from '../../sim/sweep.ts';
import { collectConfigOverride } from '../options.ts';
import { UsageError } from '../client-api.ts';
import { EXIT_USAGE, exitTwoOnUsageError } from './ingest.ts';

export type RunSimulation = (opts: SimOptions) => SimReport | Promise<SimReport>;

/**
 * The simulation, loaded when a run starts: `--help`, usage errors and the other commands of
 * the CLI do not load the simulated world.
 */
export async function loadSimulator(): Promise<RunSimulation> {
  const mod = await import('../../sim/run.ts');
  return mod.runSimulation;
}

interface SimCliOptions {
  peers: number;
  hours: number;
  seed: number;
  nat: string;
  json?: boolean;
  out?: string;
  set?: Partial<TunemeshConfig>;
  tracker: boolean;
  overlay: boolean;
  prefetch: boolean;
  sweep?: string;
  progress?: boolean;
  allOnline?: boolean;
}

/** Most peers a run takes (the scale target of issue 5 is 100 000). */
export const MAX_PEERS = 10_000_000;
/** Longest run, simulated hours (a year). */
export const MAX_HOURS = 24 * 366;

function parsePeers(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PEERS) throw new InvalidArgumentError(`a whole number of peers from 1 to ${MAX_PEERS}`);
  return n;
}

function parseHours(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > MAX_HOURS) throw new InvalidArgumentError(`simulated hours above 0 and at most ${MAX_HOURS} (fractions allowed, e.g. 0.5)`);
  return n;
}

function parseSeed(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('a whole number >= 0');
  return n;
}

function parseNat(v: string): string {
  if (!/^[A-Za-z]{2}$/.test(v)) throw new InvalidArgumentError('a two-letter country code of Table II (P2P\'11), e.g. GB');
  return v.toUpperCase();
}

function parseSweepOption(v: string, previous: string | undefined): string {
  if (previous !== undefined) throw new InvalidArgumentError('give --sweep once (one spec per run: key=v1,v2,... or scenarios)');
  if (v.trim() === '') throw new InvalidArgumentError('empty sweep spec (expected key=v1,v2,... or scenarios)');
  return v;
}

export function register(program: Command): void {
  const cmd: Command = program
    .command('sim')
    .description('Simulate N peers on a virtual clock with the real cores and print the published figures (DESIGN §3) beside the simulated ones.')
    .option('--peers <n>', 'simulated clients', parsePeers, 1000)
    .option('--hours <h>', 'simulated hours', parseHours, 24)
    .option('--seed <s>', 'random seed: the same seed gives the same report', parseSeed, 1)
    .option('--nat <country>', "NAT mix of this country's row of Table II (P2P'11)", parseNat, 'GB')
    .option('--set <key=value>', 'override a config value (repeatable), e.g. --set trackerMemory=5', collectConfigOverride)
    .option('--no-tracker', 'no tracker: peers are found by the overlay search only')
    .option('--no-overlay', 'no overlay search: peers are found by the tracker only')
    .option('--no-prefetch', 'no prefetch of the next track (30 s / 10 s before the end)')
    .option('--all-online', 'every user logs in within the first 10 minutes and stays online for the whole run (still listening and idling): --peers is the concurrent population')
    .option('--sweep <spec>', 'run variants side by side with the same seed: key=v1,v2,... (a config value, or tracker/overlay/prefetch=on,off), or "scenarios" (baseline, prefetch off, tracker only, overlay only)', parseSweepOption)
    .option('--json', 'print the report as JSON (a sweep: an array of reports)')
    .option('--out <dir>', 'write the figures as SVG (and report.json) to <dir>; a sweep writes <dir>/<label>/ per run and <dir>/sweep.svg')
    .option('--progress', 'show the simulated time and events on stderr while running')
    .addHelpText(
      'after',
      `
Examples:
  tunemesh sim --peers 10000 --hours 24 --seed 1 --out figures
  tunemesh sim --peers 2000 --hours 4 --sweep trackerMemory=20,5
  tunemesh sim --peers 2000 --hours 4 --sweep searchHops=2,1 --json
  tunemesh sim --peers 2000 --hours 4 --sweep scenarios --out sweep
  tunemesh sim --peers 100000 --hours 1 --all-online --progress

The run's cost (events per second, wall time, peak memory) is printed on stderr; it is the only
part of the report that differs between runs of one seed.

Exit status:
  0  the run finished and no invariant was violated
  1  the run failed, or an invariant was violated (listed on stderr)
  2  bad arguments`,
    )
    .action(async (o: SimCliOptions) => {
      try {
        await sim(o);
      } catch (err) {
        if (err instanceof UsageError || err instanceof SweepSpecError) cmd.error(`error: ${err.message}`, { exitCode: EXIT_USAGE });
        throw err;
      }
    });
  exitTwoOnUsageError(cmd);
}

/** The variants to run: the sweep's, or one run made of the flags. */
export function variantsOf(o: Pick<SimCliOptions, 'set' | 'tracker' | 'overlay' | 'prefetch' | 'sweep'>): { variants: SweepVariant[]; sweep: boolean } {
  const base: Scenario = { tracker: o.tracker, overlay: o.overlay, prefetch: o.prefetch, overrides: { ...(o.set ?? {}) } };
  if (!base.tracker && !base.overlay) throw new UsageError('--no-tracker and --no-overlay together leave no way to find peers (every byte would come from the AP); drop one');
  if (o.sweep === undefined) return { variants: [{ ...base, label: scenarioLabel(base) }], sweep: false };
  const variants = parseSweep(o.sweep, base);
  for (const v of variants) if (!v.tracker && !v.overlay) throw new UsageError(`sweep variant "${v.label}" has neither tracker nor overlay; drop --no-tracker or --no-overlay`);
  return { variants, sweep: true };
}

async function sim(o: SimCliOptions): Promise<void> {
  const { variants, sweep } = variantsOf(o);
  const runSimulation = await loadSimulator();
  const reports: SimReport[] = [];
  for (const [i, v] of variants.entries()) {
    const prefix = sweep ? `[${i + 1}/${variants.length} ${v.label}] ` : '';
    const progress = o.progress ? progressReporter(o.hours, prefix) : undefined;
    const opts: SimOptions = {
      peers: o.peers,
      hours: o.hours,
      seed: o.seed,
      natCountry: o.nat,
      tracker: v.tracker,
      overlay: v.overlay,
      prefetch: v.prefetch,
      overrides: v.overrides as Record<string, number>,
      label: v.label,
      config: makeConfig(v.overrides),
    };
    if (o.allOnline) opts.allOnline = true;
    if (progress) opts.onProgress = progress.update;
    let report: SimReport;
    try {
      report = await runSimulation(opts);
    } finally {
      progress?.stop();
    }
    reports.push(report);
    process.stderr.write(`sim: ${renderRunCost(report)}\n`);
  }

  if (o.json) process.stdout.write(renderJson(sweep ? reports : reports[0]!));
  else process.stdout.write(sweep ? renderSweep(reports) : renderReport(reports[0]!));

  if (o.out) {
    const written = sweep ? await writeSweepFigures(reports, o.out) : await writeReportFigures(reports[0]!, o.out);
    process.stderr.write(`sim: wrote ${written.length} files to ${path.resolve(o.out)}\n`);
  }
  if (sweep) process.stderr.write('sim: peak RSS is the process peak so far: later runs of a sweep include the earlier ones\n');

  const violated = reports.filter((r) => r.invariants.violations.length > 0);
  if (violated.length) {
    for (const r of violated) process.stderr.write(`sim: ${r.params.label}: ${r.invariants.violations.length} invariant violations, first: ${r.invariants.violations[0]}\n`);
    process.exitCode = 1;
  }
}

/** Shows progress on stderr: a bar on a terminal, else a line per simulated hour and at least one per 10 s. */
function progressReporter(hours: number, prefix: string): { update: (simHour: number, events: number) => void; stop: () => void } {
  const started = performance.now();
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: `${prefix}sim [{bar}] {hour}/{total} h | {events} events | {rate} events/s`, hideCursor: true, clearOnComplete: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(hours, 0, { hour: '0.0', events: 0, rate: 0 });
    return {
      update(simHour, events) {
        const s = (performance.now() - started) / 1000;
        bar.update(Math.min(simHour, hours), { hour: simHour.toFixed(1), events, rate: s > 0 ? Math.round(events / s) : 0 });
      },
      stop: () => bar.stop(),
    };
  }
  let lastHour = -1;
  let lastAt = 0;
  return {
    update(simHour, events) {
      const now = performance.now();
      if (Math.floor(simHour) <= lastHour && now - lastAt < 10_000) return;
      lastHour = Math.floor(simHour);
      lastAt = now;
      const s = (now - started) / 1000;
      process.stderr.write(`${prefix}sim: ${simHour.toFixed(1)}/${hours} h, ${events} events, ${s.toFixed(1)} s, ${s > 0 ? Math.round(events / s) : 0} events/s\n`);
    },
    stop() {},
  };
}

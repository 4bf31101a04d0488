/**
 * Simulator scale benchmark (issue 5 item 5): runs `tunemesh sim` in-process in a child per size
 * (so each run's peak RSS is its own, and the heap limit can be raised) and prints events, events
 * per second, wall time and peak RSS per run.
 *
 *   npx tsx bench/sim.ts              the issue's runs: 10 000 peers x 24 h, 100 000 x 1 h all online
 *   npx tsx bench/sim.ts --parallel --out docs/sim/day
 *                                     the same, both runs at once (2 cores), the first run's figures to docs/sim/day
 *   npx tsx bench/sim.ts --quick      2 000 x 2 h and 10 000 x 0.25 h all online (about a minute)
 *   npx tsx bench/sim.ts --run 5000x4 --run 20000x1:all-online --seed 2
 *   npx tsx bench/sim.ts --quick --step 1   one delivery event per chunk (the unbatched setting)
 *
 * Baseline, measured in the same invocation: a small run (2 000 peers x 2 h), whose events per
 * second the big runs are compared with (the ratio says how throughput holds up with scale: longer
 * sessions mean more neighbours, and an overlay search's flood grows with their square);
 * `--no-baseline` skips it. Each size runs once (a run takes minutes, not a median of several).
 * A run stops at the issue's wall-time budget, 15 minutes (`--max-wall MIN` changes it, 0: none), and
 * then reports how many simulated hours it reached in that time. Not part of `bench/run-all.ts`:
 * the default runs take tens of minutes.
 *
 * The children run with a 512 MB young generation (`--max-semi-space-size`): the simulator makes
 * many short-lived objects, and with the default few-MB nursery the garbage collector took 16 % of
 * a CPU profile, 5 % with 64 MB; the bigger the population, the longer (in wall time) a simulated
 * second lasts, so the more of those objects outlive a small nursery: 50 000 peers × 0.25 h took
 * 99.6 s of CPU with 64 MB and 91.2 s with 256 MB; 30 000 peers × 1 h all online, both at once,
 * 215.8 s with 256 MB and 208.2 s with 512 MB, for 0.45 GB more peak RSS (docs/simulation.md, Scale).
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { isMain, printTable, ROOT } from './stats.ts';

interface Case {
  peers: number;
  hours: number;
  allOnline: boolean;
  step?: number;
}

interface Result {
  /** Simulated hours run: the case's hours, or fewer when the wall-time limit stopped it. */
  simHours: number;
  complete: boolean;
  events: number;
  wallMs: number;
  /** CPU time of the run's process (user + system, GC threads included): less sensitive than wall time to other jobs on the machine. */
  cpuMs: number;
  eventsPerSec: number;
  peakRssMb: number;
  deliveryStep: number;
  violations: number;
}

const ISSUE: Case[] = [
  { peers: 10_000, hours: 24, allOnline: false },
  { peers: 100_000, hours: 1, allOnline: true },
];
const QUICK: Case[] = [
  { peers: 2_000, hours: 2, allOnline: false },
  { peers: 10_000, hours: 0.25, allOnline: true },
];
const BASELINE: Case = { peers: 2_000, hours: 2, allOnline: false };
/** Heap limit of a run's child, MB: the issue's budget is 8 GB of memory (RSS), with room for typed arrays outside the heap. */
const HEAP_MB = 6_144;
/** Young generation per semi-space, MB (see the file comment). */
const SEMI_SPACE_MB = 512;

function parseCase(spec: string): Case {
  const m = /^(\d+)x([\d.]+)(:all-online)?$/.exec(spec);
  if (!m) throw new Error(`--run expects PEERSxHOURS[:all-online], got ${spec}`);
  return { peers: Number(m[1]), hours: Number(m[2]), allOnline: m[3] !== undefined };
}

function label(c: Case): string {
  return `${c.peers} x ${c.hours} h${c.allOnline ? ' all online' : ''}${c.step !== undefined ? ` step ${c.step}` : ''}`;
}

/** One run in a child process; resolves with its cost. */
function runChild(c: Case, seed: number, maxWallMin: number, out?: string): Promise<Result> {
  const self = fileURLToPath(import.meta.url);
  const spec = { ...c, seed, maxWallMin, ...(out !== undefined ? { out } : {}) };
  const args = [`--max-old-space-size=${HEAP_MB}`, `--max-semi-space-size=${SEMI_SPACE_MB}`, '--import', 'tsx', self, '--child', JSON.stringify(spec)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${label(c)}: child exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as Result);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

/** In the child: one simulation, its cost as one JSON line; progress on stderr. */
async function child(spec: Case & { seed: number; maxWallMin: number; out?: string }): Promise<void> {
  const { runSimulation } = await import('../src/sim/run.ts');
  const { makeConfig } = await import('../src/core/config.ts');
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const cpuMs = () => {
    const u = process.cpuUsage(cpu0);
    return Math.round((u.user + u.system) / 1000);
  };
  let lastHour = -1;
  const report = runSimulation({
    peers: spec.peers,
    hours: spec.hours,
    seed: spec.seed,
    natCountry: 'GB',
    tracker: true,
    overlay: true,
    prefetch: true,
    overrides: {},
    label: label(spec),
    config: makeConfig({}),
    ...(spec.allOnline ? { allOnline: true } : {}),
    ...(spec.step !== undefined ? { deliveryStep: spec.step } : {}),
    onProgress(simHour, events) {
      const s = (performance.now() - started) / 1000;
      const over = spec.maxWallMin > 0 && s > spec.maxWallMin * 60 && simHour < spec.hours;
      if (Math.floor(simHour) === lastHour && spec.hours > 1 && !over) return;
      lastHour = Math.floor(simHour);
      process.stderr.write(`  [${label(spec)}] ${simHour.toFixed(2)} h, ${events} events, ${s.toFixed(0)} s, ${Math.round(events / Math.max(s, 0.001))} events/s, RSS ${Math.round(process.memoryUsage().rss / 1048576)} MB\n`);
      if (over) {
        // Over the budget (checked every 15 simulated minutes, so it may overshoot by one step): report how far it got, and stop.
        const partial: Result = {
          simHours: simHour,
          complete: false,
          events,
          wallMs: Math.round(s * 1000),
          cpuMs: cpuMs(),
          eventsPerSec: Math.round(events / s),
          peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
          deliveryStep: spec.step ?? 8,
          violations: -1,
        };
        process.stdout.write(JSON.stringify(partial) + '\n');
        process.exit(0);
      }
    },
  });
  // The process's true peak (the report samples RSS every 15 simulated minutes).
  const peakRssMb = Math.max(report.run.peakRssMb, Math.round(process.resourceUsage().maxRSS / 1024));
  const result: Result = { ...report.run, cpuMs: cpuMs(), simHours: spec.hours, complete: true, peakRssMb, deliveryStep: report.model?.deliveryStep ?? 1, violations: report.invariants.violations.length };
  if (spec.out !== undefined) {
    const { writeReportFigures } = await import('../src/sim/svg.ts');
    const written = await writeReportFigures(report, spec.out); // the SVGs and report.json
    process.stderr.write(`  [${label(spec)}] wrote ${written.length} files to ${spec.out}\n`);
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<Record<string, number>> {
  const quick = argv.includes('--quick');
  const seedAt = argv.indexOf('--seed');
  const seed = seedAt >= 0 ? Number(argv[seedAt + 1]) : 1;
  const stepAt = argv.indexOf('--step');
  const step = stepAt >= 0 ? Number(argv[stepAt + 1]) : undefined;
  const runs = argv.flatMap((a, i) => (a === '--run' ? [parseCase(argv[i + 1] ?? '')] : []));
  const cases = (runs.length > 0 ? runs : quick ? QUICK : ISSUE).map((c) => (step !== undefined ? { ...c, step } : c));
  const rows: (string | number)[][] = [];
  const out: Record<string, number> = {};
  const record = (c: Case, r: Result, key: string) => {
    rows.push([label(c), r.complete ? `${r.simHours} h (all)` : `${r.simHours} h (stopped)`, r.deliveryStep, r.events, r.eventsPerSec, (r.wallMs / 1000).toFixed(1), (r.cpuMs / 1000).toFixed(1), r.peakRssMb, r.violations < 0 ? 'n/a' : r.violations]);
    out[`${key}.events`] = r.events;
    out[`${key}.eventsPerSec`] = r.eventsPerSec;
    out[`${key}.wallSec`] = Math.round(r.wallMs / 100) / 10;
    out[`${key}.cpuSec`] = Math.round(r.cpuMs / 100) / 10;
    out[`${key}.peakRssMb`] = r.peakRssMb;
    out[`${key}.simHours`] = r.simHours;
  };
  const load0 = loadavg()[0]!.toFixed(2);
  const wallAt = argv.indexOf('--max-wall');
  const maxWallMin = wallAt >= 0 ? Number(argv[wallAt + 1]) : 15;
  const outAt = argv.indexOf('--out');
  const figures = outAt >= 0 ? argv[outAt + 1] : undefined;
  const key = (c: Case) => `${c.peers}x${c.hours}${c.allOnline ? 'all' : ''}`;
  let base: Result | undefined;
  if (!argv.includes('--no-baseline')) {
    const c: Case = step !== undefined ? { ...BASELINE, step } : BASELINE;
    console.log(`sim bench: baseline ${label(c)} ...`);
    base = await runChild(c, seed, 0);
    record(c, base, 'baseline');
  }
  const results: Result[] = [];
  if (argv.includes('--parallel')) {
    for (const c of cases) console.log(`sim bench: ${label(c)} ... (in parallel)`);
    results.push(...(await Promise.all(cases.map((c, i) => runChild(c, seed, maxWallMin, i === 0 ? figures : undefined)))));
  } else {
    for (const [i, c] of cases.entries()) {
      console.log(`sim bench: ${label(c)} ...`);
      results.push(await runChild(c, seed, maxWallMin, i === 0 ? figures : undefined));
    }
  }
  cases.forEach((c, i) => {
    record(c, results[i]!, key(c));
    if (base) out[`${key(c)}.eventsPerSecVsBaseline`] = Math.round((results[i]!.eventsPerSec / base.eventsPerSec) * 100) / 100;
  });
  console.log(`\nload average of the machine (${cpus().length} cores) at start / end: ${load0} / ${loadavg()[0]!.toFixed(2)}`);
  printTable('simulator: cost per run (seed ' + seed + ', one run each)', ['run', 'simulated', 'step', 'events', 'events/s', 'wall s', 'CPU s', 'peak RSS MB', 'violations'], rows);
  if (base) {
    console.log('');
    for (const c of cases) console.log(`${label(c)}: ${out[`${key(c)}.eventsPerSecVsBaseline`]}x the events per second of the baseline (${label(BASELINE)}, same invocation)`);
  }
  if (argv.includes('--parallel')) console.log('(the runs shared the machine: each one\'s wall time is conservative)');
  return out;
}

if (isMain(import.meta.url)) {
  const at = process.argv.indexOf('--child');
  if (at >= 0) await child(JSON.parse(process.argv[at + 1]!) as Case & { seed: number; maxWallMin: number; out?: string });
  else await main();
}

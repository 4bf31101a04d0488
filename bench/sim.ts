/**
 * Simulator scale benchmark (issue 5 item 5): runs `tunemesh sim` in-process in a child per size
 * (so each run's peak RSS is its own, and the heap limit can be raised) and prints events, events
 * per second, wall time and peak RSS per run.
 *
 *   npx tsx bench/sim.ts              the issue's runs: 10 000 peers x 24 h, 100 000 x 1 h all online
 *   npx tsx bench/sim.ts --quick      2 000 x 2 h and 10 000 x 0.25 h all online (about a minute)
 *   npx tsx bench/sim.ts --run 5000x4 --run 20000x1:all-online --seed 2
 *   npx tsx bench/sim.ts --quick --step 1   one delivery event per chunk (the unbatched setting)
 *
 * Baseline, measured in the same invocation: the first run again with one delivery event per chunk
 * (`deliveryStep` 1, the setting before batched delivery), and the ratio of wall times; `--no-baseline`
 * skips it. Not part of `bench/run-all.ts`: the default runs take tens of minutes.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isMain, printTable, ROOT } from './stats.ts';

interface Case {
  peers: number;
  hours: number;
  allOnline: boolean;
  step?: number;
}

interface Result {
  events: number;
  wallMs: number;
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
/** Heap limit of a run's child, MB: the issue's budget is 8 GB of memory. */
const HEAP_MB = 7_680;

function parseCase(spec: string): Case {
  const m = /^(\d+)x([\d.]+)(:all-online)?$/.exec(spec);
  if (!m) throw new Error(`--run expects PEERSxHOURS[:all-online], got ${spec}`);
  return { peers: Number(m[1]), hours: Number(m[2]), allOnline: m[3] !== undefined };
}

function label(c: Case): string {
  return `${c.peers} x ${c.hours} h${c.allOnline ? ' all online' : ''}${c.step !== undefined ? ` step ${c.step}` : ''}`;
}

/** One run in a child process; resolves with its cost. */
function runChild(c: Case, seed: number): Promise<Result> {
  const self = fileURLToPath(import.meta.url);
  const args = [`--max-old-space-size=${HEAP_MB}`, '--import', 'tsx', self, '--child', JSON.stringify({ ...c, seed })];
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
async function child(spec: Case & { seed: number }): Promise<void> {
  const { runSimulation } = await import('../src/sim/run.ts');
  const { makeConfig } = await import('../src/core/config.ts');
  const started = performance.now();
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
      if (Math.floor(simHour) === lastHour && spec.hours > 1) return;
      lastHour = Math.floor(simHour);
      const s = (performance.now() - started) / 1000;
      process.stderr.write(`  [${label(spec)}] ${simHour.toFixed(2)} h, ${events} events, ${s.toFixed(0)} s, ${Math.round(events / Math.max(s, 0.001))} events/s, RSS ${Math.round(process.memoryUsage().rss / 1048576)} MB\n`);
    },
  });
  // The process's true peak (the report samples RSS every 15 simulated minutes).
  const peakRssMb = Math.max(report.run.peakRssMb, Math.round(process.resourceUsage().maxRSS / 1024));
  const result: Result = { ...report.run, peakRssMb, deliveryStep: report.model?.deliveryStep ?? 1, violations: report.invariants.violations.length };
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
    rows.push([label(c), r.deliveryStep, r.events, r.eventsPerSec, (r.wallMs / 1000).toFixed(1), r.peakRssMb, r.violations]);
    out[`${key}.events`] = r.events;
    out[`${key}.eventsPerSec`] = r.eventsPerSec;
    out[`${key}.wallSec`] = Math.round(r.wallMs / 100) / 10;
    out[`${key}.peakRssMb`] = r.peakRssMb;
  };
  let first: Result | undefined;
  for (const c of cases) {
    console.log(`sim bench: ${label(c)} ...`);
    const r = await runChild(c, seed);
    first ??= r;
    record(c, r, `${c.peers}x${c.hours}${c.allOnline ? 'all' : ''}`);
  }
  if (!argv.includes('--no-baseline') && step === undefined && first) {
    const c: Case = { ...cases[0]!, step: 1 };
    console.log(`sim bench: baseline ${label(c)} ...`);
    const r = await runChild(c, seed);
    record(c, r, 'baseline');
    out['speedupOverStep1'] = Math.round((r.wallMs / first.wallMs) * 100) / 100;
  }
  printTable('simulator: cost per run (seed ' + seed + ')', ['run', 'step', 'events', 'events/s', 'wall s', 'peak RSS MB', 'violations'], rows);
  if (out['speedupOverStep1'] !== undefined) console.log(`\nbatched delivery vs one event per chunk (same run): ${out['speedupOverStep1']}x faster in wall time`);
  return out;
}

if (isMain(import.meta.url)) {
  const at = process.argv.indexOf('--child');
  if (at >= 0) await child(JSON.parse(process.argv[at + 1]!) as Case & { seed: number });
  else await main();
}

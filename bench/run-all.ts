/**
 * Runs every benchmark and prints its figures (`npm run bench`). Benchmarks print medians of
 * several runs beside a baseline measured in the same run; none fails on time.
 */
import { main as codec } from './codec.ts';
import { main as link } from './link-throughput.ts';
import { main as ap } from './ap-throughput.ts';
import { main as latency } from './playback-latency.ts';
import { main as peers } from './peer-throughput.ts';
import { main as tracker } from './tracker.ts';
import { main as streaming } from './streaming.ts';
import { main as integrity } from './integrity.ts';
import { main as protection } from './content-protection.ts';

const all: Record<string, Record<string, unknown>> = {};
for (const [name, run] of Object.entries({ codec, link, ap, peers, tracker, latency, streaming, integrity, protection })) {
  console.log(`\n=== ${name} ===`);
  all[name] = (await run()) as Record<string, unknown>;
}
if (process.argv.includes('--json')) console.log(JSON.stringify(all, null, 2));

/** The load loop of the throughput benchmarks: links pulling whole files over and over. */
import type { Link } from '../src/net/link.ts';

const CHUNK = 16 * 1024;

/**
 * Each link asks for the whole file again and again for `seconds`; returns MB/s received in
 * total. `onPeak` runs half-way (to sample memory under load). The links are closed after.
 */
export async function pullWholeFiles(links: Link[], fileId: string, size: number, seconds: number, onPeak?: () => Promise<void>): Promise<number> {
  const chunks = Math.ceil(size / CHUNK);
  let bytes = 0;
  let stop = false;
  const t0 = performance.now();
  const loops = links.map(async (link) => {
    while (!stop) {
      const s = link.stream({ type: 'chunk-request', fileId, first: 0, count: chunks, urgency: 0 }, (m) => {
        if (m.type === 'chunk') bytes += m.data.length;
        return m.type === 'chunk-end' ? 'done' : 'more';
      });
      await s.done;
    }
  });
  await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
  await onPeak?.();
  await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
  stop = true;
  const elapsed = (performance.now() - t0) / 1000;
  const got = bytes;
  await Promise.allSettled(loops);
  for (const l of links) l.close();
  return got / elapsed / 1e6;
}

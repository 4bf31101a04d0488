/**
 * Which chunks to ask for next. The streaming strategy of the streaming issue replaces this with
 * the full scheduler; until then a download fetches the missing chunks in order from the
 * playback point to the end of the file, then the ones before it.
 */

/** A run of consecutive chunks. */
export interface ChunkRun {
  first: number;
  count: number;
}

/**
 * The next run of at most `maxCount` chunks for which `wanted(i)` holds, searching from `from`
 * to the end and then from 0; undefined when nothing is wanted.
 */
export function nextWantedRun(wanted: (index: number) => boolean, total: number, from: number, maxCount: number): ChunkRun | undefined {
  const start = Math.max(0, Math.min(from, total));
  for (const [lo, hi] of [[start, total], [0, start]] as const) {
    for (let i = lo; i < hi; i++) {
      if (!wanted(i)) continue;
      let n = 1;
      while (n < maxCount && i + n < hi && wanted(i + n)) n++;
      return { first: i, count: n };
    }
  }
  return undefined;
}

/** `tunemesh search`: searches the catalog through a running client. */
import type { Command } from 'commander';
import { DEFAULT_CLIENT, getJson } from '../client-api.ts';
import type { SearchResult } from '../../server/catalog.ts';
import { formatDuration } from '../format.ts';
import { albumUri } from '../../protocol/uris.ts';

export function register(program: Command): void {
  program
    .command('search')
    .description('Search artists, albums and tracks through a running client daemon.')
    .argument('<words...>', 'search words (each is prefix-matched)')
    .option('--client <url>', 'client daemon HTTP endpoint', DEFAULT_CLIENT)
    .option('--limit <n>', 'most results', (v) => Number(v), 20)
    .option('--json', 'print the result as JSON')
    .action(async (words: string[], o: { client: string; limit: number; json?: boolean }) => {
      const r = await getJson<SearchResult>(o.client, `/api/search?q=${encodeURIComponent(words.join(' '))}&limit=${o.limit}`);
      if (o.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        return;
      }
      for (const a of r.artists) process.stdout.write(`artist  ${a.name}  (${a.albumCount} albums)\n`);
      for (const a of r.albums) process.stdout.write(`album   ${albumUri(a.id)}  ${a.title} — ${a.artist}  (${a.trackCount} tracks)\n`);
      for (const t of r.tracks) process.stdout.write(`track   ${t.uri}  ${t.title} — ${t.artist} · ${t.album}  ${formatDuration(t.durationMs)}\n`);
      if (!r.artists.length && !r.albums.length && !r.tracks.length) process.stdout.write('nothing found\n');
    });
}

/** `tunemesh catalog`: shows what a data directory's catalog holds (for operators). */
import type { Command } from 'commander';
import type { AlbumInfo, ArtistInfo } from '../../core/track.ts';
import { openDataDir } from '../../server/data-dir.ts';
import { exitTwoOnUsageError, requireExistingDataDir } from './ingest.ts';

interface TrackLine {
  id: string;
  uri: string;
  trackNo: number;
  title: string;
  durationMs: number;
  bytes: number;
}

interface AlbumEntry {
  id: string;
  title: string;
  trackCount: number;
  tracks?: TrackLine[];
}

interface ArtistEntry {
  id: string;
  name: string;
  albumCount: number;
  albums: AlbumEntry[];
}

function minutes(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Registers `tunemesh catalog`. */
export function register(program: Command): void {
  const cmd = program
    .command('catalog')
    .description('List the artists, albums and track count of a data directory.')
    .requiredOption('--data <dir>', 'data directory')
    .option('--tracks', 'list every track with its id as well')
    .option('--json', 'print { trackCount, artistCount, albumCount, artists: [{ id, name, albumCount, albums }] } on stdout')
    .addHelpText('after', '\nExit status: 0 done, 1 failed, 2 bad arguments (e.g. no data directory there).')
    .action(async (o: { data: string; tracks?: boolean; json?: boolean }) => {
      requireExistingDataDir(cmd, o.data);
      const data = openDataDir(o.data);
      const artists: ArtistEntry[] = [];
      let trackCount: number;
      try {
        trackCount = await data.catalog.trackCount();
        const page = 1000;
        for (let offset = 0; ; offset += page) {
          const batch: ArtistInfo[] = await data.catalog.listArtists(offset, page);
          for (const a of batch) {
            const detail = await data.catalog.getArtist(a.id);
            const albums: AlbumEntry[] = [];
            for (const al of (detail?.albums ?? []) as AlbumInfo[]) {
              const entry: AlbumEntry = { id: al.id, title: al.title, trackCount: al.trackCount };
              if (o.tracks) {
                const full = await data.catalog.getAlbum(al.id);
                entry.tracks = (full?.tracks ?? []).map((t) => ({
                  id: t.id,
                  uri: t.uri,
                  trackNo: t.trackNo,
                  title: t.title,
                  durationMs: t.durationMs,
                  bytes: t.bytes,
                }));
              }
              albums.push(entry);
            }
            artists.push({ id: a.id, name: a.name, albumCount: a.albumCount, albums });
          }
          if (batch.length < page) break;
        }
      } finally {
        await data.close();
      }
      const albumCount = artists.reduce((s, a) => s + a.albums.length, 0);
      if (o.json) {
        process.stdout.write(JSON.stringify({ trackCount, artistCount: artists.length, albumCount, artists }, null, 2) + '\n');
        return;
      }
      const out: string[] = [`${artists.length} artists, ${albumCount} albums, ${trackCount} tracks in ${data.paths.root}`];
      for (const a of artists) {
        out.push(`${a.name}  [${a.id}]`);
        for (const al of a.albums) {
          out.push(`  ${al.title}  [${al.id}]  ${al.trackCount} track${al.trackCount === 1 ? '' : 's'}`);
          for (const t of al.tracks ?? []) {
            out.push(`    ${t.trackNo > 0 ? String(t.trackNo).padStart(2) + '.' : '  -'} ${t.title}  ${minutes(t.durationMs)}  [${t.id}]`);
          }
        }
      }
      process.stdout.write(out.join('\n') + '\n');
    });
  exitTwoOnUsageError(cmd);
}

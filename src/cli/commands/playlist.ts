/**
 * `tunemesh playlist create|add|list|show|rename|remove|delete`: the logged-in user's playlists,
 * through a running client daemon (they live at the AP). Positions on the command line count
 * from 1, as `playlist show` numbers the tracks; the HTTP API counts from 0.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { TrackInfo } from '../../core/track.ts';
import type { PlaylistInfo } from '../../protocol/messages.ts';
import { parseUri } from '../../protocol/uris.ts';
import { DEFAULT_CLIENT, getJson, requestJson, tracksFromArgs, UsageError } from '../client-api.ts';
import { formatDuration } from '../format.ts';
import { EXIT_USAGE, exitTwoOnUsageError } from './ingest.ts';

/** Most tracks in a playlist (the AP refuses more). */
const MAX_TRACKS = 10_000;

interface ClientOptions {
  client: string;
  json?: boolean;
}

/** The playlist id of `tunemesh:playlist:<id>` (or a bare id). */
function playlistId(ref: string): string {
  const uri = parseUri(ref);
  if (uri?.kind === 'playlist') return uri.id;
  if (!uri && /^[A-Za-z0-9_-]{1,64}$/.test(ref)) return ref;
  throw new UsageError(`not a playlist URI: ${JSON.stringify(ref)} (expected tunemesh:playlist:<id>)`);
}

/** A 1-based position from the command line, at most `max`. */
function parsePosition(max: number) {
  return (v: string): number => {
    const n = /^\d{1,6}$/.test(v) ? Number(v) : NaN;
    if (!(n >= 1 && n <= max)) throw new InvalidArgumentError(`a position from 1 to ${max}`);
    return n;
  };
}

function summary(p: PlaylistInfo): string {
  return `${p.trackCount} track${p.trackCount === 1 ? '' : 's'}, ${formatDuration(p.durationMs)}`;
}

function trackLine(t: TrackInfo, i: number, width: number): string {
  return `${String(i + 1).padStart(width)}. ${t.title} — ${t.artist} · ${t.album}  ${formatDuration(t.durationMs)}  ${t.uri}`;
}

function print(o: ClientOptions, json: unknown, human: string): void {
  process.stdout.write(o.json ? JSON.stringify(json, null, 2) + '\n' : human);
}

/** Runs an action; a UsageError exits 2 with commander's error output. */
function action<A extends unknown[]>(cmd: () => Command, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (err instanceof UsageError) cmd().error(`error: ${err.message}`, { exitCode: EXIT_USAGE });
      throw err;
    }
  };
}

/** Adds `--client` and `--json` to a subcommand. */
function withClient(cmd: Command, json: string): Command {
  return exitTwoOnUsageError(cmd.option('--client <url>', 'client daemon HTTP endpoint', DEFAULT_CLIENT).option('--json', json));
}

export function register(program: Command): void {
  const playlist = program
    .command('playlist')
    .description("Create, fill, show and delete the user's playlists (they live at the AP) through a running client.")
    .addHelpText('after', '\nPlaylists have URIs tunemesh:playlist:<id>; play one with: tunemesh play tunemesh:playlist:<id>\nExit status: 0 done, 1 failed, 2 bad arguments.');
  exitTwoOnUsageError(playlist);

  const create: Command = withClient(
    playlist.command('create').description('Create an empty playlist.').argument('<name...>', 'its name (1-200 bytes; words are joined with spaces)'),
    'print { playlist } as JSON',
  ).action(
    action(() => create, async (name: string[], o: ClientOptions) => {
      const { playlist: p } = await requestJson<{ playlist: PlaylistInfo }>(o.client, 'POST', '/api/playlists', { name: name.join(' ') });
      print(o, { playlist: p }, `created playlist "${p.name}"  ${p.uri}\n`);
    }),
  );

  const add: Command = withClient(
    playlist
      .command('add')
      .description('Add tracks: track, album or playlist URIs (all their tracks, in order), or search words (the best matching track).')
      .argument('<playlist-uri>', 'tunemesh:playlist:<id>')
      .argument('<track-uri|words...>', 'tunemesh:track:<id> (or album/playlist URIs), or search words')
      .option('--position <n>', 'insert before the track at this position (1 = first); default: at the end', parsePosition(MAX_TRACKS + 1)),
    'print { playlist, added } as JSON',
  ).action(
    action(() => add, async (ref: string, what: string[], o: ClientOptions & { position?: number }) => {
      const id = playlistId(ref);
      const found = await tracksFromArgs(o.client, what);
      const tracks = 'searched' in found ? [found.searched] : found.fromUris.flatMap((r) => r.tracks);
      if (tracks.length === 0) throw new Error('nothing to add: the URIs hold no tracks');
      if (tracks.length > MAX_TRACKS) throw new Error(`at most ${MAX_TRACKS} tracks can be added at once; these are ${tracks.length}`);
      const body = { trackIds: tracks.map((t) => t.id), ...(o.position === undefined ? {} : { position: o.position - 1 }) };
      const { playlist: p } = await requestJson<{ playlist: PlaylistInfo }>(o.client, 'POST', `/api/playlists/${id}/tracks`, body);
      const added = tracks.map((t) => ({ id: t.id, uri: t.uri, title: t.title, artist: t.artist }));
      const what1 = tracks.length === 1 ? `${tracks[0]!.title} — ${tracks[0]!.artist}` : `${tracks.length} tracks`;
      print(o, { playlist: p, added }, `added ${what1} to "${p.name}" (now ${summary(p)})\n`);
    }),
  );

  const list: Command = withClient(playlist.command('list').description("List the user's playlists."), 'print { playlists, total } as JSON').action(
    action(() => list, async (o: ClientOptions) => {
      const all: PlaylistInfo[] = [];
      let total = 0;
      do {
        const page = await getJson<{ playlists: PlaylistInfo[]; total: number }>(o.client, `/api/playlists?offset=${all.length}`);
        total = page.total;
        all.push(...page.playlists);
        if (page.playlists.length === 0) break;
      } while (all.length < total);
      const lines = all.map((p) => `${p.uri}  ${p.name}  (${summary(p)})\n`).join('');
      print(o, { playlists: all, total }, lines || 'no playlists\n');
    }),
  );

  const show: Command = withClient(
    playlist.command('show').description('Show a playlist and its tracks in order.').argument('<playlist-uri>', 'tunemesh:playlist:<id>'),
    'print { playlist, tracks } as JSON',
  ).action(
    action(() => show, async (ref: string, o: ClientOptions) => {
      const r = await getJson<{ playlist: PlaylistInfo; tracks: TrackInfo[] }>(o.client, `/api/playlists/${playlistId(ref)}`);
      const width = String(r.tracks.length).length;
      const human = `${r.playlist.name}  ${r.playlist.uri}  (${summary(r.playlist)})\n` + r.tracks.map((t, i) => trackLine(t, i, width) + '\n').join('');
      print(o, r, human);
    }),
  );

  const rename: Command = withClient(
    playlist.command('rename').description('Rename a playlist.').argument('<playlist-uri>', 'tunemesh:playlist:<id>').argument('<name...>', 'the new name'),
    'print { playlist } as JSON',
  ).action(
    action(() => rename, async (ref: string, name: string[], o: ClientOptions) => {
      const r = await requestJson<{ playlist: PlaylistInfo }>(o.client, 'PATCH', `/api/playlists/${playlistId(ref)}`, { name: name.join(' ') });
      print(o, r, `renamed ${r.playlist.uri} to "${r.playlist.name}"\n`);
    }),
  );

  const remove: Command = withClient(
    playlist
      .command('remove')
      .description('Remove the track at a position; the tracks after it move up.')
      .argument('<playlist-uri>', 'tunemesh:playlist:<id>')
      .argument('<position>', 'the position as `playlist show` numbers it (1 = first)', parsePosition(MAX_TRACKS)),
    'print { playlist } as JSON',
  ).action(
    action(() => remove, async (ref: string, position: number, o: ClientOptions) => {
      const r = await requestJson<{ playlist: PlaylistInfo }>(o.client, 'DELETE', `/api/playlists/${playlistId(ref)}/tracks/${position - 1}`);
      print(o, r, `removed track ${position} from "${r.playlist.name}" (now ${summary(r.playlist)})\n`);
    }),
  );

  const del: Command = withClient(
    playlist.command('delete').description('Delete a playlist (the tracks stay in the catalog).').argument('<playlist-uri>', 'tunemesh:playlist:<id>'),
    'print { deleted } as JSON',
  ).action(
    action(() => del, async (ref: string, o: ClientOptions) => {
      const id = playlistId(ref);
      const r = await requestJson<{ deleted: string }>(o.client, 'DELETE', `/api/playlists/${id}`);
      print(o, r, `deleted tunemesh:playlist:${r.deleted}\n`);
    }),
  );
}

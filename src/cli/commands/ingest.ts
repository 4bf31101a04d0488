/** `tunemesh ingest`: adds audio files to a data directory's catalog and store. */
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import type { TrackInfo } from '../../core/track.ts';
import { openDataDir } from '../../server/data-dir.ts';
import { AUDIO_EXTENSIONS, ingestPaths } from '../../server/ingest.ts';

/** Exit code for bad arguments (unknown option, missing argument or option, invalid value). */
export const EXIT_USAGE = 2;

/**
 * Makes usage errors of `cmd` exit with {@link EXIT_USAGE} instead of commander's 1 (help still
 * exits 0). Applies to `cmd` only; call it on each subcommand.
 */
export function exitTwoOnUsageError(cmd: Command): Command {
  return cmd.exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
  });
}

/** Fails with a usage error (exit 2) unless `dir` is an existing data directory. */
export function requireExistingDataDir(cmd: Command, dir: string): void {
  if (!existsSync(path.join(dir, 'catalog.db'))) {
    cmd.error(`error: no tunemesh data directory at ${path.resolve(dir)} (create one with: tunemesh ingest <files> --data ${dir})`, {
      exitCode: EXIT_USAGE,
    });
  }
}

/** The fields of a track `ingest --json` prints. */
function brief(t: TrackInfo) {
  return { id: t.id, uri: t.uri, title: t.title, artist: t.artist, album: t.album, durationMs: t.durationMs, bytes: t.bytes };
}

/** Files above which a progress bar is shown (on a terminal). */
const PROGRESS_MIN_FILES = 5;

/** Registers `tunemesh ingest`. */
export function register(program: Command): void {
  const cmd = program
    .command('ingest')
    .description('Add Ogg Vorbis/Opus files to the catalog and audio store of a data directory.')
    .argument('<paths...>', `audio files, or directories searched recursively for ${AUDIO_EXTENSIONS.join(' ')} files`)
    .requiredOption('--data <dir>', 'data directory (created if missing)')
    .option('--json', 'print the result as JSON on stdout: { added, existing, failed }')
    .addHelpText(
      'after',
      `
Tags (Vorbis comments) give title, artist, album and track number; without them the title is the
file name, the artist "Unknown Artist", the album "Unknown Album", the track number the leading
digits of the file name. Ingesting a file again changes nothing and keeps its track id.
A bad file is reported and skipped; the other files are still ingested.

Exit status:
  0  at least one file was added or was already present (some others may have failed)
  1  nothing was ingested: every file failed, or no audio files were found
  2  bad arguments`,
    )
    .action(async (paths: string[], o: { data: string; json?: boolean }) => {
      const started = performance.now();
      const data = openDataDir(o.data);
      let bar: cliProgress.SingleBar | undefined;
      let result;
      let catalogTracks: number;
      try {
        result = await ingestPaths(paths, {
          data,
          onProgress(done, total, file) {
            if (!process.stderr.isTTY || total < PROGRESS_MIN_FILES) return;
            if (!bar) {
              bar = new cliProgress.SingleBar(
                { stream: process.stderr, format: 'ingest [{bar}] {value}/{total} files | {file}', hideCursor: true, clearOnComplete: true },
                cliProgress.Presets.shades_classic,
              );
              bar.start(total, 0, { file: '' });
            }
            bar.update(done, { file: path.basename(file).slice(0, 40) });
          },
        });
        catalogTracks = await data.catalog.trackCount();
      } finally {
        bar?.stop();
        await data.close();
      }
      const seconds = (performance.now() - started) / 1000;
      const ok = result.added.length + result.existing.length;

      if (o.json) {
        process.stdout.write(
          JSON.stringify({ added: result.added.map(brief), existing: result.existing.map(brief), failed: result.failed }, null, 2) + '\n',
        );
      } else {
        const lines: string[] = [];
        const mb = [...result.added, ...result.existing].reduce((s, t) => s + t.bytes, 0) / 1e6;
        lines.push(
          `added ${result.added.length}, already present ${result.existing.length}, failed ${result.failed.length}` +
            ` (${seconds.toFixed(1)} s, ${(ok / seconds).toFixed(1)} files/s, ${(mb / seconds).toFixed(1)} MB/s)`,
        );
        for (const f of result.failed) lines.push(`  failed: ${f.file}: ${f.error}`);
        if (ok + result.failed.length === 0) lines.push(`no audio files (${AUDIO_EXTENSIONS.join(' ')}) found in ${paths.join(' ')}`);
        lines.push(`catalog ${path.resolve(o.data)} holds ${catalogTracks} tracks`);
        process.stdout.write(lines.join('\n') + '\n');
      }
      process.exitCode = ok > 0 ? 0 : 1;
    });
  exitTwoOnUsageError(cmd);
}

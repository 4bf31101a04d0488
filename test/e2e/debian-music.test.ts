/**
 * Real third-party music: the Ogg Vorbis soundtrack of Debian's drascula-music package is
 * ingested, served by a real AP and played through a real client, byte-identical.
 * `.ci/run` fetches the package (scripts/fetch-debian-music.sh) and names the folder in
 * TUNEMESH_DEBIAN_MUSIC; without it the test fetches it itself, and skips only when apt
 * cannot provide it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseOggFile } from '../../src/audio/ogg.ts';
import { runCli, startCli, run, ROOT } from '../helpers/processes.ts';

async function musicDir(): Promise<string | undefined> {
  const given = process.env.TUNEMESH_DEBIAN_MUSIC;
  if (given) return given;
  const r = await run('bash', [path.join(ROOT, 'scripts', 'fetch-debian-music.sh'), path.join(ROOT, '.cache', 'debian-music')]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

test('the drascula-music soundtrack ingests and plays byte-identical', async (t) => {
  const music = await musicDir();
  if (!music || !(await stat(music).catch(() => undefined))) {
    t.skip('apt could not provide drascula-music here');
    return;
  }
  const all = (await readdir(music)).filter((f) => f.endsWith('.ogg')).sort();
  assert.ok(all.length >= 10, `found ${all.length} .ogg files`);
  // Every file parses with a plausible duration and a seek index.
  for (const f of all) {
    const info = await parseOggFile(path.join(music, f));
    assert.equal(info.codec, 'vorbis');
    assert.ok(info.durationMs > 1000, `${f}: ${info.durationMs} ms`);
    assert.ok(info.seekIndex.length > 1);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-debian-'));
  try {
    const data = path.join(dir, 'data');
    const ingest = await runCli(['ingest', music, '--data', data, '--json']);
    assert.equal(ingest.code, 0, ingest.stderr);
    const added = JSON.parse(ingest.stdout).added as { id: string; bytes: number; title: string }[];
    assert.equal(added.length, all.length);
    await runCli(['user', 'add', 'carol', '--password', 'pw', '--data', data]);
    const ap = await startCli(['server', '--data', data, '--port', '0', '--json']);
    const client = await startCli(['client', '--server', JSON.parse(ap.firstLine).address, '--cache', path.join(dir, 'cache'), '--http-port', '0', '--user', 'carol', '--password', 'pw', '--json']);
    try {
      const url = JSON.parse(client.firstLine).url;
      // Play the three largest tracks and compare with the files from the package.
      const biggest = [...added].sort((a, b) => b.bytes - a.bytes).slice(0, 3);
      for (const track of biggest) {
        const body = Buffer.from(await (await fetch(`${url}/audio/${track.id}`)).arrayBuffer());
        const candidates = await Promise.all(all.map(async (f) => readFile(path.join(music, f))));
        assert.ok(candidates.some((c) => c.equals(body)), `${track.title}: bytes identical to a packaged file`);
      }
    } finally {
      await client.stop();
      await ap.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * A client killed (SIGKILL) at random moments during downloads: after each restart the cache is
 * consistent (every chunk it claims to hold is byte-identical to the source) and playback
 * finally completes with identical bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { synthesizeVorbis } from '../../src/audio/synth.ts';
import { DiskCache } from '../../src/client/disk-cache.ts';
import { seededRng } from '../../src/core/clock.ts';
import { runCli, startCli } from '../helpers/processes.ts';
import { readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { openDataDir } from '../../src/server/data-dir.ts';

const CHUNK = 16 * 1024;

test('kills at random moments never corrupt the cache; playback completes byte-identical', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-kill-'));
  const data = path.join(dir, 'data');
  const cacheDir = path.join(dir, 'cache');
  try {
    const audio = await synthesizeVorbis({ seed: 3, durationSec: 60, tags: { title: 'Long Night', artist: 'Crash Test', album: 'Kills' } });
    const src = Buffer.from(audio);
    await writeFile(path.join(dir, 'long.ogg'), src);
    const ingest = await runCli(['ingest', path.join(dir, 'long.ogg'), '--data', data, '--json']);
    assert.equal(ingest.code, 0, ingest.stderr);
    const track = JSON.parse(ingest.stdout).added[0];
    // Files are stored encrypted and content-addressed (issue 6): the file id is the SHA-256 of
    // the ciphertext in the AP's store, which is what the cache holds too.
    const d = openDataDir(data);
    const fileId = (await d.catalog.getTrack(track.id))!.fileId;
    await d.close();
    const cipher = await readFile(path.join(data, 'store', fileId.slice(0, 2), fileId));
    assert.equal(createHash('sha256').update(cipher).digest('hex'), fileId);
    await runCli(['user', 'add', 'bob', '--password', 'pw', '--data', data]);
    // Throttled AP so a download takes a few seconds and a kill lands in the middle of it.
    const rate = Math.ceil(src.length / 4);
    const ap = await startCli(['server', '--data', data, '--port', '0', '--json', '--max-rate', String(rate)]);
    const address = JSON.parse(ap.firstLine).address;
    const rng = seededRng(42);
    const startClient = () => startCli(['client', '--server', address, '--cache', cacheDir, '--http-port', '0', '--user', 'bob', '--password', 'pw', '--json']);
    try {
      let lastHeld = 0;
      let killedMidDownload = 0;
      for (let round = 0; round < 6; round++) {
        const client = await startClient();
        const url = JSON.parse(client.firstLine).url;
        // Start playing from a random position (a seek, like a listener jumping around) and kill.
        const from = round % 2 === 0 ? 0 : Math.floor(rng.next() * src.length * 0.8);
        const res = await fetch(`${url}/audio/${track.id}`, { headers: { range: `bytes=${from}-` } });
        const reader = res.body!.getReader();
        const drain = (async () => {
          try {
            for (;;) if ((await reader.read()).done) break;
          } catch {}
        })();
        await new Promise((r) => setTimeout(r, 150 + rng.next() * 900));
        await client.kill();
        await drain;
        // The cache a killed client left behind: every chunk it holds equals the AP's ciphertext.
        const cache = await DiskCache.open(path.join(cacheDir, 'cache'), { limitBytes: 1 << 30, chunkSize: CHUNK, clock: { now: () => Date.now() } });
        let held = 0;
        const total = Math.ceil(src.length / CHUNK);
        for (let i = 0; i < total; i++) {
          if (!cache.hasChunk(fileId, i)) continue;
          held++;
          const start = i * CHUNK;
          const end = Math.min(src.length, start + CHUNK);
          const got = await cache.readRange(fileId, start, end);
          assert.ok(Buffer.from(got).equals(cipher.subarray(start, end)), `round ${round}: chunk ${i} identical`);
        }
        await cache.close();
        assert.ok(held >= lastHeld, 'chunks written before a kill are kept');
        if (held > lastHeld && held < total) killedMidDownload++;
        lastHeld = held;
      }
      assert.ok(killedMidDownload >= 2, `kills landed mid-download in ${killedMidDownload} rounds`);
      const client = await startClient();
      const url = JSON.parse(client.firstLine).url;
      const body = Buffer.from(await (await fetch(`${url}/audio/${track.id}`)).arrayBuffer());
      assert.ok(body.equals(src), 'final playback byte-identical');
      const stats = await (await fetch(`${url}/api/stats`)).json();
      assert.ok(stats.bytes.server < src.length, 'the restarted client reused what earlier runs had cached');
      await client.stop();
    } finally {
      await ap.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

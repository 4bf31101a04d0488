import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { parseFile } from 'music-metadata';
import { parseOgg } from '../../src/audio/ogg.ts';
import { readPage } from '../../src/audio/ogg-page.ts';
import { DEFAULT_QUALITY, planDemoLibrary, synthesizeVorbis, writeDemoLibrary } from '../../src/audio/synth.ts';
import { missing, readWav16, run, tempDir } from './helpers.ts';

let tmp: { dir: string; cleanup: () => void };
before(() => {
  tmp = tempDir('synth');
});
after(() => tmp.cleanup());

const TAGS = { title: 'Lanterns Över Water', artist: 'Mira Solenne', album: 'Quiet Weather', trackNo: 7 };

function save(name: string, data: Uint8Array): string {
  const p = join(tmp.dir, name);
  writeFileSync(p, data);
  return p;
}

test('synthesized tracks have the requested length, within 50 ms, for several lengths and rates', async () => {
  for (const [durationSec, sampleRate] of [[0.3, 44100], [4.321, 44100], [9.99, 48000], [61, 44100]] as const) {
    const data = await synthesizeVorbis({ seed: 5, durationSec, sampleRate });
    const info = parseOgg(data, `${durationSec}s.ogg`);
    assert.equal(info.sampleRate, sampleRate);
    assert.ok(Math.abs(info.durationMs - durationSec * 1000) <= 50, `${durationSec} s came out as ${info.durationMs} ms`);
  }
});

test('oggdec and ffmpeg decode a synthesized track without errors; ogginfo has no warnings', { skip: missing('oggdec', 'ogginfo') }, async () => {
  const p = save('decode.ogg', await synthesizeVorbis({ seed: 11, durationSec: 8, tags: TAGS }));
  const dec = run('oggdec', ['-Q', '-o', '/dev/null', p]);
  assert.equal(dec.status, 0, dec.stderr);
  assert.equal(dec.stderr.trim(), '');
  const info = run('ogginfo', [p]);
  const text = info.stdout.toString('utf8');
  assert.equal(info.status, 0, text);
  assert.doesNotMatch(text, /warning|error|hole|corrupt/i);
  assert.match(text, /Playback length: 0m:08\.0/);
  if (!missing('ffmpeg')) {
    const ff = run('ffmpeg', ['-v', 'error', '-i', p, '-f', 'null', '-']);
    assert.equal(ff.status, 0);
    assert.equal(ff.stderr.trim(), '');
  }
});

test('the audio is music-like: loud enough, not clipping, stereo, and changing over time', { skip: missing('oggdec') }, async () => {
  const p = save('level.ogg', await synthesizeVorbis({ seed: 21, durationSec: 10 }));
  const r = run('oggdec', ['-Q', '-o', '-', p]);
  assert.equal(r.status, 0, r.stderr);
  const { channels } = readWav16(r.stdout);
  const [l, rr] = channels as [Float32Array, Float32Array];
  let sum = 0;
  let peak = 0;
  let diff = 0;
  for (let i = 0; i < l.length; i++) {
    sum += l[i]! * l[i]!;
    peak = Math.max(peak, Math.abs(l[i]!), Math.abs(rr[i]!));
    diff += (l[i]! - rr[i]!) ** 2;
  }
  const rmsDb = 10 * Math.log10(sum / l.length);
  assert.ok(rmsDb > -32 && rmsDb < -8, `RMS ${rmsDb.toFixed(1)} dBFS`);
  assert.ok(peak < 0.99, `peak ${peak}: clipping`);
  assert.ok(diff / sum > 0.01, 'left and right are (almost) the same: not stereo');
  // Loudness per 250 ms window varies (notes and drums), unlike a steady beep.
  const win = 11025;
  const levels: number[] = [];
  for (let s = 2 * 44100; s + win <= l.length - 44100; s += win) {
    let e = 0;
    for (let i = s; i < s + win; i++) e += l[i]! * l[i]!;
    levels.push(e / win);
  }
  const mean = levels.reduce((a, b) => a + b, 0) / levels.length;
  const sd = Math.sqrt(levels.reduce((a, b) => a + (b - mean) ** 2, 0) / levels.length);
  assert.ok(sd / mean > 0.05, `level barely changes (cv ${(sd / mean).toFixed(3)})`);
});

test('tags are readable by music-metadata, and ogginfo lists them', async () => {
  const p = save('tags.ogg', await synthesizeVorbis({ seed: 3, durationSec: 3, tags: TAGS }));
  const meta = await parseFile(p);
  assert.equal(meta.format.container, 'Ogg');
  assert.equal(meta.format.codec, 'Vorbis I');
  assert.equal(meta.common.title, TAGS.title);
  assert.equal(meta.common.artist, TAGS.artist);
  assert.equal(meta.common.album, TAGS.album);
  assert.equal(meta.common.track.no, TAGS.trackNo);
  assert.ok(Math.abs((meta.format.duration ?? 0) - 3) < 0.05, `music-metadata duration ${meta.format.duration}`);
  if (!missing('ogginfo')) {
    const text = run('ogginfo', [p]).stdout.toString('utf8');
    for (const line of ['TITLE=Lanterns Över Water', 'ARTIST=Mira Solenne', 'ALBUM=Quiet Weather', 'TRACKNUMBER=7']) {
      assert.ok(text.includes(line), `ogginfo lacks ${line}:\n${text}`);
    }
  }
});

test('a comment header that needs more pages renumbers every later page with valid CRCs', async () => {
  const long = 'x'.repeat(30000);
  const plain = await synthesizeVorbis({ seed: 4, durationSec: 5 });
  const tagged = await synthesizeVorbis({ seed: 4, durationSec: 5, tags: { ...TAGS, title: long } });
  const pages = (d: Uint8Array) => {
    const out: { seq: number; granule: bigint }[] = [];
    for (let o = 0; o < d.length; ) {
      const r = readPage(d, o);
      assert.ok(r.ok, !r.ok ? r.problem : '');
      out.push({ seq: r.page.sequence, granule: r.page.granule });
      o += r.page.length;
    }
    return out;
  };
  const a = pages(plain);
  const b = pages(tagged);
  const extra = b.length - a.length;
  assert.ok(extra >= 5, `30 kB of tags should need several more header pages, got ${extra}`);
  b.forEach((p, i) => assert.equal(p.seq, i, 'sequence numbers are contiguous from 0'));
  // The audio pages are the same pages, shifted.
  assert.deepEqual(
    b.slice(extra + 2).map((p) => p.granule),
    a.slice(2).map((p) => p.granule),
  );
  const info = parseOgg(tagged, 'long-tags.ogg');
  assert.ok(Math.abs(info.durationMs - 5000) <= 50);
  const p = save('long-tags.ogg', tagged);
  assert.equal((await parseFile(p)).common.title, long);
  if (!missing('oggdec')) assert.equal(run('oggdec', ['-Q', '-o', '/dev/null', p]).status, 0);
});

test('same seed and options give byte-identical output; a different seed or option does not', async () => {
  const opts = { seed: 1234, durationSec: 6, tags: TAGS };
  const a = await synthesizeVorbis(opts);
  const b = await synthesizeVorbis({ ...opts, tags: { ...TAGS } });
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), 'same options, different bytes');
  const c = await synthesizeVorbis({ ...opts, seed: 1235 });
  assert.ok(!Buffer.from(a).equals(Buffer.from(c)));
  const d = await synthesizeVorbis({ ...opts, quality: DEFAULT_QUALITY + 2 });
  assert.ok(d.length > a.length, 'a higher quality makes a bigger file');
  // Concurrent synthesis (encoders from the pool, interleaved between blocks) changes nothing.
  const [e, f] = await Promise.all([synthesizeVorbis(opts), synthesizeVorbis({ ...opts, seed: 1235 })]);
  assert.ok(Buffer.from(a).equals(Buffer.from(e)));
  assert.ok(Buffer.from(c).equals(Buffer.from(f)));
});

test('the default quality lands in the 96-160 kbps range; mono works', async () => {
  const data = await synthesizeVorbis({ seed: 77, durationSec: 20 });
  const info = parseOgg(data);
  assert.ok(info.bitrate >= 85_000 && info.bitrate <= 170_000, `bitrate ${info.bitrate}`);
  const mono = parseOgg(await synthesizeVorbis({ seed: 77, durationSec: 2, channels: 1 }));
  assert.equal(mono.channels, 1);
});

test('bad options are refused', async () => {
  await assert.rejects(synthesizeVorbis({ seed: 1, durationSec: 0 }), RangeError);
  await assert.rejects(synthesizeVorbis({ seed: 1, durationSec: Number.NaN }), RangeError);
  await assert.rejects(synthesizeVorbis({ seed: 1, durationSec: 1, sampleRate: 100 }), RangeError);
});

test('writeDemoLibrary writes Artist/Album/NN Title.ogg with matching tags, deterministically', async () => {
  const opts = { artists: 2, albumsPerArtist: 2, tracksPerAlbum: 3, seed: 42, minSec: 1, maxSec: 3 };
  const dirA = join(tmp.dir, 'libA');
  const dirB = join(tmp.dir, 'libB');
  const paths = await writeDemoLibrary(dirA, opts);
  const pathsB = await writeDemoLibrary(dirB, { ...opts, concurrency: 1 });
  assert.equal(paths.length, 12);
  assert.equal(new Set(paths).size, 12);
  for (let i = 0; i < paths.length; i++) {
    const p = paths[i]!;
    assert.ok(existsSync(p), p);
    const rel = relative(dirA, p).split(sep);
    assert.equal(rel.length, 3, `expected Artist/Album/file, got ${rel.join('/')}`);
    const m = /^(\d\d) (.+)\.ogg$/.exec(rel[2]!);
    assert.ok(m, rel[2]);
    const meta = await parseFile(p);
    assert.equal(meta.common.artist, rel[0]);
    assert.equal(meta.common.album, rel[1]);
    assert.equal(meta.common.title, m[2]);
    assert.equal(meta.common.track.no, Number(m[1]));
    const info = parseOgg(readFileSync(p), p);
    assert.ok(info.durationMs >= 950 && info.durationMs <= 3050, `${p}: ${info.durationMs} ms`);
    // Worker threads and this thread produce the same files.
    assert.equal(relative(dirB, pathsB[i]!), relative(dirA, p));
    assert.ok(readFileSync(p).equals(readFileSync(pathsB[i]!)), `${p} differs between runs`);
  }
  assert.equal(new Set(paths.map((p) => basename(dirname(dirname(p))))).size, 2, 'two distinct artists');
  const other = planDemoLibrary(dirA, { ...opts, seed: 43 }).map((t) => t.path);
  assert.notDeepEqual(other, paths, 'another seed gives another library');

  // reuse: intact files stay untouched; a truncated and a missing file are made again.
  const before = paths.map((p) => readFileSync(p));
  const mtimes = paths.map((p) => statSync(p).mtimeMs);
  writeFileSync(paths[1]!, before[1]!.subarray(0, before[1]!.length - 500));
  rmSync(paths[4]!);
  await new Promise((r) => setTimeout(r, 20));
  const again = await writeDemoLibrary(dirA, { ...opts, reuse: true });
  assert.deepEqual(again, paths);
  paths.forEach((p, i) => {
    assert.ok(readFileSync(p).equals(before[i]!), `${p} not restored`);
    if (i !== 1 && i !== 4) assert.equal(statSync(p).mtimeMs, mtimes[i], `${p} was rewritten`);
  });
});

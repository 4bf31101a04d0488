/**
 * The storage commands as real processes: `tunemesh ingest`, `catalog` and `user`, their JSON
 * output and exit codes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers/processes.ts';
import { openDataDir } from '../../src/server/data-dir.ts';
import { makeVorbis, tempDir } from './storage-fixtures.ts';

describe('tunemesh ingest / catalog / user (processes)', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());
  const lib = path.join(tmp.dir, 'lib');
  const data = path.join(tmp.dir, 'data');
  let broken: string;

  before(() => {
    mkdirSync(lib, { recursive: true });
    for (let i = 1; i <= 3; i++) {
      makeVorbis(path.join(lib, `0${i}.ogg`), { freq: 200 + 100 * i, tags: { title: `Tune ${i}`, artist: 'CLI Artist', album: 'CLI Album', trackNo: i } });
    }
    broken = path.join(tmp.dir, 'broken.ogg');
    writeFileSync(broken, 'OggS but not really');
  });

  it('ingest --json prints added, existing and failed, and a second run finds everything present', async () => {
    const r = await runCli(['ingest', lib, broken, '--data', data, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.added.length, 3);
    assert.deepEqual(Object.keys(out.added[0]).sort(), ['album', 'artist', 'bytes', 'durationMs', 'id', 'title', 'uri']);
    assert.deepEqual(out.added.map((t: { title: string }) => t.title), ['Tune 1', 'Tune 2', 'Tune 3']);
    for (const t of out.added) {
      assert.match(t.id, /^[0-9A-Za-z]{12}$/);
      assert.equal(t.uri, `tunemesh:track:${t.id}`);
      assert.ok(t.durationMs > 1500 && t.bytes > 1000);
    }
    assert.deepEqual(out.existing, []);
    assert.equal(out.failed.length, 1);
    assert.equal(out.failed[0].file, broken);
    assert.match(out.failed[0].error, /Ogg|page|capture/i);

    const again = await runCli(['ingest', lib, '--data', data, '--json']);
    assert.equal(again.code, 0, again.stderr);
    const out2 = JSON.parse(again.stdout);
    assert.deepEqual(out2.added, []);
    assert.deepEqual(out2.existing.map((t: { id: string }) => t.id), out.added.map((t: { id: string }) => t.id));

    const human = await runCli(['ingest', lib, '--data', data]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /added 0, already present 3, failed 0/);
  });

  it('ingest exits 1 when every file fails and 2 on bad arguments', async () => {
    const [allBad, noData, badOpt, noArgs, help] = await Promise.all([
      runCli(['ingest', broken, path.join(tmp.dir, 'missing.ogg'), '--data', path.join(tmp.dir, 'data-bad'), '--json']),
      runCli(['ingest', lib]),
      runCli(['ingest', lib, '--data', data, '--frobnicate']),
      runCli(['ingest', '--data', data]),
      runCli(['ingest', '--help']),
    ]);
    assert.equal(allBad.code, 1, allBad.stderr);
    assert.equal(JSON.parse(allBad.stdout).failed.length, 2);
    assert.equal(noData.code, 2);
    assert.match(noData.stderr, /--data/);
    assert.equal(badOpt.code, 2);
    assert.match(badOpt.stderr, /unknown option/);
    assert.equal(noArgs.code, 2);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Exit status:/);
  });

  it('catalog lists artists, albums and tracks', async () => {
    const r = await runCli(['catalog', '--data', data, '--json', '--tracks']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual([out.trackCount, out.artistCount, out.albumCount], [3, 1, 1]);
    assert.equal(out.artists[0].name, 'CLI Artist');
    assert.deepEqual(out.artists[0].albums[0].tracks.map((t: { trackNo: number }) => t.trackNo), [1, 2, 3]);
    const human = await runCli(['catalog', '--data', data]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /1 artists, 1 albums, 3 tracks/);
    assert.match(human.stdout, /CLI Album .* 3 tracks/);
    const missing = await runCli(['catalog', '--data', path.join(tmp.dir, 'nothing-here')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no tunemesh data directory/);
  });

  it('user add/list manage accounts; the password can come from the environment', async () => {
    const a = await runCli(['user', 'add', 'alice', '--password', 's3cret', '--data', data]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /created user alice/);
    const b = await runCli(['user', 'add', 'bob', '--data', data], { env: { TUNEMESH_PASSWORD: 'from-env' } });
    assert.equal(b.code, 0, b.stderr);
    const c = await runCli(['user', 'add', 'ALICE', '--password', 'changed', '--data', data]);
    assert.match(c.stdout, /changed the password/);
    const [noPw, badName, noSub] = await Promise.all([
      runCli(['user', 'add', 'carol', '--data', data], { env: { TUNEMESH_PASSWORD: '' } }),
      runCli(['user', 'add', 'bad name!', '--password', 'x', '--data', data]),
      runCli(['user']),
    ]);
    assert.equal(noPw.code, 2);
    assert.match(noPw.stderr, /TUNEMESH_PASSWORD/);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /contains " "/);
    assert.equal(noSub.code, 2);

    const list = await runCli(['user', 'list', '--data', data, '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), { users: ['alice', 'bob'] });

    const d = openDataDir(data);
    try {
      assert.equal(await d.accounts.verify('alice', 'changed'), true);
      assert.equal(await d.accounts.verify('alice', 's3cret'), false);
      assert.equal(await d.accounts.verify('bob', 'from-env'), true);
    } finally {
      await d.close();
    }
  });
});

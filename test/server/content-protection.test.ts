/**
 * The AP side of content protection (issue 6): a data directory from before encryption is migrated
 * (tracks keep their ids, the store ends up with ciphertext only), and the AP hands chunk hashes
 * and keys only to logged-in clients, over a real TLS link.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { openDataDir } from '../../src/server/data-dir.ts';
import { migratePlaintextFiles } from '../../src/server/content-protection.ts';
import { parseOggFile } from '../../src/audio/ogg.ts';
import { cryptAt } from '../../src/core/content-cipher.ts';
import { hashChunks } from '../../src/core/chunk-hashes.ts';
import { defaultConfig } from '../../src/core/config.ts';
import { AccessPoint } from '../../src/server/access-point.ts';
import { connectTls } from '../../src/net/tls.ts';
import { parseServerAddress } from '../../src/net/identity.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/messages.ts';
import { makeVorbis, tempDir } from './storage-fixtures.ts';
import { ingestPaths } from '../../src/server/ingest.ts';
import { ContentAccess } from '../../src/client/content-access.ts';
import { makeConfig } from '../../src/core/config.ts';

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

describe('content protection at the AP', () => {
  const tmp = tempDir();
  let song: string;
  before(() => {
    song = makeVorbis(path.join(tmp.dir, 'song.ogg'), { seconds: 60, freq: 523 });
  });
  after(() => tmp.cleanup());

  it('migrates a plaintext store at start: same track id, ciphertext only, the original bytes behind the key', async () => {
    const dir = path.join(tmp.dir, 'old');
    const data = openDataDir(dir);
    // What a tunemesh from before issue 6 left: the plaintext under its SHA-256, a track naming it.
    const { fileId: plainId, bytes } = await data.store.putFile(song);
    const info = await parseOggFile(song);
    const { track: old } = await data.catalog.addTrack({
      title: 'Old', artist: 'A', album: 'B', trackNo: 1, durationMs: info.durationMs, bytes, fileId: plainId,
      codec: info.codec, bitrate: info.bitrate, sampleRate: info.sampleRate, channels: info.channels, seekIndex: info.seekIndex,
    });
    const playlist = await data.catalog.createPlaylist('u', 'p');
    await data.catalog.addToPlaylist('u', playlist.id, [old.id]);

    assert.equal(await migratePlaintextFiles(data, defaultConfig.chunkSize), 1);
    const now = (await data.catalog.getTrack(old.id))!;
    assert.notEqual(now.fileId, plainId);
    assert.equal(await data.store.size(plainId), undefined, 'the plaintext file is gone');
    const original = readFileSync(song);
    const stored = await data.store.read(now.fileId, 0, bytes + 1);
    assert.equal(createHash('sha256').update(stored).digest('hex'), now.fileId);
    const rec = data.keys.get(now.fileId)!;
    assert.deepEqual(cryptAt(rec, 0, stored), original);
    const expected = hashChunks(stored, defaultConfig.chunkSize);
    assert.deepEqual([rec.hashes.count, Buffer.from(rec.hashes.hashes)], [expected.count, Buffer.from(expected.hashes)]);
    assert.equal((await data.catalog.getPlaylist('u', playlist.id, 0, 10)).tracks[0]!.id, old.id, 'playlists keep working');
    for (const f of filesUnder(path.join(dir, 'store'))) assert.equal(readFileSync(f).includes(Buffer.from('OggS')), false, f);
    // Done once: the next start has nothing to migrate, and ingesting the same audio finds it.
    assert.equal(await migratePlaintextFiles(data, defaultConfig.chunkSize), 0);
    const again = await ingestPaths([song], { data });
    assert.deepEqual(again.existing.map((t) => t.id), [old.id]);
    await data.close();
  });

  it('hands chunk hashes and keys to logged-in clients only', async () => {
    const dir = path.join(tmp.dir, 'ap');
    const data = openDataDir(dir);
    const [track] = (await ingestPaths([song], { data })).added;
    await data.accounts.setPassword('alice', 'pw');
    const ap = await AccessPoint.start({ data, config: defaultConfig });
    const addr = parseServerAddress(ap.address);
    const { link } = await connectTls({ host: addr.host, port: addr.port, config: defaultConfig, fingerprint: addr.fingerprint, timeoutMs: 5000 });
    try {
      await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 't', peerId: '', listenPort: 0 });
      for (const msg of [{ type: 'get-file-key' as const, fileId: track!.fileId }, { type: 'get-chunk-hashes' as const, fileId: track!.fileId, first: 0, count: 10 }]) {
        await assert.rejects(link.request(msg), (err: Error & { code?: string }) => err.name === 'RemoteError' && /log in/.test(err.message), `${msg.type} before login`);
      }
      await link.request({ type: 'login', user: 'alice', password: 'pw' });
      const key = await link.request({ type: 'get-file-key', fileId: track!.fileId });
      assert.equal(key.type, 'file-key');
      const rec = data.keys.get(track!.fileId)!;
      if (key.type === 'file-key') assert.deepEqual([Buffer.from(key.key), Buffer.from(key.iv)], [Buffer.from(rec.key), Buffer.from(rec.iv)]);
      const hashes = await link.request({ type: 'get-chunk-hashes', fileId: track!.fileId, first: 1, count: 2 });
      assert.equal(hashes.type, 'chunk-hashes');
      if (hashes.type === 'chunk-hashes') {
        assert.deepEqual([hashes.first, hashes.total, hashes.chunkSize], [1, rec.hashes.count, defaultConfig.chunkSize]);
        assert.deepEqual(Buffer.from(hashes.hashes), Buffer.from(rec.hashes.hashes.subarray(32, 96)));
      }
      await assert.rejects(link.request({ type: 'get-file-key', fileId: 'ab'.repeat(32) }), /no file/);

      // Paging: with 8-byte chunks the file has more hashes than one answer carries (16 384);
      // the AP computes the list for its chunk size from the stored ciphertext, the client pages.
      const small = makeConfig({ chunkSize: 8 });
      const stored = await data.store.read(track!.fileId, 0, track!.bytes);
      assert.ok(Math.ceil(stored.length / 8) > 16_384, `${stored.length} bytes`);
      const ap2 = await AccessPoint.start({ data, config: small });
      const a2 = parseServerAddress(ap2.address);
      const { link: l2 } = await connectTls({ host: a2.host, port: a2.port, config: small, fingerprint: a2.fingerprint, timeoutMs: 5000 });
      try {
        await l2.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 't', peerId: '', listenPort: 0 });
        await l2.request({ type: 'login', user: 'alice', password: 'pw' });
        const list = await new ContentAccess({ request: (m) => l2.request(m) }, 8).hashes(track!.fileId);
        const expected = hashChunks(stored, 8);
        assert.equal(list.count, expected.count);
        assert.ok(Buffer.from(list.hashes).equals(Buffer.from(expected.hashes)));
      } finally {
        l2.close('done');
        await ap2.stop();
      }
    } finally {
      link.close('done');
      await ap.stop();
      await data.close();
    }
  });
});

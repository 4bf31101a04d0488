/**
 * Content protection and integrity (DESIGN §5, issue 6 items 2 and 3) with real processes, real
 * TLS on loopback and real Ogg Vorbis audio:
 * - a logged-in peer with a valid ticket that answers chunk requests with wrong bytes is dropped
 *   and banned by the client it attacks, which fetches the chunks elsewhere and plays identical
 *   bytes, and never serves the bad bytes on to a third peer;
 * - a used cache directory and the AP's store hold no plaintext audio (no Ogg capture pattern
 *   anywhere; oggdec and ffmpeg reject every cached file);
 * - the AP refuses keys before login; a restarted client rechecks its cache before serving peers
 *   (a chunk corrupted on disk between runs is dropped and fetched again);
 * - Range requests on the decrypting player endpoint return the exact plaintext bytes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectTls, listenTls, type TlsListener } from '../../src/net/tls.ts';
import { loadOrCreateIdentity, parseServerAddress } from '../../src/net/identity.ts';
import { makeConfig } from '../../src/core/config.ts';
import { PROTOCOL_VERSION, type Message } from '../../src/protocol/messages.ts';
import type { Link } from '../../src/net/link.ts';
import { have, run, runCli, startCli, type Running } from '../helpers/processes.ts';
import { ingestSynthTracks, type IngestedTrack } from '../helpers/tracks.ts';
import { play, stats, until } from '../helpers/daemon-http.ts';
import { apLogin } from '../helpers/peer-ticket.ts';

const config = makeConfig();
const CS = config.chunkSize;
let dir: string;
let data: string;
let ap: Running;
let address: string;
const tracks: IngestedTrack[] = [];
const running: Running[] = [];

async function startClient(name: string, extra: string[] = []): Promise<{ url: string; proc: Running }> {
  const proc = await startCli(['client', '--server', address, '--cache', path.join(dir, name), '--http-port', '0', '--peer-port', '0', '--user', 'erin', '--password', 'pw', '--json', ...extra]);
  running.push(proc);
  return { url: JSON.parse(proc.firstLine).url, proc };
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const storePath = (fileId: string) => path.join(data, 'store', fileId.slice(0, 2), fileId);
const cachePath = (client: string, fileId: string) => path.join(dir, client, 'cache', 'files', fileId);

async function filesUnder(d: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(d, { withFileTypes: true })) {
    const full = path.join(d, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(full)));
    else if (e.isFile()) out.push(full);
  }
  return out;
}

/**
 * A hostile peer: a real account, a valid ticket for its own TLS key, online at the AP and
 * announcing `fileId` to the tracker, that answers every chunk request with random bytes of the
 * right length. Counts the chunks it sent and the links it lost.
 */
async function startLyingPeer(fileId: string, fileBytes: number) {
  const identity = await loadOrCreateIdentity(path.join(dir, 'ids', 'liar'));
  const peerId = randomBytes(8).toString('hex');
  const state = { chunksSent: 0, linksClosed: 0, linksAccepted: 0, refusedHello: 0 };
  const issued: { ticket?: Extract<Message, { type: 'peer-ticket' }> } = {};
  const peerLinks = new Set<Link>();
  const listener: TlsListener = await listenTls({
    port: 0,
    identity,
    config,
    onLink: (link, info) => {
      info.admitted();
      state.linksAccepted++;
      peerLinks.add(link);
      link.on('close', () => state.linksClosed++);
      link.on('message', (msg: Message, requestId: number) => {
        if (msg.type === 'hello') {
          link.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'liar', peerId, listenPort: listener.port, ticket: issued.ticket!.ticket }, requestId);
        } else if (msg.type === 'chunk-request') {
          for (let i = msg.first; i < msg.first + msg.count; i++) {
            link.send({ type: 'chunk', fileId: msg.fileId, index: i, data: randomBytes(Math.min(CS, fileBytes - i * CS)) }, requestId);
            state.chunksSent++;
          }
          link.send({ type: 'chunk-end', fileId: msg.fileId, first: msg.first, count: msg.count }, requestId);
        }
      });
    },
  });
  const apLink = await apLogin(address, 'mallory', 'pw2', peerId, identity, listener.port);
  const t = await apLink.request({ type: 'ticket-request' });
  assert.equal(t.type, 'peer-ticket');
  issued.ticket = t as Extract<Message, { type: 'peer-ticket' }>;
  apLink.send({ type: 'announce', fileId });
  /** Dials a client's peer port again with the same ticket: is it let in? */
  const redial = async (port: number): Promise<'admitted' | 'refused'> => {
    const { link } = await connectTls({ host: '127.0.0.1', port, config, identity });
    try {
      const answer = await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'liar', peerId, listenPort: 0, ticket: issued.ticket!.ticket });
      return answer.type === 'hello' ? 'admitted' : 'refused';
    } catch {
      state.refusedHello++;
      return 'refused';
    } finally {
      link.close();
    }
  };
  return {
    peerId,
    state,
    redial,
    async stop() {
      apLink.close();
      for (const l of peerLinks) l.close();
      await listener.close();
    },
  };
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-protect-'));
  data = path.join(dir, 'data');
  // Long enough that, after the first ~15 s from the AP, most chunks are asked of peers.
  tracks.push(...(await ingestSynthTracks(dir, data, { seed: 60, durationsSec: [120, 40], title: 'Guarded', artist: 'The Keys', album: 'Cipher' })));
  await runCli(['user', 'add', 'erin', '--password', 'pw', '--data', data]);
  await runCli(['user', 'add', 'mallory', '--password', 'pw2', '--data', data]);
  ap = await startCli(['server', '--data', data, '--port', '0', '--json']);
  address = JSON.parse(ap.firstLine).address;
});

after(async () => {
  for (const p of running) await p.stop();
  await ap?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('a peer sending wrong bytes is dropped and banned; the play is identical; nothing bad is served on', async () => {
  const t = tracks[0]!;
  const liar = await startLyingPeer(t.fileId, t.src.length);
  const victim = await startClient('victim');
  try {
    const { body, record } = await play(victim.url, t.id);
    assert.equal(sha(body), sha(t.src), 'the play is byte-identical to the original');
    assert.ok(liar.state.chunksSent > 0, 'the liar was asked for chunks');
    const sv = await stats(victim.url);
    assert.ok(sv.integrity.badPeerChunks >= 1, JSON.stringify(sv.integrity));
    assert.ok(sv.integrity.peersBanned >= 1);
    assert.equal(record.sources.peer, 0, 'no byte from the liar was used');
    await until('the victim dropped the liar', async () => liar.state.linksClosed >= liar.state.linksAccepted && liar.state.linksAccepted > 0);
    // Kept out: the same ticket and key are refused now.
    assert.equal(await liar.redial(sv.peers.listenPort), 'refused');
    // The cached copy is exactly the AP's ciphertext: no bad chunk was written.
    await until('the victim announced the file', async () => (await stats(victim.url)).peers.announced >= 1);
    assert.ok((await readFile(cachePath('victim', t.fileId))).equals(await readFile(storePath(t.fileId))));
  } finally {
    await liar.stop();
  }
  // A third peer fetches from the victim (the liar is offline now): good bytes only.
  const third = await startClient('third');
  const { body, record } = await play(third.url, t.id);
  assert.equal(sha(body), sha(t.src));
  assert.ok(record.sources.peer > 0.5 * t.src.length, `from the victim: ${record.sources.peer} of ${t.src.length}`);
  assert.equal((await stats(third.url)).integrity.badPeerChunks, 0, 'the victim served no bad chunk');
});

test('Range requests on the decrypting player endpoint return the exact plaintext bytes', async () => {
  const t = tracks[1]!;
  const c = await startClient('ranges');
  const n = t.src.length;
  const ranges: [string, number, number][] = [
    ['bytes=0-0', 0, 0],
    ['bytes=0-99', 0, 99],
    ['bytes=7-16400', 7, 16400],
    [`bytes=${CS - 3}-${CS + 20}`, CS - 3, CS + 20],
    [`bytes=${3 * CS + 5}-${5 * CS}`, 3 * CS + 5, 5 * CS],
    [`bytes=${n - 1000}-`, n - 1000, n - 1],
    ['bytes=-777', n - 777, n - 1],
    [`bytes=12345-`, 12345, n - 1],
  ];
  for (const [header, start, end] of ranges) {
    const res = await fetch(`${c.url}/audio/${t.id}`, { headers: { range: header } });
    assert.equal(res.status, 206, header);
    assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${n}`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.equals(t.src.subarray(start, end + 1)), `${header}: ${body.length} bytes`);
  }
  // And once whole, from the cache.
  assert.ok((await play(c.url, t.id)).body.equals(t.src));
});

test('the AP refuses keys and hashes before login; nobody without an account gets one', async () => {
  const { host, port, fingerprint } = parseServerAddress(address);
  const { link } = await connectTls({ host, port, fingerprint, config });
  try {
    await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'nobody', peerId: '', listenPort: 0 });
    await assert.rejects(link.request({ type: 'get-file-key', fileId: tracks[0]!.fileId }), (err: Error & { code?: string }) => err.code === 'unauthorized');
    await assert.rejects(link.request({ type: 'get-chunk-hashes', fileId: tracks[0]!.fileId, first: 0, count: 1 }), (err: Error & { code?: string }) => err.code === 'unauthorized');
    await assert.rejects(link.request({ type: 'login', user: 'erin', password: 'wrong' }), (err: Error & { code?: string }) => err.code === 'unauthorized');
    await assert.rejects(link.request({ type: 'get-file-key', fileId: tracks[0]!.fileId }), (err: Error & { code?: string }) => err.code === 'unauthorized');
  } finally {
    link.close();
  }
});

test('a restarted client rechecks its cache before serving: a chunk corrupted on disk is dropped and fetched again', async () => {
  const t = tracks[1]!;
  const name = 'restart';
  let c = await startClient(name);
  assert.ok((await play(c.url, t.id)).body.equals(t.src));
  await until('complete', async () => (await stats(c.url)).cache.completeFiles >= 1);
  await c.proc.stop();
  // Flip one byte of chunk 2 on disk while the client is down.
  const file = cachePath(name, t.fileId);
  const fh = await open(file, 'r+');
  const at = 2 * CS + 100;
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] ^= 0x5a;
  await fh.write(b, 0, 1, at);
  await fh.close();

  c = await startClient(name);
  await until('the recheck dropped the chunk and fetched it again', async () => {
    const s = await stats(c.url);
    return s.integrity.recheckDropped === 1 && s.integrity.shareableFiles === 1;
  });
  assert.ok((await readFile(file)).equals(await readFile(storePath(t.fileId))), 'the cache holds the AP ciphertext again');
  // A peer now gets good bytes from it.
  const other = await startClient('restart-peer');
  const got = await play(other.url, t.id);
  assert.ok(got.body.equals(t.src));
  assert.equal((await stats(other.url)).integrity.badPeerChunks, 0);
});

test('no plaintext audio in used cache directories or in the AP store; decoders reject every cached file', async () => {
  const capture = Buffer.from('OggS');
  const cacheDirs = ['victim', 'third', 'ranges', 'restart', 'restart-peer'].map((n) => path.join(dir, n));
  let cachedAudio: string[] = [];
  for (const d of cacheDirs) {
    for (const f of await filesUnder(d)) {
      assert.equal((await readFile(f)).includes(capture), false, `Ogg capture pattern in ${f}`);
      if (path.basename(path.dirname(f)) === 'files' && (await stat(f)).size > 0) cachedAudio.push(f);
    }
  }
  cachedAudio = [...new Set(cachedAudio)];
  assert.ok(cachedAudio.length >= 5, `${cachedAudio.length} cached files scanned`);
  for (const f of await filesUnder(path.join(data, 'store'))) assert.equal((await readFile(f)).includes(capture), false, `Ogg capture pattern in ${f}`);
  // The originals decode (the decoders work here), the cached files do not.
  assert.ok(await have('oggdec'), 'oggdec is installed');
  assert.ok(await have('ffmpeg'), 'ffmpeg is installed');
  const original = tracks[1]!.file;
  assert.equal((await run('oggdec', ['-Q', '-o', '/dev/null', original])).code, 0);
  assert.equal((await run('ffmpeg', ['-v', 'error', '-i', original, '-f', 'null', '-'])).code, 0);
  for (const f of cachedAudio) {
    assert.notEqual((await run('oggdec', ['-Q', '-o', '/dev/null', f])).code, 0, `oggdec decoded ${f}`);
    assert.notEqual((await run('ffmpeg', ['-v', 'error', '-i', f, '-f', 'null', '-'])).code, 0, `ffmpeg decoded ${f}`);
  }
});

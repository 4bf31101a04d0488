/**
 * Fuzzing the message handlers (issue 6 item 4): structurally valid but semantically hostile
 * messages (hostile-messages.ts) sent over real loopback TLS links to the real handlers, in
 * this process so a crash or an unhandled rejection is seen:
 *
 * - the AP's handlers (`AccessPoint`), before the hello, after the hello, and logged in;
 * - a client's peer side (`PeerNode`), after an admitted hello with a valid ticket;
 * - a client's AP-link side (`ApConnection` and the daemon's push handlers), by a fake AP that
 *   answers the client's requests with hostile messages and pushes hostile ones.
 *
 * Property: every request is answered by a normal answer or a typed error (never `internal`),
 * or the link is closed; nothing throws out of a handler; afterwards the part serves a normal
 * request and has lost nothing (catalog, another user's playlist, the cached file).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { synthesizeVorbis } from '../../src/audio/synth.ts';
import { makeConfig } from '../../src/core/config.ts';
import { openDataDir, type DataDir } from '../../src/server/data-dir.ts';
import { AccessPoint } from '../../src/server/access-point.ts';
import { SqliteAccounts } from '../../src/server/accounts.ts';
import { connectTls, listenTls } from '../../src/net/tls.ts';
import { ClientDaemon } from '../../src/client/daemon.ts';
import { loadOrCreateIdentity } from '../../src/net/identity.ts';
import type { Link } from '../../src/net/link.ts';
import { PROTOCOL_VERSION, type ErrorCode, type Message, type MessageType } from '../../src/protocol/messages.ts';
import { runCli } from '../helpers/processes.ts';
import { PeerNode } from '../../src/client/peer-node.ts';
import { DiskCache } from '../../src/client/disk-cache.ts';
import { PeerAdmission } from '../../src/net/peer-ticket.ts';
import { TicketKeyring } from '../../src/server/ticket-keys.ts';
import { budget, report, Rng, SEED } from './harness.ts';
import { hostileMessage, messagePool, type HostileContext } from './hostile-messages.ts';

const config = makeConfig();
const TYPED_CODES = new Set<ErrorCode>(['bad-request', 'unauthorized', 'not-found', 'not-here', 'busy', 'version']);
/** Messages that are never answered: sent with request id 0. */
const UNANSWERED = new Set<MessageType>(['ping', 'pong', 'cancel', 'announce', 'metrics', 'bye']);
const pool = messagePool(SEED);
const faults: unknown[] = [];
const onFault = (err: unknown) => faults.push(err);
/** A timer given a delay node cannot hold fires at once: a hostile number turned into a busy loop. */
const onWarning = (w: Error) => {
  if (w.name === 'TimeoutOverflowWarning') faults.push(w);
};

let dir: string;
let data: DataDir;
let ap: AccessPoint;
let ctx: HostileContext;
let src: Buffer;
let fileId: string;
let keepPlaylist: { id: string; trackCount: number; updatedAt: number };
let tracksBefore: number;
const started = performance.now();
let total = 0;

before(async () => {
  process.on('uncaughtException', onFault);
  process.on('unhandledRejection', onFault);
  process.on('warning', onWarning);
  dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-fuzz-handlers-'));
  src = Buffer.from(await synthesizeVorbis({ seed: 5, durationSec: 8, tags: { title: 'Fuzz', artist: 'Fuzzer', album: 'Cases' } }));
  await writeFile(path.join(dir, 'f.ogg'), src);
  const ingest = await runCli(['ingest', path.join(dir, 'f.ogg'), '--data', path.join(dir, 'data'), '--json']);
  assert.equal(ingest.code, 0, ingest.stderr);
  data = openDataDir(path.join(dir, 'data'));
  // Cheap scrypt for the attacker's account: the fuzzer logs in again after every link it gets closed.
  const cheap = SqliteAccounts.open(data.paths.db, { params: { N: 1024 } });
  await cheap.setPassword('mallory', 'pw');
  await cheap.setPassword('erin', 'pw');
  const track = (await data.catalog.search('Fuzz', 5)).tracks[0]!;
  fileId = track.fileId;
  const album = await data.catalog.getAlbum((await data.catalog.search('Cases', 5)).albums[0]!.id);
  const erins = await data.catalog.addToPlaylist('erin', (await data.catalog.createPlaylist('erin', 'keep me')).id, [track.id, track.id]);
  keepPlaylist = { id: erins.id, trackCount: erins.trackCount, updatedAt: erins.updatedAt };
  const mallorys = await data.catalog.createPlaylist('mallory', 'scratch');
  tracksBefore = (await data.catalog.search('', 100)).tracks.length;
  ctx = {
    trackIds: [track.id, 'nope'],
    fileIds: [fileId, 'e'.repeat(64)],
    albumIds: [album!.album.id],
    artistIds: [album!.album.artistId],
    playlistIds: [erins.id, mallorys.id, 'zzzzzzzzzzzz'],
    peerIds: ['0123456789abcdef', 'ffff'],
  };
  ap = await AccessPoint.start({ data, config, port: 0 });
});

after(async () => {
  await ap?.stop();
  await data?.close();
  await rm(dir, { recursive: true, force: true });
  process.off('uncaughtException', onFault);
  process.off('unhandledRejection', onFault);
  process.off('warning', onWarning);
});

async function apLink(phase: 'raw' | 'hello' | 'login'): Promise<Link> {
  const { link } = await connectTls({ host: '127.0.0.1', port: ap.port, config });
  if (phase === 'raw') return link;
  await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'fuzz', peerId: randomBytes(8).toString('hex'), listenPort: 0 });
  if (phase === 'login') await link.request({ type: 'login', user: 'mallory', password: 'pw' });
  return link;
}

/** `answer`: a normal answer, or (for messages never answered) sent without closing the link. */
type Outcome = 'answer' | 'typed-error' | 'closed';

/** Sends one message as a request (or unanswered, for those types) and classifies what came back. */
async function exchange(link: Link, msg: Message, context: string): Promise<Outcome> {
  if (UNANSWERED.has(msg.type)) {
    link.send(msg);
    return link.closed ? 'closed' : 'answer';
  }
  try {
    await link.request(msg, { timeoutMs: 20_000 });
    return 'answer';
  } catch (err) {
    const e = err as Error & { code?: ErrorCode };
    if (e.name === 'RemoteError') {
      assert.ok(TYPED_CODES.has(e.code!), `${context}: ${msg.type} answered with ${e.code}: ${e.message}`);
      return 'typed-error';
    }
    assert.equal(e.name, 'LinkClosedError', `${context}: ${msg.type}: ${e.name}: ${e.message}`);
    return 'closed';
  }
}

/** Sends `n` hostile messages, pipelined in windows of `window`, opening a new link whenever one is closed. */
async function fuzzAp(phase: 'raw' | 'hello' | 'login', n: number, window: number, seed: number): Promise<Record<Outcome, number>> {
  const rng = new Rng(seed);
  const outcomes: Record<Outcome, number> = { answer: 0, 'typed-error': 0, closed: 0 };
  let link = await apLink(phase);
  for (let sent = 0; sent < n; ) {
    const batch: Promise<Outcome>[] = [];
    for (let k = 0; k < window && sent < n; k++, sent++) {
      let msg = hostileMessage(rng, pool, ctx);
      // Logins cost an scrypt each, and a bye or another hello ends the link with every message
      // in flight: keep them rare so the budget goes to the other handlers.
      while ((msg.type === 'login' || msg.type === 'bye' || msg.type === 'hello') && !rng.chance(0.01)) msg = hostileMessage(rng, pool, ctx);
      batch.push(exchange(link, msg, `AP ${phase} case ${sent} (seed ${seed})`));
    }
    for (const o of await Promise.all(batch)) outcomes[o]++;
    if (link.closed) link = await apLink(phase);
  }
  link.close();
  total += n;
  process.stdout.write(`# fuzz AP ${phase}: ${JSON.stringify(outcomes)}\n`);
  return outcomes;
}

test('AP: hostile messages before the hello close the link, and nothing else', async () => {
  const o = await fuzzAp('raw', budget(3_000), 5, SEED ^ 0x10);
  // Only the rare hello of another version gets an answer (`version`) before its link closes.
  assert.ok(o.closed > o.answer + o['typed-error'], JSON.stringify(o));
});

test('AP: hostile messages after the hello, not logged in: typed errors or a closed link', async () => {
  const o = await fuzzAp('hello', budget(20_000), 200, SEED ^ 0x11);
  assert.ok(o['typed-error'] > budget(20_000) / 4, JSON.stringify(o));
});

test('AP: hostile messages from a logged-in client: answers, typed errors or a closed link; nothing lost', async () => {
  const o = await fuzzAp('login', budget(60_000), 200, SEED ^ 0x12);
  assert.ok(o.answer > 0 && o['typed-error'] > 0, JSON.stringify(o));
  // Nothing lost: the catalog, another user's playlist.
  assert.equal((await data.catalog.search('', 100)).tracks.length, tracksBefore);
  const erins = await data.catalog.getPlaylist('erin', keepPlaylist.id, 0, 10);
  assert.equal(erins.playlist.trackCount, keepPlaylist.trackCount);
  assert.equal(erins.playlist.updatedAt, keepPlaylist.updatedAt, "erin's playlist was not changed by mallory");
  // And the AP serves a normal client: a search and the whole file, chunk by chunk.
  const link = await apLink('login');
  try {
    const found = await link.request({ type: 'search', query: 'Fuzz', limit: 5 });
    assert.equal(found.type === 'search-result' && found.tracks.length, 1);
    const size = await data.store.size(fileId);
    const chunks: Buffer[] = [];
    const count = Math.ceil(size! / config.chunkSize);
    const s = link.stream({ type: 'chunk-request', fileId, first: 0, count, urgency: 0 }, (m) => {
      if (m.type === 'chunk') chunks[m.index] = Buffer.from(m.data);
      return m.type === 'chunk-end' ? 'done' : 'more';
    });
    await s.done;
    const stored = await data.store.read(fileId, 0, size!);
    assert.equal(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'), createHash('sha256').update(stored).digest('hex'));
  } finally {
    link.close();
  }
  assert.deepEqual(faults, [], 'no uncaught exception or unhandled rejection');
});

test('peer side: hostile messages from an admitted peer: answers, typed errors or a closed link; the file is still served whole', async () => {
  // A client's peer node with the file complete in its cache, admitting peers with tickets of our keyring.
  const keyring = await TicketKeyring.open(path.join(dir, 'ring'), Date.now());
  const nodeId = randomBytes(8).toString('hex');
  const nodeIdentity = await loadOrCreateIdentity(path.join(dir, 'node-tls'));
  const attacker = await loadOrCreateIdentity(path.join(dir, 'attacker-tls'));
  const admission = new PeerAdmission();
  admission.update(keyring.issue({ peerId: nodeId, user: 'erin', certFingerprint: nodeIdentity.fingerprint }, Date.now(), 3_600_000), keyring.publicKeys(Date.now()));
  const cache = await DiskCache.open(path.join(dir, 'node-cache'), { limitBytes: 64 * 1024 * 1024, chunkSize: config.chunkSize });
  // The bytes peers share are the stored ones (whatever the store keeps: they are what the file id names).
  const stored = await data.store.read(fileId, 0, (await data.store.size(fileId))!);
  await cache.ensureFile(fileId, stored.length);
  for (let i = 0; i * config.chunkSize < stored.length; i++) await cache.writeChunk(fileId, i, stored.subarray(i * config.chunkSize, (i + 1) * config.chunkSize));
  await cache.flush();
  assert.ok(cache.isComplete(fileId), 'the file is complete in the cache');
  const node = await PeerNode.start({ peerId: nodeId, role: 'peer', identity: nodeIdentity, port: 0, config, cache, admission });
  const rng = new Rng(SEED ^ 0x20);
  const peerCtx = { ...ctx, fileIds: [fileId, 'e'.repeat(64)], peerIds: [nodeId, 'abc'] };
  const outcomes: Record<Outcome, number> = { answer: 0, 'typed-error': 0, closed: 0 };
  const peerUnanswered = new Set<MessageType>([...UNANSWERED, 'peer-search', 'peer-found']);
  const dial = async (): Promise<Link> => {
    const peerId = randomBytes(8).toString('hex');
    const ticket = keyring.issue({ peerId, user: 'mallory', certFingerprint: attacker.fingerprint }, Date.now(), 3_600_000);
    const { link } = await connectTls({ host: '127.0.0.1', port: node.listenPort, config, identity: attacker });
    await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'fuzz', peerId, listenPort: 0, ticket });
    return link;
  };
  try {
    let link = await dial();
    const n = budget(30_000);
    for (let sent = 0; sent < n; ) {
      const batch: Promise<Outcome>[] = [];
      for (let k = 0; k < 100 && sent < n; k++, sent++) {
        let msg = hostileMessage(rng, pool, peerCtx);
        while ((msg.type === 'bye' || msg.type === 'peer-search') && !rng.chance(0.05)) msg = hostileMessage(rng, pool, peerCtx);
        if (peerUnanswered.has(msg.type)) {
          link.send(msg);
          batch.push(Promise.resolve(link.closed ? 'closed' : 'answer'));
        } else {
          batch.push(exchange(link, msg, `peer case ${sent} (seed ${SEED ^ 0x20})`));
        }
      }
      for (const o of await Promise.all(batch)) outcomes[o]++;
      if (link.closed) link = await dial();
    }
    link.close();
    total += n;
    process.stdout.write(`# fuzz peer: ${JSON.stringify(outcomes)}\n`);
    assert.ok(outcomes['typed-error'] > 0 && outcomes.answer > 0, JSON.stringify(outcomes));

    // Nothing lost: the cached file is intact, and a well-behaved peer gets it whole.
    assert.ok(cache.isComplete(fileId));
    const good = await dial();
    const chunks: Buffer[] = [];
    const count = Math.ceil(stored.length / config.chunkSize);
    await good.stream({ type: 'chunk-request', fileId, first: 0, count, urgency: 0 }, (m) => {
      if (m.type === 'chunk') chunks[m.index] = Buffer.from(m.data);
      return m.type === 'chunk-end' ? 'done' : 'more';
    }).done;
    good.close();
    const cached = await cache.readRange(fileId, 0, stored.length);
    assert.ok(cached.equals(stored), 'the cached file is intact');
    assert.ok(Buffer.concat(chunks).equals(stored), 'the peer serves the cached file whole');
  } finally {
    await node.stop();
    await cache.close();
  }
  assert.deepEqual(faults, [], 'no uncaught exception or unhandled rejection');
});

test("client's AP-link side: a hostile AP's answers and pushes get typed errors or are ignored; the daemon keeps serving", async () => {
  // A fake AP: says hello, accepts the login, issues a real ticket, then answers every other
  // request with a hostile message and pushes hostile messages of its own.
  const keyring = await TicketKeyring.open(path.join(dir, 'fake-ring'), Date.now());
  const rng = new Rng(SEED ^ 0x30);
  const apIdentity = await loadOrCreateIdentity(path.join(dir, 'fake-ap-tls'));
  let pushLinks: Link[] = [];
  let answered = 0;
  const hostile = (): Message => {
    const m = hostileMessage(rng, pool, ctx);
    // A connect-back makes the client dial: only a port nobody listens on, on loopback.
    if (m.type === 'connect-back') return { ...m, requester: { ...m.requester, host: '127.0.0.1', port: rng.chance(0.5) ? 0 : 1 } };
    return m;
  };
  const fake = await listenTls({
    port: 0,
    identity: apIdentity,
    config,
    onLink(link, info) {
      let peerId = '';
      link.on('message', (m, id) => {
        if (m.type === 'hello') {
          peerId = m.peerId;
          link.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'fake-ap', peerId: '', listenPort: 0 }, id);
        } else if (m.type === 'login') {
          info.admitted();
          link.send({ type: 'login-ok', user: m.user, sessionId: 's1', observedHost: '127.0.0.1' }, id);
          pushLinks.push(link);
        } else if (m.type === 'ticket-request') {
          const ticket = keyring.issue({ peerId, user: 'erin', certFingerprint: info.clientFingerprint ?? '' }, Date.now(), 3_600_000);
          link.send({ type: 'peer-ticket', ticket, keys: keyring.publicKeys(Date.now()) }, id);
        } else if (id !== 0) {
          answered++;
          let answer = hostile();
          while (answer.type === 'bye' && !rng.chance(0.05)) answer = hostile();
          link.send(answer, id);
        }
      });
    },
  });
  const daemon = await ClientDaemon.start({
    server: `127.0.0.1:${fake.port}#${apIdentity.fingerprint}`,
    cacheDir: path.join(dir, 'client-under-fake-ap'),
    cacheSize: 64 * 1024 * 1024,
    httpPort: 0,
    user: 'erin',
    password: 'pw',
    config: makeConfig({ reconnectBaseMs: 20, reconnectMaxMs: 100 }),
  });
  try {
    const pushes = budget(20_000);
    const requests = budget(1_500);
    // Requests the daemon makes of its AP, driven through its HTTP endpoint.
    const routes = ['/api/search?q=x', `/api/tracks/${ctx.trackIds[0]}`, '/api/artists', `/api/artists/${ctx.artistIds[0]}`, `/api/albums/${ctx.albumIds[0]}`, '/api/playlists', `/api/playlists/${ctx.playlistIds[1]}`, `/api/resolve?uri=tunemesh:album:${ctx.albumIds[0]}`];
    const statuses: Record<number, number> = {};
    for (let i = 0; i < Math.max(pushes, requests); i++) {
      if (i < pushes) {
        for (const link of pushLinks) {
          let m = hostile();
          while (m.type === 'bye' && !rng.chance(0.05)) m = hostile();
          link.send(m, rng.chance(0.8) ? 0 : (rng.u32() & ~1) >>> 0);
        }
        pushLinks = pushLinks.filter((l) => !l.closed);
      }
      if (i < requests) {
        const res = await fetch(daemon.url + routes[i % routes.length]!);
        await res.arrayBuffer();
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        assert.ok([200, 400, 404, 502].includes(res.status), `HTTP ${res.status} for ${routes[i % routes.length]}`);
      } else if (i % 200 === 0) {
        await new Promise((r) => setImmediate(r));
      }
    }
    total += pushes + requests;
    process.stdout.write(`# fuzz client AP side: ${pushes} pushes, ${requests} requests answered with hostile messages (${answered} answered), HTTP statuses ${JSON.stringify(statuses)}\n`);
    const stats = (await (await fetch(daemon.url + '/api/stats')).json()) as { ap: { connects: number } };
    assert.ok(stats.ap.connects >= 1, 'the daemon still answers');
  } finally {
    await daemon.stop();
    await fake.close();
  }
  assert.deepEqual(faults, [], 'no uncaught exception or unhandled rejection');
  report('handlers (AP + peer + client AP side)', total, performance.now() - started);
});

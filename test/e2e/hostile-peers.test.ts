/**
 * Hostile peers against real processes (issue 6 item 4), on loopback: an AP and two clients run
 * as their own processes; attackers with and without valid tickets send garbage, oversized
 * frames, floods of searches and replayed tickets to a client's peer port, open connections and
 * stall (TLS handshake never finished, hello never sent, answers never read or read slowly), and
 * do the same garbage, oversized frames and stalls against the AP port. Each attack is answered
 * by a closed connection (a `bye` naming the typed error where there is a link) or a rate limit,
 * while plays on the attacked client continue with identical bytes; afterwards the AP and the
 * clients keep running, serve a normal request and have lost nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadOrCreateIdentity } from '../../src/net/identity.ts';
import { runCli, startCli, type Running } from '../helpers/processes.ts';
import { ingestSynthTracks, type IngestedTrack } from '../helpers/tracks.ts';
import { play, stats, until } from '../helpers/daemon-http.ts';
import { apLogin, ticketFromAp } from '../helpers/peer-ticket.ts';
import { admittedPeer, floodSearches, garbage, oversizedFrameHeader, peerHello, readSlowly, tcpConnection, tlsConnection, type HostileConnection } from '../helpers/hostile-peer.ts';

/** Short stall limits, so the test sees them act (defaults: 10 s each, 64 pending, 30 s for uploads). */
const STALL_MS = 1_500;
const MAX_PENDING = 8;
const UPLOAD_STALL_MS = 2_000;
const SETS = ['--set', `helloTimeoutMs=${STALL_MS}`, '--set', `handshakeTimeoutMs=${STALL_MS}`, '--set', `maxPendingConnections=${MAX_PENDING}`, '--set', `uploadStallTimeoutMs=${UPLOAD_STALL_MS}`];
/** How long past a stall limit a close may take on a loaded machine. */
const SLACK_MS = 5_000;

let dir: string;
let ap: Running;
let address: string;
let apPort: number;
const tracks: IngestedTrack[] = [];
const running: Running[] = [];

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
async function startClient(name: string, extra: string[] = []): Promise<{ url: string; proc: Running }> {
  const proc = await startCli(['client', '--server', address, '--cache', path.join(dir, name), '--http-port', '0', '--peer-port', '0', '--user', 'erin', '--password', 'pw', '--json', ...SETS, ...extra]);
  running.push(proc);
  return { url: JSON.parse(proc.firstLine).url, proc };
}
const newPeerId = () => randomBytes(8).toString('hex');

/** Asserts `c` was closed within `ms`; with `bye`, that the bye named a typed error matching it. */
async function assertClosed(c: HostileConnection, what: string, ms: number, bye?: RegExp): Promise<void> {
  assert.ok(await c.closedWithin(ms), `${what}: closed within ${ms} ms`);
  if (bye) assert.match(c.byeReason ?? '(no bye)', bye, `${what}: the bye names the error`);
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-hostile-'));
  const data = path.join(dir, 'data');
  tracks.push(...(await ingestSynthTracks(dir, data, { seed: 300, durationsSec: [60, 30, 30], title: 'Hostile', artist: 'Siege', album: 'Walls' })));
  await runCli(['user', 'add', 'erin', '--password', 'pw', '--data', data]);
  // The AP sends each client at most 200 kB/s, so a play takes seconds: attacks land mid-play.
  ap = await startCli(['server', '--data', data, '--port', '0', '--json', '--max-rate', '200000', ...SETS]);
  address = JSON.parse(ap.firstLine).address;
  apPort = Number(address.split('#')[0]!.split(':').at(-1));
});

after(async () => {
  for (const p of running) await p.stop();
  await ap?.stop();
  await rm(dir, { recursive: true, force: true });
});

let a: { url: string; proc: Running };
let b: { url: string; proc: Running };

test('setup: A holds track 0 complete and announced', async () => {
  a = await startClient('a');
  b = await startClient('b');
  for (const t of tracks) t.fileId = (await (await fetch(`${a.url}/api/tracks/${t.id}`)).json()).fileId;
  // The 60-second track: larger than what a link lets wait unread (window + backlog, ~640 kB), so
  // a peer that does not read it really holds an upload slot.
  const t = tracks[0]!;
  assert.equal(sha((await play(a.url, t.id)).body), sha(t.src));
  await until('A announced', async () => (await stats(a.url)).peers.announced >= 1);
});

test("attacks on a client's peer port are refused while its play and a peer's play from it continue with identical bytes", async () => {
  const sa = await stats(a.url);
  const port: number = sa.peers.listenPort;
  // A plays track 1 from the AP; B plays track 0 from A.
  const t0 = tracks[1]!;
  const t1 = tracks[0]!;
  const x = await loadOrCreateIdentity(path.join(dir, 'ids', 'x'));
  const y = await loadOrCreateIdentity(path.join(dir, 'ids', 'y'));
  const ticketed = async () => {
    const peerId = newPeerId();
    return { peerId, ticket: (await ticketFromAp(address, 'erin', 'pw', peerId, x)).ticket };
  };

  // The plays that must not notice: A's own (from the AP, slowly) and B's from A.
  const aPlay = play(a.url, t0.id);

  // Stalled readers first: admitted peers that ask A for the shared track and never read, or read 64 bytes a tick.
  const stallers: HostileConnection[] = [];
  const stopSlow: (() => void)[] = [];
  for (const mode of ['never', 'slow'] as const) {
    const { peerId, ticket } = await ticketed();
    const c = await admittedPeer(port, peerId, ticket, x);
    c.send({ type: 'chunk-request', fileId: t1.fileId, first: 0, count: Math.ceil(t1.src.length / 16384), urgency: 0 }, 3);
    if (mode === 'never') c.socket.pause();
    else stopSlow.push(readSlowly(c, 64, 100));
    stallers.push(c);
  }
  const bPlay = play(b.url, t1.id);

  // Garbage over plain TCP (no TLS at all): the TLS layer drops it.
  const tcp = await tcpConnection(port);
  tcp.sendRaw(garbage(4096, 1));
  await assertClosed(tcp, 'TCP garbage', SLACK_MS);

  // Garbage inside TLS, without a ticket: a protocol error, said in the bye, then closed.
  const tlsJunk = await tlsConnection(port, x);
  tlsJunk.sendRaw(garbage(4096, 2));
  await assertClosed(tlsJunk, 'TLS garbage', SLACK_MS, /^(FrameTooLargeError|MalformedFrameError|UnknownMessageTypeError|TruncatedError|InvalidFieldError|TrailingBytesError): /);

  // An oversized frame: refused from its length prefix, before anything is buffered.
  const big = await tlsConnection(port, x);
  big.sendRaw(oversizedFrameHeader());
  await assertClosed(big, 'oversized frame', SLACK_MS, /^FrameTooLargeError: /);

  // An admitted peer that then sends garbage, and one that sends an oversized frame.
  for (const [bytes, bye] of [[garbage(2048, 3), /Error: /], [oversizedFrameHeader(64 * 1024 * 1024), /^FrameTooLargeError: /]] as const) {
    const { peerId, ticket } = await ticketed();
    const c = await admittedPeer(port, peerId, ticket, x);
    c.sendRaw(bytes);
    await assertClosed(c, 'admitted peer sending garbage', SLACK_MS, bye);
  }

  // Without a ticket, garbage right behind the hello: refused at admission or at the garbage.
  const noTicket = await tlsConnection(port, x);
  noTicket.send(peerHello(newPeerId()), 1);
  noTicket.sendRaw(garbage(512, 4));
  await assertClosed(noTicket, 'no ticket + garbage', SLACK_MS);
  assert.notEqual(noTicket.answer(1)?.type, 'hello', 'not admitted');

  // A replayed ticket: someone else's (issued for identity x), shown with identity y.
  const stolen = await ticketed();
  const replay = await tlsConnection(port, y);
  replay.send(peerHello(stolen.peerId, stolen.ticket), 1);
  await assertClosed(replay, 'replayed ticket', SLACK_MS, /peer admission refused: cert-mismatch/);
  const refusal = replay.answer(1);
  assert.equal(refusal?.type === 'error' && refusal.code, 'unauthorized');

  // A flood of searches from an admitted peer: the burst passes, the rest is dropped, then it is disconnected.
  const { peerId: fPeer, ticket: fTicket } = await ticketed();
  const flooder = await admittedPeer(port, fPeer, fTicket, x);
  floodSearches(flooder, 'ab'.repeat(32), 2_000);
  await assertClosed(flooder, 'search flood', SLACK_MS, /too many searches/);

  // Stalls: a TCP connection that never starts TLS, and a TLS link that never says hello.
  const noHandshake = await tcpConnection(port);
  const noHello = await tlsConnection(port, x);
  await assertClosed(noHandshake, 'handshake never finished', STALL_MS + SLACK_MS);
  await assertClosed(noHello, 'hello never sent', STALL_MS + SLACK_MS, /no hello within/);
  assert.ok(noHello.closedAfterMs! >= STALL_MS - 100, `not before the hello timeout (${noHello.closedAfterMs} ms)`);

  // More stalled connections than the pending bound: the one beyond it is dropped at once.
  const crowd: HostileConnection[] = [];
  for (let i = 0; i < MAX_PENDING; i++) crowd.push(await tcpConnection(port));
  await until('A counts the crowd as pending', async () => (await stats(a.url)).peers.unadmitted.pending >= MAX_PENDING, 5_000);
  const beyond = await tcpConnection(port);
  await assertClosed(beyond, 'beyond the pending bound', 1_000);
  for (const c of crowd) c.destroy();

  // The readers that stalled lost their upload slots: A disconnected them.
  await until('A dropped both stalled readers', async () => (await stats(a.url)).peers.stalledUploads >= 2, UPLOAD_STALL_MS + 4 * SLACK_MS);

  // The plays went on, byte for byte.
  const [ap0, bp1] = await Promise.all([aPlay, bPlay]);
  assert.equal(sha(ap0.body), sha(t0.src), "the attacked client's own play is byte-identical");
  assert.equal(sha(bp1.body), sha(t1.src), "a peer's play from the attacked client is byte-identical");
  assert.ok(bp1.record.sources.peer > 0, `the attacked client kept uploading: ${JSON.stringify(bp1.record.sources)}`);
  for (const stop of stopSlow) stop();
  for (const c of stallers) c.destroy();

  // The client counted what it refused, keeps running and serves a normal request.
  const after = await stats(a.url);
  assert.ok(after.peers.searchLimit.dropped >= 200, `searches dropped: ${JSON.stringify(after.peers.searchLimit)}`);
  assert.ok(after.peers.searchLimit.disconnected >= 1);
  assert.ok(after.peers.unadmitted.helloTimeouts >= 1, JSON.stringify(after.peers.unadmitted));
  assert.ok(after.peers.unadmitted.refusedPending >= 1, JSON.stringify(after.peers.unadmitted));
  assert.ok(after.peers.admission.refused['cert-mismatch'] >= 1);
  assert.equal(a.proc.proc.exitCode, null, 'A keeps running');
  assert.equal(after.ap.connects, 1, 'A never lost its AP link');
  const found = await (await fetch(`${a.url}/api/search?q=Hostile`)).json();
  assert.equal(found.tracks.length, 3);
  // Nothing lost: A still has the shared track and serves it to a legitimate peer.
  const { peerId, ticket } = await ticketed();
  const legit = await admittedPeer(port, peerId, ticket, x);
  legit.send({ type: 'chunk-request', fileId: t1.fileId, first: 0, count: 1, urgency: 0 }, 3);
  const first = await legit.waitForAnswer(3);
  assert.equal(first?.type, 'chunk', `a legitimate peer is served: ${JSON.stringify(first)?.slice(0, 200)}`);
  legit.destroy();
});

test('attacks on the AP port are refused while a client plays from the AP with identical bytes', async () => {
  const t2 = tracks[2]!;
  const playing = play(a.url, t2.id);
  const x = await loadOrCreateIdentity(path.join(dir, 'ids', 'x'));

  const tcp = await tcpConnection(apPort);
  tcp.sendRaw(garbage(4096, 5));
  await assertClosed(tcp, 'AP: TCP garbage', SLACK_MS);
  const junk = await tlsConnection(apPort, x);
  junk.sendRaw(garbage(4096, 6));
  await assertClosed(junk, 'AP: TLS garbage', SLACK_MS, /Error: /);
  const big = await tlsConnection(apPort);
  big.sendRaw(oversizedFrameHeader());
  await assertClosed(big, 'AP: oversized frame', SLACK_MS, /^FrameTooLargeError: /);
  // A frame before the hello, and a hello that never logs in.
  const early = await tlsConnection(apPort);
  early.send({ type: 'search', query: 'x', limit: 5 }, 1);
  await assertClosed(early, 'AP: search before hello', SLACK_MS, /hello expected first/);
  // Pipelined password guesses: one scrypt at a time per link, the rest refused as busy.
  const guesser = await tlsConnection(apPort);
  guesser.send({ type: 'hello', version: 1, role: 'peer', agent: 'guess', peerId: newPeerId(), listenPort: 0 }, 1);
  for (let i = 0; i < 20; i++) guesser.send({ type: 'login', user: 'erin', password: `guess${i}` }, 3 + 2 * i);
  const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => guesser.waitForAnswer(3 + 2 * i)));
  const codes = guesses.map((m) => (m?.type === 'error' ? m.code : m?.type));
  assert.ok(codes.every((c) => c === 'unauthorized' || c === 'busy'), JSON.stringify(codes));
  assert.ok(codes.filter((c) => c === 'busy').length >= 10, `most pipelined guesses refused as busy: ${JSON.stringify(codes)}`);
  guesser.destroy();
  const noLogin = await tlsConnection(apPort);
  noLogin.send({ type: 'hello', version: 1, role: 'peer', agent: 'stall', peerId: newPeerId(), listenPort: 0 }, 1);
  const noHandshake = await tcpConnection(apPort);
  const noHello = await tlsConnection(apPort);
  await assertClosed(noHandshake, 'AP: handshake never finished', STALL_MS + SLACK_MS);
  await assertClosed(noHello, 'AP: hello never sent', STALL_MS + SLACK_MS, /no hello within/);
  await assertClosed(noLogin, 'AP: never logged in', STALL_MS + SLACK_MS, /no hello within/);
  assert.equal(noLogin.answer(1)?.type, 'hello', 'its hello was answered');

  const { body } = await playing;
  assert.equal(sha(body), sha(t2.src), 'the play from the AP is byte-identical');
  assert.equal(ap.proc.exitCode, null, 'the AP keeps running');
  assert.equal((await stats(a.url)).ap.connects, 1, 'no client was dropped');
  // A normal client session afterwards: log in and search.
  const link = await apLogin(address, 'erin', 'pw', newPeerId());
  try {
    const r = await link.request({ type: 'search', query: 'Hostile', limit: 10 });
    assert.equal(r.type === 'search-result' && r.tracks.length, 3, 'the catalog is whole');
  } finally {
    link.close();
  }
});

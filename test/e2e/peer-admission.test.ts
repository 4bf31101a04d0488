/**
 * Peer admission with AP-signed tickets (DESIGN §5, issue 6 item 1), with real processes and real
 * TLS on loopback: peers without a valid ticket for their peer id and their TLS key are refused
 * with the reason and get no chunk while a legitimate play on the attacked client goes on; the
 * AP's key rotates (SIGHUP) without dropping anyone; nobody without an account gets a ticket.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectTls, listenTls } from '../../src/net/tls.ts';
import { loadOrCreateIdentity, type TlsIdentity } from '../../src/net/identity.ts';
import { makeConfig } from '../../src/core/config.ts';
import { PROTOCOL_VERSION, type Message, type PeerTicket } from '../../src/protocol/messages.ts';
import { runCli, startCli, type Running } from '../helpers/processes.ts';
import { ingestSynthTracks, type IngestedTrack } from '../helpers/tracks.ts';
import { play, stats, until } from '../helpers/daemon-http.ts';
import { apLogin, ticketFromAp } from '../helpers/peer-ticket.ts';

/** Short-lived tickets, so that expiry is seen within the test. */
const TTL_MS = 5_000;
let dir: string;
let ap: Running;
let address: string;
const tracks: IngestedTrack[] = [];
const running: Running[] = [];
const config = makeConfig();

async function startClient(name: string, extra: string[] = []): Promise<{ url: string; proc: Running }> {
  const proc = await startCli(['client', '--server', address, '--cache', path.join(dir, name), '--http-port', '0', '--peer-port', '0', '--user', 'erin', '--password', 'pw', '--json', ...extra]);
  running.push(proc);
  return { url: JSON.parse(proc.firstLine).url, proc };
}
const newPeerId = () => randomBytes(8).toString('hex');
const identity = (name: string) => loadOrCreateIdentity(path.join(dir, 'ids', name));

/**
 * Dials a client's peer port as `peerId` with `ticket`, presenting `tlsIdentity`, and asks for a
 * chunk right behind the hello. Returns how the hello was answered and the chunks received.
 */
async function dial(port: number, peerId: string, ticket: PeerTicket | undefined, tlsIdentity: TlsIdentity | undefined, fileId: string) {
  const { link } = await connectTls({ host: '127.0.0.1', port, config, ...(tlsIdentity ? { identity: tlsIdentity } : {}) });
  let chunks = 0;
  const hello = link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'intruder', peerId, listenPort: 0, ...(ticket ? { ticket } : {}) }).then(
    (m: Message) => ({ ok: true as const, msg: m }),
    (err: Error & { code?: string }) => ({ ok: false as const, err }),
  );
  const chunk = link.stream({ type: 'chunk-request', fileId, first: 0, count: 1, urgency: 0 }, (m) => {
    if (m.type === 'chunk') chunks++;
    return m.type === 'chunk-end' ? 'done' : 'more';
  });
  const done = await chunk.done.then(() => 'served', (err: Error) => err.name);
  const answer = await hello;
  const closed = await new Promise<boolean>((r) => (link.closed ? r(true) : (link.once('close', () => r(true)), setTimeout(() => r(link.closed), 2000))));
  link.close();
  return { answer, chunks, done, closed };
}
function refusedWith(r: Awaited<ReturnType<typeof dial>>, reason: string): void {
  assert.equal(r.answer.ok, false, `refused (${reason})`);
  if (!r.answer.ok) {
    assert.equal(r.answer.err.code, 'unauthorized');
    assert.match(r.answer.err.message, new RegExp(`peer admission refused: ${reason}$`));
  }
  assert.equal(r.chunks, 0, 'no chunk');
  assert.notEqual(r.done, 'served');
  assert.equal(r.closed, true, 'disconnected');
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-admission-'));
  const data = path.join(dir, 'data');
  tracks.push(...(await ingestSynthTracks(dir, data, { seed: 70, durationsSec: [60, 30, 30], title: 'Guarded', artist: 'Gate', album: 'Tickets' })));
  await runCli(['user', 'add', 'erin', '--password', 'pw', '--data', data]);
  ap = await startCli(['server', '--data', data, '--port', '0', '--json', '--set', `peerTicketTtlMs=${TTL_MS}`, '--set', 'ticketKeyAnnounceMs=1500']);
  address = JSON.parse(ap.firstLine).address;
});

after(async () => {
  for (const p of running) await p.stop();
  await ap?.stop();
  await rm(dir, { recursive: true, force: true });
});

let a: { url: string; proc: Running };
let b: { url: string; proc: Running };

test('(a) logged-in clients admit each other and exchange a track peer-to-peer', async () => {
  a = await startClient('a', ['--max-upload-rate', '150000']);
  b = await startClient('b');
  const t = tracks[0]!;
  assert.ok((await play(a.url, t.id)).body.equals(t.src));
  await until('A announced', async () => (await stats(a.url)).peers.announced >= 1);
  const sa = await stats(a.url);
  assert.match(sa.peers.admission.ticketKeyId, /^[0-9a-f]{16}$/);
  assert.ok(sa.peers.admission.keys.includes(sa.peers.admission.ticketKeyId));
});

test('(b) intruders are refused with the reason and get no chunk while a legitimate play continues byte-identical', async () => {
  const t = tracks[0]!;
  const port = (await stats(a.url)).peers.listenPort;
  const x = await identity('x');
  const y = await identity('y');
  const xId = newPeerId();
  const xTicket = (await ticketFromAp(address, 'erin', 'pw', xId, x)).ticket;
  // The legitimate play: B streams the track from A (A's uploads are capped: it takes a while).
  const playing = play(b.url, t.id);
  await until('B is linked to A', async () => (await stats(b.url)).peers.connected >= 1);

  // The control: the same dial with X's own ticket and key is admitted and served.
  const ok = await dial(port, xId, xTicket, x, t.fileId);
  assert.equal(ok.answer.ok, true, `admitted: ${!ok.answer.ok && ok.answer.err.message}`);
  assert.equal(ok.chunks, 1);

  refusedWith(await dial(port, newPeerId(), undefined, x, t.fileId), 'no-ticket');
  refusedWith(await dial(port, xId, { ...xTicket, user: 'root' }, x, t.fileId), 'bad-signature');
  refusedWith(await dial(port, xId, { ...xTicket, expiresAt: xTicket.expiresAt + 3_600_000 }, x, t.fileId), 'bad-signature');
  refusedWith(await dial(port, xId, { ...xTicket, keyId: '0123456789abcdef' }, x, t.fileId), 'unknown-key');
  // Another peer's ticket: shown with another peer id, or with the right one but another TLS key.
  refusedWith(await dial(port, newPeerId(), xTicket, x, t.fileId), 'peer-mismatch');
  refusedWith(await dial(port, xId, xTicket, y, t.fileId), 'cert-mismatch');
  refusedWith(await dial(port, xId, xTicket, undefined, t.fileId), 'cert-mismatch');

  const { body, record } = await playing;
  assert.ok(body.equals(t.src), 'the legitimate play got identical bytes');
  assert.ok(record.sources.peer > 0, `part of it came from A: ${JSON.stringify(record.sources)}`);
  assert.equal(record.stutters, 0);
  const refused = (await stats(a.url)).peers.admission.refused;
  assert.deepEqual(refused, { 'no-ticket': 1, 'unknown-key': 1, 'bad-signature': 2, expired: 0, 'peer-mismatch': 1, 'cert-mismatch': 2 });
  assert.equal(a.proc.proc.exitCode, null, 'A keeps running');

  // An expired ticket (the AP issued it for X's key, its life is over).
  await new Promise((r) => setTimeout(r, xTicket.expiresAt - Date.now() + 50));
  refusedWith(await dial(port, xId, xTicket, x, t.fileId), 'expired');
});

test('(b) the dialling side checks the ticket of the peer it dials too', async () => {
  // A fake peer: logs in and announces the file (the tracker will name it), but answers the
  // hello with a ticket for another TLS key than the one its listener presents.
  const t = tracks[1]!;
  const x = await identity('x');
  const z = await identity('z');
  const zId = newPeerId();
  const stolen = (await ticketFromAp(address, 'erin', 'pw', zId, x)).ticket;
  let served = 0;
  const fake = await listenTls({
    port: 0,
    identity: z,
    config,
    onLink: (link) =>
      link.on('message', (m: Message, id: number) => {
        if (m.type === 'hello') link.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'fake', peerId: zId, listenPort: 0, ticket: stolen }, id);
        if (m.type === 'chunk-request') served++;
      }),
  });
  const apLink = await apLogin(address, 'erin', 'pw', zId, z, fake.port);
  try {
    apLink.send({ type: 'announce', fileId: t.fileId });
    const c = await startClient('dialer');
    const before = (await stats(c.url)).peers.admission.refused['cert-mismatch'];
    const { body, record } = await play(c.url, t.id);
    assert.ok(body.equals(t.src), 'bytes identical, from the AP');
    assert.equal(record.sources.peer, 0);
    assert.equal(served, 0, 'nothing was asked of the fake peer');
    const s = await stats(c.url);
    assert.ok(s.peers.tracker.found >= 1, 'the tracker did name the fake peer');
    assert.equal(s.peers.admission.refused['cert-mismatch'], before + 1, 'refused it at admission');
  } finally {
    apLink.close();
    await fake.close();
  }
});

test('(c) after a key rotation peer links keep working, new tickets are accepted by old clients, old ones until they expire', async () => {
  const x = await identity('x');
  const xId = newPeerId();
  const oldTicket = (await ticketFromAp(address, 'erin', 'pw', xId, x)).ticket;
  const sa = await stats(a.url);
  const oldKey = sa.peers.admission.ticketKeyId;
  const linked = sa.peers.connected;
  assert.ok(linked >= 1, 'A is linked to B');

  ap.proc.kill('SIGHUP');
  // The new key is announced before it signs: A accepts it while its own ticket is still of the old key.
  await until('A knows the new key', async () => (await stats(a.url)).peers.admission.keys.length === 2);
  await until('A got a ticket of the new key', async () => (await stats(a.url)).peers.admission.ticketKeyId !== oldKey);
  const after = await stats(a.url);
  const newKey = after.peers.admission.ticketKeyId;
  assert.deepEqual([...after.peers.admission.keys].sort(), [oldKey, newKey].sort(), 'A accepts both keys');

  // A ticket of the old key stays valid until it expires.
  const port = after.peers.listenPort;
  const ok = await dial(port, xId, oldTicket, x, tracks[0]!.fileId);
  assert.equal(ok.answer.ok, true, `old-key ticket admitted: ${!ok.answer.ok && ok.answer.err.message}`);

  // The existing link A - B carries a new play.
  const t2 = tracks[2]!;
  assert.ok((await play(a.url, t2.id)).body.equals(t2.src));
  await until('A announced', async () => (await stats(a.url)).peers.announced >= 2);
  const got = await play(b.url, t2.id);
  assert.ok(got.body.equals(t2.src));
  assert.ok(got.record.sources.peer > 0, 'over the link made before the rotation');
  assert.equal((await stats(a.url)).ap.connects, 1, 'A was never dropped by the AP');

  // A client that joins now has a ticket of the new key only, and A (an old client) admits it.
  const c = await startClient('after-rotation');
  assert.equal((await stats(c.url)).peers.admission.ticketKeyId, newKey);
  const fresh = await play(c.url, t2.id);
  assert.ok(fresh.body.equals(t2.src));
  assert.ok(fresh.record.sources.peer > 0, `from a peer: ${JSON.stringify(fresh.record.sources)}`);

  // Past its expiry the old-key ticket is refused.
  await new Promise((r) => setTimeout(r, oldTicket.expiresAt - Date.now() + 50));
  const late = await dial(port, xId, oldTicket, x, tracks[0]!.fileId);
  assert.equal(late.answer.ok, false);
  assert.equal(late.chunks, 0);
  if (!late.answer.ok) assert.match(late.answer.err.message, /peer admission refused: (expired|unknown-key)$/);
});

test('(d) without an account: no login, no ticket, no peer', async () => {
  const x = await identity('x');
  await assert.rejects(apLogin(address, 'erin', 'wrong', newPeerId(), x), { code: 'unauthorized' });
  await assert.rejects(apLogin(address, 'nobody', 'pw', newPeerId(), x), { code: 'unauthorized' });
  // A link that never logged in asks for a ticket anyway.
  const { link } = await connectTls({ host: '127.0.0.1', port: Number(address.split('#')[0]!.split(':')[1]), config, identity: x });
  try {
    await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'x', peerId: newPeerId(), listenPort: 0 });
    await assert.rejects(link.request({ type: 'ticket-request' }), { code: 'unauthorized' });
    await assert.rejects(link.request({ type: 'login', user: 'erin', password: 'nope' }), { code: 'unauthorized' });
    await assert.rejects(link.request({ type: 'ticket-request' }), { code: 'unauthorized' });
  } finally {
    link.close();
  }
  // A logged-in link that presents no certificate gets no ticket either (nothing to bind it to).
  const bare = await apLogin(address, 'erin', 'pw', newPeerId());
  try {
    await assert.rejects(bare.request({ type: 'ticket-request' }), { code: 'unauthorized' });
  } finally {
    bare.close();
  }
  // The CLI client with a wrong password gives up with an error.
  const r = await runCli(['client', '--server', address, '--cache', path.join(dir, 'nobody'), '--http-port', '0', '--user', 'erin', '--password', 'wrong', '--json'], { timeoutMs: 30_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /refused/i);
});

/** Links over real TLS 1.3 on 127.0.0.1. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as tls from 'node:tls';
import type { TunemeshConfig } from '../../src/core/config.ts';
import type { TlsIdentity } from '../../src/net/identity.ts';
import type { Link } from '../../src/net/link.ts';
import { connectTls, listenTls, type LinkInfo, type TlsListener } from '../../src/net/tls.ts';
import { encodeFrame } from '../../src/protocol/framing.ts';
import { chunkData, closed, sleep, testConfig, testIdentities, waitFor } from './helpers.ts';

const FILE = 'c'.repeat(64);

interface Server {
  listener: TlsListener;
  links: { link: Link; info: LinkInfo; closeError?: Error | undefined; closed: boolean }[];
}

/** An AP-like server: answers hello, get-track (not found), chunk-request (chunks + chunk-end). */
async function startServer(identity: TlsIdentity, config: TunemeshConfig = testConfig()): Promise<Server> {
  const links: Server['links'] = [];
  const listener = await listenTls({
    host: '127.0.0.1',
    port: 0,
    identity,
    config,
    onLink(link, info) {
      const entry: Server['links'][number] = { link, info, closed: false };
      links.push(entry);
      link.on('close', (err) => {
        entry.closed = true;
        entry.closeError = err;
      });
      link.on('message', (msg, id) => {
        switch (msg.type) {
          case 'hello':
            link.send({ type: 'hello', version: 1, role: 'peer', agent: 'test-ap', peerId: '', listenPort: 0 }, id);
            break;
          case 'get-track':
            link.send({ type: 'error', code: 'not-found', message: `no track ${msg.trackId}` }, id);
            break;
          case 'chunk-request':
            for (let i = msg.first; i < msg.first + msg.count; i++) {
              link.send({ type: 'chunk', fileId: msg.fileId, index: i, data: chunkData(i) }, id);
            }
            link.send({ type: 'chunk-end', fileId: msg.fileId, first: msg.first, count: msg.count }, id);
            break;
        }
      });
    },
  });
  return { listener, links };
}

let identity: TlsIdentity;
let clientIdentity: TlsIdentity;
let server: Server;

before(async () => {
  [identity, clientIdentity] = (await testIdentities()) as [TlsIdentity, TlsIdentity];
  server = await startServer(identity);
});
after(() => server.listener.close());

const connect = (extra: { fingerprint?: string; config?: TunemeshConfig; identity?: TlsIdentity } = {}) =>
  connectTls({ host: '127.0.0.1', port: server.listener.port, config: testConfig(), fingerprint: identity.fingerprint, ...extra });

describe('tls: links', () => {
  test('request/response, and an error answer as RemoteError', async () => {
    const { link } = await connect();
    assert.deepEqual(await link.request({ type: 'hello', version: 1, role: 'leecher', agent: 'test', peerId: 'c0ffee', listenPort: 4321 }), {
      type: 'hello',
      version: 1,
      role: 'peer',
      agent: 'test-ap',
      peerId: '',
      listenPort: 0,
    });
    await assert.rejects(link.request({ type: 'get-track', trackId: 'zz' }), { name: 'RemoteError', code: 'not-found', message: 'no track zz' });
    link.close();
  });

  test('a stream of 300 chunks (4.8 MB) arrives complete and in order', async () => {
    const { link } = await connect();
    let next = 0;
    let bytes = 0;
    const s = link.stream({ type: 'chunk-request', fileId: FILE, first: 0, count: 300, urgency: 0 }, (m) => {
      if (m.type === 'chunk-end') return 'done';
      assert.equal(m.type, 'chunk');
      if (m.type !== 'chunk') return 'done';
      assert.equal(m.index, next++);
      assert.deepEqual(m.data, new Uint8Array(chunkData(m.index)));
      bytes += m.data.length;
      return 'more';
    });
    await s.done;
    assert.equal(next, 300);
    assert.equal(bytes, 300 * 16384);
    assert.ok(link.bytesReceived > bytes);
    link.close();
  });

  test('interactive messages overtake 4 MB of queued chunks', async (t) => {
    const { link } = await connect();
    // Find the server side of this link, then queue 4 MB on it towards the client.
    await link.request({ type: 'hello', version: 1, role: 'peer', agent: 'x', peerId: 'ab', listenPort: 0 });
    const serverSide = server.links.at(-1)!.link;
    let chunks = 0;
    link.on('message', (m) => m.type === 'chunk' && chunks++);
    const total = 256;
    for (let i = 0; i < total; i++) serverSide.send({ type: 'chunk', fileId: FILE, index: i, data: chunkData(i) });
    assert.ok(serverSide.bulkBacklog > 3 * 1024 * 1024);
    const sentAt = performance.now();
    await serverSide.request({ type: 'ping', nonce: 9 });
    const pingMs = performance.now() - sentAt;
    const chunksAtPong = chunks;
    // The other way round: the client's request is answered while the chunks still flow.
    await assert.rejects(link.request({ type: 'get-track', trackId: 'x' }), { name: 'RemoteError' });
    const chunksAtAnswer = chunks;
    t.diagnostic(`pong after ${pingMs.toFixed(1)} ms, ${chunksAtPong}/${total} chunks delivered; answer at ${chunksAtAnswer}`);
    assert.ok(chunksAtPong < total / 4, `${chunksAtPong}`);
    assert.ok(chunksAtAnswer < total / 2, `${chunksAtAnswer}`);
    await waitFor(() => chunks === total, 10_000);
    link.close();
  });

  test('pending requests reject with LinkClosedError when the server closes the link', async () => {
    const { link } = await connect();
    await link.request({ type: 'hello', version: 1, role: 'peer', agent: 'x', peerId: 'ab', listenPort: 0 });
    const entry = server.links.at(-1)!;
    const pending = link.request({ type: 'search', query: 'nobody answers this', limit: 1 });
    const linkClosed = closed(link);
    await sleep(10);
    entry.link.close('maintenance');
    await assert.rejects(pending, { name: 'LinkClosedError', message: /maintenance/ });
    assert.equal(await linkClosed, undefined);
  });

  test('TLS 1.2 clients are refused; the server keeps serving', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: server.listener.port, maxVersion: 'TLSv1.2', rejectUnauthorized: false });
    const [err] = (await once(socket, 'error')) as [Error];
    assert.match(err.message, /version|handshake|alert/i);
    const { link } = await connect();
    assert.equal((await link.request({ type: 'hello', version: 1, role: 'peer', agent: 'x', peerId: 'ab', listenPort: 0 })).type, 'hello');
    link.close();
  });

  test('a client certificate is reported to the server', async () => {
    const before = server.links.length;
    const { link } = await connect({ identity: clientIdentity });
    await link.request({ type: 'hello', version: 1, role: 'peer', agent: 'x', peerId: 'ab', listenPort: 0 });
    assert.equal(server.links[before]!.info.clientFingerprint, clientIdentity.fingerprint);
    assert.match(server.links[before]!.info.remote, /^127\.0\.0\.1:\d+$/);
    link.close();
  });
});

describe('tls: fingerprints', () => {
  test('a pinned fingerprint that does not match is refused before any application data', async () => {
    const before = server.links.length;
    const wrong = 'f'.repeat(64);
    await assert.rejects(connect({ fingerprint: wrong }), (err: Error & { expected?: string; actual?: string }) => {
      assert.equal(err.name, 'FingerprintMismatchError');
      assert.equal(err.expected, wrong);
      assert.equal(err.actual, identity.fingerprint);
      return true;
    });
    // The server may have accepted the handshake; it must see no message and a closed link.
    await waitFor(() => server.links.slice(before).every((l) => l.closed));
    for (const l of server.links.slice(before)) assert.equal(l.link.bytesReceived, 0);
  });

  test('trust on first use: without a pin the seen fingerprint is returned, and pinning it works', async () => {
    const first = await connect({ fingerprint: undefined });
    assert.equal(first.fingerprint, identity.fingerprint);
    first.link.close();
    const colons = identity.fingerprint.toUpperCase().match(/../g)!.join(':');
    const second = await connect({ fingerprint: colons });
    assert.equal(second.fingerprint, identity.fingerprint);
    second.link.close();
  });

  test('connecting to a closed port fails with the socket error; a dead host times out', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await assert.rejects(connectTls({ host: '127.0.0.1', port, config: testConfig() }), { code: 'ECONNREFUSED' });
    // A TCP server that never speaks TLS.
    const mute = net.createServer(() => {}).listen(0, '127.0.0.1');
    await once(mute, 'listening');
    await assert.rejects(
      connectTls({ host: '127.0.0.1', port: (mute.address() as net.AddressInfo).port, config: testConfig(), timeoutMs: 100 }),
      { name: 'ConnectTimeoutError' },
    );
    mute.close();
  });
});

describe('tls: bad clients and keep-alive', () => {
  test('a client sending garbage is disconnected; another link on the same server keeps working', async () => {
    const good = await connect();
    await good.link.request({ type: 'hello', version: 1, role: 'peer', agent: 'good', peerId: 'ab', listenPort: 0 });
    const before = server.links.length;
    const bad = tls.connect({ host: '127.0.0.1', port: server.listener.port, rejectUnauthorized: false });
    await once(bad, 'secureConnect');
    bad.on('error', () => {});
    bad.on('data', () => {});
    bad.write(encodeFrame({ type: 'hello', version: 1, role: 'peer', agent: 'bad', peerId: 'ab', listenPort: 0 }, 1));
    bad.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await once(bad, 'close');
    await waitFor(() => server.links[before]?.closed === true);
    assert.equal(server.links[before]!.closeError?.name, 'FrameTooLargeError'); // 'GET ' read as a length
    // A plain-TCP client that is not TLS at all fails its handshake alone.
    const plain = net.connect(server.listener.port, '127.0.0.1');
    plain.on('error', () => {});
    plain.write('hello?\r\n');
    await once(plain, 'close');
    // The good link is unaffected.
    await assert.rejects(good.link.request({ type: 'get-track', trackId: 'still here' }), { name: 'RemoteError' });
    assert.equal(good.link.closed, false);
    good.link.close();
  });

  test('keep-alive: live links survive idle time; a silent peer is closed with LinkTimeoutError', async () => {
    const fast = testConfig({ keepAliveMs: 40, linkTimeoutMs: 250 });
    const srv = await startServer(identity, fast);
    try {
      const { link } = await connectTls({ host: '127.0.0.1', port: srv.listener.port, config: fast, fingerprint: identity.fingerprint });
      // A TLS client that completes the handshake and then never says anything.
      const silent = tls.connect({ host: '127.0.0.1', port: srv.listener.port, rejectUnauthorized: false });
      silent.on('data', () => {});
      silent.on('error', () => {});
      await once(silent, 'secureConnect');
      const started = performance.now();
      await waitFor(() => srv.links.length === 2 && srv.links.some((l) => l.closed), 3000);
      const elapsed = performance.now() - started;
      const dead = srv.links.find((l) => l.closed)!;
      assert.equal(dead.closeError?.name, 'LinkTimeoutError');
      assert.ok(elapsed >= 150 && elapsed < 2000, `${elapsed} ms`);
      await sleep(300);
      assert.equal(link.closed, false, 'the live link stayed up');
      assert.equal(srv.links.filter((l) => !l.closed).length, 1);
      link.close();
      silent.destroy();
    } finally {
      await srv.listener.close();
    }
  });

  test('closing the listener closes its links with bye', async () => {
    const srv = await startServer(identity);
    const { link } = await connectTls({ host: '127.0.0.1', port: srv.listener.port, config: testConfig(), fingerprint: identity.fingerprint });
    await link.request({ type: 'hello', version: 1, role: 'peer', agent: 'x', peerId: 'ab', listenPort: 0 });
    const rejected = assert.rejects(link.request({ type: 'search', query: 'q', limit: 1 }), {
      name: 'LinkClosedError',
      message: /server shutting down/,
    });
    const linkClosed = closed(link);
    await srv.listener.close();
    assert.equal(await linkClosed, undefined);
    await rejected;
  });
});

/**
 * The listener's defences against connections that stall (issue 6 item 4), over real TLS on
 * 127.0.0.1: a TLS handshake that never finishes is dropped after `handshakeTimeoutMs`, a link
 * that never says hello after `helloTimeoutMs`, and beyond `maxPending` unadmitted connections a
 * new one is dropped at once, while an admitted link is untouched by all three.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test } from 'node:test';
import type { Link } from '../../src/net/link.ts';
import { connectTls, listenTls } from '../../src/net/tls.ts';
import { closed, testConfig, testIdentities, waitFor } from './helpers.ts';

const rawClosed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

test('stalled handshakes and silent links are dropped; beyond maxPending new connections are refused; admitted links stay', async () => {
  const [identity] = await testIdentities();
  const config = testConfig();
  const accepted: Link[] = [];
  const listener = await listenTls({
    port: 0,
    identity: identity!,
    config,
    handshakeTimeoutMs: 400,
    helloTimeoutMs: 400,
    maxPending: 2,
    onLink(link, info) {
      accepted.push(link);
      link.on('message', (m, id) => {
        if (m.type === 'hello') {
          info.admitted();
          link.send({ type: 'hello', version: 1, role: 'peer', agent: 't', peerId: '', listenPort: 0 }, id);
        }
      });
    },
  });
  try {
    // An admitted link first: it must survive everything below.
    const good = (await connectTls({ host: '127.0.0.1', port: listener.port, config })).link;
    await good.request({ type: 'hello', version: 1, role: 'peer', agent: 't', peerId: '0123456789abcdef', listenPort: 0 });
    await waitFor(() => listener.stats.pending === 0);

    // Two TCP connections that never start TLS fill the pending bound...
    const stall1 = net.connect(listener.port, '127.0.0.1');
    const stall2 = net.connect(listener.port, '127.0.0.1');
    for (const s of [stall1, stall2]) s.on('error', () => {});
    await waitFor(() => listener.stats.pending === 2);
    // ...so a third connection is dropped at once.
    const third = net.connect(listener.port, '127.0.0.1');
    third.on('error', () => {});
    await rawClosed(third);
    assert.equal(listener.stats.refusedPending, 1);
    // The stalled handshakes are dropped after the handshake timeout.
    await Promise.all([rawClosed(stall1), rawClosed(stall2)]);
    await waitFor(() => listener.stats.pending === 0);

    // A TLS link that never says hello is closed after the hello timeout.
    const silent = (await connectTls({ host: '127.0.0.1', port: listener.port, config })).link;
    await closed(silent);
    assert.equal(listener.stats.helloTimeouts, 1);

    // The admitted link still answers.
    assert.equal(good.closed, false);
    const pong = await good.request({ type: 'get-track', trackId: 'x' }, { timeoutMs: 200 }).catch((e: Error) => e.name);
    assert.equal(pong, 'RequestTimeoutError', 'no handler for get-track here, but the link is alive');
    assert.equal(good.closed, false);
    good.close();
  } finally {
    await listener.close();
  }
});

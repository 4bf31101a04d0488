/** The Link over plain loopback TCP: multiplexing, ordering, cancel, keep-alive, closing. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { Link } from '../../src/net/link.ts';
import { encodeFrame, FrameDecoder, type Frame } from '../../src/protocol/framing.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { chunkData, closed, linkPair, sleep, socketPair, testConfig, waitFor } from './helpers.ts';

const FILE = 'f'.repeat(64);

/** Answers requests on `link` with `answer(msg)`. */
function serve(link: Link, answer: (msg: Message, requestId: number) => Message | undefined): void {
  link.on('message', (msg, requestId) => {
    const reply = answer(msg, requestId);
    if (reply) link.send(reply, requestId);
  });
}

/** Answers a chunk-request with its chunks and a chunk-end, all queued at once. */
function serveChunks(link: Link): void {
  link.on('message', (msg, requestId) => {
    if (msg.type !== 'chunk-request') return;
    for (let i = msg.first; i < msg.first + msg.count; i++) link.send({ type: 'chunk', fileId: msg.fileId, index: i, data: chunkData(i) }, requestId);
    link.send({ type: 'chunk-end', fileId: msg.fileId, first: msg.first, count: msg.count }, requestId);
  });
}

describe('link: requests', () => {
  test('both sides make requests; the dialler uses odd ids, the acceptor even ones', async () => {
    const { a, b, close } = await linkPair();
    const seenIds: Record<string, number[]> = { a: [], b: [] };
    serve(a, (msg, id) => (seenIds.a.push(id), msg.type === 'get-track' ? { type: 'error', code: 'not-found', message: msg.trackId } : undefined));
    serve(b, (msg, id) => (seenIds.b.push(id), msg.type === 'search' ? { type: 'artists', artists: [] } : undefined));
    const answers = await Promise.all([
      a.request({ type: 'search', query: 'x', limit: 1 }),
      a.request({ type: 'search', query: 'y', limit: 1 }),
      b.request({ type: 'get-track', trackId: 't9' }).catch((err: Error) => err),
    ]);
    assert.deepEqual(answers[0], { type: 'artists', artists: [] });
    assert.deepEqual(answers[1], { type: 'artists', artists: [] });
    assert.equal((answers[2] as Error).name, 'RemoteError');
    assert.equal((answers[2] as Error & { code: string }).code, 'not-found');
    assert.equal((answers[2] as Error).message, 't9');
    assert.deepEqual(seenIds.b, [1, 3]);
    assert.deepEqual(seenIds.a, [2]);
    close();
  });

  test('a request without an answer times out, sends cancel, and its late answer is dropped', async () => {
    const { a, b, close } = await linkPair();
    const received: [string, number][] = [];
    b.on('message', (msg, id) => received.push([msg.type, id]));
    await assert.rejects(a.request({ type: 'get-album', albumId: 'x' }, { timeoutMs: 50 }), { name: 'RequestTimeoutError' });
    await waitFor(() => received.length === 2);
    assert.deepEqual(received, [['get-album', 1], ['cancel', 1]]);
    const unsolicited: Message[] = [];
    a.on('message', (msg) => unsolicited.push(msg));
    b.send({ type: 'album', album: { id: 'x', title: '', artist: '', artistId: '', trackCount: 0 }, tracks: [] }, 1);
    await waitFor(() => a.lateAnswers === 1);
    assert.deepEqual(unsolicited, []);
    close();
  });

  test('an aborted request sends cancel and rejects with the reason', async () => {
    const { a, b, close } = await linkPair();
    const cancelled = new Promise<number>((resolve) => b.on('message', (m, id) => m.type === 'cancel' && resolve(id)));
    const controller = new AbortController();
    const pending = a.request({ type: 'get-track', trackId: 'x' }, { signal: controller.signal });
    controller.abort(new Error('user skipped'));
    await assert.rejects(pending, /user skipped/);
    assert.equal(await cancelled, 1);
    close();
  });

  test('unsolicited messages (id 0) are emitted with id 0', async () => {
    const { a, b, close } = await linkPair();
    const got = once(b, 'message');
    a.send({ type: 'hello', version: 1, role: 'leecher', agent: 'x', peerId: 'ab12', listenPort: 9 });
    assert.deepEqual(await got, [{ type: 'hello', version: 1, role: 'leecher', agent: 'x', peerId: 'ab12', listenPort: 9 }, 0]);
    close();
  });

  test('pings are answered with pongs carrying the same id and nonce, and not emitted', async () => {
    const { a, b, close } = await linkPair();
    let emitted = 0;
    b.on('message', () => emitted++);
    assert.deepEqual(await a.request({ type: 'ping', nonce: 77 }), { type: 'pong', nonce: 77 });
    assert.equal(emitted, 0);
    close();
  });

  test('an encoding error rejects the request; the link stays up', async () => {
    const { a, b, close } = await linkPair(testConfig({ maxFrameBytes: 4096 }));
    serve(b, () => ({ type: 'pong', nonce: 1 }));
    await assert.rejects(a.request({ type: 'ping', nonce: -1 }), { name: 'InvalidFieldError' });
    await assert.rejects(a.request({ type: 'bye', reason: 'x'.repeat(4097) }), { name: 'InvalidFieldError' });
    await assert.rejects(a.request({ type: 'login', user: 'u', password: 'p'.repeat(1000) + 'é'.repeat(1600) }), { name: 'InvalidFieldError' });
    assert.throws(() => a.send({ type: 'chunk', fileId: FILE, index: 0, data: new Uint8Array(5000) }), { name: 'FrameTooLargeError' });
    assert.deepEqual(await a.request({ type: 'search', query: '', limit: 0 }), { type: 'pong', nonce: 1 });
    close();
  });
});

describe('link: streams and the priority queue', () => {
  test('a stream gets every chunk in order, then its interactive chunk-end', async () => {
    const { a, b, close } = await linkPair();
    serveChunks(b);
    const indexes: number[] = [];
    let ended = false;
    const s = a.stream({ type: 'chunk-request', fileId: FILE, first: 10, count: 100, urgency: 0 }, (m) => {
      if (m.type === 'chunk') {
        assert.equal(Buffer.from(m.data).readUInt32BE(0), m.index);
        assert.equal(m.data.length, 16384);
        indexes.push(m.index);
        return 'more';
      }
      assert.equal(m.type, 'chunk-end');
      ended = true;
      return 'done';
    });
    assert.equal(s.requestId, 1);
    await s.done;
    assert.ok(ended);
    assert.deepEqual(indexes, Array.from({ length: 100 }, (_, i) => 10 + i));
    close();
  });

  test('an error answer rejects the stream with RemoteError', async () => {
    const { a, b, close } = await linkPair();
    serve(b, () => ({ type: 'error', code: 'not-here', message: 'gone' }));
    const s = a.stream({ type: 'chunk-request', fileId: FILE, first: 0, count: 1, urgency: 0 }, () => 'more');
    await assert.rejects(s.done, { name: 'RemoteError', code: 'not-here' });
    close();
  });

  test('cancel stops the stream and drops the sender\'s queued chunks of that request', async () => {
    const { a, b, close } = await linkPair();
    serveChunks(b);
    const cancels: number[] = [];
    b.on('message', (m, id) => m.type === 'cancel' && cancels.push(id));
    let received = 0;
    const s = a.stream({ type: 'chunk-request', fileId: FILE, first: 0, count: 2000, urgency: 0 }, () => {
      received++;
      if (received === 3) s.cancel();
      return 'more';
    });
    await s.done;
    await waitFor(() => cancels.length === 1);
    assert.deepEqual(cancels, [s.requestId]);
    assert.equal(b.bulkBacklog, 0);
    // Far fewer than the 2000 chunks (32 MB) left b; what did leave arrives and is dropped.
    assert.ok(b.bytesSent < 8 * 1024 * 1024, `b sent ${b.bytesSent} bytes`);
    const answer = await a.request({ type: 'ping', nonce: 5 });
    assert.deepEqual(answer, { type: 'pong', nonce: 5 });
    assert.ok(a.lateAnswers > 0);
    close();
  });

  test('a stream that goes quiet for idleTimeoutMs rejects with RequestTimeoutError and is cancelled', async () => {
    const { a, b, close } = await linkPair();
    const cancels: number[] = [];
    b.on('message', (m, id) => {
      if (m.type === 'chunk-request') b.send({ type: 'chunk', fileId: FILE, index: 0, data: chunkData(0) }, id); // then nothing
      if (m.type === 'cancel') cancels.push(id);
    });
    const forever = a.request({ type: 'get-track', trackId: 'x' }, { timeoutMs: Infinity });
    let got = 0;
    const s = a.stream({ type: 'chunk-request', fileId: FILE, first: 0, count: 5, urgency: 0 }, () => (got++, 'more'), { idleTimeoutMs: 60 });
    await assert.rejects(s.done, { name: 'RequestTimeoutError' });
    assert.equal(got, 1);
    await waitFor(() => cancels.length === 1);
    assert.deepEqual(cancels, [s.requestId]);
    close();
    await assert.rejects(forever, { name: 'LinkClosedError' }); // not timed out at once
  });

  test('a throwing onMessage rejects the stream with its error and cancels it', async () => {
    const { a, b, close } = await linkPair();
    serveChunks(b);
    const cancelled = new Promise((resolve) => b.on('message', (m) => m.type === 'cancel' && resolve(m)));
    const s = a.stream({ type: 'chunk-request', fileId: FILE, first: 0, count: 50, urgency: 0 }, () => {
      throw new Error('bad chunk');
    });
    await assert.rejects(s.done, /bad chunk/);
    await cancelled;
    assert.equal(a.closed, false);
    close();
  });

  test('interactive messages overtake megabytes of queued bulk frames', async () => {
    const { a, b, close } = await linkPair();
    let chunksAtB = 0;
    let chunksWhenAsked = -1;
    b.on('message', (m, id) => {
      if (m.type === 'chunk') chunksAtB++;
      if (m.type === 'get-track') {
        chunksWhenAsked = chunksAtB;
        b.send({ type: 'error', code: 'not-found', message: '' }, id);
      }
    });
    const total = 256; // 4 MB
    for (let i = 0; i < total; i++) a.send({ type: 'chunk', fileId: FILE, index: i, data: chunkData(i) });
    assert.ok(a.bulkBacklog > 3 * 1024 * 1024, `backlog ${a.bulkBacklog}`);
    await a.request({ type: 'ping', nonce: 1 });
    const chunksAtPong = chunksAtB;
    await assert.rejects(a.request({ type: 'get-track', trackId: 'x' }), { name: 'RemoteError' });
    assert.ok(chunksAtPong < total / 4, `pong after ${chunksAtPong} of ${total} chunks`);
    assert.ok(chunksWhenAsked < total / 2, `request seen after ${chunksWhenAsked} of ${total} chunks`);
    await waitFor(() => chunksAtB === total, 5000);
    close();
  });

  test('bulk in flight stays within the window until the peer answers the window pings', async () => {
    const { dialer, acceptor } = await socketPair();
    const window = 128 * 1024;
    const a = new Link(dialer, { side: 'dialer', config: testConfig(), bulkWindowBytes: window });
    const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
    const pings: number[] = [];
    let chunks = 0;
    acceptor.on('data', (d: Buffer) => {
      for (const f of decoder.push(d)) {
        if (f.message.type === 'chunk') chunks++;
        if (f.message.type === 'ping') pings.push(f.message.nonce);
      }
    });
    for (let i = 0; i < 64; i++) a.send({ type: 'chunk', fileId: FILE, index: i, data: chunkData(i) }); // 1 MB
    await sleep(100);
    // A peer that reads but never answers: the link stops after one window.
    const frame = 16384 + 80;
    assert.ok(chunks * 16384 <= window + frame && chunks > 0, `${chunks} chunks before any pong`);
    assert.ok(pings.length >= 1);
    // Answering the pings reopens the window, and the rest flows.
    const answer = () => {
      for (const nonce of pings.splice(0)) acceptor.write(encodeFrame({ type: 'pong', nonce }));
    };
    answer();
    const timer = setInterval(answer, 5);
    await waitFor(() => chunks === 64);
    clearInterval(timer);
    assert.equal(a.bulkBacklog, 0);
    a.close();
    acceptor.destroy();
  });

  test('waitForBulkDrain resolves as the queue drains', async () => {
    const { a, b, close } = await linkPair();
    let chunks = 0;
    b.on('message', () => chunks++);
    for (let i = 0; i < 64; i++) a.send({ type: 'chunk', fileId: FILE, index: i, data: chunkData(i) });
    assert.ok(a.bulkBacklog > 256 * 1024);
    await a.waitForBulkDrain(256 * 1024);
    assert.ok(a.bulkBacklog <= 256 * 1024);
    await a.waitForBulkDrain();
    assert.equal(a.bulkBacklog, 0);
    await waitFor(() => chunks === 64);
    close();
  });
});

describe('link: closing', () => {
  test('close() says bye: pending requests reject with LinkClosedError, both sides close cleanly once', async () => {
    const { a, b, close } = await linkPair();
    let aCloses = 0;
    a.on('close', () => aCloses++);
    const bClosed = closed(b);
    const pending = a.request({ type: 'get-track', trackId: 'never answered' });
    const s = a.stream({ type: 'chunk-request', fileId: FILE, first: 0, count: 1, urgency: 0 }, () => 'more');
    await waitFor(() => b.bytesReceived > 0);
    a.close('done here');
    await assert.rejects(pending, { name: 'LinkClosedError' });
    await assert.rejects(s.done, { name: 'LinkClosedError' });
    assert.equal(await bClosed, undefined);
    assert.equal(a.closed && b.closed && a.destroyed, true);
    assert.equal(a.send({ type: 'ping', nonce: 1 }), false);
    await assert.rejects(a.request({ type: 'ping', nonce: 1 }), { name: 'LinkClosedError' });
    await assert.rejects(a.stream({ type: 'ping', nonce: 1 }, () => 'done').done, { name: 'LinkClosedError' });
    a.close();
    await sleep(20);
    assert.equal(aCloses, 1);
    close();
  });

  test('the peer\'s requests pending at our side reject when the peer drops the connection', async () => {
    const { dialer, acceptor } = await socketPair();
    const a = new Link(dialer, { side: 'dialer', config: testConfig() });
    const pending = a.request({ type: 'get-track', trackId: 'x' });
    const aClosed = closed(a);
    await sleep(10);
    acceptor.destroy();
    await assert.rejects(pending, { name: 'LinkClosedError' });
    assert.equal((await aClosed)?.name, 'LinkClosedError');
  });

  test('garbage on the wire closes that link with a typed error and a bye naming it', async () => {
    const { dialer, acceptor } = await socketPair();
    const b = new Link(acceptor, { side: 'acceptor', config: testConfig({ maxFrameBytes: 65536 }) });
    const bClosed = closed(b);
    const decoder = new FrameDecoder({ maxFrameBytes: 65536 });
    const fromB: Frame[] = [];
    dialer.on('data', (d: Buffer) => fromB.push(...decoder.push(d)));
    dialer.write(encodeFrame({ type: 'hello', version: 1, role: 'peer', agent: 'x', peerId: 'ab', listenPort: 0 }, 1));
    // 250: no message type has this id
    dialer.write(Buffer.from([0, 0, 0, 8, 250, 0, 0, 0, 0, 1, 2, 3]));
    const err = await bClosed;
    assert.equal(err?.name, 'UnknownMessageTypeError');
    await once(dialer, 'end');
    assert.equal(fromB.at(-1)?.message.type, 'bye');
    assert.match((fromB.at(-1)?.message as { reason: string }).reason, /UnknownMessageTypeError/);
    dialer.destroy();
  });

  test('a frame over maxFrameBytes closes the link before the frame is buffered', async () => {
    const { dialer, acceptor } = await socketPair();
    const b = new Link(acceptor, { side: 'acceptor', config: testConfig({ maxFrameBytes: 1024 }) });
    const bClosed = closed(b);
    dialer.on('error', () => {});
    dialer.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
    assert.equal((await bClosed)?.name, 'FrameTooLargeError');
    dialer.destroy();
  });

  test('a message listener that throws closes that link, not the process', async () => {
    const { a, b, close } = await linkPair();
    b.on('message', () => {
      throw new Error('application bug');
    });
    const bClosed = closed(b);
    const pending = a.request({ type: 'get-track', trackId: 'x' });
    assert.equal((await bClosed)?.message, 'application bug');
    await assert.rejects(pending, { name: 'LinkClosedError' });
    close();
  });
});

describe('link: keep-alive', () => {
  test('an idle link with live peers stays up: pings flow both ways', async () => {
    const { a, b, close } = await linkPair(testConfig({ keepAliveMs: 30, linkTimeoutMs: 150 }));
    await sleep(400);
    assert.equal(a.closed || b.closed, false);
    assert.ok(a.bytesSent >= 5 * 14 && b.bytesSent >= 5 * 14, `${a.bytesSent} / ${b.bytesSent}`);
    close();
  });

  test('a silent peer is detected: pings go out, then LinkTimeoutError after linkTimeoutMs', async () => {
    const { dialer, acceptor } = await socketPair();
    const decoder = new FrameDecoder({ maxFrameBytes: 65536 });
    const seen: string[] = [];
    acceptor.on('data', (d: Buffer) => seen.push(...decoder.push(d).map((f) => f.message.type)));
    const started = performance.now();
    const a = new Link(dialer, { side: 'dialer', config: testConfig({ keepAliveMs: 40, linkTimeoutMs: 200 }) });
    const pending = a.request({ type: 'get-track', trackId: 'x' }, { timeoutMs: 10_000 });
    const err = await closed(a);
    const after = performance.now() - started;
    assert.equal(err?.name, 'LinkTimeoutError');
    assert.ok(after >= 190 && after < 1000, `closed after ${after} ms`);
    assert.ok(seen.filter((t) => t === 'ping').length >= 2, seen.join(','));
    await assert.rejects(pending, { name: 'LinkClosedError' });
    acceptor.destroy();
  });
});

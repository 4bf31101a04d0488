/** The TCP delay proxy of the end-to-end tests: delay, ordering, rate cap, half-close, teardown. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { startDelayProxy } from '../helpers/delay-proxy.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A listener on 127.0.0.1 that runs `onConnection` for each socket; close() destroys them all. */
async function listen(onConnection: (socket: net.Socket) => void, allowHalfOpen = false): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.setNoDelay(true);
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    close: async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

const echoServer = () => listen((socket) => socket.pipe(socket));

async function connect(port: number, allowHalfOpen = false): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen });
  socket.setNoDelay(true);
  await once(socket, 'connect');
  return socket;
}

/** Reads from `socket` until `n` bytes have arrived. */
function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer): void => {
      parts.push(d);
      got += d.length;
      if (got >= n) {
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve(Buffer.concat(parts));
      }
    };
    const onClose = (): void => reject(new Error(`socket closed after ${got} of ${n} bytes`));
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** Resolves once `socket` has closed, rejects after `ms`. */
function closedWithin(socket: net.Socket, ms: number): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

describe('delay proxy', () => {
  test('adds the delay in both directions and forwards bytes unchanged', { timeout: 5_000 }, async () => {
    const echo = await echoServer();
    const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: echo.port }, delayMs: 40 });
    try {
      const client = await connect(proxy.port);
      const t0 = performance.now();
      client.write('x');
      assert.equal((await readBytes(client, 1)).toString(), 'x');
      const rtt = performance.now() - t0;
      assert.ok(rtt >= 78, `round trip ${rtt.toFixed(1)} ms is below 2 x 40 ms`);

      const payload = randomBytes(1024 * 1024);
      const echoed = readBytes(client, payload.length);
      for (let at = 0; at < payload.length; at += 8192) client.write(payload.subarray(at, at + 8192));
      assert.ok((await echoed).equals(payload), 'echoed bytes differ');
      assert.equal(proxy.connections, 1);
      assert.deepEqual(proxy.bytes, { up: payload.length + 1, down: payload.length + 1 });
      client.destroy();
    } finally {
      await proxy.close();
      await echo.close();
    }
  });

  test('changing the delay mid-stream never reorders data', { timeout: 5_000 }, async () => {
    const echo = await echoServer();
    const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: echo.port }, delayMs: 50 });
    try {
      const client = await connect(proxy.port);
      const N = 400;
      const echoed = readBytes(client, N * 4);
      const delays = new Map([[100, 0], [200, 30], [250, 0], [300, 20], [350, 0]]);
      for (let i = 0; i < N; i++) {
        const msg = Buffer.alloc(4);
        msg.writeUInt32BE(i);
        client.write(msg);
        const d = delays.get(i);
        if (d !== undefined) proxy.setDelay(d);
        if (i % 10 === 9) await sleep(2); // let the writes arrive as separate chunks
      }
      const got = await echoed;
      for (let i = 0; i < N; i++) assert.equal(got.readUInt32BE(i * 4), i, `message ${i} out of order`);
      client.destroy();
    } finally {
      await proxy.close();
      await echo.close();
    }
  });

  test('the rate cap holds 300 kB at 1 MB/s to at least ~250 ms', { timeout: 5_000 }, async () => {
    const total = 300_000;
    let got = 0;
    let done!: (at: number) => void;
    const received = new Promise<number>((resolve) => (done = resolve));
    const sink = await listen((socket) => {
      socket.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= total) done(performance.now());
      });
    });
    const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: sink.port }, delayMs: 0, rateBytesPerSec: 1_000_000 });
    try {
      const client = await connect(proxy.port);
      const t0 = performance.now();
      client.write(randomBytes(total));
      const elapsed = (await received) - t0;
      assert.ok(elapsed >= 250, `300 kB at 1 MB/s took only ${elapsed.toFixed(1)} ms`);
      assert.equal(proxy.bytes.up, total);
      client.destroy();
    } finally {
      await proxy.close();
      await sink.close();
    }
  });

  test('a half-close is forwarded after the data, and the reply still comes back', { timeout: 5_000 }, async () => {
    const seen: { data: Buffer; ended: boolean }[] = [];
    const server = await listen((socket) => {
      const parts: Buffer[] = [];
      socket.on('data', (d: Buffer) => parts.push(d));
      socket.on('end', () => {
        const data = Buffer.concat(parts);
        seen.push({ data, ended: true });
        setTimeout(() => socket.end(`got ${data.length} bytes`), 10);
      });
    }, true);
    const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: server.port }, delayMs: 20 });
    try {
      const client = await connect(proxy.port, true);
      const payload = randomBytes(100_000);
      const replyParts: Buffer[] = [];
      client.on('data', (d: Buffer) => replyParts.push(d));
      const ended = once(client, 'end');
      client.write(payload.subarray(0, 50_000));
      client.end(payload.subarray(50_000));
      await ended;
      assert.equal(seen.length, 1);
      assert.ok(seen[0]!.data.equals(payload), 'the server saw all data before end');
      assert.equal(Buffer.concat(replyParts).toString(), `got ${payload.length} bytes`);
      await closedWithin(client, 1_000);
    } finally {
      await proxy.close();
      await server.close();
    }
  });

  test('a target that is down gives the client a closed socket', { timeout: 5_000 }, async () => {
    const gone = await listen(() => {});
    const port = gone.port;
    await gone.close();
    const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port }, delayMs: 10 });
    try {
      const client = net.connect({ host: '127.0.0.1', port: proxy.port });
      client.on('error', () => {});
      await closedWithin(client, 1_500);
      assert.equal(proxy.connections, 1);
    } finally {
      await proxy.close();
    }
  });

  test('close() destroys open connections and the listener', { timeout: 5_000 }, async () => {
    const echo = await echoServer();
    const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: echo.port }, delayMs: 5 });
    try {
      const client = await connect(proxy.port);
      client.on('error', () => {});
      client.write('ping');
      await readBytes(client, 4);
      proxy.setDelay(10_000); // data left waiting in the queue must not keep anything alive
      client.write('stuck');
      await sleep(20);
      await proxy.close();
      await closedWithin(client, 1_000);
      const again = net.connect({ host: '127.0.0.1', port: proxy.port });
      const [err] = (await once(again, 'error')) as [NodeJS.ErrnoException];
      assert.equal(err.code, 'ECONNREFUSED');
    } finally {
      await proxy.close();
      await echo.close();
    }
  });
});

/**
 * Bulk throughput of a Link versus a plain `node:tls` pipe, on loopback TLS 1.3, in one run.
 *
 * Link: the accepting side (the AP's role) sends 16 kB `chunk` frames through the priority
 * queue, keeping its bulk backlog bounded as the AP's chunk pump does; the dialling side decodes
 * them, and the clock stops when it has every chunk's audio bytes.
 * Raw: the same frame bytes written to a `tls.TLSSocket` with only write()/'drain' backpressure,
 * counted at the receiver without decoding.
 *
 * Both ends run in this one process, so each figure includes encryption and decryption on one
 * thread. Prints MB/s (audio bytes, 10^6) for both, medians of the runs, and their ratio.
 * Never fails on time. Usage: `npx tsx bench/link-throughput.ts [megabytes-per-run] [runs]`.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { makeConfig } from '../src/core/config.ts';
import { loadOrCreateIdentity, type TlsIdentity } from '../src/net/identity.ts';
import type { Link } from '../src/net/link.ts';
import { connectTls, listenTls } from '../src/net/tls.ts';
import { encodeFrame } from '../src/protocol/framing.ts';
import { isMain, median } from './stats.ts';

/** What one invocation measured. */
export interface LinkThroughputFigures {
  /** Audio bytes moved per run. */
  bytesPerRun: number;
  /** Runs of each kind. */
  runs: number;
  /** Median Link throughput, MB/s (10^6 bytes of chunk data per second, at the receiver). */
  linkMBps: number;
  /** Median raw TLS throughput of the same frame bytes, MB/s (same audio-byte count). */
  rawMBps: number;
  /** linkMBps / rawMBps. */
  ratio: number;
  /** Every run, MB/s. */
  linkRunsMBps: number[];
  rawRunsMBps: number[];
}

/** Options of {@link main}. */
export interface LinkThroughputOptions {
  /** Audio per run, MiB. @default 64 */
  megabytes?: number;
  /** Runs of each kind; the median is reported. @default 5 */
  runs?: number;
  /** Print the figures. @default true */
  print?: boolean;
}

const config = makeConfig();
const CHUNK = config.chunkSize;
const FILE_ID = 'e'.repeat(64);
/** Bulk backlog the sender keeps queued, like the AP's chunk pump (256 KiB, refill at half). */
const BACKLOG = 256 * 1024;
/** Chunks moved by the untimed warm-up run of each kind (32 MiB: the first runs are slow while V8 optimises). */
const WARM_UP_CHUNKS = 2048;

/** One Link run: seconds to move `chunks` chunks from the accepting side to the dialler. */
async function linkRun(identity: TlsIdentity, chunks: number): Promise<number> {
  const data = new Uint8Array(CHUNK).fill(0x5a);
  let onAccepted!: (link: Link) => void;
  const accepted = new Promise<Link>((resolve) => (onAccepted = resolve));
  const server = await listenTls({ host: '127.0.0.1', port: 0, identity, config, onLink: (link) => onAccepted(link) });
  const { link: receiver } = await connectTls({ host: '127.0.0.1', port: server.port, fingerprint: identity.fingerprint, config });
  const sender = await accepted;

  let received = 0;
  const total = chunks * CHUNK;
  const done = new Promise<void>((resolve, reject) => {
    receiver.on('message', (m) => {
      if (m.type === 'chunk') {
        received += m.data.byteLength;
        if (received >= total) resolve();
      }
    });
    receiver.once('close', (err) => reject(err ?? new Error('receiver closed')));
  });

  const started = performance.now();
  for (let i = 0; i < chunks; i++) {
    if (sender.bulkBacklog > BACKLOG) await sender.waitForBulkDrain(BACKLOG / 2);
    sender.send({ type: 'chunk', fileId: FILE_ID, index: i, data });
  }
  await done;
  const seconds = (performance.now() - started) / 1000;
  receiver.removeAllListeners('close');
  receiver.close('bench done');
  await server.close();
  return seconds;
}

/** One raw run: the same frame bytes over a plain TLS socket, counted at the receiver. */
async function rawRun(identity: TlsIdentity, chunks: number): Promise<number> {
  const frame = encodeFrame({ type: 'chunk', fileId: FILE_ID, index: 0, data: new Uint8Array(CHUNK).fill(0x5a) }, 1);
  const total = chunks * frame.byteLength;
  let startWriting!: () => void;
  const go = new Promise<void>((resolve) => (startWriting = resolve));
  const server = tls.createServer({ key: identity.key, cert: identity.cert, minVersion: 'TLSv1.3' }, async (socket) => {
    socket.setNoDelay(true);
    await go;
    for (let i = 0; i < chunks; i++) {
      if (!socket.write(frame)) await once(socket, 'drain');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const client = tls.connect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', rejectUnauthorized: false });
  await once(client, 'secureConnect');
  client.setNoDelay(true);
  let received = 0;
  const done = new Promise<void>((resolve) => {
    client.on('data', (d: Buffer) => {
      received += d.byteLength;
      if (received >= total) resolve();
    });
  });
  const started = performance.now();
  startWriting();
  await done;
  const seconds = (performance.now() - started) / 1000;
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return seconds;
}

/** Runs the benchmark and returns (and by default prints) the figures. */
export async function main(options: LinkThroughputOptions = {}): Promise<LinkThroughputFigures> {
  const megabytes = options.megabytes ?? 64;
  const runs = options.runs ?? 5;
  const chunks = Math.round((megabytes * 1024 * 1024) / CHUNK);
  const bytesPerRun = chunks * CHUNK;
  const dir = await mkdtemp(join(tmpdir(), 'tunemesh-bench-'));
  try {
    const identity = await loadOrCreateIdentity(dir);
    // Warm up both paths (JIT, TLS session machinery) before measuring.
    await linkRun(identity, WARM_UP_CHUNKS);
    await rawRun(identity, WARM_UP_CHUNKS);
    const linkRunsMBps: number[] = [];
    const rawRunsMBps: number[] = [];
    for (let r = 0; r < runs; r++) {
      linkRunsMBps.push(bytesPerRun / 1e6 / (await linkRun(identity, chunks)));
      rawRunsMBps.push(bytesPerRun / 1e6 / (await rawRun(identity, chunks)));
    }
    const linkMBps = median(linkRunsMBps);
    const rawMBps = median(rawRunsMBps);
    const figures: LinkThroughputFigures = {
      bytesPerRun,
      runs,
      linkMBps,
      rawMBps,
      ratio: linkMBps / rawMBps,
      linkRunsMBps,
      rawRunsMBps,
    };
    if (options.print ?? true) {
      const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
      console.log(`link throughput, loopback TLS 1.3, ${megabytes} MiB of 16 kB chunks per run, median of ${runs}`);
      console.log(`  Link (priority queue, decoded): ${linkMBps.toFixed(0)} MB/s   runs: ${fmt(linkRunsMBps)}`);
      console.log(`  raw node:tls pipe, same bytes:  ${rawMBps.toFixed(0)} MB/s   runs: ${fmt(rawRunsMBps)}`);
      console.log(`  ratio Link / raw: ${figures.ratio.toFixed(2)}`);
    }
    return figures;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  const [mb, runs] = process.argv.slice(2).map(Number);
  await main({ ...(mb ? { megabytes: mb } : {}), ...(runs ? { runs } : {}) });
}

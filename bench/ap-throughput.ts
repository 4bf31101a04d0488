/**
 * AP chunk throughput over TLS on loopback with 1, 10 and 100 concurrent clients, beside a plain
 * `node:tls` server process pushing the same bytes in the same run (the ratio is the figure:
 * target >= 0.5), and the AP's resident memory with 100 clients (target under 300 MB).
 *
 * Run: npx tsx bench/ap-throughput.ts [--seconds 3] [--runs 3]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { openDataDir } from '../src/server/data-dir.ts';
import { connectTls } from '../src/net/tls.ts';
import { parseServerAddress } from '../src/net/identity.ts';
import { makeConfig } from '../src/core/config.ts';
import { PROTOCOL_VERSION } from '../src/protocol/messages.ts';
import { pullWholeFiles } from './pull.ts';
import { median, printTable, rssMb, isMain, numberArg, startChild, ROOT } from './stats.ts';

/** N AP clients each fetching whole files in a loop for `seconds`; returns MB/s received. */
async function apRun(address: string, clients: number, fileId: string, size: number, seconds: number, onPeak?: () => Promise<void>): Promise<number> {
  const { host, port, fingerprint } = parseServerAddress(address);
  const config = makeConfig();
  const links = await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const { link } = await connectTls({ host, port, fingerprint, config });
      await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'bench', peerId: (i + 1).toString(16), listenPort: 0 });
      await link.request({ type: 'login', user: `bench${i % 4}`, password: 'pw' });
      return link;
    }),
  );
  return pullWholeFiles(links, fileId, size, seconds, onPeak);
}

/** N plain TLS sockets receiving raw bytes from the baseline server for `seconds`; MB/s. */
async function plainRun(port: number, clients: number, seconds: number): Promise<number> {
  let bytes = 0;
  const sockets = await Promise.all(
    Array.from(
      { length: clients },
      () =>
        new Promise<tls.TLSSocket>((resolve, reject) => {
          const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, () => resolve(s));
          s.on('error', reject);
        }),
    ),
  );
  const t0 = performance.now();
  for (const s of sockets) s.on('data', (d: Buffer) => (bytes += d.length));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const got = bytes;
  for (const s of sockets) s.destroy();
  return got / elapsed / 1e6;
}

export async function main(): Promise<Record<string, number>> {
  const seconds = numberArg('seconds', 3);
  const runs = numberArg('runs', 3);
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-bench-ap-'));
  const figures: Record<string, number> = {};
  try {
    // Chunk serving needs only the store: an 8 MB file of random bytes stands in for audio.
    const dataPath = path.join(dir, 'data');
    const data = openDataDir(dataPath);
    const blob = path.join(dir, 'blob.bin');
    await writeFile(blob, randomBytes(8 * 1024 * 1024));
    const { fileId, bytes: size } = await data.store.putFile(blob);
    for (let i = 0; i < 4; i++) await data.accounts.setPassword(`bench${i}`, 'pw');
    data.close();

    const ap = await startChild(['server', '--data', dataPath, '--port', '0', '--json']);
    const plain = await startChild([path.join(ROOT, 'bench/plain-tls-server.ts'), path.join(dataPath, 'tls')]);
    const address = JSON.parse(ap.line).address as string;
    const plainPort = Number(plain.line);
    const rows: (string | number)[][] = [];
    try {
      for (const clients of [1, 10, 100]) {
        const apRates: number[] = [];
        const plainRates: number[] = [];
        let rss = NaN;
        for (let r = 0; r < runs; r++) {
          apRates.push(await apRun(address, clients, fileId, size, seconds, async () => {
            rss = Math.max(Number.isNaN(rss) ? 0 : rss, await rssMb(ap.pid));
          }));
          plainRates.push(await plainRun(plainPort, clients, seconds));
        }
        const a = median(apRates);
        const p = median(plainRates);
        figures[`ap_${clients}_MBps`] = a;
        figures[`plain_${clients}_MBps`] = p;
        figures[`ratio_${clients}`] = a / p;
        figures[`ap_rss_${clients}_MB`] = rss;
        rows.push([clients, a.toFixed(0), p.toFixed(0), (a / p).toFixed(2), rss.toFixed(0)]);
      }
    } finally {
      ap.kill();
      plain.kill();
    }
    printTable(`AP chunk throughput over TLS 1.3 on loopback (median of ${runs} runs of ${seconds} s)`, ['clients', 'AP MB/s', 'plain tls MB/s', 'ratio', 'AP RSS MB'], rows);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return figures;
}

if (isMain(import.meta.url)) await main();

/**
 * Peer-to-peer throughput on loopback beside the AP's, in the same run: a real client daemon
 * process that holds a track serves it over its peer port to 1 and 4 requesting peers (4 is the
 * upload-slot limit), and the AP process serves the same file to the same number of clients.
 *
 * Run: npx tsx bench/peer-throughput.ts [--seconds 3] [--runs 3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectTls } from '../src/net/tls.ts';
import { loadOrCreateIdentity, parseServerAddress } from '../src/net/identity.ts';
import { ticketFromAp } from '../test/helpers/peer-ticket.ts';
import { makeConfig } from '../src/core/config.ts';
import { PROTOCOL_VERSION } from '../src/protocol/messages.ts';
import type { Link } from '../src/net/link.ts';
import { pullWholeFiles } from './pull.ts';
import { benchTrack, median, printTable, isMain, numberArg, startChild } from './stats.ts';

const config = makeConfig();

async function apLinks(address: string, n: number): Promise<Link[]> {
  const { host, port, fingerprint } = parseServerAddress(address);
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const { link } = await connectTls({ host, port, fingerprint, config });
      await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'bench', peerId: `a${i}`, listenPort: 0 });
      await link.request({ type: 'login', user: 'bench', password: 'pw' });
      return link;
    }),
  );
}

/** Links to a client's peer port as `n` admitted peers: each with a ticket from the AP for the TLS key it presents. */
async function peerLinks(port: number, n: number, address: string, idDir: string): Promise<Link[]> {
  const identity = await loadOrCreateIdentity(idDir);
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const { ticket } = await ticketFromAp(address, 'bench', 'pw', `b${i}`, identity);
      const { link } = await connectTls({ host: '127.0.0.1', port, config, identity });
      await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'bench', peerId: `b${i}`, listenPort: 0, ticket });
      return link;
    }),
  );
}

export async function main(): Promise<Record<string, number>> {
  const seconds = numberArg('seconds', 3);
  const runs = numberArg('runs', 3);
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-bench-p2p-'));
  const figures: Record<string, number> = {};
  try {
    const { src, dataPath, data, track } = await benchTrack(dir, 'Throughput');
    // Stored encrypted: the file id is the SHA-256 of the ciphertext (issue 6).
    const fileId = track.fileId;
    await data.accounts.setPassword('bench', 'pw');
    await data.close();
    const ap = await startChild(['server', '--data', dataPath, '--port', '0', '--json']);
    const address = JSON.parse(ap.line).address as string;
    const seeder = await startChild(['client', '--server', address, '--cache', path.join(dir, 'seeder'), '--http-port', '0', '--peer-port', '0', '--user', 'bench', '--password', 'pw', '--json']);
    try {
      const url = JSON.parse(seeder.line).url as string;
      await (await fetch(`${url}/audio/${track.id}`)).arrayBuffer(); // the seeder now holds the file
      const port = ((await (await fetch(`${url}/api/stats`)).json()) as { peers: { listenPort: number } }).peers.listenPort;
      const rows: (string | number)[][] = [];
      for (const n of [1, 4]) {
        const p2p: number[] = [];
        const viaAp: number[] = [];
        for (let r = 0; r < runs; r++) {
          p2p.push(await pullWholeFiles(await peerLinks(port, n, address, path.join(dir, 'bench-id')), fileId, src.length, seconds));
          viaAp.push(await pullWholeFiles(await apLinks(address, n), fileId, src.length, seconds));
        }
        const a = median(p2p);
        const b = median(viaAp);
        figures[`peer_${n}_MBps`] = a;
        figures[`ap_${n}_MBps`] = b;
        figures[`ratio_${n}`] = a / b;
        rows.push([n, a.toFixed(0), b.toFixed(0), (a / b).toFixed(2)]);
      }
      printTable(`Peer-to-peer throughput over TLS 1.3 on loopback, ${(src.length / 1e6).toFixed(1)} MB track (median of ${runs} runs of ${seconds} s)`, ['requesting peers', 'client->peers MB/s', 'AP->clients MB/s', 'ratio'], rows);
    } finally {
      seeder.kill();
      ap.kill();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return figures;
}

if (isMain(import.meta.url)) await main();

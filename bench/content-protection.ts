/**
 * The cost of content protection (issue 6) on throughput, AP -> client and peer -> client, in the
 * same run: a real AP process and a real client daemon holding the track serve it over TLS 1.3 on
 * loopback to one puller, which either only counts the bytes (baseline: what a client did before
 * issue 6) or does what a client does now with every chunk: check it against the AP's chunk hashes
 * (SHA-256; done for peer chunks, and measured here for AP chunks too as the upper bound) and
 * decrypt it (AES-256-CTR, what the player endpoint does on the way out). The AP and the peer
 * serve ciphertext as stored: encryption happens once, at ingest, so serving costs nothing more.
 *
 * Run: npx tsx bench/content-protection.ts [--seconds 2] [--runs 3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectTls } from '../src/net/tls.ts';
import { loadOrCreateIdentity, parseServerAddress } from '../src/net/identity.ts';
import { ticketFromAp } from '../test/helpers/peer-ticket.ts';
import { makeConfig } from '../src/core/config.ts';
import { PROTOCOL_VERSION } from '../src/protocol/messages.ts';
import { verifyChunk, type ChunkHashList } from '../src/core/chunk-hashes.ts';
import { cryptAt, type ContentKey } from '../src/core/content-cipher.ts';
import type { Link } from '../src/net/link.ts';
import { benchTrack, median, printTable, isMain, numberArg, startChild } from './stats.ts';

const config = makeConfig();
const CS = config.chunkSize;

/** Pulls the whole file again and again for `seconds`; `onChunk` is the receiving client's work. MB/s. */
async function pull(link: Link, fileId: string, size: number, seconds: number, onChunk: (index: number, data: Uint8Array) => void): Promise<number> {
  const chunks = Math.ceil(size / CS);
  let bytes = 0;
  let stop = false;
  const t0 = performance.now();
  const loop = (async () => {
    while (!stop) {
      const s = link.stream({ type: 'chunk-request', fileId, first: 0, count: chunks, urgency: 0 }, (m) => {
        if (m.type === 'chunk') {
          onChunk(m.index, m.data);
          bytes += m.data.length;
        }
        return m.type === 'chunk-end' ? 'done' : 'more';
      });
      await s.done;
    }
  })();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop = true;
  const elapsed = (performance.now() - t0) / 1000;
  const got = bytes;
  await loop.catch(() => undefined);
  link.close();
  return got / elapsed / 1e6;
}

export async function main(): Promise<Record<string, number>> {
  const seconds = numberArg('seconds', 2);
  const runs = numberArg('runs', 3);
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-bench-protect-'));
  const figures: Record<string, number> = {};
  try {
    const { src, dataPath, data, track } = await benchTrack(dir, 'Protection');
    const rec = data.keys.get(track.fileId)!;
    const hashes: ChunkHashList = rec.hashes;
    const key: ContentKey = { key: rec.key, iv: rec.iv };
    await data.accounts.setPassword('bench', 'pw');
    await data.close();
    const ap = await startChild(['server', '--data', dataPath, '--port', '0', '--json']);
    const address = JSON.parse(ap.line).address as string;
    const seeder = await startChild(['client', '--server', address, '--cache', path.join(dir, 'seeder'), '--http-port', '0', '--peer-port', '0', '--user', 'bench', '--password', 'pw', '--json']);
    try {
      const url = JSON.parse(seeder.line).url as string;
      await (await fetch(`${url}/audio/${track.id}`)).arrayBuffer(); // the seeder now holds the file
      const port = ((await (await fetch(`${url}/api/stats`)).json()) as { peers: { listenPort: number } }).peers.listenPort;
      const identity = await loadOrCreateIdentity(path.join(dir, 'bench-id'));
      const { host, port: apPort, fingerprint } = parseServerAddress(address);
      const apLink = async () => {
        const { link } = await connectTls({ host, port: apPort, fingerprint, config });
        await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'bench', peerId: 'a1', listenPort: 0 });
        await link.request({ type: 'login', user: 'bench', password: 'pw' });
        return link;
      };
      const peerLink = async () => {
        const { ticket } = await ticketFromAp(address, 'bench', 'pw', 'b1', identity);
        const { link } = await connectTls({ host: '127.0.0.1', port, config, identity });
        await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'bench', peerId: 'b1', listenPort: 0, ticket });
        return link;
      };
      let bad = 0;
      const plain = () => {};
      const protect = (index: number, data: Uint8Array) => {
        if (!verifyChunk(hashes, index, data)) bad++;
        cryptAt(key, index * CS, data);
      };
      const rows: (string | number)[][] = [];
      for (const [name, open] of [['AP -> client', apLink], ['peer -> client', peerLink]] as const) {
        const base: number[] = [];
        const prot: number[] = [];
        for (let r = 0; r < runs; r++) {
          base.push(await pull(await open(), track.fileId, src.length, seconds, plain));
          prot.push(await pull(await open(), track.fileId, src.length, seconds, protect));
        }
        const a = median(base);
        const b = median(prot);
        const tag = name.startsWith('AP') ? 'ap' : 'peer';
        figures[`${tag}_plain_MBps`] = a;
        figures[`${tag}_protected_MBps`] = b;
        figures[`${tag}_ratio`] = b / a;
        rows.push([name, a.toFixed(0), b.toFixed(0), (b / a).toFixed(2)]);
      }
      if (bad > 0) throw new Error(`${bad} chunks failed their hash check`);
      printTable(
        `Throughput with and without verification + decryption, TLS 1.3 on loopback, ${(src.length / 1e6).toFixed(1)} MB track (median of ${runs} runs of ${seconds} s)`,
        ['source', 'plain MB/s', 'verified+decrypted MB/s', 'ratio'],
        rows,
      );
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

/**
 * (d) A burst of 100 requesting peers at one client process: it never holds more than 60 peer
 * connections (the hard limit) nor more than 4 concurrent uploads, answers the rest with
 * "busy" or a closed connection, keeps serving, and prunes itself back below the soft limit.
 * The requesting peers speak the real protocol over real TLS from this test process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { synthesizeVorbis } from '../../src/audio/synth.ts';
import { connectTls } from '../../src/net/tls.ts';
import { makeConfig } from '../../src/core/config.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/messages.ts';
import type { Link } from '../../src/net/link.ts';
import { runCli, startCli } from '../helpers/processes.ts';
import { loadOrCreateIdentity } from '../../src/net/identity.ts';
import { ticketFromAp } from '../helpers/peer-ticket.ts';
import { openDataDir } from '../../src/server/data-dir.ts';

test('(d) 100 requesting peers: at most 60 connections and 4 uploads, then pruned below 50', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-limits-'));
  const links: Link[] = [];
  try {
    const src = Buffer.from(await synthesizeVorbis({ seed: 44, durationSec: 30, tags: { title: 'Crowded', artist: 'Burst', album: 'Limits' } }));
    await writeFile(path.join(dir, 'crowded.ogg'), src);
    const data = path.join(dir, 'data');
    const ingest = await runCli(['ingest', path.join(dir, 'crowded.ogg'), '--data', data, '--json']);
    const trackId = JSON.parse(ingest.stdout).added[0].id;
    // The file id: the SHA-256 of the stored ciphertext (issue 6), from the catalog.
    const d = openDataDir(data);
    const fileId = (await d.catalog.getTrack(trackId))!.fileId;
    await d.close();
    await runCli(['user', 'add', 'fay', '--password', 'pw', '--data', data]);
    const ap = await startCli(['server', '--data', data, '--port', '0', '--json']);
    // Slow uploads keep the 4 slots busy while the burst lands; pruning runs every 500 ms with
    // no grace period so the test needn't wait minutes.
    const seeder = await startCli([
      'client', '--server', JSON.parse(ap.firstLine).address, '--cache', path.join(dir, 'seeder'), '--http-port', '0', '--peer-port', '0',
      '--user', 'fay', '--password', 'pw', '--json', '--max-upload-rate', '20000',
      '--set', 'neighbourPruneIntervalMs=500', '--set', 'neighbourPruneGraceMs=0',
    ]);
    try {
      const url = JSON.parse(seeder.firstLine).url;
      const stats = async () => (await fetch(`${url}/api/stats`)).json();
      assert.ok(Buffer.from(await (await fetch(`${url}/audio/${trackId}`)).arrayBuffer()).equals(src));
      const port = (await stats()).peers.listenPort;
      assert.ok(port > 0);

      let maxConnected = 0;
      let maxUploads = 0;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const s = await stats();
          maxConnected = Math.max(maxConnected, s.peers.connected);
          maxUploads = Math.max(maxUploads, s.peers.uploadsActive);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();

      const config = makeConfig();
      // Each requester is a legitimate peer: its own peer id and a ticket from the AP, bound to
      // the TLS key it presents (one key for all of them).
      const identity = await loadOrCreateIdentity(path.join(dir, 'burst-id'));
      const apAddress = JSON.parse(ap.firstLine).address;
      const tickets = await Promise.all(
        Array.from({ length: 100 }, async () => {
          const peerId = randomBytes(8).toString('hex');
          return { peerId, ticket: (await ticketFromAp(apAddress, 'fay', 'pw', peerId, identity)).ticket };
        }),
      );
      const outcomes = { served: 0, busy: 0, closed: 0 };
      const requests = await Promise.all(
        tickets.map(async ({ peerId, ticket }) => {
          try {
            const { link } = await connectTls({ host: '127.0.0.1', port, config, timeoutMs: 10_000, identity });
            links.push(link);
            await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'burst', peerId, listenPort: 0, ticket }, { timeoutMs: 10_000 });
            // One chunk each: enough to hold an upload slot for a moment at the capped rate.
            const s = link.stream({ type: 'chunk-request', fileId, first: 0, count: 2, urgency: 1 }, (m) => (m.type === 'chunk-end' ? 'done' : 'more'));
            return s.done.then(
              () => 'served' as const,
              (err: Error) => ((err as { code?: string }).code === 'busy' ? ('busy' as const) : ('closed' as const)),
            );
          } catch {
            return 'closed' as const; // refused at the hard limit
          }
        }),
      );
      for (const r of await Promise.all(requests)) outcomes[r]++;
      assert.ok(outcomes.served >= 4, `some were served: ${JSON.stringify(outcomes)}`);
      assert.ok(outcomes.busy + outcomes.closed > 0, `the rest were told no: ${JSON.stringify(outcomes)}`);

      // Pruning brings the neighbour count back below the soft limit (50, with headroom).
      let after = Infinity;
      for (let i = 0; i < 100 && after >= 50; i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = (await stats()).peers.connected;
      }
      watching = false;
      await watcher;
      assert.ok(maxConnected <= 60, `at most 60 peer connections (saw ${maxConnected})`);
      assert.ok(maxConnected > 50, `the burst did fill the client (saw ${maxConnected})`);
      assert.ok(maxUploads <= 4, `at most 4 uploads at once (saw ${maxUploads})`);
      assert.ok(after < 50, `pruned below the soft limit (now ${after})`);
      assert.equal(seeder.proc.exitCode, null, 'the client kept running');
      // And it still plays for its listener.
      assert.ok(Buffer.from(await (await fetch(`${url}/audio/${trackId}`)).arrayBuffer()).equals(src));
    } finally {
      for (const l of links) l.close();
      await seeder.stop();
      await ap.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

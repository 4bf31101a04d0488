/**
 * The AP link under trouble, with real processes: an AP killed mid-download and restarted
 * (the client reconnects with backoff, re-asks for what was pending, and the play completes
 * byte-identical), and clients that send garbage (disconnected, while others carry on).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { synthesizeVorbis } from '../../src/audio/synth.ts';
import { runCli, startCli } from '../helpers/processes.ts';

async function setup(dir: string) {
  const src = Buffer.from(await synthesizeVorbis({ seed: 9, durationSec: 45, tags: { title: 'Reconnect', artist: 'Backoff', album: 'Links' } }));
  await writeFile(path.join(dir, 'track.ogg'), src);
  const data = path.join(dir, 'data');
  const ingest = await runCli(['ingest', path.join(dir, 'track.ogg'), '--data', data, '--json']);
  assert.equal(ingest.code, 0, ingest.stderr);
  await runCli(['user', 'add', 'dave', '--password', 'pw', '--data', data]);
  return { src, data, track: JSON.parse(ingest.stdout).added[0] as { id: string } };
}

/** A raw TLS connection to the AP that sends `bytes` and reports how the AP ended it. */
function sendRaw(port: number, bytes: Buffer): Promise<'closed'> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => s.write(bytes));
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => resolve('closed'));
    setTimeout(() => reject(new Error('the AP kept a garbage-sending connection open')), 20_000).unref();
  });
}

test('an AP killed mid-play and restarted: a stutter is recorded, the client reconnects, the play completes identical', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-aprestart-'));
  try {
    const { src, data, track } = await setup(dir);
    // About 1.5x real time: playback starts at once and stays only a few seconds ahead.
    const rate = String(Math.ceil(src.length / 30));
    let ap = await startCli(['server', '--data', data, '--port', '0', '--json', '--max-rate', rate]);
    const { address, port } = JSON.parse(ap.firstLine);
    const client = await startCli(['client', '--server', address, '--cache', path.join(dir, 'cache'), '--http-port', '0', '--user', 'dave', '--password', 'pw', '--json']);
    try {
      const url = JSON.parse(client.firstLine).url;
      const body = fetch(`${url}/audio/${track.id}`).then(async (r) => Buffer.from(await r.arrayBuffer()));
      await new Promise((r) => setTimeout(r, 2500));
      await ap.kill();
      // Down long enough for the playback point to reach audio that has not arrived.
      await new Promise((r) => setTimeout(r, 5000));
      const during = await (await fetch(`${url}/api/stats`)).json();
      assert.equal(during.ap.connected, false, 'the client noticed the AP is gone');
      ap = await startCli(['server', '--data', data, '--port', String(port), '--json']);
      const got = await body;
      assert.ok(got.equals(src), 'bytes identical after the AP came back');
      const stats = await (await fetch(`${url}/api/stats`)).json();
      assert.equal(stats.ap.connected, true);
      assert.ok(stats.ap.connects >= 2, `reconnected (${stats.ap.connects} connects)`);
      const play = stats.plays.find((p: any) => p.trackId === track.id);
      assert.equal(typeof play.latencyMs, 'number');
      assert.ok(play.stutters >= 1, 'the outage shows as a stutter');
      assert.ok(play.stutterEvents[0].positionMs > 0 && play.stutterEvents[0].positionMs < 45_000);
      assert.ok(play.stallMs > 0);
    } finally {
      await client.stop();
      await ap.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('clients sending garbage are disconnected; a playing client is unaffected', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-garbage-'));
  try {
    const { src, data, track } = await setup(dir);
    const ap = await startCli(['server', '--data', data, '--port', '0', '--json', '--max-rate', String(Math.ceil(src.length / 2))]);
    const { address, port } = JSON.parse(ap.firstLine);
    const client = await startCli(['client', '--server', address, '--cache', path.join(dir, 'cache'), '--http-port', '0', '--user', 'dave', '--password', 'pw', '--json']);
    try {
      const url = JSON.parse(client.firstLine).url;
      const body = fetch(`${url}/audio/${track.id}`).then(async (r) => Buffer.from(await r.arrayBuffer()));
      const oversized = Buffer.alloc(10);
      oversized.writeUInt32BE(0xffffff00, 0); // a frame length far over the limit
      const attacks = await Promise.all([
        sendRaw(port, randomBytes(4096)),
        sendRaw(port, oversized),
        sendRaw(port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')),
        ...Array.from({ length: 5 }, () => sendRaw(port, randomBytes(64))),
      ]);
      assert.ok(attacks.every((a) => a === 'closed'));
      assert.ok((await body).equals(src), 'the honest client played byte-identical meanwhile');
      const search = await (await fetch(`${url}/api/search?q=reconnect`)).json();
      assert.equal(search.tracks[0].id, track.id, 'the AP still answers');
      assert.equal(ap.proc.exitCode, null, 'the AP is still running');
    } finally {
      await client.stop();
      await ap.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('without a pinned fingerprint the client trusts the AP on first use, then refuses another key', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-tofu-'));
  try {
    const { data } = await setup(dir);
    const cache = path.join(dir, 'cache');
    const first = await startCli(['server', '--data', data, '--port', '0', '--json']);
    const { address, port } = JSON.parse(first.firstLine);
    const hostPort = address.replace(/#.*/, '');
    const client = await startCli(['client', '--server', hostPort, '--cache', cache, '--http-port', '0', '--user', 'dave', '--password', 'pw', '--json']);
    await client.stop();
    await first.stop();
    const trusted = JSON.parse(await readFile(path.join(cache, 'trusted-aps.json'), 'utf8'));
    assert.equal(trusted[hostPort], address.replace(/.*#/, ''), 'the first key seen is remembered');
    // Another AP (another key) on the same address: the remembered key no longer matches.
    const otherData = path.join(dir, 'other');
    await runCli(['user', 'add', 'dave', '--password', 'pw', '--data', otherData]);
    const impostor = await startCli(['server', '--data', otherData, '--port', String(port), '--json']);
    try {
      const r = await runCli(['client', '--server', hostPort, '--cache', cache, '--http-port', '0', '--user', 'dave', '--password', 'pw']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /fingerprint/i);
    } finally {
      await impostor.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

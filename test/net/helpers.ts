/** Shared fixtures of the net tests: links over loopback TCP, a cached TLS identity, small waits. */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeConfig, type TunemeshConfig } from '../../src/core/config.ts';
import { loadOrCreateIdentity, type TlsIdentity } from '../../src/net/identity.ts';
import { Link, type LinkOptions } from '../../src/net/link.ts';

/** A config with keep-alive out of the way unless a test asks for it. */
export function testConfig(overrides: Partial<TunemeshConfig> = {}): TunemeshConfig {
  return makeConfig({ keepAliveMs: 60_000, linkTimeoutMs: 120_000, ...overrides });
}

/** A fresh temporary directory, removed by the returned function. */
export async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tunemesh-net-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

let identities: Promise<TlsIdentity[]> | undefined;

/** Two TLS identities, generated once per test process. */
export function testIdentities(): Promise<TlsIdentity[]> {
  identities ??= (async () => {
    const { dir, remove } = await tempDir();
    try {
      return await Promise.all([loadOrCreateIdentity(join(dir, 'a')), loadOrCreateIdentity(join(dir, 'b'))]);
    } finally {
      await remove();
    }
  })();
  return identities;
}

/** A connected pair of plain TCP sockets on 127.0.0.1. */
export async function socketPair(): Promise<{ dialer: net.Socket; acceptor: net.Socket }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const dialer = net.connect(port, '127.0.0.1');
  await once(dialer, 'connect');
  const [acceptor] = await accepted;
  server.close();
  dialer.setNoDelay(true);
  acceptor.setNoDelay(true);
  return { dialer, acceptor };
}

/** Two Links over loopback TCP: `a` dialled, `b` accepted. */
export async function linkPair(
  config: TunemeshConfig = testConfig(),
  extra: Partial<LinkOptions> = {},
): Promise<{ a: Link; b: Link; close(): void }> {
  const { dialer, acceptor } = await socketPair();
  const a = new Link(dialer, { ...extra, side: 'dialer', config });
  const b = new Link(acceptor, { ...extra, side: 'acceptor', config });
  return {
    a,
    b,
    close() {
      a.close('test done');
      b.close('test done');
      dialer.destroy();
      acceptor.destroy();
    },
  };
}

/** Resolves with the link's 'close' argument. */
export function closed(link: Link): Promise<Error | undefined> {
  return new Promise((resolve) => {
    if (link.closed) resolve(undefined);
    link.once('close', (err) => resolve(err));
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 5 ms until it holds or `ms` pass. */
export async function waitFor(condition: () => boolean, ms = 2000): Promise<void> {
  const until = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > until) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/** A 16 kB chunk of recognisable bytes. */
export function chunkData(index: number, size = 16384): Uint8Array {
  const data = Buffer.allocUnsafe(size);
  data.fill(index & 0xff);
  data.writeUInt32BE(index, 0);
  return data;
}

/**
 * TLS 1.3 transport for links (DESIGN §4, §5): a listener whose accepted connections become
 * {@link Link}s, and a dialler that pins the server's certificate fingerprint (or reports it so
 * the caller can trust it on first use).
 */
import { isIP, type Socket } from 'node:net';
import * as tls from 'node:tls';
import { ConnectTimeoutError, FingerprintMismatchError } from '../protocol/errors.ts';
import { certFingerprint, type TlsIdentity } from './identity.ts';
import { Link, type LinkOptions } from './link.ts';

/** How long `close()` waits for connections to close after saying bye, ms. */
const CLOSE_GRACE_MS = 500;

/** The config fields a link uses. */
export type LinkConfig = LinkOptions['config'];

/** What the listener knows about an accepted connection. */
export interface LinkInfo {
  /** `address:port` of the remote end, for logs. */
  remote: string;
  remoteAddress: string;
  remotePort: number;
  /** Fingerprint of the certificate the client presented, if it presented one (not verified against anything). */
  clientFingerprint?: string;
  /**
   * Marks the connection as past its hello (or login): it no longer counts against
   * {@link ListenTlsOptions.maxPending} and the hello timer stops. Until it is called the link is
   * closed after {@link ListenTlsOptions.helloTimeoutMs}.
   */
  admitted(): void;
}

/** Options of {@link listenTls}. */
export interface ListenTlsOptions {
  /** Address to bind. @default '127.0.0.1' */
  host?: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  identity: TlsIdentity;
  config: LinkConfig;
  /** Called with each link once its TLS handshake is done. A throw closes that link. */
  onLink(link: Link, info: LinkInfo): void;
  /** A TLS handshake must finish within this, ms (`config.handshakeTimeoutMs`). @default 10000 */
  handshakeTimeoutMs?: number;
  /**
   * After its handshake a link must be {@link LinkInfo.admitted} within this, ms, or it is closed
   * (`config.helloTimeoutMs`): a connection that never says hello holds no slot for long.
   * @default no limit
   */
  helloTimeoutMs?: number;
  /**
   * Most connections held that are not yet admitted (TLS handshake in progress, or hello not
   * done); a new connection beyond it is dropped at once (`config.maxPendingConnections`).
   * @default no limit
   */
  maxPending?: number;
  /** Passed to every Link. */
  linkOptions?: Pick<LinkOptions, 'bulkHighWaterBytes' | 'requestTimeoutMs'>;
}

/** A listening server. */
export interface TlsListener {
  /** Port bound (useful with port 0). */
  port: number;
  /** Address bound. */
  address: string;
  /** Stops accepting, closes every link (with `bye`) and drops unfinished handshakes. */
  close(): Promise<void>;
  /** Counters: connections dropped over `maxPending`, links closed for want of a hello in time, connections not yet admitted now. */
  readonly stats: { refusedPending: number; helloTimeouts: number; pending: number };
}

/**
 * Listens for TLS 1.3 connections; each one becomes a Link with the accepting side's request-id
 * parity. A failed handshake, or a client sending garbage afterwards, costs only that connection.
 * Clients may present a certificate (it is requested, not required): its fingerprint is in
 * {@link LinkInfo.clientFingerprint}.
 */
export async function listenTls(options: ListenTlsOptions): Promise<TlsListener> {
  const { identity, config, onLink } = options;
  const links = new Set<Link>();
  const sockets = new Set<Socket>();
  /** Connections not yet admitted (handshaking, or waiting for their hello), by remote `address:port`. */
  const pending = new Map<string, Socket>();
  const keyOf = (socket: Socket) => `${socket.remoteAddress}:${socket.remotePort}`;
  const stats = { refusedPending: 0, helloTimeouts: 0, pending: 0 };
  const maxPending = options.maxPending ?? Infinity;
  const server = tls.createServer({
    key: identity.key,
    cert: identity.cert,
    minVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: false,
    handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
  });

  server.on('connection', (socket: Socket) => {
    // Keep an 'error' listener: a reset during the handshake must not reach the process.
    socket.on('error', () => {});
    if (pending.size >= maxPending) {
      stats.refusedPending++;
      socket.destroy();
      return;
    }
    sockets.add(socket);
    const key = keyOf(socket);
    pending.set(key, socket);
    stats.pending = pending.size;
    socket.once('close', () => {
      sockets.delete(socket);
      if (pending.get(key) === socket) pending.delete(key);
      stats.pending = pending.size;
    });
  });
  // A client that fails the handshake: drop its socket, keep serving everyone else.
  server.on('tlsClientError', (_err: Error, socket: tls.TLSSocket) => socket.destroy());
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    socket.setNoDelay(true);
    const link = new Link(socket, { ...options.linkOptions, side: 'acceptor', config });
    links.add(link);
    link.once('close', () => links.delete(link));
    const raw = socket.getPeerCertificate()?.raw;
    const remoteAddress = socket.remoteAddress ?? '?';
    const remotePort = socket.remotePort ?? 0;
    // The TLS socket wraps the TCP one counted in `pending`; both have the same remote end.
    const key = keyOf(socket);
    const tcp = pending.get(key);
    let helloTimer: NodeJS.Timeout | undefined;
    const admitted = () => {
      clearTimeout(helloTimer);
      // Only this connection's entry: a later one may reuse the remote port.
      if (tcp !== undefined && pending.get(key) === tcp) pending.delete(key);
      stats.pending = pending.size;
    };
    link.once('close', admitted);
    if (options.helloTimeoutMs !== undefined) {
      const ms = options.helloTimeoutMs;
      helloTimer = setTimeout(() => {
        stats.helloTimeouts++;
        link.close(`no hello within ${ms} ms`);
      }, ms);
      helloTimer.unref();
    }
    const info: LinkInfo = {
      remote: `${remoteAddress.includes(':') ? `[${remoteAddress}]` : remoteAddress}:${remotePort}`,
      remoteAddress,
      remotePort,
      ...(raw ? { clientFingerprint: certFingerprint(raw) } : {}),
      admitted,
    };
    try {
      onLink(link, info);
    } catch (err) {
      link.close(`server error: ${(err as Error).message}`);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // After listening, a server error (e.g. EMFILE on accept) must not crash the process.
  server.on('error', () => {});
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error('TLS server has no TCP address');

  return {
    port: bound.port,
    address: bound.address,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        // Give each link's `bye` a moment to leave, then drop whatever is still open (handshakes
        // in progress, peers that do not close their end).
        const grace = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, CLOSE_GRACE_MS);
        grace.unref();
        server.close(() => {
          clearTimeout(grace);
          resolve();
        });
        for (const link of [...links]) link.close('server shutting down');
      }),
  };
}

/** Options of {@link connectTls}. */
export interface ConnectTlsOptions {
  host: string;
  port: number;
  /** Pinned fingerprint of the server certificate (hex SHA-256 of its DER; case and colons ignored). Absent: trust on first use. */
  fingerprint?: string;
  config: LinkConfig;
  /** Whole connect + handshake must finish within this, ms. @default 10000 */
  timeoutMs?: number;
  /** Present this certificate to the server (peer links). */
  identity?: TlsIdentity;
  /** Passed to the Link. */
  linkOptions?: Pick<LinkOptions, 'bulkHighWaterBytes' | 'requestTimeoutMs'>;
}

/**
 * Connects with TLS 1.3 and returns a Link with the dialling side's request-id parity. The
 * server certificate is not checked against any CA; instead its fingerprint (SHA-256 of the DER
 * certificate) must equal `fingerprint` when one is given, else the connection is dropped before
 * any application data with FingerprintMismatchError. The fingerprint seen is returned so a
 * caller without one can trust it on first use. Other failures: ConnectTimeoutError, or the
 * socket's error (ECONNREFUSED, handshake errors).
 */
export function connectTls(options: ConnectTlsOptions): Promise<{ link: Link; fingerprint: string }> {
  const pinned = options.fingerprint?.replaceAll(':', '').toLowerCase();
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: options.host,
      port: options.port,
      minVersion: 'TLSv1.3',
      rejectUnauthorized: false,
      // SNI only carries host names, never IP addresses.
      ...(isIP(options.host) === 0 ? { servername: options.host } : {}),
      ...(options.identity ? { key: options.identity.key, cert: options.identity.cert } : {}),
    });
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const onError = (err: Error) => fail(err);
    const timer = setTimeout(
      () => fail(new ConnectTimeoutError(`no TLS connection to ${options.host}:${options.port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate()?.raw;
      const seen = raw ? certFingerprint(raw) : '';
      if (!raw || (pinned !== undefined && seen !== pinned)) {
        fail(new FingerprintMismatchError(pinned ?? '(a certificate)', seen || '(none)'));
        return;
      }
      clearTimeout(timer);
      socket.setNoDelay(true);
      const link = new Link(socket, { ...options.linkOptions, side: 'dialer', config: options.config });
      socket.off('error', onError);
      resolve({ link, fingerprint: seen });
    });
  });
}

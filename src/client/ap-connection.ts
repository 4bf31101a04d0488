/**
 * The client's one persistent link to its access point (DESIGN §3 "connections"): connects over
 * TLS 1.3, pins or learns (trust on first use) the AP's certificate fingerprint, says hello and
 * logs in, reconnects with exponential backoff, and re-sends what was pending when a link drops.
 */
import { EventEmitter } from 'node:events';
import { readFile, writeFile, rename } from 'node:fs/promises';
import type { TunemeshConfig } from '../core/config.ts';
import { PROTOCOL_VERSION, type Message, type Role } from '../protocol/messages.ts';
import type { Link } from '../net/link.ts';
import { connectTls } from '../net/tls.ts';
import type { TlsIdentity } from '../net/identity.ts';

/** The AP refused our credentials: retrying cannot help. */
export class LoginRefusedError extends Error {
  override name = 'LoginRefusedError';
}

/** The AP presented another key than the one pinned or trusted before. */
export class ApIdentityError extends Error {
  override name = 'ApIdentityError';
}

/** Options of {@link ApConnection}. */
export interface ApConnectionOptions {
  host: string;
  port: number;
  /** Pinned SHA-256 fingerprint of the AP certificate; when absent, trust on first use. */
  fingerprint?: string;
  /** File remembering fingerprints learned on first use, keyed by host:port. */
  trustFile: string;
  user: string;
  password: string;
  role: Role;
  /** This client's peer id (lowercase hex), sent in the hello. */
  peerId: string;
  /** The port this client accepts peer connections on, sent in the hello; 0 = none. */
  listenPort: number;
  /**
   * This client's TLS identity, presented as the client certificate on the AP link: the AP binds
   * the peer tickets it issues to it (DESIGN §5). Without it the client gets no peer ticket.
   */
  identity?: TlsIdentity;
  config: Pick<TunemeshConfig, 'keepAliveMs' | 'linkTimeoutMs' | 'maxFrameBytes' | 'reconnectBaseMs' | 'reconnectMaxMs' | 'apConnectTimeoutMs' | 'helloTimeoutMs' | 'apLoginTimeoutMs'>;
  log?: (line: string) => void;
}

type Events = {
  /** Logged in on a new link. */
  ready: [link: Link];
  /** The link dropped; a reconnect is scheduled. */
  down: [err: Error | undefined];
  /** Credentials refused or the AP's key changed: the connection gives up. */
  fatal: [err: Error];
  /** A message the AP sent on its own (not an answer), such as `connect-back` or `reachability`. */
  push: [msg: Message];
};

/** Unanswered messages kept while the AP is unreachable; older ones beyond it are dropped. */
const MAX_UNSENT = 1000;

/** Chunks of one request as they arrive. */
export type OnChunk = (index: number, data: Uint8Array) => void;

export class ApConnection extends EventEmitter<Events> {
  private link?: Link;
  private closed = false;
  private attempt = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private waiters: { resolve: (l: Link) => void; reject: (e: Error) => void }[] = [];
  private fatalError?: Error;
  /** Times a link was established (the first one included). */
  connects = 0;
  /** Bytes of chunk data received from the AP. */
  chunkBytes = 0;
  /** This client's address as the AP saw it at the last login (from `login-ok`); '' before. */
  observedHost = '';

  constructor(private readonly opts: ApConnectionOptions) {
    super();
  }

  get connected(): boolean {
    return !!this.link && !this.link.closed;
  }

  /** Starts connecting; resolves on the first login, rejects only on a fatal error. */
  start(): Promise<void> {
    void this.connect();
    return this.ready().then(() => undefined);
  }

  /** The logged-in link, waiting for (re)connection when there is none. */
  ready(): Promise<Link> {
    if (this.fatalError) return Promise.reject(this.fatalError);
    if (this.closed) return Promise.reject(new Error('AP connection closed'));
    if (this.link && !this.link.closed) return Promise.resolve(this.link);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /**
   * Sends a request and returns the answer. A request pending when the link drops is sent
   * again on the next link (every AP request is idempotent).
   */
  async request(msg: Message, timeoutMs = 15_000): Promise<Message> {
    for (;;) {
      const link = await this.ready();
      try {
        return await link.request(msg, { timeoutMs });
      } catch (err) {
        if ((err as Error).name === 'LinkClosedError' && !this.closed) continue;
        throw err;
      }
    }
  }

  /**
   * Fetches chunks [first, first+count) of a file, calling `onChunk` as each arrives. When the
   * link drops, asks the next link for the chunks still missing. `cancel` stops it.
   */
  fetchChunks(fileId: string, first: number, count: number, urgency: number, onChunk: OnChunk): { done: Promise<void>; cancel(): void } {
    const missing = new Set<number>();
    for (let i = first; i < first + count; i++) missing.add(i);
    let cancelled = false;
    let current: { cancel(): void } | undefined;
    const run = async () => {
      while (missing.size > 0 && !cancelled) {
        const link = await this.ready();
        if (cancelled) return;
        const from = Math.min(...missing);
        const to = Math.max(...missing);
        try {
          const s = link.stream({ type: 'chunk-request', fileId, first: from, count: to - from + 1, urgency }, (m) => {
            if (m.type === 'chunk') {
              if (missing.delete(m.index) && !cancelled) {
                this.chunkBytes += m.data.length;
                onChunk(m.index, m.data);
              }
              return 'more';
            }
            return m.type === 'chunk-end' ? 'done' : 'more';
          });
          current = s;
          await s.done;
        } catch (err) {
          if ((err as Error).name === 'LinkClosedError' && !this.closed) continue;
          throw err;
        }
      }
    };
    return {
      done: run(),
      cancel: () => {
        cancelled = true;
        current?.cancel();
      },
    };
  }

  /** Says bye and stops reconnecting. */
  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.link?.close('client shutting down');
    for (const w of this.waiters.splice(0)) w.reject(new Error('AP connection closed'));
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /**
   * Sends a message that has no answer (announce, metrics). While the AP is unreachable it waits
   * and goes out on the next link.
   */
  send(msg: Message): void {
    if (this.link && !this.link.closed) this.link.send(msg);
    else if (this.unsent.length < MAX_UNSENT) this.unsent.push(msg);
  }

  private readonly unsent: Message[] = [];

  private async connect(): Promise<void> {
    if (this.closed) return;
    const { host, port } = this.opts;
    let opened: Link | undefined;
    try {
      const pinned = this.opts.fingerprint ?? (await this.trusted());
      const { link, fingerprint } = await connectTls({
        host,
        port,
        fingerprint: pinned,
        config: this.opts.config,
        timeoutMs: this.opts.config.apConnectTimeoutMs,
        ...(this.opts.identity ? { identity: this.opts.identity } : {}),
      });
      opened = link;
      if (!pinned) await this.trust(fingerprint);
      const { role, peerId, listenPort } = this.opts;
      const hello = await link.request({ type: 'hello', version: PROTOCOL_VERSION, role, agent: 'tunemesh-client/0.1', peerId, listenPort }, { timeoutMs: this.opts.config.helloTimeoutMs });
      if (hello.type !== 'hello') throw new Error(`AP answered hello with ${hello.type}`);
      let loggedIn: Message;
      try {
        loggedIn = await link.request({ type: 'login', user: this.opts.user, password: this.opts.password }, { timeoutMs: this.opts.config.apLoginTimeoutMs });
      } catch (err) {
        if ((err as { code?: string }).code === 'unauthorized') throw new LoginRefusedError(`the AP refused user ${this.opts.user}: ${(err as Error).message}`);
        throw err;
      }
      if (loggedIn.type !== 'login-ok') {
        link.close('login-ok expected');
        throw new Error(`AP answered login with ${loggedIn.type}`);
      }
      if (this.closed) {
        link.close('client shutting down');
        return;
      }
      this.observedHost = loggedIn.observedHost;
      this.link = link;
      this.attempt = 0;
      this.connects++;
      link.on('close', (err?: Error) => {
        if (this.link === link) this.link = undefined;
        if (this.closed) return;
        this.log(`client: AP link lost${err ? ` (${err.name}: ${err.message})` : ''}; reconnecting`);
        this.emit('down', err);
        this.scheduleReconnect();
      });
      link.on('message', (msg: Message) => this.emit('push', msg));
      for (const msg of this.unsent.splice(0)) link.send(msg);
      for (const w of this.waiters.splice(0)) w.resolve(link);
      this.emit('ready', link);
    } catch (err) {
      const e = err as Error;
      opened?.close('login failed');
      if (e instanceof LoginRefusedError || e.name === 'FingerprintMismatchError') {
        this.fatalError = e.name === 'FingerprintMismatchError' ? new ApIdentityError(`${host}:${port}: ${e.message}`) : e;
        for (const w of this.waiters.splice(0)) w.reject(this.fatalError);
        this.emit('fatal', this.fatalError);
        return;
      }
      this.log(`client: connecting to AP ${host}:${port} failed: ${e.message}`);
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const { reconnectBaseMs, reconnectMaxMs } = this.opts.config;
    const delay = Math.min(reconnectMaxMs, reconnectBaseMs * 2 ** this.attempt++);
    // Jitter spreads a crowd of clients reconnecting after an AP restart.
    this.reconnectTimer = setTimeout(() => void this.connect(), delay * (0.75 + Math.random() * 0.5));
    this.reconnectTimer.unref?.();
  }

  private async trusted(): Promise<string | undefined> {
    try {
      const known = JSON.parse(await readFile(this.opts.trustFile, 'utf8')) as Record<string, string>;
      return known[`${this.opts.host}:${this.opts.port}`];
    } catch {
      return undefined;
    }
  }

  private async trust(fingerprint: string): Promise<void> {
    let known: Record<string, string> = {};
    try {
      known = JSON.parse(await readFile(this.opts.trustFile, 'utf8')) as Record<string, string>;
    } catch {}
    known[`${this.opts.host}:${this.opts.port}`] = fingerprint;
    const tmp = `${this.opts.trustFile}.tmp`;
    await writeFile(tmp, JSON.stringify(known, null, 2));
    await rename(tmp, this.opts.trustFile);
    this.log(`client: trusting AP ${this.opts.host}:${this.opts.port} key ${fingerprint} on first use`);
  }
}

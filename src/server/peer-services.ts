/**
 * What the AP does for the overlay (DESIGN §1): the tracker (who finished downloading which
 * file, answered with peers online now), the connect-back relay, the reachability probe of each
 * client's advertised port, and the metric reports clients send.
 */
import tls from 'node:tls';
import type { TunemeshConfig } from '../core/config.ts';
import type { Rng } from '../core/clock.ts';
import { Tracker } from '../core/tracker.ts';
import type { MetricsReport, PeerAddress, Role } from '../protocol/messages.ts';
import type { Link } from '../net/link.ts';

/** A logged-in client as the overlay services see it. */
export interface OverlayMember {
  peerId: string;
  role: Role;
  link: Link;
  /** The client's address as the AP sees it. */
  host: string;
  /** The port it advertised; 0 = none. */
  listenPort: number;
  /** Whether the AP could connect to that port (learned after login). */
  reachable: boolean;
  report?: MetricsReport;
}

/** Options of {@link PeerServices}. */
export interface PeerServicesOptions {
  config: TunemeshConfig;
  rng: Rng;
  /** Answer every tracker query with no peers: the overlay search alone must find them. */
  trackerOff?: boolean;
  /** How long the reachability probe waits for the TLS handshake, ms. @default 3000 */
  probeTimeoutMs?: number;
}

/** Outcome counters of the overlay services. */
export interface PeerServicesStats {
  announces: number;
  trackerQueries: number;
  trackerFound: number;
  connectBacks: number;
}

export class PeerServices {
  readonly tracker: Tracker;
  private readonly members = new Map<string, OverlayMember>();
  readonly stats: PeerServicesStats = { announces: 0, trackerQueries: 0, trackerFound: 0, connectBacks: 0 };

  constructor(private readonly opts: PeerServicesOptions) {
    this.tracker = new Tracker(opts.config);
  }

  /** A client logged in: it is online for the tracker; its advertised port is probed. */
  join(member: OverlayMember): void {
    if (!member.peerId) return;
    const previous = this.members.get(member.peerId);
    // The same client reconnecting replaces its old session.
    if (previous && previous.link !== member.link) previous.link.close('replaced by a new session');
    this.members.set(member.peerId, member);
    if (member.listenPort > 0) void this.probe(member);
    else member.link.send({ type: 'reachability', reachable: false });
  }

  leave(member: OverlayMember): void {
    if (this.members.get(member.peerId) === member) this.members.delete(member.peerId);
  }

  /** The address peers dial; port 0 when the client cannot be reached (connect-back needed). */
  addressOf(m: OverlayMember): PeerAddress {
    return { peerId: m.peerId, host: m.host, port: m.reachable ? m.listenPort : 0 };
  }

  isOnline(peerId: string): boolean {
    return this.members.has(peerId);
  }

  /** A client finished downloading a file it played. Leechers never announce (DESIGN §3). */
  announce(member: OverlayMember, fileId: string): void {
    if (member.role !== 'peer' || !member.peerId) return;
    this.stats.announces++;
    this.tracker.announce(fileId, member.peerId);
  }

  /** Up to `trackerAnswer` peers online now that have the file, at random (P2P'11). */
  query(member: OverlayMember, fileId: string): PeerAddress[] {
    this.stats.trackerQueries++;
    if (this.opts.trackerOff) return [];
    const ids = this.tracker.query(fileId, (id) => this.members.get(id)?.role === 'peer', this.opts.rng, member.peerId);
    const peers = ids.map((id) => this.addressOf(this.members.get(id)!));
    if (peers.length > 0) this.stats.trackerFound++;
    return peers;
  }

  /** Relays "connect back to me" to `target`; false when it is not online. */
  connectBack(member: OverlayMember, target: string, fileId: string): boolean {
    const t = this.members.get(target);
    if (!t) return false;
    this.stats.connectBacks++;
    t.link.send({ type: 'connect-back', requester: this.addressOf(member), fileId });
    return true;
  }

  /** Sum of the latest metric reports of the clients online. */
  metrics(): MetricsReport & { clients: number } {
    const sum: MetricsReport & { clients: number } = {
      clients: 0,
      plays: 0,
      playsWithStutter: 0,
      latencyMedianUs: 0,
      bytesServer: 0,
      bytesPeer: 0,
      bytesCache: 0,
      searches: 0,
      searchFoundAt1: 0,
      searchFoundAt2: 0,
      searchNotFound: 0,
      trackerQueries: 0,
      trackerFound: 0,
    };
    const medians: number[] = [];
    for (const m of this.members.values()) {
      if (!m.report) continue;
      sum.clients++;
      for (const k of Object.keys(m.report) as (keyof MetricsReport)[]) if (k !== 'latencyMedianUs') sum[k] += m.report[k];
      if (m.report.plays > 0) medians.push(m.report.latencyMedianUs);
    }
    medians.sort((a, b) => a - b);
    sum.latencyMedianUs = medians.length ? medians[Math.floor(medians.length / 2)]! : 0;
    return sum;
  }

  /** Tries a TLS handshake to the client's advertised port and tells it the result. */
  private async probe(member: OverlayMember): Promise<void> {
    const reachable = await new Promise<boolean>((resolve) => {
      const socket = tls.connect({ host: member.host, port: member.listenPort, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.setTimeout(this.opts.probeTimeoutMs ?? 3_000, () => {
        socket.destroy();
        resolve(false);
      });
      socket.on('error', () => resolve(false));
    });
    member.reachable = reachable;
    member.link.send({ type: 'reachability', reachable });
  }
}

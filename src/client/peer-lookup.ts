/**
 * Finding peers for a download (DESIGN §3): ask the tracker, connect to some of the peers it
 * names, and when a peer cannot be dialled ask the AP to relay "connect back to me" so that one
 * reachable side is enough. The overlay search joins here in the next step.
 */
import type { TunemeshConfig } from '../core/config.ts';
import type { PeerAddress } from '../protocol/messages.ts';
import type { ApConnection, OnChunk } from './ap-connection.ts';
import type { PeerNode } from './peer-node.ts';
import type { PeerSources } from './track-fetcher.ts';

/** Outcome counters of lookups, for the stats and the AP's metric reports. */
export interface LookupStats {
  trackerQueries: number;
  trackerFound: number;
  connectBacksAsked: number;
  connectBacksSucceeded: number;
  dialsFailed: number;
}

export class PeerLookup implements PeerSources {
  readonly stats: LookupStats = { trackerQueries: 0, trackerFound: 0, connectBacksAsked: 0, connectBacksSucceeded: 0, dialsFailed: 0 };
  /** Whether the AP could reach our listen port (learned after login); false until told. */
  reachable = false;

  constructor(
    private readonly ap: ApConnection,
    private readonly node: PeerNode,
    private readonly config: Pick<TunemeshConfig, 'lookupPeers' | 'searchWaitMs' | 'connectBackWaitMs'>,
    private readonly log?: (line: string) => void,
  ) {
    ap.on('ready', () => {
      if (ap.observedHost) node.advertisedHost = ap.observedHost;
    });
    ap.on('push', (msg) => {
      if (msg.type === 'reachability') this.reachable = node.reachable = msg.reachable;
      else if (msg.type === 'connect-back') void this.answerConnectBack(msg.requester);
    });
  }

  isConnected(peerId: string): boolean {
    return this.node.isConnected(peerId);
  }

  fetchChunks(peerId: string, fileId: string, first: number, count: number, urgency: number, onChunk: OnChunk): { done: Promise<void>; cancel(): void } {
    return this.node.fetchChunks(peerId, fileId, first, count, urgency, onChunk);
  }

  /** A chunk from this peer failed its hash check: drop its link and keep it out (`badPeerBanMs`). */
  badChunk(peerId: string, fileId: string, index: number): void {
    this.node.ban(peerId, `chunk ${index} of ${fileId} failed its hash check`);
  }

  /** Asks the tracker and floods an overlay search at once; connects to the first holders found. */
  lookup(fileId: string, found: (peerId: string) => void, trackerAnswered: () => void, finished: () => void): void {
    let connected = 0;
    const tried = new Set<string>();
    const tryPeers = async (peers: PeerAddress[]) => {
      for (const peer of peers) {
        if (connected >= this.config.lookupPeers) return;
        if (tried.has(peer.peerId) || peer.peerId === this.node.self.peerId) continue;
        if (this.node.bans.isBanned(peer.peerId, Date.now())) continue;
        tried.add(peer.peerId);
        if (await this.reach(peer, fileId)) {
          connected++;
          // Utility criterion (P2P'11): the peer had a track we wanted.
          this.node.neighbours.recordWantedTrack(peer.peerId, Date.now());
          found(peer.peerId);
        }
      }
    };
    const viaTracker = (async () => {
      this.stats.trackerQueries++;
      const answer = await this.ap.request({ type: 'tracker-query', fileId }, 5_000);
      const peers = answer.type === 'tracker-peers' ? answer.peers : [];
      if (peers.length > 0) this.stats.trackerFound++;
      await tryPeers(peers);
    })();
    const viaOverlay = (async () => tryPeers(await this.node.searchFile(fileId, this.config.searchWaitMs)))();
    // The download waits for the tracker (one round trip to the AP); holders the overlay search
    // finds join the download when they answer.
    void viaTracker.catch((err: Error) => this.log?.(`client: tracker query for ${fileId}: ${err.message}`)).finally(trackerAnswered);
    void Promise.allSettled([viaTracker, viaOverlay]).then((outcomes) => {
      const failed = outcomes[1];
      if (failed.status === 'rejected') this.log?.(`client: overlay search for ${fileId}: ${(failed.reason as Error).message}`);
      finished();
    });
  }

  /** Connects to a peer: dial it, or have it dial us through the AP. */
  private async reach(peer: PeerAddress, fileId: string): Promise<boolean> {
    if (this.node.isConnected(peer.peerId)) return true;
    if (peer.port > 0) {
      try {
        await this.node.connect(peer);
        return true;
      } catch (err) {
        this.stats.dialsFailed++;
        this.log?.(`client: dialling peer ${peer.peerId} at ${peer.host}:${peer.port}: ${(err as Error).message}`);
      }
    }
    // Connect-back works only if we accept connections ourselves.
    if (!this.reachable || this.node.listenPort === 0) return false;
    this.stats.connectBacksAsked++;
    const arrived = new Promise<boolean>((resolve) => {
      const onConnect = (id: string) => {
        if (id !== peer.peerId) return;
        clearTimeout(timer);
        this.node.off('peer:connect', onConnect);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.node.off('peer:connect', onConnect);
        resolve(false);
      }, this.config.connectBackWaitMs);
      this.node.on('peer:connect', onConnect);
    });
    try {
      await this.ap.request({ type: 'connect-back-request', target: peer.peerId, fileId }, 5_000);
    } catch {
      return false;
    }
    const ok = await arrived;
    if (ok) this.stats.connectBacksSucceeded++;
    return ok;
  }

  /** The AP relays that a peer wants a connection it cannot make: we dial it. */
  private async answerConnectBack(requester: PeerAddress): Promise<void> {
    try {
      await this.node.connect(requester, { connectBack: true });
    } catch (err) {
      this.log?.(`client: connect-back to ${requester.peerId}: ${(err as Error).message}`);
    }
  }
}

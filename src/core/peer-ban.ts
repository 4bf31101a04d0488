/**
 * Peers kept out for a while after sending a chunk that failed its hash check (DESIGN §5, issue 6).
 * Pure and synchronous: time comes in as an argument, so the simulator can run the same rule.
 * Memory is bounded by `maxBannedPeers`: beyond it the ban that ends first is forgotten.
 */
import type { TunemeshConfig } from './config.ts';

/** Who is banned until when. */
export class PeerBans {
  /** Ban end (ms, on the caller's clock) per peer id. */
  private readonly until = new Map<string, number>();

  constructor(private readonly config: Pick<TunemeshConfig, 'badPeerBanMs' | 'maxBannedPeers'>) {}

  /**
   * Bans `peerId` from `now` for `badPeerBanMs`; a second offence restarts the period. Returns
   * when the ban ends.
   */
  ban(peerId: string, now: number): number {
    const end = now + this.config.badPeerBanMs;
    this.until.delete(peerId);
    this.until.set(peerId, end);
    if (this.until.size > this.config.maxBannedPeers) this.prune(now);
    while (this.until.size > Math.max(0, this.config.maxBannedPeers)) {
      // Every ban lasts as long, so the oldest insertion is the one that ends first.
      const first = this.until.keys().next().value as string;
      this.until.delete(first);
    }
    return end;
  }

  /** Whether `peerId` is kept out at `now`. */
  isBanned(peerId: string, now: number): boolean {
    const end = this.until.get(peerId);
    if (end === undefined) return false;
    if (now < end) return true;
    this.until.delete(peerId);
    return false;
  }

  /** When the ban of `peerId` ends, if it is banned at `now`. */
  bannedUntil(peerId: string, now: number): number | undefined {
    return this.isBanned(peerId, now) ? this.until.get(peerId) : undefined;
  }

  /** Forgets the bans that have ended. */
  prune(now: number): void {
    for (const [id, end] of this.until) if (now >= end) this.until.delete(id);
  }

  /** Bans remembered now (ended ones not yet pruned included). */
  get size(): number {
    return this.until.size;
  }
}

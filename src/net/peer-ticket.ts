/**
 * A client's side of peer admission (DESIGN §5): its own ticket from the AP, the AP's public
 * ticket keys, and the Ed25519 checks of the tickets peers show (the pure rules are in
 * `src/core/peer-ticket.ts`).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { checkTicket, type AdmissionReason, type PeerTicket, type TicketKey, type TicketVerifier } from '../core/peer-ticket.ts';

/** An Ed25519 public key from its raw 32 bytes; throws on anything else. */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.byteLength !== 32) throw new Error(`an Ed25519 public key has 32 bytes, not ${raw.byteLength}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** A {@link TicketVerifier} over a set of AP keys. */
export function ticketVerifier(keys: readonly TicketKey[]): TicketVerifier {
  const byId = new Map<string, KeyObject>();
  for (const k of keys) {
    try {
      byId.set(k.keyId, ed25519PublicKey(k.publicKey));
    } catch {}
  }
  return {
    hasKey: (keyId) => byId.has(keyId),
    verify: (keyId, data, signature) => {
      const key = byId.get(keyId);
      if (!key || signature.byteLength !== 64) return false;
      try {
        return verify(null, data, key, signature);
      } catch {
        return false;
      }
    },
  };
}

/** What a client holds for admission: its ticket and the AP's keys, both replaced as the AP sends new ones. */
export class PeerAdmission {
  /** Our ticket, shown in our peer hellos; undefined until the AP issued one. */
  ticket?: PeerTicket;
  private verifier: TicketVerifier = ticketVerifier([]);
  private keyIds: string[] = [];
  /** Peers refused, by reason. */
  readonly refused: Record<AdmissionReason, number> = { 'no-ticket': 0, 'unknown-key': 0, 'bad-signature': 0, expired: 0, 'peer-mismatch': 0, 'cert-mismatch': 0 };

  constructor(private readonly now: () => number = Date.now) {}

  /** A `peer-ticket` from the AP: our new ticket and the keys valid now. */
  update(ticket: PeerTicket, keys: readonly TicketKey[]): void {
    // A copy: decoded byte fields are views into a frame buffer that may be reused.
    this.ticket = { ...ticket, signature: new Uint8Array(ticket.signature) };
    this.verifier = ticketVerifier(keys);
    this.keyIds = keys.map((k) => k.keyId);
  }

  /** Ids of the AP keys we accept tickets from. */
  get keys(): readonly string[] {
    return this.keyIds;
  }

  /** Checks a ticket a peer showed on a link; counts and returns the reason of a refusal. */
  check(ticket: PeerTicket | undefined, peerId: string, certFingerprint: string | undefined): AdmissionReason | undefined {
    const reason = checkTicket(ticket, { peerId, certFingerprint, now: this.now() }, this.verifier);
    if (reason) this.refused[reason]++;
    return reason;
  }
}

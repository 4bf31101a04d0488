/**
 * Peer tickets (DESIGN §5, issue 6 item 1): the AP signs, for each logged-in client, a
 * short-lived statement "peer `peerId` of user `user` holds the TLS key whose certificate has
 * fingerprint `certFingerprint`". Peers accept a link only when the other side shows a valid,
 * unexpired ticket for the peer id it says hello with and for the certificate it presented on
 * that very link.
 *
 * This module is pure: the canonical bytes that are signed, and the checks given a time and a
 * verification function. Signing and verifying (Ed25519, `node:crypto`) live in
 * `src/net/peer-ticket.ts` and `src/server/ticket-keys.ts`.
 */

/** A ticket as the AP issues it and peers show it in their hello. */
export interface PeerTicket {
  /** Id of the AP key that signed it: 16 lowercase hex characters. */
  keyId: string;
  /** The client's peer id (lowercase hex). */
  peerId: string;
  /** The account the client logged in as. */
  user: string;
  /** Lowercase hex SHA-256 of the DER certificate the client presented on its AP link (64 characters). */
  certFingerprint: string;
  /** When the AP issued it and when it stops being valid, ms since the epoch (AP clock). */
  issuedAt: number;
  expiresAt: number;
  /** Ed25519 signature by key `keyId` over {@link ticketSigningBytes}. */
  signature: Uint8Array;
}

/** A public key the AP signs tickets with, as it hands them to clients. */
export interface TicketKey {
  /** 16 lowercase hex characters: the first 8 bytes of the SHA-256 of `publicKey`. */
  keyId: string;
  /** The raw Ed25519 public key (32 bytes). */
  publicKey: Uint8Array;
}

/** Why a peer was not admitted. */
export type AdmissionReason = 'no-ticket' | 'unknown-key' | 'bad-signature' | 'expired' | 'peer-mismatch' | 'cert-mismatch';

/** A peer link refused at admission; `reason` says why (code branches on it, never on the text). */
export class PeerAdmissionError extends Error {
  override name = 'PeerAdmissionError';
  constructor(
    readonly reason: AdmissionReason,
    message?: string,
  ) {
    super(message ?? `peer admission refused: ${reason}`);
  }
}

/** Domain separation: these bytes sign nothing but tunemesh peer tickets of this version. */
const DOMAIN = 'tunemesh peer ticket v1\0';
const utf8 = new TextEncoder();

/**
 * The canonical bytes a ticket's signature covers: a domain prefix, then every field but the
 * signature, each string length-prefixed (4 bytes, big-endian) and each time as 8 bytes
 * big-endian. One ticket has exactly one encoding.
 */
export function ticketSigningBytes(t: Omit<PeerTicket, 'signature'>): Uint8Array {
  const parts = [DOMAIN, t.keyId, t.peerId, t.user, t.certFingerprint].map((s) => utf8.encode(s));
  const size = parts.reduce((n, p) => n + 4 + p.byteLength, 0) + 16;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.byteLength);
    out.set(p, at + 4);
    at += 4 + p.byteLength;
  }
  for (const time of [t.issuedAt, t.expiresAt]) {
    view.setUint32(at, Math.floor(time / 2 ** 32));
    view.setUint32(at + 4, time >>> 0);
    at += 8;
  }
  return out;
}

/** What a checker knows about the AP keys: whether it has one, and a signature check by it. */
export interface TicketVerifier {
  hasKey(keyId: string): boolean;
  /** Whether `signature` over `data` is valid for key `keyId` (known, see {@link hasKey}). */
  verify(keyId: string, data: Uint8Array, signature: Uint8Array): boolean;
}

/** What the ticket must show, from the link it arrived on. */
export interface TicketExpectation {
  /** The peer id the other side said hello with. */
  peerId: string;
  /** Fingerprint of the certificate the other side presented on this link; undefined when none. */
  certFingerprint: string | undefined;
  /** Now, ms since the epoch. */
  now: number;
}

/**
 * Checks a ticket shown on a peer link. Returns undefined when the peer is admitted, else why
 * not, in this order: no ticket, a key we do not know, a bad signature, expired (or issued in
 * the future by more than `skewMs`), another peer's ticket, another TLS key's ticket.
 */
export function checkTicket(ticket: PeerTicket | undefined, expect: TicketExpectation, verifier: TicketVerifier, skewMs = 60_000): AdmissionReason | undefined {
  if (!ticket) return 'no-ticket';
  if (!verifier.hasKey(ticket.keyId)) return 'unknown-key';
  const { signature, ...fields } = ticket;
  if (!verifier.verify(ticket.keyId, ticketSigningBytes(fields), signature)) return 'bad-signature';
  if (expect.now >= ticket.expiresAt || ticket.issuedAt > expect.now + skewMs) return 'expired';
  if (ticket.peerId !== expect.peerId) return 'peer-mismatch';
  if (expect.certFingerprint === undefined || ticket.certFingerprint !== expect.certFingerprint) return 'cert-mismatch';
  return undefined;
}

/**
 * When a client should ask for a fresh ticket: at half its life, measured on the local clock
 * from when it arrived (the AP's clock may differ from ours).
 */
export function ticketRefreshDelay(ticket: PeerTicket): number {
  return Math.max(1_000, Math.floor((ticket.expiresAt - ticket.issuedAt) / 2));
}

/**
 * The AP's peer-ticket signing keys (DESIGN §5): Ed25519 keys kept in
 * `<data>/tls/ticket-keys.json` next to the AP's TLS identity (mode 0600, written atomically).
 * One key is current and signs new tickets; after a rotation the previous ones stay valid for
 * verification until every ticket they signed has expired, then they are dropped. A new key is
 * announced (listed in the public keys) before it signs anything, so every client already accepts
 * its tickets when the first one is shown on a peer link.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../net/identity.ts';
import { ticketSigningBytes, type PeerTicket, type TicketKey } from '../core/peer-ticket.ts';
import { LIMITS } from '../protocol/codec.ts';

interface StoredKey {
  keyId: string;
  /** PKCS#8 PEM. */
  privateKey: string;
  createdAt: number;
  /**
   * When the key starts signing (absent: since it was made). Until then it is only announced: its
   * public key is handed out so that peers accept its tickets by the time they appear.
   */
  signFrom?: number;
  /** Set when a newer key replaced it: tickets it signed are valid until then, so it is kept until this. */
  verifyUntil?: number;
}

interface KeyEntry extends StoredKey {
  private: KeyObject;
  publicRaw: Uint8Array;
}

/** The key id of a raw Ed25519 public key: the first 8 bytes of its SHA-256, hex. */
export function ticketKeyId(publicRaw: Uint8Array): string {
  return createHash('sha256').update(publicRaw).digest('hex').slice(0, 16);
}

/** The raw 32 bytes of an Ed25519 public key. */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}

export class TicketKeyring {
  private keys: KeyEntry[];

  private constructor(
    private readonly file: string,
    keys: KeyEntry[],
  ) {
    this.keys = keys;
  }

  /** Loads the keys from `<dir>/ticket-keys.json`, creating a first key when there is none. */
  static async open(dir: string, now: number): Promise<TicketKeyring> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'ticket-keys.json');
    let stored: StoredKey[] = [];
    try {
      stored = (JSON.parse(await readFile(file, 'utf8')) as { keys: StoredKey[] }).keys;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`unusable ticket keys in ${file}: ${(err as Error).message}`);
    }
    const ring = new TicketKeyring(file, stored.map(entryOf));
    ring.prune(now);
    if (ring.keys.length === 0 || ring.keys.every((k) => k.verifyUntil !== undefined)) {
      ring.keys.push(newKey(now));
      await ring.save();
    }
    return ring;
  }

  /** The key that signs new tickets at `now`. */
  currentKeyId(now: number): string {
    return this.current(now).keyId;
  }

  /** The newest key already signing at `now`: an announced key takes over at its `signFrom`. */
  private current(now: number): KeyEntry {
    let best: KeyEntry | undefined;
    for (const k of this.keys) {
      if ((k.signFrom ?? k.createdAt) <= now && (best === undefined || k.createdAt >= best.createdAt)) best = k;
    }
    // Clock stepped back behind every key's start: the newest key still signs.
    return best ?? this.keys[this.keys.length - 1]!;
  }

  /** The public keys valid now, newest first: an announced key, the current one, retired ones still needed. */
  publicKeys(now: number): TicketKey[] {
    return this.keys
      .filter((k) => k.verifyUntil === undefined || k.verifyUntil > now)
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, LIMITS.ticketKeys)
      .map((k) => ({ keyId: k.keyId, publicKey: k.publicRaw }));
  }

  /** Signs a ticket with the current key. */
  issue(fields: { peerId: string; user: string; certFingerprint: string }, now: number, ttlMs: number): PeerTicket {
    const key = this.current(now);
    const unsigned = { keyId: key.keyId, ...fields, issuedAt: now, expiresAt: now + ttlMs };
    const signature = new Uint8Array(sign(null, ticketSigningBytes(unsigned), key.private));
    return { ...unsigned, signature };
  }

  /**
   * Makes a new key, announced at once and signing from `now + announceMs`. The keys that sign
   * until then keep verifying until `now + announceMs + ttlMs` (every ticket they sign expires by
   * then) and are dropped afterwards. Returns the new key id.
   */
  async rotate(now: number, ttlMs: number, announceMs = 0): Promise<string> {
    this.prune(now);
    const signing = this.current(now);
    // A key still waiting to sign (a rotation within the last one's announce time) never will: it
    // signed nothing, so it is dropped; the current signer goes on until the new key takes over.
    this.keys = this.keys.filter((k) => k === signing || (k.signFrom ?? k.createdAt) <= now);
    const until = now + announceMs + ttlMs;
    // The current signer verifies until its last ticket expires; keys retired earlier keep their end.
    signing.verifyUntil = Math.max(signing.verifyUntil ?? 0, until);
    for (const k of this.keys) k.verifyUntil ??= until;
    const fresh = newKey(now);
    if (announceMs > 0) fresh.signFrom = now + announceMs;
    this.keys.push(fresh);
    await this.save();
    return fresh.keyId;
  }

  /** Drops retired keys whose tickets have all expired. */
  prune(now: number): void {
    this.keys = this.keys.filter((k) => k.verifyUntil === undefined || k.verifyUntil > now);
  }

  private async save(): Promise<void> {
    const data = JSON.stringify({ keys: this.keys.map(({ keyId, privateKey, createdAt, signFrom, verifyUntil }) => ({ keyId, privateKey, createdAt, signFrom, verifyUntil })) }, null, 2);
    await writeAtomic(this.file, data, 0o600);
  }
}

function newKey(now: number): KeyEntry {
  const { privateKey } = generateKeyPairSync('ed25519');
  return entryOf({ keyId: '', privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, createdAt: now });
}

function entryOf(stored: StoredKey): KeyEntry {
  const priv = createPrivateKey(stored.privateKey);
  const publicRaw = rawPublicKey(createPublicKey(priv));
  return { ...stored, keyId: ticketKeyId(publicRaw), private: priv, publicRaw };
}

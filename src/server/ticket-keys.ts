/**
 * The AP's peer-ticket signing keys (DESIGN §5): Ed25519 keys kept in
 * `<data>/tls/ticket-keys.json` next to the AP's TLS identity (mode 0600, written atomically).
 * One key is current and signs new tickets; after a rotation the previous ones stay valid for
 * verification until every ticket they signed has expired, then they are dropped.
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

  /** The key that signs new tickets. */
  get currentKeyId(): string {
    return this.current().keyId;
  }

  private current(): KeyEntry {
    return this.keys.find((k) => k.verifyUntil === undefined)!;
  }

  /** The public keys valid now: the current one first, then retired ones still needed. */
  publicKeys(now: number): TicketKey[] {
    return this.keys
      .filter((k) => k.verifyUntil === undefined || k.verifyUntil > now)
      .sort((a, b) => (a.verifyUntil === undefined ? -1 : b.verifyUntil === undefined ? 1 : b.createdAt - a.createdAt))
      .slice(0, LIMITS.ticketKeys)
      .map((k) => ({ keyId: k.keyId, publicKey: k.publicRaw }));
  }

  /** Signs a ticket with the current key. */
  issue(fields: { peerId: string; user: string; certFingerprint: string }, now: number, ttlMs: number): PeerTicket {
    const key = this.current();
    const unsigned = { keyId: key.keyId, ...fields, issuedAt: now, expiresAt: now + ttlMs };
    const signature = new Uint8Array(sign(null, ticketSigningBytes(unsigned), key.private));
    return { ...unsigned, signature };
  }

  /**
   * Makes a new key current. The old one keeps verifying until `now + ttlMs` (every ticket it
   * signed expires by then) and is dropped afterwards. Returns the new key id.
   */
  async rotate(now: number, ttlMs: number): Promise<string> {
    this.prune(now);
    const old = this.current();
    old.verifyUntil = now + ttlMs;
    const fresh = newKey(now);
    this.keys.push(fresh);
    await this.save();
    return fresh.keyId;
  }

  /** Drops retired keys whose tickets have all expired. */
  prune(now: number): void {
    this.keys = this.keys.filter((k) => k.verifyUntil === undefined || k.verifyUntil > now);
  }

  private async save(): Promise<void> {
    const data = JSON.stringify({ keys: this.keys.map(({ keyId, privateKey, createdAt, verifyUntil }) => ({ keyId, privateKey, createdAt, verifyUntil })) }, null, 2);
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

/**
 * The TLS identity of a node (DESIGN §5) and the address format that pins it.
 *
 * An identity is an EC P-256 key and a self-signed certificate kept in a directory; it is
 * created on first use and reused afterwards. Peers do not check certificate chains: a client
 * pins the server's certificate by its fingerprint (`host:port#fingerprint`), or trusts it on
 * first use and remembers it.
 */
import { createHash, createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { IdentityError, InvalidAddressError } from '../protocol/errors.ts';

/** A key and certificate in PEM, and the certificate's fingerprint. */
export interface TlsIdentity {
  /** Private key, PEM (PKCS#8). */
  key: string;
  /** Self-signed certificate, PEM. */
  cert: string;
  /** Lowercase hex SHA-256 of the DER certificate, no colons (64 characters). */
  fingerprint: string;
}

/** Lowercase hex SHA-256 of a DER certificate: the form fingerprints take everywhere in tunemesh. */
export function certFingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** Validity of generated certificates. Nothing checks expiry (peers pin fingerprints); long so nothing ever does. */
const CERT_YEARS = 20;

/**
 * Loads the identity kept in `dir` (`key.pem`, `cert.pem`), or creates one there: an EC P-256
 * key and a self-signed certificate. Files are written atomically (temporary file, fsync,
 * rename), the key with mode 0600, the key before the certificate, so a crash leaves either a
 * whole identity or a key without a certificate, which is regenerated (it was never used).
 * Throws IdentityError when the files exist but are unusable; it never overwrites them.
 */
export async function loadOrCreateIdentity(dir: string): Promise<TlsIdentity> {
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const [key, cert] = await Promise.all([readIfExists(keyPath), readIfExists(certPath)]);
  if (key !== undefined && cert !== undefined) return checkIdentity(key, cert, dir);
  if (key === undefined && cert !== undefined) {
    throw new IdentityError(`${certPath} exists without ${keyPath}; restore the key or remove both to make a new identity`);
  }

  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + CERT_YEARS * 365 * 24 * 3600_000);
  const pems = await generate([{ name: 'commonName', value: 'tunemesh' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
  });
  await writeAtomic(keyPath, pems.private, 0o600);
  await writeAtomic(certPath, pems.cert, 0o644);
  return checkIdentity(pems.private, pems.cert, dir);
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function checkIdentity(key: string, cert: string, dir: string): TlsIdentity {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) {
      throw new IdentityError(`key.pem and cert.pem in ${dir} do not belong together`);
    }
  } catch (err) {
    if (err instanceof IdentityError) throw err;
    throw new IdentityError(`unusable TLS identity in ${dir}: ${(err as Error).message}`);
  }
  return { key, cert, fingerprint: certFingerprint(x509.raw) };
}

/** Writes a file so that a crash leaves the old content or the new, never a torn one. */
export async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** A server to connect to, optionally with the fingerprint of the certificate it must present. */
export interface ServerAddress {
  host: string;
  port: number;
  /** Lowercase hex SHA-256 of the server's DER certificate; absent: trust on first use. */
  fingerprint?: string;
}

const FINGERPRINT = /^[0-9a-f]{64}$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/**
 * Parses `host:port#fingerprint` or `host:port` (IPv6 hosts in brackets: `[::1]:4000`). The
 * fingerprint may be upper case or colon-separated; it is returned normalised (lowercase, no
 * colons). Throws InvalidAddressError on anything else.
 */
export function parseServerAddress(address: string): ServerAddress {
  if (typeof address !== 'string') throw new InvalidAddressError('a server address must be a string');
  const hashAt = address.indexOf('#');
  const hostPort = hashAt < 0 ? address : address.slice(0, hashAt);
  const fpText = hashAt < 0 ? undefined : address.slice(hashAt + 1);

  let host: string;
  let portText: string;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0 || hostPort[close + 1] !== ':') throw bad(address, 'expected [ipv6]:port');
    host = hostPort.slice(1, close);
    portText = hostPort.slice(close + 2);
    if (!/^[0-9A-Fa-f:.]+(%[\w.-]+)?$/.test(host) || !host.includes(':')) throw bad(address, `bad IPv6 address "${host}"`);
  } else {
    const colon = hostPort.lastIndexOf(':');
    if (colon < 0) throw bad(address, 'expected host:port');
    host = hostPort.slice(0, colon);
    portText = hostPort.slice(colon + 1);
    if (host.includes(':')) throw bad(address, 'put an IPv6 host in brackets: [::1]:port');
    if (!HOSTNAME.test(host) || host.length > 253) throw bad(address, `bad host "${host}"`);
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw bad(address, `bad port "${portText}"`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw bad(address, `port ${port} is not in 1..65535`);

  if (fpText === undefined) return { host, port };
  const fingerprint = fpText.replaceAll(':', '').toLowerCase();
  if (!FINGERPRINT.test(fingerprint)) {
    throw bad(address, 'the fingerprint must be 64 hex digits (SHA-256 of the certificate)');
  }
  return { host, port, fingerprint };
}

function bad(address: string, why: string): InvalidAddressError {
  return new InvalidAddressError(`bad server address ${JSON.stringify(address)}: ${why}`);
}

/** Formats an address as {@link parseServerAddress} reads it: `host:port[#fingerprint]`. */
export function formatServerAddress(address: ServerAddress): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${host}:${address.port}${address.fingerprint ? `#${address.fingerprint}` : ''}`;
}

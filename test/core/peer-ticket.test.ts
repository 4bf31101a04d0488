/** The pure rules of peer admission (DESIGN §5): canonical signed bytes and the ticket checks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { checkTicket, PeerAdmissionError, ticketRefreshDelay, ticketSigningBytes, type PeerTicket, type TicketVerifier } from '../../src/core/peer-ticket.ts';
import { PeerAdmission, ticketVerifier } from '../../src/net/peer-ticket.ts';
import { rawPublicKey, ticketKeyId } from '../../src/server/ticket-keys.ts';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const raw = rawPublicKey(publicKey);
const keyId = ticketKeyId(raw);
const keys = [{ keyId, publicKey: raw }];
const fp = 'cd'.repeat(32);
const NOW = 1_800_000_000_000;

function issue(over: Partial<Omit<PeerTicket, 'signature'>> = {}): PeerTicket {
  const fields = { keyId, peerId: 'abc123', user: 'erin', certFingerprint: fp, issuedAt: NOW, expiresAt: NOW + 3_600_000, ...over };
  return { ...fields, signature: new Uint8Array(sign(null, ticketSigningBytes(fields), privateKey)) };
}

const expect = { peerId: 'abc123', certFingerprint: fp, now: NOW + 1000 };

test('a valid ticket for the peer id and certificate of the link is admitted', () => {
  assert.equal(checkTicket(issue(), expect, ticketVerifier(keys)), undefined);
});

test('each way of failing has its reason', () => {
  const v = ticketVerifier(keys);
  assert.equal(checkTicket(undefined, expect, v), 'no-ticket');
  assert.equal(checkTicket({ ...issue(), keyId: '00'.repeat(8) }, expect, v), 'unknown-key');
  assert.equal(checkTicket({ ...issue(), user: 'mallory' }, expect, v), 'bad-signature', 'a changed field breaks the signature');
  assert.equal(checkTicket({ ...issue(), expiresAt: NOW + 7_200_000 }, expect, v), 'bad-signature', 'so does a longer life');
  const sig = issue().signature.slice();
  sig[0]! ^= 1;
  assert.equal(checkTicket({ ...issue(), signature: sig }, expect, v), 'bad-signature');
  assert.equal(checkTicket({ ...issue(), signature: new Uint8Array(0) }, expect, v), 'bad-signature');
  assert.equal(checkTicket(issue(), { ...expect, now: NOW + 3_600_000 }, v), 'expired', 'expired at expiresAt');
  assert.equal(checkTicket(issue({ issuedAt: NOW + 600_000 }), expect, v), 'expired', 'issued in the future beyond the skew');
  assert.equal(checkTicket(issue(), { ...expect, peerId: 'abc124' }, v), 'peer-mismatch');
  assert.equal(checkTicket(issue(), { ...expect, certFingerprint: 'ce'.repeat(32) }, v), 'cert-mismatch');
  assert.equal(checkTicket(issue(), { ...expect, certFingerprint: undefined }, v), 'cert-mismatch', 'no certificate on the link');
});

test('a signature by another key with the same id is refused', () => {
  const other = generateKeyPairSync('ed25519');
  const fields = { keyId, peerId: 'abc123', user: 'erin', certFingerprint: fp, issuedAt: NOW, expiresAt: NOW + 1000 };
  const forged = { ...fields, signature: new Uint8Array(sign(null, ticketSigningBytes(fields), other.privateKey)) };
  assert.equal(checkTicket(forged, expect, ticketVerifier(keys)), 'bad-signature');
});

test('the checks take time only from their argument', () => {
  const calls: string[] = [];
  const v: TicketVerifier = { hasKey: () => (calls.push('has'), true), verify: () => (calls.push('verify'), true) };
  assert.equal(checkTicket(issue(), { ...expect, now: NOW - 59_000 }, v), undefined, 'within the clock skew');
  assert.equal(checkTicket(issue(), { ...expect, now: NOW + 3_599_999 }, v), undefined);
  assert.deepEqual(calls, ['has', 'verify', 'has', 'verify']);
});

test('signed bytes are canonical: every field counts, strings cannot slide into each other', () => {
  const base = { keyId, peerId: 'ab', user: 'c', certFingerprint: fp, issuedAt: 1, expiresAt: 2 ** 40 };
  const bytes = (o: object) => Buffer.from(ticketSigningBytes({ ...base, ...o })).toString('hex');
  const seen = new Set([bytes({}), bytes({ peerId: 'a', user: 'bc' }), bytes({ issuedAt: 2 }), bytes({ expiresAt: 2 ** 40 + 1 }), bytes({ user: 'd' })]);
  assert.equal(seen.size, 5);
  assert.equal(bytes({}), bytes({}));
});

test('a refresh at half the life; PeerAdmission counts refusals by reason and keeps its own copy', () => {
  assert.equal(ticketRefreshDelay(issue()), 1_800_000);
  let now = NOW;
  const admission = new PeerAdmission(() => now);
  const t = issue();
  assert.equal(admission.check(t, 'abc123', fp), 'unknown-key', 'no keys before the AP sent them');
  admission.update(t, keys);
  t.signature.fill(0);
  assert.equal(admission.check(admission.ticket, 'abc123', fp), undefined);
  now = NOW + 3_600_000;
  assert.equal(admission.check(admission.ticket, 'abc123', fp), 'expired');
  assert.deepEqual(admission.refused, { 'no-ticket': 0, 'unknown-key': 1, 'bad-signature': 0, expired: 1, 'peer-mismatch': 0, 'cert-mismatch': 0 });
  const err = new PeerAdmissionError('cert-mismatch');
  assert.equal(err.name, 'PeerAdmissionError');
  assert.equal(err.reason, 'cert-mismatch');
});

/**
 * The AP's ticket keyring over a real key file: a rotated key is announced before it signs, the
 * old key signs until then and verifies until its last ticket expires, and a restart keeps both.
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { TicketKeyring } from '../../src/server/ticket-keys.ts';
import { ticketVerifier } from '../../src/net/peer-ticket.ts';
import { checkTicket } from '../../src/core/peer-ticket.ts';
import { tempDir } from './storage-fixtures.ts';

const tmp = tempDir();
after(() => tmp.cleanup());

const TTL = 60_000;
const ANNOUNCE = 5_000;
const who = { peerId: 'aa'.repeat(8), user: 'erin', certFingerprint: 'ff'.repeat(32) };

it('announces a rotated key before it signs; every ticket verifies with the keys published when it was issued', async () => {
  const dir = path.join(tmp.dir, 'ring');
  const t0 = 1_000_000;
  const ring = await TicketKeyring.open(dir, t0);
  const k0 = ring.currentKeyId(t0);
  const k1 = await ring.rotate(t0 + 10, TTL, ANNOUNCE);
  assert.notEqual(k1, k0);
  // During the announce time: the old key signs, both are published, the new one first.
  assert.equal(ring.currentKeyId(t0 + 10), k0);
  assert.equal(ring.currentKeyId(t0 + 10 + ANNOUNCE - 1), k0);
  assert.deepEqual(ring.publicKeys(t0 + 10).map((k) => k.keyId), [k1, k0]);
  const lastOld = ring.issue(who, t0 + 10 + ANNOUNCE - 1, TTL);
  assert.equal(lastOld.keyId, k0);
  // Then the new key signs.
  assert.equal(ring.issue(who, t0 + 10 + ANNOUNCE, TTL).keyId, k1);
  // The old key's last ticket still verifies with the key set of its last valid moment, then the old key is gone.
  const end = lastOld.expiresAt - 1;
  ring.prune(end);
  const at = (now: number) => checkTicket(lastOld, { peerId: who.peerId, certFingerprint: who.certFingerprint, now }, ticketVerifier(ring.publicKeys(now)));
  assert.equal(at(end), undefined);
  ring.prune(lastOld.expiresAt + 1);
  assert.deepEqual(ring.publicKeys(lastOld.expiresAt + 1).map((k) => k.keyId), [k1]);

  // A restart during an announce time keeps the pending key pending.
  const ring2dir = path.join(tmp.dir, 'ring2');
  const r = await TicketKeyring.open(ring2dir, t0);
  const old = r.currentKeyId(t0);
  const pending = await r.rotate(t0, TTL, ANNOUNCE);
  const reopened = await TicketKeyring.open(ring2dir, t0 + 1);
  assert.equal(reopened.currentKeyId(t0 + 1), old);
  assert.equal(reopened.currentKeyId(t0 + ANNOUNCE), pending);
});

it('two rotations within one announce time: the key that signs until the last switch verifies until its tickets expire', async () => {
  const t0 = 2_000_000;
  const ring = await TicketKeyring.open(path.join(tmp.dir, 'twice'), t0);
  const k0 = ring.currentKeyId(t0);
  const k1 = await ring.rotate(t0, TTL, ANNOUNCE);
  const k2 = await ring.rotate(t0 + 1_000, TTL, ANNOUNCE);
  // k1 never got to sign before k2 replaced it: it is dropped; k0 signs until k2 does.
  assert.deepEqual(ring.publicKeys(t0 + 1_000).map((k) => k.keyId), [k2, k0]);
  const last = ring.issue(who, t0 + 1_000 + ANNOUNCE - 1, TTL);
  assert.equal(last.keyId, k0);
  assert.equal(ring.currentKeyId(t0 + 1_000 + ANNOUNCE), k2);
  const now = last.expiresAt - 1;
  ring.prune(now);
  assert.ok(ring.publicKeys(now).some((k) => k.keyId === k0), 'k0 still verifies its last ticket');
  assert.deepEqual(ring.publicKeys(now).map((k) => k.keyId), [k2, k0]);
  assert.ok(!ring.publicKeys(t0).some((k) => k.keyId === k1));
});

/** The codec of peer tickets: the optional ticket of `hello`, `ticket-request` and `peer-ticket`. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encodeMessage, LIMITS, MESSAGE_TYPE_IDS } from '../../src/protocol/codec.ts';
import { InvalidFieldError, TruncatedError } from '../../src/protocol/errors.ts';
import { sampleTicket, sampleTicketKey, samplePeerId } from './samples.ts';
import { throwsNamed } from './assertions.ts';

const hello = { type: 'hello' as const, version: 1, role: 'peer' as const, agent: 'a', peerId: samplePeerId, listenPort: 1 };

test('a hello without a ticket decodes without a ticket field; with one, to the same ticket', () => {
  const bare = decodeMessage(MESSAGE_TYPE_IDS.hello, encodeMessage(hello));
  assert.deepEqual(bare, hello);
  assert.equal(Object.hasOwn(bare, 'ticket'), false);
  assert.deepEqual(decodeMessage(MESSAGE_TYPE_IDS.hello, encodeMessage({ ...hello, ticket: sampleTicket })), { ...hello, ticket: sampleTicket });
});

test('the presence byte of the ticket is 0 or 1, and required', () => {
  const bare = encodeMessage(hello);
  const withFlag = (flag: number) => Uint8Array.from([...bare.subarray(0, bare.length - 1), flag]);
  throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.hello, withFlag(2)), InvalidFieldError, 'ticket');
  throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.hello, withFlag(1)), TruncatedError, 'ticket.keyId');
  throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS.hello, bare.subarray(0, bare.length - 1)), TruncatedError, 'ticket');
});

test('ticket fields keep their bounds both ways', () => {
  throwsNamed(() => encodeMessage({ ...hello, ticket: { ...sampleTicket, keyId: 'abc' } }), InvalidFieldError, 'ticket.keyId');
  throwsNamed(() => encodeMessage({ ...hello, ticket: { ...sampleTicket, certFingerprint: 'AB'.repeat(32) } }), InvalidFieldError, 'ticket.certFingerprint');
  throwsNamed(() => encodeMessage({ ...hello, ticket: { ...sampleTicket, peerId: '' } }), InvalidFieldError, 'ticket.peerId');
  throwsNamed(() => encodeMessage({ ...hello, ticket: { ...sampleTicket, signature: new Uint8Array(LIMITS.signatureBytes + 1) } }), InvalidFieldError, 'ticket.signature');
  const tooMany = Array.from({ length: LIMITS.ticketKeys + 1 }, () => sampleTicketKey);
  throwsNamed(() => encodeMessage({ type: 'peer-ticket', ticket: sampleTicket, keys: tooMany }), InvalidFieldError, 'keys');
  const ok = encodeMessage({ type: 'peer-ticket', ticket: sampleTicket, keys: [sampleTicketKey] });
  // The key count claims 17 keys.
  const at = ok.length - (1 + 8 + 1 + 32);
  assert.equal(ok[at], 1);
  const bad = Uint8Array.from(ok);
  bad[at] = LIMITS.ticketKeys + 1;
  throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['peer-ticket'], bad), InvalidFieldError, 'keys');
  assert.deepEqual(encodeMessage({ type: 'ticket-request' }).length, 0);
});

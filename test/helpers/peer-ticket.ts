/**
 * Getting peer tickets from a real AP the way a client does (TLS client certificate on the AP
 * link, hello with a peer id, login, `ticket-request`), for tests that play other peers.
 */
import { connectTls } from '../../src/net/tls.ts';
import { parseServerAddress, type TlsIdentity } from '../../src/net/identity.ts';
import { makeConfig } from '../../src/core/config.ts';
import { PROTOCOL_VERSION, type MessageOf } from '../../src/protocol/messages.ts';
import type { Link } from '../../src/net/link.ts';

/** Opens an AP link, says hello as `peerId` (presenting `identity`, if any) and logs in. The link stays open. */
export async function apLogin(address: string, user: string, password: string, peerId: string, identity?: TlsIdentity, listenPort = 0): Promise<Link> {
  const { host, port, fingerprint } = parseServerAddress(address);
  const { link } = await connectTls({ host, port, fingerprint, config: makeConfig(), ...(identity ? { identity } : {}) });
  try {
    await link.request({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'test', peerId, listenPort });
    await link.request({ type: 'login', user, password });
    return link;
  } catch (err) {
    link.close();
    throw err;
  }
}

/** A ticket for `peerId` bound to `identity`, and the AP's keys. */
export async function ticketFromAp(address: string, user: string, password: string, peerId: string, identity: TlsIdentity): Promise<MessageOf<'peer-ticket'>> {
  const link = await apLogin(address, user, password, peerId, identity);
  try {
    const answer = await link.request({ type: 'ticket-request' });
    if (answer.type !== 'peer-ticket') throw new Error(`AP answered ticket-request with ${answer.type}`);
    return { ...answer, ticket: { ...answer.ticket, signature: new Uint8Array(answer.ticket.signature) } };
  } finally {
    link.close();
  }
}

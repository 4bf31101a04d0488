/**
 * One hello per AP link: the peer id a hello names goes into the tracker and the peer tickets, so
 * a second hello on the same link is refused and changes nothing (issue 6: hostile input).
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDataDir } from '../../src/server/data-dir.ts';
import { defaultConfig } from '../../src/core/config.ts';
import { AccessPoint } from '../../src/server/access-point.ts';
import { connectTls } from '../../src/net/tls.ts';
import { parseServerAddress } from '../../src/net/identity.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/messages.ts';
import { tempDir } from './storage-fixtures.ts';

const tmp = tempDir();
after(() => tmp.cleanup());

it('refuses a second hello on a link and keeps serving it', async () => {
  const data = openDataDir(path.join(tmp.dir, 'ap'));
  await data.accounts.setPassword('alice', 'pw');
  const ap = await AccessPoint.start({ data, config: defaultConfig });
  const addr = parseServerAddress(ap.address);
  const { link } = await connectTls({ host: addr.host, port: addr.port, config: defaultConfig, fingerprint: addr.fingerprint, timeoutMs: 5000 });
  try {
    const hello = { type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 't', peerId: 'aa'.repeat(16), listenPort: 5000 } as const;
    assert.equal((await link.request(hello)).type, 'hello');
    await link.request({ type: 'login', user: 'alice', password: 'pw' });
    await assert.rejects(
      link.request({ ...hello, peerId: 'bb'.repeat(16) }),
      (err: Error & { code?: string }) => err.name === 'RemoteError' && err.code === 'bad-request' && /hello already/.test(err.message),
    );
    // The link is still up and still logged in.
    assert.equal((await link.request({ type: 'ping', nonce: 7 })).type, 'pong');
    assert.equal((await link.request({ type: 'list-playlists', offset: 0, limit: 10 })).type, 'playlists');
  } finally {
    link.close('done');
    await ap.stop();
    await data.close();
  }
});

/**
 * The baseline of the AP throughput benchmark: a plain `node:tls` server (same key, TLS 1.3)
 * that writes 16 kB buffers to every connection as fast as the socket drains, with no framing,
 * no store reads and no protocol. Prints its port on stdout.
 *
 * Run: npx tsx bench/plain-tls-server.ts <tls-identity-dir>
 */
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { loadOrCreateIdentity } from '../src/net/identity.ts';

const identity = await loadOrCreateIdentity(process.argv[2] ?? '.tunemesh/bench-tls');
const block = randomBytes(16 * 1024);
const server = tls.createServer({ key: identity.key, cert: identity.cert, minVersion: 'TLSv1.3' }, (socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  const pump = () => {
    while (socket.writable && socket.write(block));
  };
  socket.on('drain', pump);
  pump();
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});

/** `tunemesh server`: runs an access point on a data directory. */
import type { Command } from 'commander';
import { AccessPoint } from '../../server/access-point.ts';
import { openDataDir } from '../../server/data-dir.ts';
import { makeConfig } from '../../core/config.ts';
import { parsePort, parseNonNegative, onShutdown } from '../options.ts';
import { collectConfigOverride } from '../options.ts';
import type { TunemeshConfig } from '../../core/config.ts';

export function register(program: Command): void {
  program
    .command('server')
    .description('Run an access point: login, catalog, track metadata and chunk data over TLS 1.3.')
    .requiredOption('--data <dir>', 'data directory (catalog, audio store, TLS key)')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'TCP port (0 = any free port)', parsePort, 0)
    .option('--max-rate <bytesPerSecond>', 'cap the chunk data sent to each client (0 = none)', parseNonNegative, 0)
    .option('--no-tracker', 'answer tracker queries with no peers, so only the overlay search finds them')
    .option('--set <key=value>', 'override a config value (repeatable), e.g. --set neighbourSoftLimit=40', collectConfigOverride)
    .option('--json', 'print the address as JSON')
    .addHelpText(
      'after',
      '\nPrints the address clients connect to, host:port#<sha256 fingerprint>, and writes it to <data>/address.' +
        '\nSIGHUP rotates the peer-ticket signing key (kept in <data>/tls/ticket-keys.json): clients stay connected, learn the' +
        '\nnew key at once and get tickets of it 5 s later (--set ticketKeyAnnounceMs=...); tickets signed with the old key' +
        '\nstay valid until they expire (--set peerTicketTtlMs=..., default 1 h).',
    )
    .action(async (o: { data: string; host: string; port: number; maxRate: number; tracker: boolean; json?: boolean; set?: Partial<TunemeshConfig> }) => {
      const data = openDataDir(o.data);
      const ap = await AccessPoint.start({
        data,
        host: o.host,
        port: o.port,
        config: makeConfig(o.set),
        maxRatePerClient: o.maxRate,
        trackerOff: !o.tracker,
        log: (line) => process.stderr.write(line + '\n'),
      });
      const tracks = await data.catalog.trackCount();
      if (o.json) process.stdout.write(JSON.stringify({ address: ap.address, port: ap.port, tracks }) + '\n');
      else process.stdout.write(`tunemesh access point listening at ${ap.address} (${tracks} tracks)\n`);
      // Operators see what the clients report: plays, latency, stutter, sources, peer finding.
      const summary = setInterval(() => {
        const m = ap.peers.metrics();
        if (m.clients === 0) return;
        const t = ap.peers.stats;
        process.stderr.write(
          `ap: ${ap.stats.loggedIn} clients; reports from ${m.clients}: ${m.plays} plays, median latency ${(m.latencyMedianUs / 1000).toFixed(1)} ms, ` +
            `${m.playsWithStutter} with stutter, played server/peer/cache ${m.bytesServer}/${m.bytesPeer}/${m.bytesCache} B; ` +
            `tracker ${t.trackerFound}/${t.trackerQueries} found, searches ${m.searches - m.searchNotFound}/${m.searches} found\n`,
        );
      }, 60_000);
      summary.unref();
      // SIGHUP: rotate the peer-ticket key (DESIGN §5).
      process.on('SIGHUP', () => {
        ap.rotateTicketKey().then(
          (keyId) => process.stderr.write(`tunemesh: peer ticket key rotated, now ${keyId}\n`),
          (err: Error) => process.stderr.write(`tunemesh: rotating the peer ticket key failed: ${err.message}\n`),
        );
      });
      onShutdown(async () => {
        clearInterval(summary);
        await ap.stop();
        data.close();
      });
    });
}

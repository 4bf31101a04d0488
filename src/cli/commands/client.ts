/** `tunemesh client`: runs a client daemon. */
import type { Command } from 'commander';
import { ClientDaemon } from '../../client/daemon.ts';
import { makeConfig } from '../../core/config.ts';
import { parsePort, parseSize, parseNonNegative, onShutdown } from '../options.ts';
import { collectConfigOverride } from '../options.ts';
import type { TunemeshConfig } from '../../core/config.ts';
import type { Role } from '../../protocol/messages.ts';
import { InvalidArgumentError } from 'commander';

function parseRole(v: string): Role {
  if (v !== 'peer' && v !== 'leecher') throw new InvalidArgumentError('peer or leecher');
  return v;
}

export function register(program: Command): void {
  program
    .command('client')
    .description('Run a client daemon: AP link, disk cache, and a local HTTP endpoint for players.')
    .requiredOption('--server <address>', 'the AP, host:port#fingerprint (pinned) or host:port (trust on first use)')
    .requiredOption('--cache <dir>', 'cache directory')
    .option('--http-port <port>', 'local HTTP port for players (0 = any free port)', parsePort, 7700)
    .option('--user <name>', 'account name', process.env.TUNEMESH_USER)
    .option('--password <pw>', 'password (or set TUNEMESH_PASSWORD)', process.env.TUNEMESH_PASSWORD)
    .option('--peer-port <port>', 'port peers connect to (0 = any free port)', parsePort, 0)
    .option('--advertise-port <port>', 'port peers are told to dial, when a port forward or proxy stands in front of --peer-port', parsePort)
    .option('--no-listen', 'accept no peer connections (peers still reach this client through connect-back)')
    .option('--max-upload-rate <bytesPerSecond>', 'cap the bytes per second uploaded to each peer (0 = none)', parseNonNegative, 0)
    .option('--role <role>', 'peer, or leecher: download from peers but never serve or announce (a phone on battery)', parseRole, 'peer')
    .option('--cache-size <size>', 'cache limit, e.g. 2GB (default: 10 % of free disk, 50 MB to 10 GB)', parseSize)
    .option('--set <key=value>', 'override a config value (repeatable), e.g. --set neighbourSoftLimit=40', collectConfigOverride)
    .option('--json', 'print the endpoint as JSON once ready')
    .addHelpText(
      'after',
      '\nEndpoints (127.0.0.1): GET /audio/<track-id> (Range), /api/search?q=, /api/tracks/<id>, /api/artists, /api/artists/<id>, /api/albums/<id>, ' +
        '/api/resolve?uri=, /api/plays/<id>, /api/stats, / (player page); playlists: GET|POST /api/playlists, GET|PATCH|DELETE /api/playlists/<id>, ' +
        'POST /api/playlists/<id>/tracks, DELETE /api/playlists/<id>/tracks/<position>.',
    )
    .action(async (o: { server: string; cache: string; httpPort: number; user?: string; password?: string; cacheSize?: number; peerPort: number; advertisePort?: number; listen: boolean; maxUploadRate: number; role: Role; json?: boolean; set?: Partial<TunemeshConfig> }) => {
      if (!o.user || o.password === undefined) throw new Error('--user and --password (or TUNEMESH_USER / TUNEMESH_PASSWORD) are required');
      const daemon = await ClientDaemon.start({
        server: o.server,
        cacheDir: o.cache,
        cacheSize: o.cacheSize,
        httpPort: o.httpPort,
        peerPort: o.listen ? o.peerPort : null,
        advertisePort: o.advertisePort,
        maxUploadRate: o.maxUploadRate,
        role: o.role,
        user: o.user,
        password: o.password,
        config: makeConfig(o.set),
        log: (line) => process.stderr.write(line + '\n'),
      });
      daemon.ap.on('fatal', (err) => {
        process.stderr.write(`tunemesh: ${err.message}\n`);
        void daemon.stop().then(() => process.exit(1));
      });
      if (o.json) process.stdout.write(JSON.stringify({ url: daemon.url }) + '\n');
      else process.stdout.write(`tunemesh client ready: player and API at ${daemon.url}\n`);
      onShutdown(() => daemon.stop());
    });
}

/** Every CLI command: each module exports a function that registers it on the program. */
import type { Command } from 'commander';
import { register as server } from './server.ts';
import { register as client } from './client.ts';
import { register as play } from './play.ts';
import { register as search } from './search.ts';
import { register as demo } from './demo.ts';
import { register as ingest } from './ingest.ts';
import { register as user } from './user.ts';
import { register as catalog } from './catalog.ts';
import { register as playlist } from './playlist.ts';
import { register as sim } from './sim.ts';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [server, client, play, search, playlist, demo, ingest, user, catalog, sim];

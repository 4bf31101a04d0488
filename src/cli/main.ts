/**
 * The `tunemesh` command line. Each command lives in its own module under `commands/` and
 * registers itself on the program.
 */
import { Command } from 'commander';
import { commands } from './commands/index.ts';

export function buildProgram(): Command {
  const program = new Command('tunemesh')
    .description('Peer-assisted, on-demand music streaming: access point, client daemon, player and simulator.')
    .version('0.1.0')
    .showHelpAfterError();
  for (const register of commands) register(program);
  return program;
}

const program = buildProgram();
program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as Error;
  process.stderr.write(`tunemesh: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}\n`);
  process.exit(1);
});

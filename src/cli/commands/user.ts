/** `tunemesh user add|list`: manages the AP's user accounts in a data directory. */
import type { Command } from 'commander';
import { InvalidPasswordError, InvalidUserNameError } from '../../server/accounts.ts';
import { openDataDir } from '../../server/data-dir.ts';
import { EXIT_USAGE, exitTwoOnUsageError, requireExistingDataDir } from './ingest.ts';

/** Environment variable `user add` takes the password from when `--password` is not given. */
export const PASSWORD_ENV = 'TUNEMESH_PASSWORD';

/** Registers `tunemesh user` with its subcommands `add` and `list`. */
export function register(program: Command): void {
  const user = program
    .command('user')
    .description('Manage the user accounts that may log in to the access point.')
    .addHelpText('after', '\nExit status: 0 done, 1 failed, 2 bad arguments.');
  exitTwoOnUsageError(user);

  const add = user
    .command('add')
    .description('Create a user, or set the password of an existing one (names are case-insensitive).')
    .argument('<name>', "1-64 characters: letters A-Z a-z, digits, '_', '.', '-'")
    .option('--password <password>', `the password (or set ${PASSWORD_ENV}, which keeps it off the command line)`)
    .requiredOption('--data <dir>', 'data directory (created if missing)')
    .addHelpText('after', '\nExit status: 0 done, 1 failed, 2 bad arguments (bad name, no password).')
    .action(async (name: string, o: { password?: string; data: string }) => {
      const password = o.password ?? process.env[PASSWORD_ENV];
      if (password === undefined || password === '') {
        add.error(`error: no password: give --password <password> or set ${PASSWORD_ENV}`, { exitCode: EXIT_USAGE });
      }
      const data = openDataDir(o.data);
      try {
        const existed = (await data.accounts.listUsers()).some((u) => u.toLowerCase() === name.toLowerCase());
        await data.accounts.setPassword(name, password!);
        process.stdout.write(existed ? `changed the password of user ${name}\n` : `created user ${name}\n`);
      } catch (err) {
        if (err instanceof InvalidUserNameError || err instanceof InvalidPasswordError) {
          await data.close();
          add.error(`error: ${err.message}`, { exitCode: EXIT_USAGE });
        }
        throw err;
      } finally {
        await data.close();
      }
    });
  exitTwoOnUsageError(add);

  const list = user
    .command('list')
    .description('List the user names.')
    .requiredOption('--data <dir>', 'data directory')
    .option('--json', 'print { "users": [names] } on stdout')
    .action(async (o: { data: string; json?: boolean }) => {
      requireExistingDataDir(list, o.data);
      const data = openDataDir(o.data);
      try {
        const users = await data.accounts.listUsers();
        if (o.json) process.stdout.write(JSON.stringify({ users }) + '\n');
        else process.stdout.write(users.length ? users.join('\n') + '\n' : 'no users\n');
      } finally {
        await data.close();
      }
    });
  exitTwoOnUsageError(list);
}

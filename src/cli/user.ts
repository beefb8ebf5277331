// `smarthost user add|passwd|del|list`: submission accounts in the spool database. Changes apply to
// the running daemon at the next AUTH.
import type { Command } from 'commander';
import { generatePassword } from '../auth/password.js';
import { USER_NAME_PATTERN, USER_NAME_CHARS, UserStore } from '../auth/users.js';
import { senderPattern } from '../config/schema.js';
import { CliError, EXIT, readStdinLine, run, withConfig, withSpool, type ConfigOption } from './common.js';

interface PasswordOption extends ConfigOption {
  passwordStdin?: boolean;
}

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('manage submission users');

  withConfig(user.command('add <name>'))
    .description('create a user; prints a generated password unless --password-stdin')
    .requiredOption('--allow <senders>', "allowed senders, comma-separated: 'a@example.com,@example.org'")
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action((name: string, options: PasswordOption & { allow: string }) =>
      run(async () => {
        const allowed = parseAllowList(options.allow);
        if (!USER_NAME_PATTERN.test(name)) throw new CliError(`bad user name "${name}": use ${USER_NAME_CHARS}`, EXIT.usage);
        const { password, generated } = await passwordFrom(options);
        await withUsers(options, async (users) => {
          if (!(await users.add(name, password, allowed))) throw new CliError(`user ${name} already exists`);
        });
        process.stdout.write(generated ? `created user ${name}\npassword: ${password}\n` : `created user ${name}\n`);
      }),
    );

  withConfig(user.command('passwd <name>'))
    .description("set a user's password; prints a generated one unless --password-stdin")
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action((name: string, options: PasswordOption) =>
      run(async () => {
        const { password, generated } = await passwordFrom(options);
        await withUsers(options, async (users) => {
          if (!(await users.setPassword(name, password))) throw new CliError(`no such user: ${name}`);
        });
        process.stdout.write(generated ? `password for ${name}: ${password}\n` : `password changed for ${name}\n`);
      }),
    );

  withConfig(user.command('del <name>'))
    .description('delete a user')
    .action((name: string, options: ConfigOption) =>
      run(() =>
        withUsers(options, (users) => {
          if (!users.remove(name)) throw new CliError(`no such user: ${name}`);
          process.stdout.write(`deleted user ${name}\n`);
        }),
      ),
    );

  withConfig(user.command('list'))
    .description('list users and their allowed senders')
    .option('--json', 'print JSON')
    .action((options: ConfigOption & { json?: boolean }) =>
      run(() =>
        withUsers(options, (users) => {
          const list = users.list();
          if (options.json) {
            const out = list.map((u) => ({
              name: u.name,
              allowed: u.allowed,
              createdAt: new Date(u.createdAt).toISOString(),
              updatedAt: new Date(u.updatedAt).toISOString(),
            }));
            process.stdout.write(`${JSON.stringify({ users: out }, null, 2)}\n`);
          } else {
            for (const u of list) process.stdout.write(`${u.name}\t${u.allowed.join(',')}\n`);
          }
        }),
      ),
    );
}

function parseAllowList(text: string): string[] {
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = entries.filter((e) => !senderPattern.safeParse(e).success);
  if (entries.length === 0 || bad.length > 0) {
    throw new CliError(`bad --allow entry ${bad.join(', ') || '(empty)'}: use a@example.com or @example.com`, EXIT.usage);
  }
  return entries;
}

async function passwordFrom(options: PasswordOption): Promise<{ password: string; generated: boolean }> {
  if (!options.passwordStdin) return { password: generatePassword(), generated: true };
  const password = await readStdinLine();
  if (password === '') throw new CliError('empty password on stdin', EXIT.usage);
  return { password, generated: false };
}

function withUsers<T>(options: ConfigOption, body: (users: UserStore) => Promise<T> | T): Promise<T> {
  return withSpool(options, (db) => body(new UserStore(db)));
}

// The `smarthost` command: the daemon (`serve`), configuration check and the admin subcommands.
// Exit status: 0 ok, 1 not found or refused, 2 usage, 78 configuration error.
import { Command, CommanderError } from 'commander';
import { checkConfigFiles } from '../config/files.js';
import { ConfigError, resolveConfigPath } from '../config/load.js';
import { VERSION } from '../platform/version.js';
import { runtimeProblem } from '../spool/sqlite.js';
import { EXIT, configFrom, run, withConfig, type ConfigOption } from './common.js';
import { registerDkimCommands } from './dkim.js';
import { registerQueueCommands } from './queue.js';
import { registerSpoolCommands } from './spool.js';
import { registerStatusCommand } from './status.js';
import { registerUserCommands } from './user.js';

const program = new Command('smarthost')
  .description('SMTP smarthost: authenticated submission, durable spool, DKIM, MX delivery')
  .version(`smarthost ${VERSION}`, '-V, --version', 'print the version')
  .showHelpAfterError()
  .exitOverride();

withConfig(program.command('serve'))
  .description('run the daemon')
  .action((options: ConfigOption) =>
    run(async () => {
      try {
        const { runDaemon } = await import('../main.js'); // loaded only here: admin commands start faster
        await runDaemon(resolveConfigPath(options.config));
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        process.stderr.write(`smarthost: cannot start: ${(err as Error).message}\n`);
        process.exit(1);
      }
    }),
  );

const NO_POSTMASTER =
  'no postmaster address is configured (postmaster:): RCPT TO:<postmaster> is refused with 501, and a ' +
  'delivery status notification (or other null-sender message) that cannot be delivered is only logged';

withConfig(program.command('check-config'))
  .description('validate the configuration and the files it names; prints "ok" or the problems')
  .action((options: ConfigOption) =>
    run(() => {
      const { path, config } = configFrom(options);
      const problems = checkConfigFiles(config);
      if (problems.length > 0) throw new ConfigError(path, problems);
      process.stdout.write('ok\n');
      if (!config.postmaster) process.stderr.write(`note: ${NO_POSTMASTER}\n`);
    }),
  );

registerQueueCommands(program);
registerStatusCommand(program);
registerUserCommands(program);
registerDkimCommands(program);
registerSpoolCommands(program);

const unsupported = runtimeProblem();
if (unsupported) {
  process.stderr.write(`smarthost: ${unsupported}\n`);
  process.exit(EXIT.notFound);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  const benign = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
  process.exitCode = benign ? EXIT.ok : EXIT.usage;
}

// What every CLI command shares: exit statuses, the --config option, loading the configuration
// (schema only: the CLI does not need the TLS files the daemon reads) and opening the spool (as its
// owner when run as root).
import type { Command } from 'commander';
import { ConfigError, EX_CONFIG, loadConfig, resolveConfigPath } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { openSpool, type SpoolDatabase } from '../spool/database.js';
import { SpoolError } from '../spool/errors.js';
import { runAsSpoolOwner, spoolPaths } from '../spool/files.js';

export const EXIT = { ok: 0, notFound: 1, usage: 2, config: EX_CONFIG } as const;

/** An error that ends the command with a message on stderr and the given exit status. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.notFound,
  ) {
    super(message);
  }
}

export interface ConfigOption {
  config?: string;
}

export function withConfig(command: Command): Command {
  return command.option('-c, --config <path>', 'configuration file (default: $SMARTHOST_CONFIG or /etc/smarthost/smarthost.yaml)');
}

export function configFrom(options: ConfigOption): { path: string; config: Config } {
  const path = resolveConfigPath(options.config);
  return { path, config: loadConfig(path) };
}

/**
 * The configuration and the spool, opened as the spool's owner: run as root, the command first takes
 * the identity of the user who owns the spool (files.ts), so it never leaves a file the daemon cannot
 * write.
 */
export function spoolFrom(options: ConfigOption): { config: Config; db: SpoolDatabase } {
  const { config } = configFrom(options);
  runAsSpoolOwner(spoolPaths(config.spool.path));
  return { config, db: openSpool(config.spool.path, { busyTimeout: config.spool.busyTimeout }) };
}

/** Open the spool for one command body and close it afterwards, whatever happens. */
export async function withSpool<T>(options: ConfigOption, body: (db: SpoolDatabase) => Promise<T> | T): Promise<T> {
  const { db } = spoolFrom(options);
  try {
    return await body(db);
  } finally {
    db.close();
  }
}

/** Run a command body, turning known errors into a message and an exit status. */
export async function run(body: () => Promise<number | void> | number | void): Promise<void> {
  try {
    process.exitCode = (await body()) ?? EXIT.ok;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`smarthost: ${err.message}\n`);
      process.exitCode = EXIT.config;
    } else if (err instanceof CliError || err instanceof SpoolError) {
      process.stderr.write(`smarthost: ${err.message}\n`);
      process.exitCode = err instanceof CliError ? err.exitCode : EXIT.notFound;
    } else {
      throw err;
    }
  }
}

/** All of standard input, as UTF-8 text. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export async function readStdinLine(): Promise<string> {
  const text = await readStdin();
  const newline = text.search(/\r?\n/);
  return newline < 0 ? text : text.slice(0, newline);
}

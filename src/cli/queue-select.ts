// Which messages a queue command is about. `queue list` and `queue summary` take filters; the
// commands that change the queue (hold, release, retry, delete, bounce) take queue IDs as arguments
// ("-" reads more from standard input, one per line, as `postsuper -d -` does) or the same filters,
// with --all for every message waiting: they then act on exactly the messages that `queue list`
// with those filters shows.
import { Option, type Command } from 'commander';
import { QUEUE_ID_PATTERN } from '../spool/queue-id.js';
import { listMessageIds, type ListFilter } from '../spool/queue-read.js';
import { RECIPIENT_STATES, type RecipientState } from '../spool/queue-stats.js';
import type { SpoolDatabase } from '../spool/database.js';
import { CliError, EXIT, readStdin, type ConfigOption } from './common.js';
import { parseDuration } from './format.js';

export interface FilterOptions extends ConfigOption {
  status?: RecipientState;
  domain?: string;
  sender?: string;
  olderThan?: string;
  user?: string;
}

export interface SelectorOptions extends FilterOptions {
  all?: boolean;
}

/** The filters of `queue list`, added to a command. */
export function withFilters(command: Command, what = 'only messages'): Command {
  return command
    .addOption(new Option('--status <state>', `${what} with a recipient in this state`).choices(RECIPIENT_STATES))
    .option('--domain <domain>', `${what} with a recipient in this domain`)
    .option('--sender <sender>', `${what} from this envelope sender (address, or @domain)`)
    .option('--older-than <age>', `${what} older than this (90s, 30m, 1h, 2d, 1w)`)
    .option('--user <name>', `${what} submitted by this user`);
}

export function filterFrom(options: FilterOptions): ListFilter {
  return {
    state: options.status,
    domain: options.domain,
    sender: options.sender,
    arrivedBefore: olderThan(options.olderThan),
    user: options.user,
  };
}

function olderThan(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === null) throw new CliError(`bad --older-than "${text}": use a number with s, m, h, d or w (e.g. 1h)`, EXIT.usage);
  return Date.now() - ms;
}

export function hasFilter(options: FilterOptions): boolean {
  const { status, domain, sender, olderThan: age, user } = options;
  return [status, domain, sender, age, user].some((value) => value !== undefined);
}

export interface Selection {
  readonly ids: readonly string[];
  /** Every ID was named on the command line (not chosen by --all or filters, nor read from stdin). */
  readonly named: boolean;
}

/** The queue IDs a changing command acts on, in the order given (or in arrival order), without repeats. */
export async function selectMessages(db: SpoolDatabase, args: readonly string[], options: SelectorOptions): Promise<Selection> {
  const filtered = options.all === true || hasFilter(options);
  if (args.length > 0 && filtered) throw new CliError('give queue IDs or selectors (--all, --status, --domain …), not both', EXIT.usage);
  if (args.length === 0 && !filtered)
    throw new CliError('name the messages: queue IDs, "-" for IDs on standard input, or --all', EXIT.usage);
  if (filtered) return { ids: [...listMessageIds(db, filterFrom(options))], named: false };
  const ids: string[] = [];
  for (const arg of args) {
    if (arg === '-')
      ids.push(
        ...(await readStdin())
          .split(/\r?\n/)
          .filter((line) => line.trim() !== '')
          .map(queueId),
      );
    else ids.push(queueId(arg));
  }
  return { ids: [...new Set(ids)], named: !args.includes('-') };
}

export function queueId(text: string): string {
  const id = text.trim().toUpperCase();
  if (!QUEUE_ID_PATTERN.test(id)) throw new CliError(`"${text}" is not a queue ID (14 characters, e.g. 1M89A70CN3VAZH)`, EXIT.usage);
  return id;
}

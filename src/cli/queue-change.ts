// `smarthost queue hold|release|retry|delete|bounce`: postsuper -h/-H/-d/-e and postqueue -i for the
// spool, on one message, many (IDs as arguments, "-" for IDs on standard input, one per line) or
// every message that `queue list` with the same filters shows (--all, --status, --domain, --sender,
// --older-than, --user: queue-select.ts). With --domain, only the recipients in that domain are
// held, released, retried or bounced; delete removes whole messages. --dry-run prints what would
// change and changes nothing. delete and bounce on messages not named one by one (a filter, --all or
// "-") need --yes; delete asks on the terminal about named ones unless --yes. Every message changed
// leaves a line in the daemon's log with the Unix user who ran the command (src/spool/admin-log.ts).
// Output: one line per message named on the command line; a summary line for a selection or several
// messages; with --dry-run both, each message's line listing the recipients that would change.
// Exit status 0 ok, 1 a named message is not in the queue (the others are changed) or a deletion was
// declined, 2 usage.
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { resolveConfigPath } from '../config/load.js';
import { commandHint } from '../platform/command-hint.js';
import type { Actor } from '../spool/admin-log.js';
import type { SpoolDatabase } from '../spool/database.js';
import { QueueAdmin, type QueueChange } from '../spool/queue-admin.js';
import { showMessage } from '../spool/queue-read.js';
import { CliError, EXIT, readStdinLine, run, withConfig, withSpool } from './common.js';
import { OutputBuffer, plural } from './format.js';
import { selectMessages, withFilters, type Selection, type SelectorOptions } from './queue-select.js';

export interface ChangeOptions extends SelectorOptions {
  dryRun?: boolean;
  yes?: boolean;
}

export type Action = QueueChange | 'bounce';

/** What became of one message (for bounce, with the DSN's queue ID). */
export interface Changed {
  readonly id: string;
  readonly sender: string;
  readonly recipients: readonly string[];
  /** retry: held recipients left alone. */
  readonly held: readonly string[];
  readonly dsn?: string | null;
}

const DESCRIPTIONS: Record<Action, string> = {
  hold: 'keep messages in the queue without delivery attempts until released',
  release: 'release held messages: their recipients are due now',
  retry: 'make queued and deferred recipients due now',
  delete: 'delete messages from the queue, without telling the senders',
  bounce: 'give up on messages now: their waiting recipients are bounced, with a DSN to the sender',
};

const PAST: Record<Exclude<Action, 'retry'>, string> = { hold: 'held', release: 'released', delete: 'deleted', bounce: 'bounced' };

/** The command for an action: queue IDs or selectors, --dry-run, and --yes for delete and bounce. */
export function changeCommand(queue: Command, action: Action): Command {
  const command = withFilters(withConfig(queue.command(`${action} [ids...]`)), 'messages')
    .description(`${DESCRIPTIONS[action]}: the messages named ("-" reads IDs from stdin), or --all, or those the filters pick`)
    .option('--all', 'every message waiting in the queue')
    .option('-n, --dry-run', 'print what would change, change nothing');
  return action === 'delete' || action === 'bounce'
    ? command.option('-y, --yes', 'do not ask; needed with --all, filters or "-"')
    : command;
}

export function registerChangeCommands(queue: Command): void {
  for (const action of ['hold', 'release', 'retry', 'delete'] as const) {
    changeCommand(queue, action).action((ids: string[], options: ChangeOptions) =>
      run(() => withSpool(options, (db) => changeMessages(db, action, ids, options))),
    );
  }
  changeCommand(queue, 'bounce').action((ids: string[], options: ChangeOptions) =>
    run(async () => {
      const { bounceMessages } = await import('./queue-bounce.js'); // the delivery and DKIM stages: loaded only here
      return bounceMessages(ids, options);
    }),
  );
}

async function changeMessages(db: SpoolDatabase, action: QueueChange, args: readonly string[], options: ChangeOptions): Promise<number> {
  const selection = await selectMessages(db, args, options);
  if (action === 'delete') await confirmDeletion(db, selection, options);
  const result = new QueueAdmin(db).apply(action, selection.ids, {
    now: Date.now(),
    actor: currentActor(),
    domain: action === 'delete' ? undefined : options.domain,
    dryRun: options.dryRun,
  });
  report(action, selection, result.messages, options);
  return notFound(result.missing);
}

/** delete: --yes for a selection; named messages are asked about on the terminal. */
async function confirmDeletion(db: SpoolDatabase, selection: Selection, options: ChangeOptions): Promise<void> {
  if (options.yes || options.dryRun) return;
  requireYes('delete', selection, options);
  const [only] = selection.ids;
  let question = `delete ${plural(selection.ids.length, 'message')}? [y/N] `;
  if (selection.ids.length === 1 && only !== undefined) {
    const message = showMessage(db, only);
    if (!message) throw new CliError(`no such message: ${only}`);
    question = `delete ${message.id} from <${message.sender}> to ${plural(message.recipients.length, 'recipient')}? [y/N] `;
  }
  process.stderr.write(question);
  if (!/^y(es)?$/i.test((await readStdinLine()).trim())) throw new CliError('not deleted');
}

/** delete and bounce act on a selection (or IDs from stdin) only with --yes. */
export function requireYes(action: Action, selection: Selection, options: ChangeOptions): void {
  if (selection.named || options.yes || options.dryRun) return;
  throw new CliError(`${action} with --all, filters or "-" needs --yes (see what it would do with --dry-run)`, EXIT.usage);
}

/**
 * The Unix user who ran this command, read when the command starts: run as root, it takes the spool
 * owner's identity before it opens the spool (common.ts), and the log must still say root.
 */
const invoker = readActor();

/** The Unix user running this command, for the daemon's log. */
export function currentActor(): Actor {
  return invoker;
}

function readActor(): Actor {
  const uid = process.getuid?.() ?? -1;
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${uid}`; // no passwd entry, e.g. a container run with --user N
  }
  return { user, uid, sudoUser: process.env['SUDO_USER'] ?? null };
}

/** Print what happened (or would happen) to the messages, as the file's opening comment says. */
export function report(action: Action, selection: Selection, messages: readonly Changed[], options: ChangeOptions): void {
  const out = new OutputBuffer();
  for (const m of messages) {
    if (options.dryRun) out.write(`${m.id}: ${wouldText(action, m)}\n`);
    else if (selection.named) out.write(`${m.id}: ${doneText(action, m, options)}\n`);
  }
  if (options.dryRun || !selection.named || messages.length > 1) out.write(`${summaryText(action, messages, options)}\n`);
  out.flush();
}

function wouldText(action: Action, m: Changed): string {
  const held = m.held.length > 0 ? ` (${plural(m.held.length, 'held recipient')} left alone: ${m.held.join(', ')})` : '';
  if (action === 'delete') return `would delete the message from <${m.sender}> to ${m.recipients.join(', ')}`;
  if (m.recipients.length === 0) return `nothing to ${action}${held}`;
  return `would ${action} ${plural(m.recipients.length, 'recipient')}: ${m.recipients.join(', ')}${held}`;
}

function doneText(action: Action, m: Changed, options: ChangeOptions): string {
  const n = m.recipients.length;
  const count = plural(n, 'recipient');
  switch (action) {
    case 'delete':
      return 'deleted';
    case 'hold':
      return n > 0 ? `${count} held` : 'nothing to hold (no queued or deferred recipient)';
    case 'release':
      return n > 0 ? `${count} released, due now` : 'nothing to release (no held recipient)';
    case 'bounce': {
      if (n === 0) return 'nothing to bounce (no queued, deferred or held recipient)';
      const dsn = m.dsn ? `; delivery status notification ${m.dsn} queued` : ' (null sender and no postmaster: no notification)';
      return `${count} bounced${dsn}`;
    }
    case 'retry': {
      if (m.held.length === 0) return n > 0 ? `${count} due now` : 'nothing to retry (no queued or deferred recipient)';
      const release = commandHint(`queue release ${m.id}`, resolveConfigPath(options.config));
      const held = `${plural(m.held.length, 'recipient')} held, not retried; release with: ${release}`;
      return n > 0 ? `${count} due now; ${held}` : held;
    }
  }
}

function summaryText(action: Action, messages: readonly Changed[], options: ChangeOptions): string {
  const touched = messages.filter((m) => m.recipients.length > 0);
  const recipients = touched.reduce((sum, m) => sum + m.recipients.length, 0);
  const held = messages.reduce((sum, m) => sum + m.held.length, 0);
  const what =
    action === 'delete'
      ? `${plural(touched.length, 'message')} (${plural(recipients, 'recipient')})`
      : `${plural(recipients, 'recipient')} of ${plural(touched.length, 'message')}`;
  const left = held > 0 ? `; ${plural(held, 'held recipient')} left alone (release them first)` : '';
  if (options.dryRun) return `dry run: would ${action} ${what}${left}`;
  return action === 'retry' ? `${what} due now${left}` : `${PAST[action]} ${what}${left}`;
}

export function notFound(missing: readonly string[]): number {
  for (const id of missing) process.stderr.write(`smarthost: no such message: ${id}\n`);
  return missing.length > 0 ? EXIT.notFound : EXIT.ok;
}

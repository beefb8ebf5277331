// `smarthost queue list|show|retry|hold|release|delete|bounce`: Postfix's mailq, postcat, postqueue -i
// and postsuper for the spool, safe while the daemon runs (the daemon notices every change within a
// second). Exit status 0 ok, 1 no such message (or a deletion declined), 2 usage.
import { Option, type Command } from 'commander';
import { QueueAdmin, type RetryTarget } from '../spool/queue-admin.js';
import { listMessages, showMessage, summarizeQueue, type ListFilter } from '../spool/queue-read.js';
import { QUEUE_ID_PATTERN } from '../spool/queue-id.js';
import { RECIPIENT_STATES, type RecipientState } from '../spool/queue-stats.js';
import type { SpoolDatabase } from '../spool/database.js';
import { CliError, EXIT, readStdinLine, run, withConfig, withSpool, type ConfigOption } from './common.js';
import { parseDuration, plural, printJson } from './format.js';
import { printListJson, printListText, showJson, showText, summaryText } from './queue-output.js';

interface ListOptions extends ConfigOption {
  status?: RecipientState;
  domain?: string;
  sender?: string;
  olderThan?: string;
  summary?: boolean;
  json?: boolean;
}

export function registerQueueCommands(program: Command): void {
  const queue = program.command('queue').description('inspect and change the mail queue (works while the daemon runs)');

  withConfig(queue.command('list'))
    .description('messages waiting in the queue (or, with --status, those with a recipient in that state)')
    .addOption(new Option('--status <state>', 'only messages with a recipient in this state').choices(RECIPIENT_STATES))
    .option('--domain <domain>', 'only messages with a recipient in this domain')
    .option('--sender <sender>', 'only messages from this envelope sender (address, or @domain)')
    .option('--older-than <age>', 'only messages older than this (90s, 30m, 1h, 2d, 1w)')
    .option('--summary', 'print only the summary line (counted in the spool, without listing)')
    .option('--json', 'print JSON')
    .action((options: ListOptions) => run(() => withSpool(options, (db) => list(db, options))));

  withConfig(queue.command('show <id>'))
    .description("a message's envelope and every recipient's attempt history")
    .addOption(new Option('--headers', 'also print the header section').conflicts('body'))
    .option('--body', 'also print the whole message')
    .option('--json', 'print JSON')
    .action((id: string, options: ConfigOption & { headers?: boolean; body?: boolean; json?: boolean }) =>
      run(() =>
        withSpool(options, (db) => {
          const message = showMessage(db, queueId(id));
          if (!message) throw new CliError(`no such message: ${id}`);
          if (options.json) printJson(showJson(message, options));
          else process.stdout.write(showText(message, options, Date.now()));
        }),
      ),
    );

  withConfig(queue.command('retry [id]'))
    .description('make queued and deferred recipients due now: of one message, --domain D, or --all')
    .option('--domain <domain>', 'every message with a recipient in this domain')
    .option('--all', 'every message in the queue')
    .action((id: string | undefined, options: ConfigOption & { domain?: string; all?: boolean }) =>
      run(() =>
        withSpool(options, (db) => {
          const target = retryTarget(id, options);
          const admin = new QueueAdmin(db);
          if (typeof target === 'object' && 'id' in target && !admin.exists(target.id)) throw new CliError(`no such message: ${id}`);
          const n = admin.retry(target, Date.now());
          process.stdout.write(`${describeTarget(target)}: ${plural(n, 'recipient')} due now\n`);
        }),
      ),
    );

  registerStateChange(queue, 'hold', 'keep a message in the queue without delivery attempts until released', (admin, id) => {
    const n = admin.hold(id, Date.now());
    return n > 0 ? `${plural(n, 'recipient')} held` : 'nothing to hold (no queued or deferred recipient)';
  });
  registerStateChange(queue, 'release', 'release a held message: its recipients are due now', (admin, id) => {
    const n = admin.release(id, Date.now());
    return n > 0 ? `${plural(n, 'recipient')} released, due now` : 'nothing to release (no held recipient)';
  });

  withConfig(queue.command('delete <id>'))
    .description('delete a message from the queue, without telling the sender (asks first)')
    .option('-y, --yes', 'do not ask')
    .action((id: string, options: ConfigOption & { yes?: boolean }) =>
      run(() =>
        withSpool(options, async (db) => {
          const message = showMessage(db, queueId(id));
          if (!message) throw new CliError(`no such message: ${id}`);
          if (
            !options.yes &&
            !(await confirm(`delete ${message.id} from <${message.sender}> to ${plural(message.recipients.length, 'recipient')}? [y/N] `))
          ) {
            throw new CliError('not deleted');
          }
          new QueueAdmin(db).delete(message.id);
          process.stdout.write(`${message.id}: deleted\n`);
        }),
      ),
    );

  withConfig(queue.command('bounce <id>'))
    .description('give up on a message now: its waiting recipients are bounced with a DSN to the sender')
    .action((id: string, options: ConfigOption) =>
      run(async () => {
        const { bounceWithDsn } = await import('./queue-bounce.js'); // the delivery and DKIM stages: loaded only here
        await bounceWithDsn(options, queueId(id));
      }),
    );
}

function registerStateChange(queue: Command, name: string, description: string, change: (admin: QueueAdmin, id: string) => string): void {
  withConfig(queue.command(`${name} <id>`))
    .description(description)
    .action((id: string, options: ConfigOption) =>
      run(() =>
        withSpool(options, (db) => {
          const admin = new QueueAdmin(db);
          const wanted = queueId(id);
          if (!admin.exists(wanted)) throw new CliError(`no such message: ${id}`);
          process.stdout.write(`${wanted}: ${change(admin, wanted)}\n`);
        }),
      ),
    );
}

function list(db: SpoolDatabase, options: ListOptions): void {
  const filter: ListFilter = {
    state: options.status,
    domain: options.domain,
    sender: options.sender,
    arrivedBefore: olderThan(options.olderThan),
  };
  if (options.summary) {
    const summary = summarizeQueue(db, filter);
    if (options.json) printJson({ summary });
    else process.stdout.write(`-- ${summaryText(summary)}\n`);
    return;
  }
  const messages = listMessages(db, filter);
  if (options.json) printListJson(messages);
  else printListText(messages, Date.now());
}

function olderThan(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === null) throw new CliError(`bad --older-than "${text}": use a number with s, m, h, d or w (e.g. 1h)`, EXIT.usage);
  return Date.now() - ms;
}

export function queueId(text: string): string {
  const id = text.trim().toUpperCase();
  if (!QUEUE_ID_PATTERN.test(id)) throw new CliError(`"${text}" is not a queue ID (14 characters, e.g. 1M89A70CN3VAZH)`, EXIT.usage);
  return id;
}

function retryTarget(id: string | undefined, options: { domain?: string; all?: boolean }): RetryTarget {
  const given = [id !== undefined, options.domain !== undefined, options.all === true].filter(Boolean).length;
  if (given !== 1) throw new CliError('queue retry takes one of: a queue ID, --domain D, --all', EXIT.usage);
  if (id !== undefined) return { id: queueId(id) };
  return options.domain !== undefined ? { domain: options.domain } : 'all';
}

function describeTarget(target: RetryTarget): string {
  if (target === 'all') return 'all messages';
  return 'id' in target ? target.id : `domain ${target.domain}`;
}

async function confirm(question: string): Promise<boolean> {
  process.stderr.write(question);
  return /^y(es)?$/i.test((await readStdinLine()).trim());
}

// `smarthost queue list|show|summary|hold|release|retry|delete|bounce`: Postfix's mailq, postcat,
// qshape, postsuper and postqueue -i for the spool, safe while the daemon runs (the daemon notices
// every change within a second). The commands that change the queue are in queue-change.ts.
// Exit status 0 ok, 1 no such message (or a deletion declined), 2 usage.
import { Option, type Command } from 'commander';
import { listMessages, showMessage, summarizeQueue } from '../spool/queue-read.js';
import { queueShape, WAITING_STATES, type RecipientState } from '../spool/queue-stats.js';
import type { SpoolDatabase } from '../spool/database.js';
import { CliError, run, withConfig, withSpool, type ConfigOption } from './common.js';
import { printJson } from './format.js';
import { registerChangeCommands } from './queue-change.js';
import { printListJson, printListText, shapeJson, shapeText, showJson, showText, summaryText } from './queue-output.js';
import { filterFrom, queueId, withFilters, type FilterOptions } from './queue-select.js';

interface ListOptions extends FilterOptions {
  summary?: boolean;
  json?: boolean;
}

export function registerQueueCommands(program: Command): void {
  const queue = program.command('queue').description('inspect and change the mail queue (works while the daemon runs)');

  withFilters(withConfig(queue.command('list')))
    .description('messages waiting in the queue (or, with --status, those with a recipient in that state)')
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

  withConfig(queue.command('summary'))
    .description("waiting recipients by destination domain and age, largest domains first (Postfix's qshape)")
    .addOption(new Option('--status <state>', 'only recipients in this state').choices(WAITING_STATES))
    .option('--json', 'print JSON')
    .action((options: ConfigOption & { status?: RecipientState; json?: boolean }) =>
      run(() =>
        withSpool(options, (db) => {
          const now = Date.now();
          const shape = queueShape(db, now, options.status ? [options.status] : WAITING_STATES);
          if (options.json) printJson(shapeJson(shape));
          else process.stdout.write(shapeText(shape));
        }),
      ),
    );

  registerChangeCommands(queue);
}

function list(db: SpoolDatabase, options: ListOptions): void {
  const filter = filterFrom(options);
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

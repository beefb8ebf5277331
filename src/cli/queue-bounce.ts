// `smarthost queue bounce`, wired for the command line: each DSN is built, DKIM-signed (with the
// configured keys, as the daemon signs its DSNs) and spooled by this process, one message after the
// other; the daemon notices the new messages within a second and delivers them. Warnings go to
// stderr. The selection, --dry-run, --yes and the output are queue-change.ts's.
import { pino } from 'pino';
import { bounceNow } from '../bounce/administrative.js';
import { Bouncer, bouncerSettings } from '../bounce/bouncer.js';
import { DkimKeyError } from '../dkim/key-file.js';
import { DkimSigner } from '../dkim/signer.js';
import { systemClock } from '../platform/clock.js';
import { createLogger } from '../platform/logger.js';
import { DELIVERY_LEASE_MS, DeliveryStore } from '../spool/delivery-store.js';
import { Enqueuer } from '../spool/enqueue.js';
import { QueueIdGenerator } from '../spool/queue-id.js';
import { CliError, spoolFrom } from './common.js';
import { currentActor, notFound, report, requireYes, type ChangeOptions, type Changed } from './queue-change.js';
import { selectMessages } from './queue-select.js';

export async function bounceMessages(args: readonly string[], options: ChangeOptions): Promise<number> {
  const { config, db } = spoolFrom(options);
  try {
    const selection = await selectMessages(db, args, options);
    requireYes('bounce', selection, options);
    const logger = createLogger('warn', pino.destination(2));
    let signer: DkimSigner;
    try {
      signer = new DkimSigner(config.dkim, { clock: systemClock, logger });
    } catch (err) {
      if (err instanceof DkimKeyError)
        throw new CliError(`cannot load the DKIM keys to sign the DSN (run as the daemon's user): ${err.message}`);
      throw err;
    }
    const bouncer = new Bouncer(
      {
        enqueuer: new Enqueuer(db),
        ids: new QueueIdGenerator(),
        clock: systemClock,
        ...bouncerSettings(config),
      },
      signer.signIfKeyExists,
    );
    const store = new DeliveryStore(db, { leaseMs: DELIVERY_LEASE_MS, keepDeliveredMs: config.spool.keepDelivered * 1000 });
    const actor = currentActor();
    const changed: Changed[] = [];
    const missing: string[] = [];
    for (const id of selection.ids) {
      const result = await bounceNow({ db, store, bouncer, clock: systemClock }, id, {
        actor,
        domain: options.domain,
        dryRun: options.dryRun,
      });
      if (result.found) changed.push({ id, sender: result.sender, recipients: result.bounced, held: [], dsn: result.dsn });
      else missing.push(id);
    }
    report('bounce', selection, changed, options);
    return notFound(missing);
  } finally {
    db.close();
  }
}

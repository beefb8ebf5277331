// `smarthost queue bounce ID`, wired for the command line: the DSN is built, DKIM-signed (with the
// configured keys, as the daemon signs its DSNs) and spooled by this process; the daemon notices the
// new message within a second and delivers it. Warnings go to stderr.
import { pino } from 'pino';
import { bounceNow } from '../bounce/administrative.js';
import { Bouncer } from '../bounce/bouncer.js';
import { DkimKeyError } from '../dkim/key-file.js';
import { DkimSigner } from '../dkim/signer.js';
import { systemClock } from '../platform/clock.js';
import { createLogger } from '../platform/logger.js';
import { DELIVERY_LEASE_MS, DeliveryStore } from '../spool/delivery-store.js';
import { Enqueuer } from '../spool/enqueue.js';
import { QueueIdGenerator } from '../spool/queue-id.js';
import { CliError, spoolFrom, type ConfigOption } from './common.js';
import { plural } from './format.js';

export async function bounceWithDsn(options: ConfigOption, id: string): Promise<void> {
  const { config, db } = spoolFrom(options);
  try {
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
        hostname: config.hostname,
        postmaster: config.postmaster,
      },
      signer.signIfKeyExists,
    );
    const store = new DeliveryStore(db, { leaseMs: DELIVERY_LEASE_MS, keepDeliveredMs: config.spool.keepDelivered * 1000 });
    const result = await bounceNow({ db, store, bouncer, clock: systemClock }, id);
    if (!result.found) throw new CliError(`no such message: ${id}`);
    if (result.bounced.length === 0) process.stdout.write(`${id}: nothing to bounce (no queued, deferred or held recipient)\n`);
    else {
      const dsn = result.dsn ? `; delivery status notification ${result.dsn} queued` : ' (null sender and no postmaster: no notification)';
      process.stdout.write(`${id}: ${plural(result.bounced.length, 'recipient')} bounced${dsn}\n`);
    }
  } finally {
    db.close();
  }
}

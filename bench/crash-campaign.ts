// The long crash campaign: `node --import tsx bench/crash-campaign.ts [--kills 20] [--senders 4]
// [--seed N] [--max-run-ms 1500] [--mta-down]`, after `npm run build`. SIGKILL at random moments while
// clients submit and a receiving MTA on loopback accepts (or, with --mta-down, is down until the
// kills are over); prints the figures (attempts, accepted, refused, interrupted, lost, duplicates,
// integrity) as JSON. test/e2e/crash-campaign.test.ts runs the short form in CI.
import { parseArgs } from 'node:util';
import { runCampaign } from '../test/helpers/crash-campaign.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '20' },
    senders: { type: 'string', default: '4' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    'max-run-ms': { type: 'string', default: '1500' },
    'mta-down': { type: 'boolean', default: false },
  },
});

const options = {
  kills: Number(values.kills),
  senders: Number(values.senders),
  seed: Number(values.seed),
  maxRunMs: Number(values['max-run-ms']),
  mtaDownDuringKills: values['mta-down'],
  settleMs: 120_000,
};
const figures = await runCampaign(options);
console.log(JSON.stringify({ ...options, ...figures }));
process.exit(figures.lost === 0 && figures.integrity === 'ok' ? 0 : 1);

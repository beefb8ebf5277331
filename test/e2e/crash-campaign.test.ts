// The crash campaign in its short form (test/helpers/crash-campaign.ts; bench/crash-campaign.ts runs
// the long one): SIGKILL at random moments while clients submit, with the receiving MTA up, and with
// it down for the whole window and back afterwards. Every message that got 250 arrives (lost = 0)
// and the spool passes PRAGMA integrity_check. CRASH_KILLS and CRASH_SEED change the run.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCampaign } from '../helpers/crash-campaign.js';

const KILLS = Number(process.env['CRASH_KILLS'] ?? 8);
const SEED = Number(process.env['CRASH_SEED'] ?? 4242);

describe('crash campaign', { timeout: 300_000 }, () => {
  test(`${KILLS} kills while clients send and the receiving MTA accepts: nothing lost`, async (t) => {
    const figures = await runCampaign({
      kills: KILLS,
      senders: 4,
      mtaDownDuringKills: false,
      seed: SEED,
      maxRunMs: 1500,
      settleMs: 60_000,
    });
    t.diagnostic(`crash campaign, MTA up: ${JSON.stringify(figures)}`);
    assert.ok(figures.accepted > 0, 'messages were accepted');
    assert.equal(figures.lost, 0);
    assert.equal(figures.integrity, 'ok');
  });

  test(`${Math.ceil(KILLS / 2)} kills with the receiving MTA down the whole time: all delivered once it is back`, async (t) => {
    const figures = await runCampaign({
      kills: Math.ceil(KILLS / 2),
      senders: 4,
      mtaDownDuringKills: true,
      seed: SEED + 1,
      maxRunMs: 1500,
      settleMs: 60_000,
    });
    t.diagnostic(`crash campaign, MTA down then back: ${JSON.stringify(figures)}`);
    assert.ok(figures.accepted > 0, 'messages were accepted');
    assert.equal(figures.lost, 0);
    assert.equal(figures.integrity, 'ok');
  });
});

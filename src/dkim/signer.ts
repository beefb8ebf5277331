// The DKIM stage: signs each finished message for the domain of its From: address with every active
// key of that domain (or of its nearest parent with a key), one DKIM-Signature per key, prepended.
// The body is canonicalised and hashed once (mailauth's relaxed body hasher) and shared by all
// signatures. A message whose domain has no key is passed through unsigned with a warning, or refused
// with 550 5.7.1 when dkim.requireKey is set; bounces are never refused (signIfKeyExists).
// The keyring is loaded at start-up and swapped whole by reload(); a bad reload keeps the old one.
import { RelaxedHash } from 'mailauth/lib/dkim/body/relaxed.js';
import type { Config } from '../config/schema.js';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../platform/logger.js';
import { domainOf } from '../smtp/address.js';
import { SmtpError } from '../smtp/errors.js';
import { splitMessage } from '../smtp/headers.js';
import { Replies } from '../smtp/replies.js';
import { rawFields, selectHeaders } from './canonical.js';
import { Keyring, type Selection } from './keyring.js';
import { signatureField } from './signature.js';
import type { MessageSigner } from './types.js';

export type DkimSettings = Config['dkim'];

export interface DkimDeps {
  readonly clock: Clock;
  readonly logger: Logger;
}

export class DkimSigner {
  private current: Keyring;
  private requireKey: boolean;

  constructor(
    settings: DkimSettings,
    private readonly deps: DkimDeps,
    keyring: Keyring = Keyring.load(settings.keys),
  ) {
    this.current = keyring;
    this.requireKey = settings.requireKey;
    this.logKeys('DKIM keys loaded');
  }

  /** Re-read the keys; on any problem throws DkimKeyError and keeps signing with the old keyring. */
  reload(settings: DkimSettings): void {
    this.current = Keyring.load(settings.keys);
    this.requireKey = settings.requireKey;
    this.logKeys('DKIM keys reloaded');
  }

  get keyring(): Keyring {
    return this.current;
  }

  /** For submission: refuses a message without a key when dkim.requireKey is set. */
  readonly sign: MessageSigner = async (message, fromAddress, queueId) => this.signFor(message, fromAddress, queueId, this.requireKey);

  /** For messages smarthost writes itself (DSNs from MAILER-DAEMON@hostname): signed if a key exists. */
  readonly signIfKeyExists: MessageSigner = async (message, fromAddress, queueId) => this.signFor(message, fromAddress, queueId, false);

  private signFor(message: Buffer, fromAddress: string, queueId: string, required: boolean): Buffer {
    const domain = domainOf(fromAddress);
    const selection = this.current.signingKeys(domain);
    if (selection) return signMessage(message, selection, Math.floor(this.deps.clock.now() / 1000));
    if (required) throw new SmtpError('SMARTHOST_E_NO_DKIM_KEY', Replies.noDkimKey(domain));
    this.deps.logger.warn({ queueId, from: fromAddress, domain }, 'no DKIM key for the From: domain; message not signed');
    return message;
  }

  private logKeys(msg: string): void {
    const keys = this.current.keys.map((k) => `${k.selector}._domainkey.${k.domain} ${k.algorithm}${k.active ? '' : ' (inactive)'}`);
    this.deps.logger.info({ keys, requireKey: this.requireKey }, msg);
  }
}

/** The message with one DKIM-Signature field per selected key prepended. */
export function signMessage(message: Buffer, selection: Selection, time: number): Buffer {
  const { header, body } = splitMessage(message);
  const headers = selectHeaders(rawFields(header.toString('latin1')));
  const hasher = new RelaxedHash('sha256');
  hasher.update(body);
  const bodyHash = hasher.digest('base64');
  const fields = selection.keys.map((key) => signatureField({ key, headers, bodyHash, time }));
  return Buffer.concat([Buffer.from(fields.join(''), 'latin1'), message]);
}

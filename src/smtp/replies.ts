// The catalogue of replies smarthost sends on its submission listeners. Texts follow Postfix's wording
// where Postfix has an equivalent, so operators and log matchers see familiar lines.
import { reply, type Reply } from './reply.js';

export const Replies = {
  queued: (queueId: string): Reply => reply(250, '2.0.0', `Ok: queued as ${queueId}`),
  authRequired: reply(530, '5.7.0', 'Authentication required'),
  encryptionRequired: reply(538, '5.7.11', 'Encryption required for requested authentication mechanism'),
  authFailed: reply(535, '5.7.8', 'Error: authentication failed'),
  authzidRefused: reply(535, '5.7.8', 'Error: authentication failed: authorization identity must equal the user name'),
  senderNotOwned: (address: string, user: string): Reply =>
    reply(553, '5.7.1', `<${address}>: Sender address rejected: not owned by user ${user}`),
  headerFromNotOwned: (detail: string): Reply => reply(550, '5.7.1', `Message rejected: header From: ${detail}`),
  noDkimKey: (domain: string): Reply => reply(550, '5.7.1', `Message rejected: no DKIM key for sender domain ${domain || '(none)'}`),
  messageTooBig: reply(552, '5.3.4', 'Error: message file too big'),
  localError: reply(451, '4.3.0', 'Error: queue file write error'),
  insufficientStorage: reply(452, '4.3.1', 'Insufficient system storage'),
  shuttingDown: reply(421, '4.3.2', 'Service shutting down, closing transmission channel'),
  badRecipient: reply(501, '5.1.3', 'Bad recipient address syntax'),
  unsupportedOption: (parameter: string): Reply =>
    reply(555, '5.5.4', `Unsupported option: ${parameter.length > 100 ? `${parameter.slice(0, 100)}...` : parameter}`),
  badParameter: (name: string): Reply => reply(501, '5.5.4', `Bad ${name} parameter syntax`),
  tooManyErrors: (hostname: string): Reply => reply(421, '4.7.0', `${hostname} Error: too many errors`),
  clientNotListed: (client: string): Reply =>
    reply(554, '5.7.1', `Error: client host [${client}] rejected: not in the networks of any relay client`),
  tooManyConnections: reply(421, '4.7.0', 'Error: too many connections; try again later'),
  tooManyConnectionsFrom: (client: string): Reply => reply(421, '4.7.0', `Error: too many connections from ${client}`),
  clientBlocked: (client: string): Reply => reply(421, '4.7.0', `Error: too many failed logins from ${client}; try again later`),
  userBlocked: reply(421, '4.7.0', 'Error: too many failed logins for this user; try again later'),
  timeout: reply(421, '4.4.2', 'Error: timeout exceeded'),
  tooManyJunkCommands: reply(421, '4.7.0', 'Error: too many NOOP, RSET, VRFY or HELP commands'),
  messageRateExceeded: (user: string, perHour: number): Reply =>
    reply(451, '4.7.1', `Error: user ${user} may send ${perHour} messages per hour; try again later`),
  recipientRateExceeded: (user: string, perHour: number): Reply =>
    reply(451, '4.7.1', `Error: user ${user} may send to ${perHour} recipients per hour; try again later`),
  dataAborted: reply(451, '4.4.2', 'Error: connection lost during DATA'),
} as const;

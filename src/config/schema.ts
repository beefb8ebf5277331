// The configuration schema: every key smarthost understands, its type, its default and its limits.
// Unknown keys are refused (strict objects), so a typo never silently falls back to a default.
// config/smarthost.example.yaml documents every key here; keep the two in step.
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { z } from 'zod';
import { USER_NAME_CHARS, USER_NAME_PATTERN } from '../auth/users.js';
import { normalizeDomain } from '../dkim/key-file.js';
import { isLocalNetwork, parseNetwork } from './networks.js';

/** "host:port" or "[v6]:port"; the host may be a name, an IPv4 or a bracketed IPv6 address. */
export const endpointPattern = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/** The host (IPv6 without brackets) and port of a validated endpoint. */
export function parseEndpoint(value: string): { host: string; port: number } {
  const match = endpointPattern.exec(value);
  if (!match) throw new Error(`bad endpoint ${value}`);
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
}

const endpoint = z.string().refine((value) => {
  const match = endpointPattern.exec(value);
  if (!match) return false;
  const port = Number(match[3]);
  return port >= 0 && port <= 65535 && (match[1] === undefined || isIP(match[1]) === 6);
}, 'must be "host:port" (IPv6 as "[addr]:port")');

const seconds = z.number().int().nonnegative();
const path = z.string().min(1);

/** An allowed sender: an exact address (a@example.com) or a whole domain (@example.com). */
export const senderPattern = z.string().regex(/^[^@\s]*@[^@\s]+$/, 'must be an address (a@example.com) or a domain (@example.com)');

const domainName = z.string().regex(/^(\*|\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?)$/, 'must be a domain name, ".parent.domain" or "*"');

const spool = z
  .strictObject({
    path: path.default('/var/lib/smarthost/spool.db'),
    keepDelivered: seconds.default(0),
    keepHistory: seconds.default(604_800),
    minFree: z.number().int().nonnegative().default(268_435_456),
    busyTimeout: z.number().int().min(0).max(60_000).default(5000),
  })
  .superRefine((value, ctx) => {
    if (value.keepDelivered <= value.keepHistory) return;
    ctx.addIssue({
      code: 'custom',
      path: ['keepDelivered'],
      message: `must not exceed spool.keepHistory (${value.keepHistory}): a finished message is deleted, body and all, after keepHistory`,
    });
  });

const tls = z.strictObject({
  cert: path.default('/etc/smarthost/tls/fullchain.pem'),
  key: path.default('/etc/smarthost/tls/privkey.pem'),
  selfSigned: z.boolean().default(false),
});

const listen = z.strictObject({
  submission: z.array(endpoint).default(['0.0.0.0:587']),
  submissions: z.array(endpoint).default(['0.0.0.0:465']),
  relay: z.array(endpoint).default([]),
});

/** An IP address or a CIDR network, kept as written (relay.ts and proxy parse it again). */
const network = z.string().superRefine((value, ctx) => {
  const parsed = parseNetwork(value);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});

const relayClient = z.strictObject({
  name: z.string().regex(USER_NAME_PATTERN, `must be ${USER_NAME_CHARS}`),
  networks: z.array(network).min(1),
  allow: z.array(senderPattern).min(1),
});

/**
 * Relay clients send without AUTH, by address alone: a network reaching outside the private,
 * loopback and link-local ranges is refused unless allowPublicNetworks says it is meant (an
 * address list that reaches the Internet is how open relays are born). Names are unique: each is
 * an identity (quotas, logs, the spool's user column).
 */
function checkRelayClients(
  relay: { clients: readonly z.output<typeof relayClient>[]; allowPublicNetworks: boolean },
  ctx: z.RefinementCtx,
): void {
  const names = new Set<string>();
  for (const [i, client] of relay.clients.entries()) {
    if (names.has(client.name))
      ctx.addIssue({ code: 'custom', path: ['clients', i, 'name'], message: `relay client ${client.name} is listed twice` });
    names.add(client.name);
    for (const [j, text] of client.networks.entries()) {
      const parsed = parseNetwork(text);
      if (typeof parsed === 'string' || relay.allowPublicNetworks || isLocalNetwork(parsed)) continue;
      ctx.addIssue({
        code: 'custom',
        path: ['clients', i, 'networks', j],
        message:
          `${text} reaches beyond the private, loopback and link-local ranges; clients there could relay without a password ` +
          '(an open relay). Set relay.allowPublicNetworks: true only if every address in it is yours',
      });
    }
  }
}

const relay = z
  .strictObject({
    clients: z.array(relayClient).default([]),
    allowPublicNetworks: z.boolean().default(false),
  })
  .superRefine(checkRelayClients);

/** Messages and recipients a user may send per hour (0: no limit). */
const hourlyQuota = z.strictObject({
  messagesPerHour: z.number().int().nonnegative().default(1000),
  recipientsPerHour: z.number().int().nonnegative().default(10_000),
});

/** A user's own quota, over limits.perUser key by key. */
const userQuota = z.strictObject({
  messagesPerHour: z.number().int().nonnegative().optional(),
  recipientsPerHour: z.number().int().nonnegative().optional(),
});

const limits = z.strictObject({
  maxMessageSize: z.number().int().positive().default(26_214_400),
  maxRecipients: z.number().int().positive().default(100),
  maxClients: z.number().int().positive().default(200),
  maxClientsPerAddress: z.number().int().positive().default(50),
  socketTimeout: seconds.default(300),
  commandTimeout: z.number().int().positive().default(300),
  dataTimeout: z.number().int().positive().default(300),
  minDataRate: z.number().int().nonnegative().default(500),
  junkCommandLimit: z.number().int().positive().default(100),
  maxErrors: z.number().int().positive().default(20),
  perUser: hourlyQuota.prefault({}),
  users: z.record(z.string(), userQuota).default({}),
});

const authFailures = z.strictObject({
  window: z.number().int().positive().default(60),
  slowAfter: z.number().int().nonnegative().default(3),
  delay: z.number().nonnegative().max(30).default(1),
  maxPerClient: z.number().int().positive().default(5),
  maxPerUser: z.number().int().positive().default(20),
  cooldown: z.number().int().positive().default(600),
  knownClientTtl: z.number().int().nonnegative().default(2_592_000),
});

const retry = z.strictObject({
  minBackoff: seconds.default(300),
  maxBackoff: seconds.default(4000),
  maxLifetime: seconds.default(432_000),
});

/** Seconds, each bounding its own stage; Postfix's smtp_connect_timeout, smtp_helo_timeout, smtp_*_timeout, smtp_data_done_timeout. */
const stageTimeout = z.number().int().positive().max(3600);
const timeouts = z.strictObject({
  connect: stageTimeout.default(30),
  greeting: stageTimeout.default(300),
  command: stageTimeout.default(300),
  data: stageTimeout.default(600),
});

/** The TLS memory: seconds after a delivery over TLS during which a domain gets no plaintext fallback; 0 off. */
const deliveryTls = z.strictObject({
  rememberFor: seconds.default(2_592_000),
});

const delivery = z.strictObject({
  port: z.number().int().min(1).max(65535).default(25),
  concurrency: z.number().int().positive().default(50),
  perDomainConcurrency: z.number().int().positive().default(5),
  allowPrivateDestinations: z.boolean().default(false),
  routes: z.record(domainName, endpoint).default({}),
  retry: retry.prefault({}),
  timeouts: timeouts.prefault({}),
  tls: deliveryTls.prefault({}),
  delayWarning: seconds.default(14_400),
});

const bounce = z.strictObject({
  maxReturnSize: z.number().int().nonnegative().default(50_000),
});

/** A DNS server: an IP address with an optional port ("127.0.0.1:5353", "[::1]:53", "192.0.2.53"). */
const dnsServer = z.string().refine((value) => {
  if (isIP(value) !== 0) return true;
  const match = endpointPattern.exec(value);
  return match !== null && isIP(match[1] ?? match[2] ?? '') !== 0;
}, 'must be an IP address, optionally with ":port" (IPv6 as "[addr]:port")');

const dns = z.strictObject({
  servers: z.array(dnsServer).min(1).optional(),
  timeout: z.number().int().positive().default(5000),
});

/** A DKIM selector: one or more DNS labels ("s2026", "mail.2026"). */
export const selectorPattern = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

const dkimKey = z.strictObject({
  domain: z.string().min(1),
  selector: z.string().regex(selectorPattern, 'must be a DNS label'),
  algorithm: z.enum(['ed25519', 'rsa']),
  privateKey: path,
  active: z.boolean().default(true),
  /** Development: create the key file at start when it is missing (as tls.selfSigned does). */
  create: z.boolean().optional(),
});

/**
 * A selector names one key, and a domain signs with at most one active key per algorithm (the
 * others are published but idle, for rotation); both are refused here, naming the second entry.
 */
function checkDkimKeys(keys: readonly z.output<typeof dkimKey>[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  for (const [i, key] of keys.entries()) {
    const domain = normalizeDomain(key.domain);
    const selector = `${domain} ${key.selector.toLowerCase()}`;
    const active = `${domain} ${key.algorithm} active`;
    if (seen.has(selector)) {
      ctx.addIssue({
        code: 'custom',
        path: ['keys', i, 'selector'],
        message: `selector ${key.selector} is already configured for ${domain}`,
      });
    }
    if (key.active && seen.has(active)) {
      ctx.addIssue({
        code: 'custom',
        path: ['keys', i, 'active'],
        message: `${domain} already has an active ${key.algorithm} key; mark one of them active: false`,
      });
    }
    seen.add(selector);
    if (key.active) seen.add(active);
  }
}

const dkim = z
  .strictObject({
    keyDir: path.default('/etc/smarthost/dkim'),
    requireKey: z.boolean().default(false),
    keys: z.array(dkimKey).default([]),
  })
  .superRefine((value, ctx) => checkDkimKeys(value.keys, ctx));

const metrics = z.strictObject({
  listen: endpoint.or(z.literal(false)).default('127.0.0.1:9587'),
});

const log = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Development: a sink the daemon starts, writing what it receives to files (src/daemon/dev-sink.ts). */
const devSink = z.strictObject({
  listen: endpoint.refine((value) => isLoopback(parseEndpoint(value).host), 'must be a loopback address (127.0.0.1:2525)'),
  dir: path,
});

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

const initialUser = z.strictObject({
  name: z.string().regex(USER_NAME_PATTERN, `must be ${USER_NAME_CHARS}`),
  allow: z.array(senderPattern).min(1),
});

const configFields = z.strictObject({
  hostname: z
    .string()
    .regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/, 'must be a host name')
    .default(osHostname()),
  spool: spool.prefault({}),
  tls: tls.prefault({}),
  listen: listen.prefault({}),
  relay: relay.prefault({}),
  limits: limits.prefault({}),
  authFailures: authFailures.prefault({}),
  delivery: delivery.prefault({}),
  bounce: bounce.prefault({}),
  dns: dns.prefault({}),
  dkim: dkim.prefault({}),
  metrics: metrics.prefault({}),
  log: log.prefault({}),
  initialUser: initialUser.optional(),
  devSink: devSink.optional(),
  postmaster: z
    .string()
    .regex(/^[^@\s<>]+@[^@\s<>]+$/, 'must be an address (postmaster@example.com)')
    .optional(),
});

export const configSchema = configFields.superRefine(checkListeners).superRefine(checkDevSink);

/**
 * With a dev sink every delivery goes to it, so that development mode cannot deliver beyond this
 * machine: delivery.routes must be exactly { "*": devSink.listen }.
 */
function checkDevSink(
  config: { devSink?: { listen: string } | undefined; delivery: { routes: Record<string, string> } },
  ctx: z.RefinementCtx,
): void {
  if (!config.devSink) return;
  const routes = Object.entries(config.delivery.routes);
  if (routes.length === 1 && routes[0]?.[0] === '*' && routes[0][1] === config.devSink.listen) return;
  ctx.addIssue({
    code: 'custom',
    path: ['delivery', 'routes'],
    message: `with devSink, every domain goes to the sink and nowhere else: use { "*": "${config.devSink.listen}" }`,
  });
}

/** Settings that only make sense together. */
function checkListeners(
  config: { listen: { relay: readonly string[] }; relay: { clients: readonly unknown[] } },
  ctx: z.RefinementCtx,
): void {
  if (config.listen.relay.length > 0 && config.relay.clients.length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['listen', 'relay'],
      message: 'a relay listener needs relay.clients (the networks that may send through it without AUTH)',
    });
  }
}

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export type Config = DeepReadonly<z.output<typeof configSchema>>;
export type DkimKeyConfig = Config['dkim']['keys'][number];

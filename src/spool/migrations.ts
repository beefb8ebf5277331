// Spool schema, as an ordered list of migrations; PRAGMA user_version records how many have run.
// Append new migrations; never edit one that has shipped.
//
// messages   one row per accepted message (envelope, owner, size); done_at set when every recipient
//            is final. The body lives apart in `bodies`, so listings never read it and a finished
//            message can drop its body while its record stays (until spool.keepHistory: retention.ts).
// recipients per-recipient delivery state (docs/flow.md): queued | deferred | held | delivered | bounced,
//            attempts, next_attempt_at, lease_until (a claim by the delivery worker), last reply/MX.
// attempts   one row per delivery attempt of a recipient, for `queue show` and post-mortems.
// users      submission accounts: scrypt hash and the senders each may use (JSON array).
// DSN        (migration 4) the parameters of RFC 3461 as given at submission: messages.dsn_ret
//            (FULL | HDRS) and dsn_envid, recipients.dsn_notify ("NEVER" or a list of SUCCESS,
//            FAILURE, DELAY) and dsn_orcpt ("addr-type;address"), all xtext-decoded, NULL when not
//            given; recipients.delay_warned_at, when the one "delayed" DSN for the recipient went out.
// daemon     one row while a daemon runs on this spool: its pid, version, bound listeners and metrics
//            address (for `smarthost status`), and the time of its last spool write probe (/healthz).
// admin_log  lines the queue commands leave for the daemon's log (admin-log.ts); deleted once logged.
// tls_domains the delivery TLS memory: per recipient domain, when delivery to it last succeeded over
//            TLS (delivery-store.ts); rows older than delivery.tls.rememberFor are deleted at start.
// mta_sts_policies  the MTA-STS policy cache (mta-sts-store.ts): one row per recipient domain whose
//            policy was fetched, kept until it expires (its max_age after the fetch).
// tls_sessions  outbound TLS session counts per UTC day, recipient domain, policy type, MX host and
//            result ("success" or an RFC 8460 result type): what a TLS report (TLSRPT) would need.
// attempts.tls_policy  the TLS policy an attempt was made under ("mta-sts enforce", "route verify" …).
// All times are milliseconds since the epoch.

export const migrations: readonly string[] = [
  `
  CREATE TABLE messages (
    id             TEXT PRIMARY KEY,
    sender         TEXT NOT NULL,
    username       TEXT,
    client_address TEXT,
    size           INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    done_at        INTEGER,
    kind           TEXT NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'bounce')),
    smtputf8       INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE INDEX messages_created ON messages (created_at);
  CREATE INDEX messages_done ON messages (done_at) WHERE done_at IS NOT NULL;

  CREATE TABLE bodies (
    message_id TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    data       BLOB NOT NULL
  ) STRICT;

  CREATE TABLE recipients (
    message_id      TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    address         TEXT NOT NULL,
    domain          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'deferred', 'held', 'delivered', 'bounced')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_reply      TEXT,
    last_mx         TEXT,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (message_id, address)
  ) STRICT;
  CREATE INDEX recipients_due ON recipients (next_attempt_at) WHERE state IN ('queued', 'deferred');
  CREATE INDEX recipients_state ON recipients (state, domain);

  CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    message_id  TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('delivered', 'deferred', 'bounced', 'expired')),
    mx_host     TEXT,
    mx_address  TEXT,
    tls         TEXT,
    reply       TEXT
  ) STRICT;
  CREATE INDEX attempts_message ON attempts (message_id, address);
  CREATE INDEX attempts_at ON attempts (at);

  CREATE TABLE users (
    name           TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,
    allowed        TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
  ) STRICT;
  `,
  `
  CREATE INDEX messages_open ON messages (created_at) WHERE done_at IS NULL;

  CREATE TABLE daemon (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    pid        INTEGER NOT NULL,
    version    TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    listeners  TEXT NOT NULL,
    metrics    TEXT,
    checked_at INTEGER NOT NULL
  ) STRICT;
  `,
  `
  CREATE TABLE admin_log (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    msg    TEXT NOT NULL,
    fields TEXT NOT NULL
  ) STRICT;
  `,
  `
  ALTER TABLE messages ADD COLUMN dsn_ret TEXT CHECK (dsn_ret IN ('FULL', 'HDRS'));
  ALTER TABLE messages ADD COLUMN dsn_envid TEXT;
  ALTER TABLE recipients ADD COLUMN dsn_notify TEXT;
  ALTER TABLE recipients ADD COLUMN dsn_orcpt TEXT;
  ALTER TABLE recipients ADD COLUMN delay_warned_at INTEGER;
  `,
  `
  CREATE TABLE tls_domains (
    domain      TEXT PRIMARY KEY,
    last_tls_at INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  `,
  `
  CREATE TABLE mta_sts_policies (
    domain     TEXT PRIMARY KEY,
    policy_id  TEXT NOT NULL,
    mode       TEXT NOT NULL CHECK (mode IN ('enforce', 'testing', 'none')),
    mx         TEXT NOT NULL,
    max_age    INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX mta_sts_expiry ON mta_sts_policies (expires_at);

  CREATE TABLE tls_sessions (
    day      TEXT NOT NULL,
    domain   TEXT NOT NULL,
    policy   TEXT NOT NULL,
    mx_host  TEXT NOT NULL,
    result   TEXT NOT NULL,
    sessions INTEGER NOT NULL,
    PRIMARY KEY (day, domain, policy, mx_host, result)
  ) STRICT;

  ALTER TABLE attempts ADD COLUMN tls_policy TEXT;
  `,
];

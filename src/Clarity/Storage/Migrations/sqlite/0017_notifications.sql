-- Notifications (Features/Notifications). Rules say which events reach which channels: an org rule (owner_user_id
-- NULL) is made by admins, a personal rule (owner_user_id set) by a member for themselves alone. events, channels and
-- filters are JSON: ["task.failed", …], [{"type":"email","to":[…]}, …], {"queues":[…],"labels":[…],"workflows":[…]}.
CREATE TABLE notification_rules (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    owner_user_id TEXT REFERENCES users(id),
    name TEXT,
    events TEXT NOT NULL,
    channels TEXT NOT NULL,
    filters TEXT NOT NULL DEFAULT '{}',
    enabled INTEGER NOT NULL DEFAULT 1,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX notification_rules_org ON notification_rules(org_id, id);
CREATE INDEX notification_rules_owner ON notification_rules(org_id, owner_user_id, id);

-- A person's preferences in one org: quiet hours (local wall-clock start and end, HH:mm, in an IANA time zone; none
-- when quiet_start is NULL) and the channels they muted (JSON array of channel types).
CREATE TABLE notification_preferences (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    quiet_start TEXT,
    quiet_end TEXT,
    time_zone TEXT,
    muted_channels TEXT NOT NULL DEFAULT '[]',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

-- The delivery log: one message per (event, channel, recipient), the unique key that keeps two overlapping fan-out
-- passes from sending twice. status: pending | sent | failed | suppressed (muted) | grouped (part of a digest, whose
-- row is digest_id). A digest row (is_digest = 1) stands for its grouped rows and has no event_seq of its own.
-- event_at is when the event happened (the burst window counts by it); note says why a row was held or suppressed.
CREATE TABLE notification_deliveries (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    rule_id TEXT,
    event_seq INTEGER,
    event_type TEXT NOT NULL,
    event_at INTEGER NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    recipient_user_id TEXT,
    status TEXT NOT NULL,
    is_digest INTEGER NOT NULL DEFAULT 0,
    digest_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_error TEXT,
    note TEXT,
    external_id TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    UNIQUE (event_seq, channel, recipient)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_org ON notification_deliveries(org_id, id);
CREATE INDEX notification_deliveries_burst ON notification_deliveries(org_id, channel, recipient, event_type, event_at);
CREATE INDEX notification_deliveries_digest ON notification_deliveries(digest_id) WHERE digest_id IS NOT NULL;

-- Questions for which clarification.expiring was raised (once each).
CREATE TABLE notification_expiring (
    clarification_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Notifications start with the events that come after this migration.
INSERT INTO consumer_cursors (name, seq, updated_at)
VALUES ('notifications', COALESCE((SELECT MAX(seq) FROM events), 0), CAST(strftime('%s', 'now') AS INTEGER) * 1000);

-- Managing the org's rules and reading the delivery log is a permission of its own, held by admins and owners.
INSERT INTO role_permissions (role_id, permission) VALUES
    ('00000000-0000-0000-0000-000000000003', 'notifications:manage'),
    ('00000000-0000-0000-0000-000000000004', 'notifications:manage');

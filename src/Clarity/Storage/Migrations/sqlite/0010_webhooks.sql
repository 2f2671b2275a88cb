-- Signed webhooks (Features/Webhooks). An endpoint belongs to one org; its signing secret is stored encrypted with
-- ASP.NET Core Data Protection (never in plain text), and during a rotation the previous secret stays valid until
-- previous_secret_expires_at. events is a JSON array of public event types ("*" for all); filters a JSON object.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    url TEXT NOT NULL,
    description TEXT,
    events TEXT NOT NULL,
    filters TEXT NOT NULL DEFAULT '{}',
    enabled INTEGER NOT NULL DEFAULT 1,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_expires_at INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints(org_id, id);

-- One row per message to one endpoint: the fan-out writes it in the same transaction as it advances its cursor, the
-- sender updates it after each attempt. message_id is the webhook-id header, the same for every retry and replay.
-- No foreign key to the endpoint: deleting an endpoint deletes its deliveries, and must not fail on a fan-out that
-- commits a delivery for it at the same moment (such a row is never sent: the sender reads existing endpoints only).
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    event_seq INTEGER,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_attempt_at INTEGER,
    response_status INTEGER,
    response_excerpt TEXT,
    latency_ms INTEGER,
    error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(endpoint_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, id);

-- Durable cursors of outbox consumers: how far (events.seq) each has consumed. A consumer advances its cursor in the
-- same transaction as the work it derives from the events, so a restart resumes exactly there.
CREATE TABLE consumer_cursors (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- Webhooks start with the events that come after this migration.
INSERT INTO consumer_cursors (name, seq, updated_at)
VALUES ('webhooks', COALESCE((SELECT MAX(seq) FROM events), 0), CAST(strftime('%s', 'now') AS INTEGER) * 1000);

-- Managing webhooks is a permission of its own, held by the built-in admin and owner roles.
INSERT INTO role_permissions (role_id, permission) VALUES
    ('00000000-0000-0000-0000-000000000003', 'webhooks:manage'),
    ('00000000-0000-0000-0000-000000000004', 'webhooks:manage');

-- Slack messages now also carry pages (an escalation's direct messages with their Acknowledge button), so that once the
-- escalation ends (acknowledged by any channel, resolved, exhausted) every page message is updated in place like a
-- settled question's: each row is about a question (clarification_id) or a page (escalation_id), never both.
-- SQLite cannot drop a NOT NULL constraint, so the table is rebuilt (nothing references it).
CREATE TABLE slack_messages_new (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    clarification_id TEXT,
    escalation_id TEXT,
    channel_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    blocks TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    settle_text TEXT,
    settle_due_at INTEGER,
    settle_attempts INTEGER NOT NULL DEFAULT 0,
    settled_at INTEGER,
    settle_error TEXT,
    UNIQUE (channel_id, ts),
    CHECK ((clarification_id IS NULL) <> (escalation_id IS NULL))
);
INSERT INTO slack_messages_new (id, org_id, clarification_id, channel_id, ts, blocks, text, created_at, settle_text, settle_due_at,
    settle_attempts, settled_at, settle_error)
SELECT id, org_id, clarification_id, channel_id, ts, blocks, text, created_at, settle_text, settle_due_at, settle_attempts, settled_at, settle_error
FROM slack_messages;
DROP TABLE slack_messages;
ALTER TABLE slack_messages_new RENAME TO slack_messages;
CREATE INDEX slack_messages_clarification ON slack_messages(clarification_id) WHERE clarification_id IS NOT NULL;
CREATE INDEX slack_messages_escalation ON slack_messages(escalation_id) WHERE escalation_id IS NOT NULL;
CREATE INDEX slack_messages_due ON slack_messages(settle_due_at) WHERE settle_due_at IS NOT NULL;

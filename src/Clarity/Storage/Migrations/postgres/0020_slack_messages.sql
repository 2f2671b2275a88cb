-- Slack messages that carry a question (Features/Notifications/Slack): where each was posted (the channel's id and the
-- message's ts), so that once the question is settled (answered, expired or cancelled) the message is updated in place
-- (chat.update): its buttons removed and a line added that says how it ended. blocks is the message as posted, without
-- its buttons (JSON). The updater marks a row due (settle_*) in the same transaction as it advances its cursor over the
-- question's event, then calls Slack, and records the outcome (settled_at, or settle_error after the last attempt).
CREATE TABLE slack_messages (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id),
    clarification_id uuid NOT NULL,
    channel_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    blocks TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    settle_text TEXT,
    settle_due_at BIGINT,
    settle_attempts INTEGER NOT NULL DEFAULT 0,
    settled_at BIGINT,
    settle_error TEXT,
    UNIQUE (channel_id, ts)
);
CREATE INDEX slack_messages_clarification ON slack_messages(clarification_id);
CREATE INDEX slack_messages_due ON slack_messages(settle_due_at) WHERE settle_due_at IS NOT NULL;

-- The updater follows the outbox from the events that come after this migration.
INSERT INTO consumer_cursors (name, seq, updated_at)
VALUES ('slack-messages', COALESCE((SELECT MAX(seq) FROM events), 0), CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT));

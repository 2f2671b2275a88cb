-- Slack messages now also carry pages (an escalation's direct messages with their Acknowledge button), so that once the
-- escalation ends (acknowledged by any channel, resolved, exhausted) every page message is updated in place like a
-- settled question's: each row is about a question (clarification_id) or a page (escalation_id), never both.
ALTER TABLE slack_messages ALTER COLUMN clarification_id DROP NOT NULL;
ALTER TABLE slack_messages ADD COLUMN escalation_id uuid;
ALTER TABLE slack_messages ADD CONSTRAINT slack_messages_one_subject CHECK (num_nonnulls(clarification_id, escalation_id) = 1);
CREATE INDEX slack_messages_escalation ON slack_messages(escalation_id) WHERE escalation_id IS NOT NULL;

-- The notification sender reads due deliveries per channel type (one lane each), so a backlog of one channel (mail
-- while the SMTP server is down) is never walked by the others' reads.
CREATE INDEX notification_deliveries_due_by_channel ON notification_deliveries(channel, next_attempt_at) WHERE status = 'pending';
DROP INDEX notification_deliveries_due;

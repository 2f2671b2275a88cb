-- The transactional outbox. The stream journal becomes the one events table: every change writes its events in its
-- own transaction. seq is the agreed order every node reads in (the id a stream client resumes from). Transactions
-- commit out of id order here, so rows are inserted without seq, and the leader's sequencer numbers committed rows in
-- a transaction of its own, taking event_state's row lock (event_state.last_seq is the counter): a range of seq
-- becomes visible at once, after every lower one.
ALTER TABLE stream_events RENAME TO events;
ALTER TABLE events ADD COLUMN seq BIGINT;
ALTER TABLE events ADD COLUMN subject TEXT;
ALTER TABLE events ADD COLUMN actor_kind TEXT;
ALTER TABLE events ADD COLUMN actor_id uuid;
UPDATE events SET seq = id;
DROP INDEX stream_events_org;
DROP INDEX stream_events_created;
CREATE UNIQUE INDEX events_seq ON events(seq);
CREATE INDEX events_unsequenced ON events(id) WHERE seq IS NULL;
CREATE INDEX events_org_seq ON events(org_id, seq);
CREATE INDEX events_created ON events(created_at);

ALTER TABLE stream_state RENAME TO event_state;
ALTER TABLE event_state ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;
UPDATE event_state SET last_seq = GREATEST(pruned_through, COALESCE((SELECT MAX(seq) FROM events), 0));

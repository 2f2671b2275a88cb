-- The transactional outbox. The stream journal becomes the one events table: every change writes its events in its
-- own transaction. seq is the agreed order every node reads in (the id a stream client resumes from). On SQLite the
-- single writer commits in id order, so each row is inserted with seq = id; on PostgreSQL transactions commit
-- out of id order, so rows are inserted without seq and the leader's sequencer numbers committed rows in a
-- transaction of its own (event_state.last_seq is the counter).
ALTER TABLE stream_events RENAME TO events;
ALTER TABLE events ADD COLUMN seq INTEGER;
ALTER TABLE events ADD COLUMN subject TEXT;
ALTER TABLE events ADD COLUMN actor_kind TEXT;
ALTER TABLE events ADD COLUMN actor_id TEXT;
UPDATE events SET seq = id;
DROP INDEX stream_events_org;
DROP INDEX stream_events_created;
CREATE UNIQUE INDEX events_seq ON events(seq);
CREATE INDEX events_org_seq ON events(org_id, seq);
CREATE INDEX events_created ON events(created_at);

ALTER TABLE stream_state RENAME TO event_state;
ALTER TABLE event_state ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
UPDATE event_state SET last_seq = MAX(pruned_through, COALESCE((SELECT MAX(seq) FROM events), 0));

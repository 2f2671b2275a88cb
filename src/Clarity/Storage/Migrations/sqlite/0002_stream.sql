-- The real-time stream's journal. Every streamed event gets an id here; clients replay by id after reconnecting.
-- AUTOINCREMENT: ids are never reused, even after retention deletes the newest rows.
CREATE TABLE stream_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    correlation_id TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX stream_events_org ON stream_events(org_id, id);
CREATE INDEX stream_events_created ON stream_events(created_at);

-- One row: the highest id that retention has deleted. A client asking to replay from below it must resync.
CREATE TABLE stream_state (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    pruned_through INTEGER NOT NULL
);
INSERT INTO stream_state (singleton, pruned_through) VALUES (1, 0);

-- The real-time stream's journal. Every streamed event gets an id here; clients replay by id after reconnecting.
-- Writers take an advisory lock around insert and commit, so ids become visible in increasing order on every node.
CREATE TABLE stream_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id uuid NOT NULL,
    topic TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    correlation_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX stream_events_org ON stream_events(org_id, id);
CREATE INDEX stream_events_created ON stream_events(created_at);

-- One row: the highest id that retention has deleted. A client asking to replay from below it must resync.
CREATE TABLE stream_state (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    pruned_through BIGINT NOT NULL
);
INSERT INTO stream_state (singleton, pruned_through) VALUES (1, 0);

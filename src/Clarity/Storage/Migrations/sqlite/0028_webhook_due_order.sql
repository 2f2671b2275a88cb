-- The sender reads each endpoint's oldest due deliveries, ORDER BY next_attempt_at, id LIMIT n. A fan-out gives all of
-- an event's deliveries the same next_attempt_at, and the index on (endpoint_id, next_attempt_at) left the ties to a
-- sort: every read fetched all of an endpoint's due deliveries (thousands in a backlog) to return the first few. With
-- id in the index, the index order is the read's order and the read stops at its limit.
--
-- IF NOT EXISTS: an operator may build it beforehand (CREATE INDEX CONCURRENTLY on PostgreSQL) under this name.
CREATE INDEX IF NOT EXISTS webhook_deliveries_due_order ON webhook_deliveries(endpoint_id, next_attempt_at, id) WHERE status = 'pending';

DROP INDEX IF EXISTS webhook_deliveries_due;

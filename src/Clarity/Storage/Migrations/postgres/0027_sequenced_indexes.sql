-- Events and audit entries are inserted without their order (events.seq, audit_entries.seq and position are NULL)
-- and get it from the leader's sequencer and chainer in a second write. The indexes on those columns held an entry
-- for every row's NULL as well, which nothing reads: every read of them asks for a value (seq > …, ORDER BY seq after
-- IS NOT NULL, MAX(seq)). Partial indexes over the ordered rows only spare the first write of every event and audit
-- entry two index insertions each. The unique ones stay unique: NULLs never conflicted.
--
-- IF NOT EXISTS: an operator may build the new indexes beforehand with CREATE INDEX CONCURRENTLY under these names
-- (docs/operations.md); the migration then only drops the old ones.
CREATE UNIQUE INDEX IF NOT EXISTS events_sequenced_seq ON events(seq) WHERE seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_sequenced_org_seq ON events(org_id, seq) WHERE seq IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS audit_entries_chained_seq ON audit_entries(chain_id, seq) WHERE seq IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS audit_entries_chained_position ON audit_entries(position) WHERE position IS NOT NULL;

DROP INDEX IF EXISTS events_seq;
DROP INDEX IF EXISTS events_org_seq;
DROP INDEX IF EXISTS audit_entries_chain_seq;
DROP INDEX IF EXISTS audit_entries_position;

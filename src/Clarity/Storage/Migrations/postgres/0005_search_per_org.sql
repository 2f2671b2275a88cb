-- Search is confined to the org: a search reads only the searching org's index entries.
--
-- Matching: one GIN index over (org_id, text_tsv). The GIN index on text_tsv alone found every org's matches and
-- left the org test to the heap. btree_gin provides the GIN operator class for uuid. It is a trusted extension
-- (PostgreSQL 13+): a role with CREATE on the database, such as its owner, may create it without being superuser;
-- when it already exists this is a no-op.
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- Every search also reads the index's whole pending list (lines inserted since its last merge, from every org):
-- 256 kB instead of the default 4 MB bounds that shared part of a search's cost to 32 pages.
-- IF NOT EXISTS: an operator may build the two indexes beforehand with CREATE INDEX CONCURRENTLY under these names
-- (docs/operations.md); the migration then only drops the old ones.
CREATE INDEX IF NOT EXISTS task_logs_org_fts ON task_logs USING gin (org_id, text_tsv) WITH (gin_pending_list_limit = 256);

-- Newest first: the search orders by -id, which only this index provides, so that the planner can never walk the
-- primary key newest first through every org's lines instead (it did when its global statistics made that look
-- cheap). It replaces the index on (org_id, id), which only the search used.
CREATE INDEX IF NOT EXISTS task_logs_org_newest ON task_logs (org_id, (-id));

DROP INDEX IF EXISTS task_logs_fts;
DROP INDEX IF EXISTS task_logs_org_id;

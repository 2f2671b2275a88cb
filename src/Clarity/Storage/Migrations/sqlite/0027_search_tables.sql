-- An org's full-text index is a series of FTS5 tables, newest last: log_search_<org> (part 0, the table migration
-- 0005 made), then log_search_<org>_1, _2, ... The log store starts the next table once the newest holds
-- Clarity:SqliteSearchTableLines lines (default 1,000,000). A newest-first search reads the newest table first and
-- stops once it has its page, so a prefix query, which FTS5 answers by merging the whole doclist of every term with
-- that prefix, merges one table's doclists, not all of the org's.
--
-- One row per table, written in the transaction that creates the table; first_id is the first line id the table
-- holds (every later table starts above it), lines how many lines it holds.
CREATE TABLE log_search_tables (
    org_id TEXT NOT NULL,
    part INTEGER NOT NULL,
    first_id INTEGER NOT NULL,
    lines INTEGER NOT NULL,
    PRIMARY KEY (org_id, part)
) WITHOUT ROWID;

-- Every org that has logged has its part 0 already; the orgs still waiting for the 0005 start-up step get their row
-- from that step. (One pass over task_logs: a few seconds for ten million lines.)
INSERT INTO log_search_tables (org_id, part, first_id, lines)
SELECT org_id, 0, min(id), count(*) FROM task_logs
WHERE org_id NOT IN (SELECT org_id FROM log_search_backfill)
GROUP BY org_id;

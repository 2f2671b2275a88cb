-- Search is confined to the org: each org gets its own FTS5 table, log_search_<org id as 32 hex digits>, created
-- with the org's first log line (LogStore). One table for every org let a search run over every org's lines, and
-- an org column inside it would not help prefix queries, which merge the doclists of every org.
--
-- The text every per-org table indexes and cuts snippets from: task_logs.text with the private-use characters that
-- mark matches in a snippet (U+E000..U+E002) and the escape mark itself (U+E003) escaped as U+E003 followed by
-- U+E004..U+E007 (SnippetHtml.Escape does the same in C#), so that no log text can pose as a marker.
CREATE VIEW log_search_text (id, text) AS
SELECT id,
       replace(replace(replace(replace(text,
           char(57347), char(57347, 57351)),
           char(57344), char(57347, 57348)),
           char(57345), char(57347, 57349)),
           char(57346), char(57347, 57350))
FROM task_logs;

-- Orgs whose lines were indexed by the old global table. A start-up step (SqliteSearchIndexes) builds each one's
-- own table and deletes its row here in the same transaction, so it can stop anywhere and carry on at the next start.
CREATE TABLE log_search_backfill (org_id TEXT PRIMARY KEY);
INSERT INTO log_search_backfill (org_id) SELECT DISTINCT org_id FROM tasks;

DROP TABLE task_logs_fts;

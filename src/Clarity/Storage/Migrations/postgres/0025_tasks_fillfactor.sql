-- A task row is updated several times in its life. The updates that change no indexed column (the log counter an
-- append bumps, ten or more per task) can stay on the row's page, with no new entry in any of the table's eleven
-- indexes (a heap-only tuple), only when that page has room: new pages of tasks keep a fifth of it free.
ALTER TABLE tasks SET (fillfactor = 80);

-- 0002: subtask and stream lookups use partial indexes.
-- Most tasks have no parent (and many no stream), so after ANALYZE the planner judged the full
-- indexes unselective and scanned the table on every claim and task_get. Indexing only the
-- non-null rows keeps the statistics honest; `WHERE parent_id = ?` implies the partial condition.
DROP INDEX tasks_stream_status;
DROP INDEX tasks_parent_status;
CREATE INDEX tasks_stream_status ON tasks (stream_id, status) WHERE stream_id IS NOT NULL;
CREATE INDEX tasks_parent_status ON tasks (parent_id, status, id) WHERE parent_id IS NOT NULL;

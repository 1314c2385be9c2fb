-- The search index of rows inserted with their search trigger switched off (batch.insert_indexed):
-- the trigger's own INSERT (schema.sql, search_task_insert), made once for every new row.
-- Not in queries/: no other backend defines these, and the services never name them.

-- name: search_index_tasks_after
INSERT INTO search_index (rowid, project_id, title, body)
SELECT id * 8, project_id, title,
    description || char(10) || acceptance || char(10) || context || char(10) || coalesce(summary, '')
FROM tasks WHERE id > :after ORDER BY id;

-- A bulk load (PgStore.load, migration 0003): the search index's documents of the projects it
-- loaded, written once after their rows, in the load's transaction, instead of by the per-row
-- triggers, which skip a row inserted while taskloom.bulk is 'on'. Each statement writes what
-- its trigger would have (search_put's upsert included), for every row of those projects.
-- Not in queries/: no service names these; only the store runs them, around a load.

-- name: bulk_begin
SELECT set_config('taskloom.bulk', 'on', true);

-- name: bulk_end
SELECT set_config('taskloom.bulk', 'off', true);

-- name: bulk_search_tasks
INSERT INTO search_index (id, project_id, title, body)
SELECT t.id * 8, t.project_id, t.title, search_task_body(t) FROM tasks t WHERE t.project_id = ANY(:projects)
ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body;

-- name: bulk_search_notes
INSERT INTO search_index (id, project_id, title, body)
SELECT n.id * 8 + 1, t.project_id, '', n.body FROM notes n JOIN tasks t ON t.id = n.task_id
WHERE t.project_id = ANY(:projects)
ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body;

-- name: bulk_search_messages
INSERT INTO search_index (id, project_id, title, body)
SELECT m.id * 8 + 2, m.project_id, m.subject, m.body FROM messages m WHERE m.project_id = ANY(:projects)
ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body;

-- name: bulk_search_artifacts
-- After artifact_texts' rows: the body is the description and the text, as the triggers leave it.
INSERT INTO search_index (id, project_id, title, body)
SELECT a.id * 8 + 3, a.project_id, a.name, search_artifact_body(a.id, a.description) FROM artifacts a
WHERE a.project_id = ANY(:projects)
ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body;

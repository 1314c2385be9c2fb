-- Streams: ordered lanes of tasks, their dependencies on other streams, and their status.
-- Parameters are :named (store/postgres/named.py rewrites them for psycopg); JSON list
-- parameters are expanded with jsonb_array_elements_text, so each query stays one static statement.
-- EXISTS answers boolean here; ::int gives the 0/1 SQLite gives, so services see one type.

-- name: stream_by_code
SELECT * FROM streams WHERE project_id = :project AND code = :code;

-- name: stream_by_id
SELECT * FROM streams WHERE id = :id;

-- name: stream_insert
INSERT INTO streams (project_id, code, name, description, status, created_at)
VALUES (:project, :code, :name, :description, 'ready', :now) RETURNING id;

-- name: stream_update
UPDATE streams SET name = coalesce(:name, name), description = coalesce(:description, description)
WHERE id = :id;

-- name: stream_list
SELECT * FROM streams WHERE project_id = :project ORDER BY id;

-- name: stream_dep_codes
-- Each dependency, and whether it has any task: one with none is never done, so it holds its
-- dependents forever (one index probe on tasks_stream_status each).
SELECT s.code, EXISTS (SELECT 1 FROM tasks t WHERE t.stream_id = s.id)::int AS has_tasks
FROM stream_deps d JOIN streams s ON s.id = d.depends_on_id
WHERE d.stream_id = :id ORDER BY s.id;

-- name: stream_edges
-- Every stream dependency in the project, for cycle checks (streams are few).
SELECT d.stream_id, d.depends_on_id FROM stream_deps d JOIN streams s ON s.id = d.stream_id
WHERE s.project_id = :project;

-- name: stream_deps_clear
DELETE FROM stream_deps WHERE stream_id = :id;

-- name: stream_dep_insert
INSERT INTO stream_deps (stream_id, depends_on_id) VALUES (:stream_id, :depends_on_id) ON CONFLICT DO NOTHING;

-- name: stream_counts
SELECT status, count(*) AS n FROM tasks WHERE stream_id = :id GROUP BY status;

-- name: stream_unmet
-- 1 if some stream this one depends on is not done.
SELECT EXISTS (SELECT 1 FROM stream_deps d JOIN streams s ON s.id = d.depends_on_id
               WHERE d.stream_id = :id AND s.status != 'done')::int;

-- name: stream_task_flags
-- Each EXISTS is a few index probes on (stream_id, status), whatever the stream's size.
SELECT
    EXISTS (SELECT 1 FROM tasks WHERE stream_id = :id AND status IN
            ('backlog', 'waiting', 'ready', 'in_progress', 'review', 'blocked', 'failed'))::int AS open,
    EXISTS (SELECT 1 FROM tasks WHERE stream_id = :id)::int AS any_task,
    EXISTS (SELECT 1 FROM tasks WHERE stream_id = :id AND status IN
            ('in_progress', 'review', 'blocked', 'done', 'failed'))::int AS started;

-- name: stream_set_status
UPDATE streams SET status = :to,
    ready_at = CASE WHEN :to = 'ready' AND ready_at IS NULL THEN :now ELSE ready_at END,
    done_at = CASE WHEN :to = 'done' THEN :now ELSE NULL END
WHERE id = :id AND status = :from;

-- name: stream_dependents
SELECT stream_id FROM stream_deps WHERE depends_on_id = :id;

-- name: stream_schedulable_tasks
SELECT id FROM tasks WHERE stream_id = :id AND status IN ('waiting', 'ready');

-- name: stream_ids
SELECT id FROM streams WHERE project_id = :project;

-- name: stream_task_ids
SELECT id FROM tasks WHERE stream_id = :stream_id;

-- Projects: one row per project in the database, and the resolver's bookkeeping on it.
-- Parameters are :named (store/postgres/named.py rewrites them for psycopg); JSON list
-- parameters are expanded with jsonb_array_elements_text, so each query stays one static statement.

-- name: project_get
-- A project by name.
SELECT * FROM projects WHERE name = :name;

-- name: project_insert
INSERT INTO projects (name, created_at) VALUES (:name, :now) ON CONFLICT (name) DO NOTHING;

-- name: project_by_id
SELECT * FROM projects WHERE id = :project;

-- name: project_next_seq
-- Reserve :count task numbers; returns the first.
UPDATE projects SET next_task_seq = next_task_seq + :count WHERE id = :project
RETURNING next_task_seq - :count AS first;

-- name: project_graph_changed
-- The dependency graph moved; :exact says whether ranks were kept exact incrementally.
UPDATE projects SET graph_version = graph_version + 1,
    ranked_version = CASE WHEN :exact AND ranked_version = graph_version THEN graph_version + 1
                          ELSE ranked_version END
WHERE id = :project;

-- name: project_mark_ranked
UPDATE projects SET ranked_version = :version WHERE id = :project;

-- name: project_mark_resolver_run
UPDATE projects SET resolver_run_at = :now WHERE id = :project;

-- Sprints: time boxes that group streams.
-- Parameters are :named (store/postgres/named.py rewrites them for psycopg); JSON list
-- parameters are expanded with jsonb_array_elements_text, so each query stays one static statement.

-- name: sprint_by_code
SELECT * FROM sprints WHERE project_id = :project AND code = :code;

-- name: sprint_insert
INSERT INTO sprints (project_id, code, title, goal, status, created_at)
VALUES (:project, :code, :title, :goal, :status, :now) RETURNING id;

-- name: sprint_update
UPDATE sprints SET title = coalesce(:title, title), goal = coalesce(:goal, goal),
    status = coalesce(:status, status)
WHERE id = :id;

-- name: sprint_list
SELECT * FROM sprints WHERE project_id = :project ORDER BY id;

-- name: sprint_counts
SELECT status, count(*) AS n FROM tasks WHERE sprint_id = :id GROUP BY status;

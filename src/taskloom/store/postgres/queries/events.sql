-- The event log: what happened, in order. The change feed and the activity views read it.
-- Parameters are :named (store/postgres/named.py rewrites them for psycopg); JSON list
-- parameters are expanded with jsonb_array_elements_text, so each query stays one static statement.

-- name: event_insert
INSERT INTO events (project_id, at, kind, subject, agent, payload)
VALUES (:project, :now, :kind, :subject, :agent, :payload);

-- name: events_since
-- Ids commit in id order only because every write transaction takes the write lock first.
SELECT * FROM events WHERE project_id = :project AND id > :since ORDER BY id LIMIT :limit;

-- name: task_claimed_by
-- Whether :agent ever claimed the task (a lease it lost, not one it never had): its own events only.
SELECT 1 AS claimed FROM events
WHERE project_id = :project AND subject = :code AND kind = 'task.claimed' AND agent = :agent
LIMIT 1;

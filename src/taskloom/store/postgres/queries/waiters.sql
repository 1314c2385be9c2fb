-- Waiting claims: who waits for work, oldest first, and what a waiter would take.
-- Parameters are :named (store/postgres/named.py rewrites them for psycopg); JSON list
-- parameters are expanded with jsonb_array_elements_text, so each query stays one static statement.

-- name: claim_candidate
-- The task claim_next would take, without taking it: a waiting claim first asks whether an
-- older waiter could take it too. Same filters and order as claim_next (no lock: it only looks).
SELECT t.id, t.code, t.role, t.stream_id, t.ready_at FROM tasks t
WHERE t.project_id = :project AND t.status = 'ready'
  AND (:role::text IS NULL OR t.role = :role OR t.role IS NULL)
  AND (:stream_id::bigint IS NULL OR t.stream_id = :stream_id)
  AND (:label_count = 0 OR (SELECT count(*) FROM task_labels l WHERE l.task_id = t.id
                            AND l.label IN (SELECT jsonb_array_elements_text(:labels::jsonb))) = :label_count)
ORDER BY t.priority, t.rank DESC, t.id
LIMIT 1;

-- name: task_label_names
SELECT label FROM task_labels WHERE task_id = :task_id;

-- name: claim_waiters_ahead
-- Live waiters that came before :id (all of them when :id is NULL: a newcomer is last in line).
SELECT id, agent, role, stream_id, labels FROM claim_waiters
WHERE project_id = :project AND until > :now AND (:id::bigint IS NULL OR id < :id)
ORDER BY id;

-- name: claim_waiter_insert
INSERT INTO claim_waiters (project_id, agent, role, stream_id, labels, since, until)
VALUES (:project, :agent, :role, :stream_id, :labels, :now, :until)
RETURNING id;

-- name: claim_waiter_delete
DELETE FROM claim_waiters WHERE id = :id;

-- name: claim_waiters_purge
-- Rows of waits whose process died before it could remove them.
DELETE FROM claim_waiters WHERE project_id = :project AND until <= :now;

-- name: task_open_counts_matching
-- Open tasks a claim with these filters could ever take, per status: what an empty claim says
-- about waiting on. Read only when a claim found nothing.
SELECT t.status, count(*) AS n FROM tasks t
WHERE t.project_id = :project
  AND t.status IN ('backlog', 'waiting', 'ready', 'in_progress', 'review', 'blocked', 'failed')
  AND (:role::text IS NULL OR t.role = :role OR t.role IS NULL)
  AND (:stream_id::bigint IS NULL OR t.stream_id = :stream_id)
  AND (:label_count = 0 OR (SELECT count(*) FROM task_labels l WHERE l.task_id = t.id
                            AND l.label IN (SELECT jsonb_array_elements_text(:labels::jsonb))) = :label_count)
GROUP BY t.status;

-- name: claim_waiters_count
SELECT count(*) FROM claim_waiters WHERE project_id = :project;

-- name: task_counts_all
-- Tasks per status that are not done or cancelled: index probes per status, however many closed.
SELECT status, count(*) AS n FROM tasks
WHERE project_id = :project
  AND status IN ('backlog', 'waiting', 'ready', 'in_progress', 'review', 'blocked', 'failed')
GROUP BY status;

-- name: task_waiting_stuck_matching
-- Waiting tasks a claim with these filters could take that wait on a failed or parked task:
-- nothing in progress will free them, an orchestrator must act.
SELECT count(*) FROM tasks t
WHERE t.project_id = :project AND t.status = 'waiting'
  AND (:role::text IS NULL OR t.role = :role OR t.role IS NULL)
  AND (:stream_id::bigint IS NULL OR t.stream_id = :stream_id)
  AND (:label_count = 0 OR (SELECT count(*) FROM task_labels l WHERE l.task_id = t.id
                            AND l.label IN (SELECT jsonb_array_elements_text(:labels::jsonb))) = :label_count)
  AND EXISTS (SELECT 1 FROM task_deps d JOIN tasks x ON x.id = d.depends_on_id
              WHERE d.task_id = t.id AND x.status IN ('failed', 'backlog'));

-- name: project_has_tasks
-- Whether anything was ever planned: a project with no tasks yet is not finished, only empty.
SELECT EXISTS (SELECT 1 FROM tasks WHERE project_id = :project)::int AS planned;

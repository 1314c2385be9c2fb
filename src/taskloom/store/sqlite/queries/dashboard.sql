-- What the dashboard's pages read: what needs a decision, a task's status history, what finishing
-- a task unblocks, and a task's thread. Portable SQL: store/postgres/queries/dashboard.sql is the
-- same text.

-- name: decision_counts
-- How many tasks wait on a person in each way, and how many escalations are open (as
-- escalations_open counts them), however many a page lists.
SELECT
    (SELECT count(*) FROM tasks WHERE project_id = :project AND status = 'blocked') AS blocked,
    (SELECT count(*) FROM tasks WHERE project_id = :project AND status = 'failed') AS failed,
    (SELECT count(*) FROM tasks WHERE project_id = :project AND status = 'review') AS review,
    (SELECT count(*) FROM messages m LEFT JOIN tasks t ON t.id = m.task_id
     WHERE m.project_id = :project AND m.kind = 'escalation' AND m.acked_at IS NULL
       AND (t.status IS NULL OR t.status NOT IN {TERMINAL})) AS escalations;

-- name: task_status_events
-- The newest :limit events of one task that can move it between statuses (the task.* family and
-- lease expiries; domain/history.py says which kind enters which status), newest first.
SELECT id, at, kind, agent, payload FROM events
WHERE project_id = :project AND subject = :code AND (kind LIKE 'task.%' OR kind = 'lease.expired')
ORDER BY id DESC LIMIT :limit;

-- name: impact_dependents
-- A task's direct dependents, oldest first, with their stream and whether open subtasks hold them.
SELECT t.id, t.code, t.title, t.status, s.code AS stream_code, s.status AS stream_status,
    EXISTS (SELECT 1 FROM tasks c WHERE c.parent_id = t.id AND c.status NOT IN {TERMINAL})
        AS open_subtasks
FROM task_deps d JOIN tasks t ON t.id = d.task_id LEFT JOIN streams s ON s.id = t.stream_id
WHERE d.depends_on_id = :id
ORDER BY t.id LIMIT :limit;

-- name: impact_dependent_count
SELECT count(*) FROM task_deps WHERE depends_on_id = :id;

-- name: impact_other_open_deps
-- For each direct dependent of :id, its other dependencies that are neither done nor cancelled.
SELECT d.task_id, u.code FROM task_deps x
JOIN task_deps d ON d.task_id = x.task_id
JOIN tasks u ON u.id = d.depends_on_id
WHERE x.depends_on_id = :id AND d.depends_on_id != :id AND u.status NOT IN {SATISFIED}
ORDER BY d.task_id, u.id;

-- name: impact_transitive_count
-- Every task that depends on :id, directly or through other tasks' dependencies.
WITH RECURSIVE down(id) AS (
    SELECT task_id FROM task_deps WHERE depends_on_id = :id
    UNION SELECT d.task_id FROM task_deps d JOIN down ON d.depends_on_id = down.id
)
SELECT count(*) FROM down;

-- name: impact_last_open_in_stream
-- 1 if no other task of :stream_id is open: finishing :id would close the stream.
SELECT NOT EXISTS (SELECT 1 FROM tasks WHERE stream_id = :stream_id AND id != :id
                   AND status NOT IN {SATISFIED});

-- name: impact_streams_opening
-- Waiting streams that depend on :stream_id and on no other stream that is not done.
SELECT s.code, s.name FROM stream_deps d JOIN streams s ON s.id = d.stream_id
WHERE d.depends_on_id = :stream_id AND s.status = 'waiting'
  AND NOT EXISTS (SELECT 1 FROM stream_deps o JOIN streams u ON u.id = o.depends_on_id
                  WHERE o.stream_id = s.id AND o.depends_on_id != :stream_id AND u.status != 'done')
ORDER BY s.id;

-- name: task_thread
-- A task's thread and the escalations about it, newest first: never a direct or role message that
-- only names the task (a direct reply to an escalation carries its task_id too). Read as nobody:
-- read_at is anyone's first read, my_ack the first acknowledgement by anyone.
SELECT m.*, t.code AS task_code,
    (SELECT min(r.read_at) FROM message_receipts r WHERE r.message_id = m.id) AS read_at,
    m.acked_at AS my_ack
FROM messages m JOIN tasks t ON t.id = m.task_id
WHERE m.task_id = :task_id AND (m.recipient = :recipient OR m.kind = 'escalation')
ORDER BY m.id DESC LIMIT :limit;

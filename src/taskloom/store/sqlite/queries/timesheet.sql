-- Time tracking (`taskloom report time`, services/timesheet.py): four reads per report, each whole.

-- name: timesheet_tasks
-- Every task of the project created by :until; in_scope: of the sprint and stream asked for (a
-- null id asks for any). The others still count towards their holders' busy time.
SELECT t.code, t.title, t.role, t.status, t.attempts, s.code AS stream, p.code AS sprint,
    ((:sprint_id IS NULL OR t.sprint_id = :sprint_id) AND (:stream_id IS NULL OR t.stream_id = :stream_id))
        AS in_scope
FROM tasks t
LEFT JOIN streams s ON s.id = t.stream_id
LEFT JOIN sprints p ON p.id = t.sprint_id
WHERE t.project_id = :project AND t.created_at <= :until
ORDER BY t.id;

-- name: timesheet_events
-- One pass over the project's events, oldest first: every event that can move a task (the task.*
-- family and lease expiries, whenever: a span that the window cuts began before it), and any
-- other event an agent wrote between :signs_from and :signs_to, as a sign that it was there.
SELECT at, kind, subject, agent, payload FROM events
WHERE project_id = :project
  AND (kind LIKE 'task.%' OR kind = 'lease.expired' OR (agent IS NOT NULL AND at BETWEEN :signs_from AND :signs_to))
ORDER BY id;

-- name: timesheet_agents
SELECT name, role, registered_at, last_seen_at FROM agents WHERE project_id = :project ORDER BY name;

-- name: timesheet_runs
-- The runner's runs that overlap the window (an unfinished one runs on), oldest first.
SELECT r.agent, t.code AS task, r.started_at, r.ended_at, r.cost_usd, r.turns FROM runs r
LEFT JOIN tasks t ON t.id = r.task_id
WHERE r.project_id = :project AND r.started_at <= :until AND (r.ended_at IS NULL OR r.ended_at >= :since)
ORDER BY r.id;

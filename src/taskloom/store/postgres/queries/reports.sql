-- Completion reports: a sprint's, a stream's or the whole project's tasks, their dependencies,
-- status events, escalations and artifacts, each in one statement (services/completion.py).
-- :stream_id and :sprint_id are optional (NULL means the whole project); at most one is given.

-- name: report_tasks
-- The tasks in scope, oldest first; :limit caps how many a report takes on.
SELECT t.id, t.code, t.title, t.status, t.claimed_by, t.created_at, t.completed_at, t.attempts,
    t.summary, t.reason
FROM tasks t
WHERE t.project_id = :project
  AND (:stream_id::bigint IS NULL OR t.stream_id = :stream_id)
  AND (:sprint_id::bigint IS NULL OR t.sprint_id = :sprint_id)
ORDER BY t.id LIMIT :limit;

-- name: report_edges
-- Dependencies of the tasks in scope (the services drop those on tasks outside it).
SELECT d.task_id, d.depends_on_id FROM task_deps d JOIN tasks t ON t.id = d.task_id
WHERE t.project_id = :project
  AND (:stream_id::bigint IS NULL OR t.stream_id = :stream_id)
  AND (:sprint_id::bigint IS NULL OR t.sprint_id = :sprint_id)
ORDER BY d.task_id, d.depends_on_id;

-- name: report_task_events
-- Every event that can move a task in scope between statuses (as task_status_events), oldest first.
SELECT e.id, e.at, e.kind, e.subject, e.agent, e.payload FROM events e
WHERE e.project_id = :project AND (e.kind LIKE 'task.%' OR e.kind = 'lease.expired')
  AND e.subject IN (SELECT t.code FROM tasks t WHERE t.project_id = :project
                    AND (:stream_id::bigint IS NULL OR t.stream_id = :stream_id)
                    AND (:sprint_id::bigint IS NULL OR t.sprint_id = :sprint_id))
ORDER BY e.id;

-- name: report_escalations
-- Escalations on tasks in scope, oldest first, with the first acknowledgement of their message:
-- when, and by whom (NULL with a time: settled by task_unblock, which answers the blocker).
SELECT e.id, e.task_id, e.trigger, e.reason, e.created_at, m.acked_at,
    (SELECT r.agent FROM message_receipts r WHERE r.message_id = e.message_id AND r.acked_at IS NOT NULL
     ORDER BY r.acked_at, r.agent LIMIT 1) AS acked_by
FROM escalations e JOIN tasks t ON t.id = e.task_id LEFT JOIN messages m ON m.id = e.message_id
WHERE t.project_id = :project
  AND (:stream_id::bigint IS NULL OR t.stream_id = :stream_id)
  AND (:sprint_id::bigint IS NULL OR t.sprint_id = :sprint_id)
ORDER BY e.id;

-- name: report_artifact_links
-- One row per link of an artifact into scope: to a task in it, to the sprint or stream itself,
-- or, for the whole project, any link at all. Oldest upload first.
SELECT a.id, a.sha256, a.name, a.media_type, a.size, a.uploaded_by, a.uploaded_at, l.kind,
    CASE l.kind WHEN 'task' THEN t.code WHEN 'stream' THEN s.code WHEN 'sprint' THEN sp.code END AS target
FROM artifact_links l JOIN artifacts a ON a.id = l.artifact_id
LEFT JOIN tasks t ON l.kind = 'task' AND t.id = l.target_id
LEFT JOIN streams s ON l.kind = 'stream' AND s.id = l.target_id
LEFT JOIN sprints sp ON l.kind = 'sprint' AND sp.id = l.target_id
WHERE a.project_id = :project
  AND ((l.kind = 'task' AND (:stream_id::bigint IS NULL OR t.stream_id = :stream_id)
                        AND (:sprint_id::bigint IS NULL OR t.sprint_id = :sprint_id))
       OR (l.kind = 'stream' AND :sprint_id::bigint IS NULL AND (:stream_id::bigint IS NULL OR l.target_id = :stream_id))
       OR (l.kind = 'sprint' AND :stream_id::bigint IS NULL AND (:sprint_id::bigint IS NULL OR l.target_id = :sprint_id))
       OR (l.kind = 'project' AND :stream_id::bigint IS NULL AND :sprint_id::bigint IS NULL))
ORDER BY a.uploaded_at, a.id, l.kind, target;

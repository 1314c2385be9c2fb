-- The runner's workers: one row per agent process a runner started (`taskloom run`).
-- PostgreSQL: store/sqlite/queries/runs.sql ported (docs/postgres-port.md).

-- name: runner_ready_tasks
-- Ready tasks in claim order (claim_next's), optionally of one role: what a runner would start
-- workers for. The runner skips those in back-off and claims the first it may take by code.
SELECT t.id, t.code, t.role, t.stream_id, s.code AS stream FROM tasks t
LEFT JOIN streams s ON s.id = t.stream_id
WHERE t.project_id = :project AND t.status = 'ready' AND (:role::text IS NULL OR t.role = :role)
ORDER BY t.priority, t.rank DESC, t.id
LIMIT :limit;

-- name: runner_ready_streams
-- Streams with ready work and no live stream worker, in the order of their best ready task.
SELECT s.id, s.code, min(t.priority) AS priority FROM streams s
JOIN tasks t ON t.stream_id = s.id AND t.status = 'ready'
WHERE s.project_id = :project AND (:role::text IS NULL OR t.role = :role)
  AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.stream_id = s.id AND r.task_id IS NULL AND r.ended_at IS NULL)
GROUP BY s.id, s.code
ORDER BY min(t.priority), max(t.rank) DESC, s.id
LIMIT :limit;

-- name: run_open
-- Takes the slot: no row is inserted when a live run holds this task (or stream) already.
INSERT INTO runs (project_id, runner, runner_pid, runner_started, agent, task_id, stream_id, preset, host,
                  started_at, held_until)
VALUES (:project, :runner, :runner_pid, :runner_started, :agent, :task_id, :stream_id, :preset, :host,
        :now, :held_until)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: run_spawned
UPDATE runs SET pid = :pid, pid_started = :pid_started, argv = :argv, log_path = :log_path
WHERE id = :id;

-- name: runs_hold
-- The runner is alive: its live rows stay its own until :held_until.
UPDATE runs SET held_until = :held_until WHERE runner = :runner AND ended_at IS NULL;

-- name: run_end
UPDATE runs SET ended_at = :now, exit_code = :exit_code, outcome = :outcome, reason = :reason,
    cost_usd = coalesce(:cost_usd, cost_usd), turns = coalesce(:turns, turns)
WHERE id = :id AND ended_at IS NULL;

-- name: runs_orphan_candidates
-- Live rows of other runners that may have died: their hold lapsed, or their runner ran on this
-- host (the caller checks its pid and start time). Another runner adopts or ends them.
SELECT r.*, t.code AS task, t.role AS role, s.code AS stream FROM runs r
LEFT JOIN tasks t ON t.id = r.task_id
LEFT JOIN streams s ON s.id = r.stream_id
WHERE r.project_id = :project AND r.ended_at IS NULL AND r.runner <> :runner
  AND (r.held_until < :now OR r.host = :host)
ORDER BY r.id;

-- name: run_take_over
-- Atomic: of two runners taking over one row, the first wins (the row names its runner).
UPDATE runs SET runner = :runner, runner_pid = :runner_pid, runner_started = :runner_started,
    held_until = :held_until
WHERE id = :id AND ended_at IS NULL AND runner = :was;

-- name: runs_live
SELECT r.*, t.code AS task, s.code AS stream,
    (SELECT h.code FROM tasks h WHERE h.project_id = r.project_id AND h.claimed_by = r.agent
       AND h.status = 'in_progress' ORDER BY h.id LIMIT 1) AS holding
FROM runs r
LEFT JOIN tasks t ON t.id = r.task_id
LEFT JOIN streams s ON s.id = r.stream_id
WHERE r.project_id = :project AND r.ended_at IS NULL
ORDER BY r.id;

-- name: runs_recent
SELECT r.*, t.code AS task, s.code AS stream FROM runs r
LEFT JOIN tasks t ON t.id = r.task_id
LEFT JOIN streams s ON s.id = r.stream_id
WHERE r.project_id = :project
ORDER BY r.id DESC
LIMIT :limit;

-- name: run_by_id
-- One run of the project (the dashboard's log page), with its unit's codes.
SELECT r.*, t.code AS task, s.code AS stream FROM runs r
LEFT JOIN tasks t ON t.id = r.task_id
LEFT JOIN streams s ON s.id = r.stream_id
WHERE r.project_id = :project AND r.id = :id;

-- name: run_latest_of_agent
SELECT r.*, t.code AS task, s.code AS stream FROM runs r
LEFT JOIN tasks t ON t.id = r.task_id
LEFT JOIN streams s ON s.id = r.stream_id
WHERE r.project_id = :project AND r.agent = :agent
ORDER BY r.id DESC
LIMIT 1;

-- name: run_restarts
-- A unit's earlier runs that ended without finishing it: how far its back-off has grown.
SELECT count(*) AS n, max(ended_at) AS last_ended FROM runs
WHERE project_id = :project AND ended_at IS NOT NULL AND outcome <> 'done'
  AND ((:task_id::bigint IS NOT NULL AND task_id = :task_id)
       OR (:task_id IS NULL AND task_id IS NULL AND stream_id = :stream_id));

-- name: run_worker_acted
-- Whether the run's agent made any tool call: its presence moved past the run's start (the
-- runner registered it then). An agent that failed before its first call never touched its task.
SELECT a.last_seen_at > r.started_at AS acted FROM runs r
JOIN agents a ON a.project_id = r.project_id AND a.name = r.agent
WHERE r.id = :id;

-- name: stream_open_work
-- Tasks of a stream a stream worker (of :role, when the runner has one) could still take or is doing.
SELECT count(*) FROM tasks
WHERE stream_id = :stream_id AND status IN {WORKABLE} AND (:role::text IS NULL OR role = :role);

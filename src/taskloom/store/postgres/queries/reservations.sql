-- Advisory file reservations. Which globs overlap is a domain rule (domain/reservations.py), so
-- these queries only store, list and drop holds; no GLOB or LIKE on paths here.
-- PostgreSQL: store/sqlite/queries/reservations.sql. Released rows come back in the order they
-- were taken, as SQLite gives them: PostgreSQL's RETURNING follows the heap, where an update
-- (a renewal) moves a row to the end.

-- name: reservations_purge
-- Holds past their expiry conflict with nothing already; this drops their rows.
DELETE FROM file_reservations WHERE project_id = :project AND expires_at <= :now;

-- name: reservations_live
-- Every live hold in the project, with its task's code: what a new reservation is checked against.
SELECT r.agent, r.glob, r.exclusive, r.reason, r.expires_at, t.code AS task_code
FROM file_reservations r LEFT JOIN tasks t ON t.id = r.task_id
WHERE r.project_id = :project AND r.expires_at > :now
ORDER BY r.id;

-- name: reservation_upsert
-- Reserving a glob you hold again renews it, with the new mode, task and reason.
INSERT INTO file_reservations (project_id, agent, glob, exclusive, task_id, reason, ttl_seconds, reserved_at, expires_at)
VALUES (:project, :agent, :glob, :exclusive, :task_id, :reason, :ttl_seconds, :now, :expires_at)
ON CONFLICT (project_id, agent, glob) DO UPDATE SET
    exclusive = excluded.exclusive, task_id = excluded.task_id, reason = excluded.reason,
    ttl_seconds = excluded.ttl_seconds, expires_at = excluded.expires_at;

-- name: reservation_release
-- One glob of one agent's; returns the row if it was live, so the caller can say what it dropped.
DELETE FROM file_reservations WHERE project_id = :project AND agent = :agent AND glob = :glob
RETURNING glob, expires_at;

-- name: reservations_release_agent
WITH gone AS (DELETE FROM file_reservations WHERE project_id = :project AND agent = :agent
              RETURNING id, glob, expires_at)
SELECT glob, expires_at FROM gone ORDER BY id;

-- name: reservations_release_task
-- A task's holder stopped holding it (done, failed, released, cancelled, lease expired).
WITH gone AS (DELETE FROM file_reservations WHERE task_id = :task_id RETURNING id, agent, glob, expires_at)
SELECT agent, glob, expires_at FROM gone ORDER BY id;

-- name: reservations_renew_task
-- A heartbeat on the task keeps its live holds alive for their own TTL again (never shortens one).
UPDATE file_reservations
SET expires_at = CASE WHEN expires_at > :now + ttl_seconds THEN expires_at ELSE :now + ttl_seconds END
WHERE task_id = :task_id AND expires_at > :now;

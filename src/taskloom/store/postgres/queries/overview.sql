-- What a person at a shell reads about a whole database: its projects, and the leases that ran
-- out while no server was running to expire them.
-- PostgreSQL: store/sqlite/queries/overview.sql ported; NULLs sort first, as SQLite sorts them.

-- name: project_task_counts
-- Every project with its number of tasks per status; a project without tasks has one row, status NULL.
SELECT p.name, p.created_at, t.status, count(t.id) AS n
FROM projects p LEFT JOIN tasks t ON t.project_id = p.id
GROUP BY p.id, p.name, p.created_at, t.status
ORDER BY p.name, t.status NULLS FIRST;

-- name: leases_overdue
-- In-progress tasks whose lease ran out, oldest first; read only: the resolver expires them.
SELECT code, claimed_by, lease_expires_at FROM tasks
WHERE project_id = :project AND status = 'in_progress' AND lease_expires_at < :now
ORDER BY lease_expires_at LIMIT :limit;

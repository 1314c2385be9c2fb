-- Readiness: what the resolver reads and writes to decide which tasks may run.
-- Parameters are :named (store/postgres/named.py rewrites them for psycopg); JSON list
-- parameters are expanded with jsonb_array_elements_text, so each query stays one static statement.

-- name: task_sched_state
SELECT id, code, status, stream_id, parent_id, claimed_by FROM tasks WHERE id = :id;

-- name: task_unmet
-- 1 if some dependency is neither done nor cancelled (::int: SQLite's 0/1, not a boolean).
SELECT EXISTS (SELECT 1 FROM task_deps d JOIN tasks t ON t.id = d.depends_on_id
               WHERE d.task_id = :id AND t.status NOT IN {SATISFIED})::int;

-- name: task_children
-- PostgreSQL cannot sum booleans; count(*) FILTER is 0 on no rows, as SQLite's coalesced sum.
SELECT count(*) AS total,
       count(*) FILTER (WHERE status NOT IN {TERMINAL}) AS open,
       count(*) FILTER (WHERE status = 'done') AS done
FROM tasks WHERE parent_id = :id;

-- name: task_schedule
-- Move between waiting and ready; conditional on the status we read, so concurrent resolvers agree.
UPDATE tasks SET status = :to, version = version + 1,
    ready_at = CASE WHEN :to = 'ready' THEN :now ELSE ready_at END
WHERE id = :id AND status = :from;

-- name: tasks_ready_fresh
-- Tasks just created (:ids, a JSON list) that nothing holds move to ready, as task_schedule
-- would move each: no open dependency, no open subtask, no waiting stream. One statement for
-- a whole plan; their subtasks are new too, so none has only closed ones (task_parent_done).
UPDATE tasks SET status = 'ready', version = version + 1, ready_at = :now
WHERE id IN (SELECT jsonb_array_elements_text(:ids::jsonb)::bigint) AND status = 'waiting'
  AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks t ON t.id = d.depends_on_id
                  WHERE d.task_id = tasks.id AND t.status NOT IN {SATISFIED})
  AND NOT EXISTS (SELECT 1 FROM tasks c WHERE c.parent_id = tasks.id AND c.status NOT IN {TERMINAL})
  AND NOT EXISTS (SELECT 1 FROM streams s WHERE s.id = tasks.stream_id AND s.status = 'waiting')
RETURNING id, code;

-- name: task_parent_done
UPDATE tasks SET status = 'done', completed_at = :now, lease_expires_at = NULL, version = version + 1,
    summary = coalesce(summary, 'All subtasks are done.')
WHERE id = :id AND status IN {DONE_WITH_SUBTASKS};

-- name: task_misfiled
-- Reconciliation: waiting or ready tasks whose status disagrees with the rules. One pass over
-- the schedulable tasks with indexed probes; the write that fixes them re-checks each one.
SELECT t.id FROM tasks t LEFT JOIN streams s ON s.id = t.stream_id
WHERE t.project_id = :project AND t.status IN {SCHEDULABLE}
  AND (t.status = 'ready') = (
      EXISTS (SELECT 1 FROM task_deps d JOIN tasks u ON u.id = d.depends_on_id
              WHERE d.task_id = t.id AND u.status NOT IN {SATISFIED})
      OR EXISTS (SELECT 1 FROM tasks c WHERE c.parent_id = t.id AND c.status NOT IN {TERMINAL})
      OR coalesce(s.status = 'waiting', false));

-- name: task_parents_due
-- Reconciliation: parents whose subtasks are all closed but which have not finished.
SELECT p.id FROM tasks p
WHERE p.project_id = :project AND p.status IN {DONE_WITH_SUBTASKS}
  AND EXISTS (SELECT 1 FROM tasks c WHERE c.parent_id = p.id)
  AND NOT EXISTS (SELECT 1 FROM tasks c WHERE c.parent_id = p.id AND c.status NOT IN {TERMINAL});

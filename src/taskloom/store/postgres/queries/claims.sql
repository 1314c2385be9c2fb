-- The work cycle: claims, leases and how a claimed task ends (done, failed, released, moved).
-- Parameters are :named (store/postgres/named.py rewrites them for psycopg); JSON list
-- parameters are expanded with jsonb_array_elements_text, so each query stays one static statement.

-- name: claim_next
-- One statement: pick the best ready task and take it. Role filter also matches tasks with no role.
-- SKIP LOCKED: a task another transaction is taking right now is passed over, not waited for,
-- so concurrent claimers each get a different task instead of queueing on the same row.
-- :role is the role asked for; NULL means :agent's registered role (none registered: any role),
-- looked up here rather than in a statement of its own (an InitPlan: once per statement).
UPDATE tasks SET status = 'in_progress', claimed_by = :agent, lease_expires_at = :expires,
    started_at = coalesce(started_at, :now), version = version + 1
WHERE id = (
    SELECT t.id FROM tasks t
    WHERE t.project_id = :project AND t.status = 'ready'
      AND (t.role IS NULL
           OR coalesce(:role::text, (SELECT a.role FROM agents a WHERE a.project_id = :project AND a.name = :agent)) IS NULL
           OR t.role = coalesce(:role::text, (SELECT a.role FROM agents a WHERE a.project_id = :project AND a.name = :agent)))
      AND (:stream_id::bigint IS NULL OR t.stream_id = :stream_id)
      AND (:label_count = 0 OR (SELECT count(*) FROM task_labels l WHERE l.task_id = t.id
                                AND l.label IN (SELECT jsonb_array_elements_text(:labels::jsonb))) = :label_count)
    ORDER BY t.priority, t.rank DESC, t.id
    LIMIT 1
    FOR UPDATE OF t SKIP LOCKED)
  AND status = 'ready'
-- thread: whether the task has a message thread for thread_readers_join to let the claimer read.
RETURNING id, code, stream_id,
    EXISTS (SELECT 1 FROM messages m WHERE m.task_id = tasks.id AND m.recipient >= 'task:' AND m.recipient < 'task;')
        AS thread;

-- name: claim_code
UPDATE tasks SET status = 'in_progress', claimed_by = :agent, lease_expires_at = :expires,
    started_at = coalesce(started_at, :now), version = version + 1
WHERE project_id = :project AND code = :code AND status = 'ready'
-- thread: whether the task has a message thread for thread_readers_join to let the claimer read.
RETURNING id, code, stream_id,
    EXISTS (SELECT 1 FROM messages m WHERE m.task_id = tasks.id AND m.recipient >= 'task:' AND m.recipient < 'task;')
        AS thread;

-- name: lease_renew
-- No version bump: a heartbeat is not an edit, and must not fail an orchestrator's if_version.
UPDATE tasks SET lease_expires_at = :expires
WHERE id = :id AND status = 'in_progress' AND claimed_by = :agent
RETURNING lease_expires_at;

-- name: task_finish
-- The claimer finishes: :status is done or review, as domain.statuses.finish_status decides.
UPDATE tasks SET status = :status, summary = :summary, lease_expires_at = NULL, version = version + 1,
    completed_at = :completed_at
WHERE id = :id AND status = 'in_progress' AND claimed_by = :agent;

-- name: task_fail
-- The claimer gives up an attempt. domain.statuses.after_attempt decides from :attempts and
-- :max_attempts; the guard on both makes a decision taken from a stale row change nothing.
UPDATE tasks SET attempts = :new_attempts, status = :status, reason = :reason, lease_expires_at = NULL,
    version = version + 1,
    claimed_by = CASE WHEN :clear_claim THEN NULL ELSE claimed_by END,
    completed_at = :completed_at,
    ready_at = coalesce(:ready_at, ready_at)
WHERE id = :id AND status = 'in_progress' AND claimed_by = :agent
  AND attempts = :attempts AND max_attempts = :max_attempts;

-- name: task_release
UPDATE tasks SET status = 'ready', claimed_by = NULL, lease_expires_at = NULL, version = version + 1,
    reason = coalesce(:reason, reason), ready_at = :now
WHERE id = :id AND status = 'in_progress' AND claimed_by = :agent;

-- name: task_move
-- A checked manual or review transition; the service has validated it against the table.
UPDATE tasks SET status = :to, version = version + 1,
    reason = coalesce(:reason, reason),
    claimed_by = CASE WHEN :clear_claim THEN NULL ELSE claimed_by END,
    lease_expires_at = :lease_expires_at,
    attempts = CASE WHEN :reset_attempts THEN 0 ELSE attempts END,
    completed_at = CASE WHEN :to IN {ENDED} THEN :now ELSE completed_at END,
    ready_at = CASE WHEN :to = 'ready' THEN :now ELSE ready_at END,
    summary = coalesce(:summary, summary)
WHERE id = :id AND status = :from;

-- name: leases_expired
-- The resolver's sweep: everything whose lease ran out. Each is then moved conditionally.
SELECT id, code, title, created_by, claimed_by, attempts, max_attempts, stream_id FROM tasks
WHERE status = 'in_progress' AND lease_expires_at < :now
  AND project_id = :project
ORDER BY lease_expires_at LIMIT :limit;

-- name: lease_expire
-- Decided and guarded as task_fail is; the lease must still be out of date.
UPDATE tasks SET attempts = :new_attempts, status = :status, lease_expires_at = NULL, version = version + 1,
    reason = 'lease expired while held by ' || claimed_by,
    claimed_by = CASE WHEN :clear_claim THEN NULL ELSE claimed_by END,
    completed_at = :completed_at,
    ready_at = coalesce(:ready_at, ready_at)
WHERE id = :id AND status = 'in_progress' AND lease_expires_at < :now
  AND attempts = :attempts AND max_attempts = :max_attempts;

-- name: lease_next_expiry
SELECT min(lease_expires_at) FROM tasks WHERE status = 'in_progress' AND project_id = :project;

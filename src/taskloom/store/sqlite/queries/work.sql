-- Named queries for the SQLite backend. Services call these by name; the PostgreSQL
-- backend will supply the same names. Parameters are :named. JSON list parameters are
-- expanded with json_each so that each query stays one static statement.

-- name: project_get
-- A project by name.
SELECT * FROM projects WHERE name = :name;

-- name: project_insert
INSERT INTO projects (name, created_at) VALUES (:name, :now) ON CONFLICT (name) DO NOTHING;

-- name: project_by_id
SELECT * FROM projects WHERE id = :project;

-- name: project_next_seq
-- Reserve :count task numbers; returns the first.
UPDATE projects SET next_task_seq = next_task_seq + :count WHERE id = :project
RETURNING next_task_seq - :count AS first;

-- name: project_graph_changed
-- The dependency graph moved; :exact says whether ranks were kept exact incrementally.
UPDATE projects SET graph_version = graph_version + 1,
    ranked_version = CASE WHEN :exact AND ranked_version = graph_version THEN graph_version + 1
                          ELSE ranked_version END
WHERE id = :project;

-- name: project_mark_ranked
UPDATE projects SET ranked_version = :version WHERE id = :project;

-- name: project_mark_resolver_run
UPDATE projects SET resolver_run_at = :now WHERE id = :project;

-- name: event_insert
INSERT INTO events (project_id, at, kind, subject, agent, payload)
VALUES (:project, :now, :kind, :subject, :agent, :payload);

-- name: events_since
SELECT * FROM events WHERE project_id = :project AND id > :since ORDER BY id LIMIT :limit;

-- name: task_claimed_by
-- Whether :agent ever claimed the task (a lease it lost, not one it never had): its own events only.
SELECT 1 AS claimed FROM events
WHERE project_id = :project AND subject = :code AND kind = 'task.claimed' AND agent = :agent
LIMIT 1;

-- ---------------------------------------------------------------- sprints

-- name: sprint_by_code
SELECT * FROM sprints WHERE project_id = :project AND code = :code;

-- name: sprint_insert
INSERT INTO sprints (project_id, code, title, goal, status, created_at)
VALUES (:project, :code, :title, :goal, :status, :now) RETURNING id;

-- name: sprint_update
UPDATE sprints SET title = coalesce(:title, title), goal = coalesce(:goal, goal),
    status = coalesce(:status, status)
WHERE id = :id;

-- name: sprint_list
SELECT * FROM sprints WHERE project_id = :project ORDER BY id;

-- name: sprint_counts
SELECT status, count(*) AS n FROM tasks WHERE sprint_id = :id GROUP BY status;

-- ---------------------------------------------------------------- streams

-- name: stream_by_code
SELECT * FROM streams WHERE project_id = :project AND code = :code;

-- name: stream_by_id
SELECT * FROM streams WHERE id = :id;

-- name: stream_insert
INSERT INTO streams (project_id, code, name, description, status, created_at)
VALUES (:project, :code, :name, :description, 'ready', :now) RETURNING id;

-- name: stream_update
UPDATE streams SET name = coalesce(:name, name), description = coalesce(:description, description)
WHERE id = :id;

-- name: stream_list
SELECT * FROM streams WHERE project_id = :project ORDER BY id;

-- name: stream_dep_codes
-- Each dependency, and whether it has any task: one with none is never done, so it holds its
-- dependents forever (one index probe on tasks_stream_status each).
SELECT s.code, EXISTS (SELECT 1 FROM tasks t WHERE t.stream_id = s.id) AS has_tasks
FROM stream_deps d JOIN streams s ON s.id = d.depends_on_id
WHERE d.stream_id = :id ORDER BY s.id;

-- name: stream_edges
-- Every stream dependency in the project, for cycle checks (streams are few).
SELECT d.stream_id, d.depends_on_id FROM stream_deps d JOIN streams s ON s.id = d.stream_id
WHERE s.project_id = :project;

-- name: stream_deps_clear
DELETE FROM stream_deps WHERE stream_id = :id;

-- name: stream_dep_insert
INSERT OR IGNORE INTO stream_deps (stream_id, depends_on_id) VALUES (:stream_id, :depends_on_id);

-- name: stream_counts
SELECT status, count(*) AS n FROM tasks WHERE stream_id = :id GROUP BY status;

-- name: stream_unmet
-- 1 if some stream this one depends on is not done.
SELECT EXISTS (SELECT 1 FROM stream_deps d JOIN streams s ON s.id = d.depends_on_id
               WHERE d.stream_id = :id AND s.status != 'done');

-- name: stream_task_flags
-- Each EXISTS is a few index probes on (stream_id, status), whatever the stream's size.
SELECT
    EXISTS (SELECT 1 FROM tasks WHERE stream_id = :id AND status IN
            ('backlog', 'waiting', 'ready', 'in_progress', 'review', 'blocked', 'failed')) AS open,
    EXISTS (SELECT 1 FROM tasks WHERE stream_id = :id) AS any_task,
    EXISTS (SELECT 1 FROM tasks WHERE stream_id = :id AND status IN
            ('in_progress', 'review', 'blocked', 'done', 'failed')) AS started;

-- name: stream_set_status
UPDATE streams SET status = :to,
    ready_at = CASE WHEN :to = 'ready' AND ready_at IS NULL THEN :now ELSE ready_at END,
    done_at = CASE WHEN :to = 'done' THEN :now ELSE NULL END
WHERE id = :id AND status = :from;

-- name: stream_dependents
SELECT stream_id FROM stream_deps WHERE depends_on_id = :id;

-- name: stream_schedulable_tasks
SELECT id FROM tasks WHERE stream_id = :id AND status IN ('waiting', 'ready');

-- name: stream_ids
SELECT id FROM streams WHERE project_id = :project;

-- ---------------------------------------------------------------- tasks: reads

-- name: task_by_code
SELECT t.*, s.code AS stream_code, sp.code AS sprint_code, p.code AS parent_code
FROM tasks t
LEFT JOIN streams s ON s.id = t.stream_id
LEFT JOIN sprints sp ON sp.id = t.sprint_id
LEFT JOIN tasks p ON p.id = t.parent_id
WHERE t.project_id = :project AND t.code = :code;

-- name: task_by_id
SELECT t.*, s.code AS stream_code, sp.code AS sprint_code, p.code AS parent_code
FROM tasks t
LEFT JOIN streams s ON s.id = t.stream_id
LEFT JOIN sprints sp ON sp.id = t.sprint_id
LEFT JOIN tasks p ON p.id = t.parent_id
WHERE t.id = :id;

-- name: task_full_by_code
-- A task with its codes, labels, subtasks, dependencies and latest notes in one statement:
-- the hot path of task_get and task_claim.
SELECT t.*, s.code AS stream_code, sp.code AS sprint_code, p.code AS parent_code,
    (SELECT json_group_array(label) FROM (SELECT label FROM task_labels WHERE task_id = t.id ORDER BY label))
        AS labels_json,
    (SELECT json_group_array(code) FROM (SELECT code FROM tasks c WHERE c.parent_id = t.id ORDER BY c.id))
        AS subtasks_json,
    (SELECT json_group_array(json_object('code', u.code, 'title', u.title, 'status', u.status,
                                         'summary', u.summary, 'reason', u.reason))
     FROM (SELECT u.* FROM task_deps d JOIN tasks u ON u.id = d.depends_on_id
           WHERE d.task_id = t.id ORDER BY u.id) u) AS deps_json,
    (SELECT json_group_array(json_object('kind', n.kind, 'body', n.body, 'agent', n.agent, 'at', n.created_at))
     FROM (SELECT * FROM notes WHERE task_id = t.id ORDER BY id DESC LIMIT :notes) n) AS notes_json,
    (SELECT json_group_array(json_object('trigger', e.trigger, 'reason', e.reason, 'at', e.created_at))
     FROM (SELECT * FROM escalations WHERE task_id = t.id ORDER BY id DESC LIMIT :notes) e) AS escalations_json,
    -- Its own artifacts first, then those of dependencies that are done: what the last agent left.
    (SELECT json_group_array(json_object('sha', a.sha256, 'name', a.name, 'media_type', a.media_type,
                                         'size', a.size, 'task', a.task))
     FROM (SELECT a.sha256, a.name, a.media_type, a.size, lt.code AS task, l.target_id = t.id AS own
           FROM artifact_links l JOIN artifacts a ON a.id = l.artifact_id JOIN tasks lt ON lt.id = l.target_id
           WHERE l.kind = 'task' AND (l.target_id = t.id OR l.target_id IN (
               SELECT d.depends_on_id FROM task_deps d JOIN tasks u ON u.id = d.depends_on_id
               WHERE d.task_id = t.id AND u.status = 'done'))
           ORDER BY own DESC, l.linked_at, a.id LIMIT :artifacts) a) AS artifacts_json
FROM tasks t
LEFT JOIN streams s ON s.id = t.stream_id
LEFT JOIN sprints sp ON sp.id = t.sprint_id
LEFT JOIN tasks p ON p.id = t.parent_id
WHERE t.project_id = :project AND t.code = :code;

-- name: task_ref
-- A task by code or, failing that, by idempotency key.
SELECT id, code, key, status, depth, stream_id, parent_id FROM tasks
WHERE project_id = :project AND (code = :ref OR key = :ref)
ORDER BY code = :ref DESC LIMIT 1;

-- name: task_by_key
SELECT id, code FROM tasks WHERE project_id = :project AND key = :key;

-- name: task_code_taken
SELECT EXISTS (SELECT 1 FROM tasks WHERE project_id = :project AND code = :code);

-- name: task_open_subtasks
SELECT id FROM tasks WHERE parent_id = :id AND status NOT IN ('done', 'cancelled');

-- name: task_list
-- Filters are optional (NULL means any); JSON lists are matched with json_each.
SELECT t.id, t.code, t.title, t.status, t.priority, t.role, t.claimed_by, t.version, s.code AS stream_code
FROM tasks t LEFT JOIN streams s ON s.id = t.stream_id
WHERE t.project_id = :project
  AND (:statuses IS NULL OR t.status IN (SELECT value FROM json_each(:statuses)))
  AND (:role IS NULL OR t.role = :role)
  AND (:stream_id IS NULL OR t.stream_id = :stream_id)
  AND (:sprint_id IS NULL OR t.sprint_id = :sprint_id)
  AND (:parent_id IS NULL OR t.parent_id = :parent_id)
  AND (:claimed_by IS NULL OR t.claimed_by = :claimed_by)
  AND (:label IS NULL OR EXISTS (SELECT 1 FROM task_labels l WHERE l.task_id = t.id AND l.label = :label))
ORDER BY t.id LIMIT :limit OFFSET :offset;

-- name: task_list_count
SELECT count(*) FROM tasks t
WHERE t.project_id = :project
  AND (:statuses IS NULL OR t.status IN (SELECT value FROM json_each(:statuses)))
  AND (:role IS NULL OR t.role = :role)
  AND (:stream_id IS NULL OR t.stream_id = :stream_id)
  AND (:sprint_id IS NULL OR t.sprint_id = :sprint_id)
  AND (:parent_id IS NULL OR t.parent_id = :parent_id)
  AND (:claimed_by IS NULL OR t.claimed_by = :claimed_by)
  AND (:label IS NULL OR EXISTS (SELECT 1 FROM task_labels l WHERE l.task_id = t.id AND l.label = :label));

-- name: task_status_counts
SELECT status, count(*) AS n FROM tasks WHERE project_id = :project GROUP BY status;

-- name: task_open_counts
-- Index probes over open statuses only: cheap however many tasks are closed.
SELECT status, count(*) AS n FROM tasks
WHERE project_id = :project AND status IN ('waiting', 'ready', 'in_progress', 'review', 'blocked')
GROUP BY status;

-- name: task_ready_by_role
SELECT coalesce(role, '') AS role, count(*) AS n FROM tasks
WHERE project_id = :project AND status = 'ready' GROUP BY role;

-- name: task_in_progress
SELECT t.id, t.code, t.title, t.status, t.priority, t.role, t.claimed_by, t.version, s.code AS stream_code
FROM tasks t LEFT JOIN streams s ON s.id = t.stream_id
WHERE t.project_id = :project AND t.status = 'in_progress' ORDER BY t.started_at LIMIT :limit;

-- name: task_graph_nodes
SELECT t.id, t.code, t.title, t.status, t.rank, t.stream_id FROM tasks t
WHERE t.project_id = :project AND (:stream_id IS NULL OR t.stream_id = :stream_id)
ORDER BY t.id;

-- name: task_edges
-- Every task dependency in the project, for ranks and reconciliation.
SELECT d.task_id, d.depends_on_id FROM task_deps d JOIN tasks t ON t.id = d.task_id
WHERE t.project_id = :project;

-- name: task_insert
INSERT INTO tasks (project_id, code, key, title, description, acceptance, context, status, priority,
    role, stream_id, sprint_id, parent_id, depth, requires_review, max_attempts, rank, created_by, created_at)
VALUES (:project, :code, :key, :title, :description, :acceptance, :context, :status, :priority,
    :role, :stream_id, :sprint_id, :parent_id, :depth, :requires_review, :max_attempts, :rank, :agent, :now)
RETURNING id;

-- name: task_label_insert
INSERT OR IGNORE INTO task_labels (task_id, label) VALUES (:task_id, :label);

-- name: task_labels_clear
DELETE FROM task_labels WHERE task_id = :id;

-- name: task_dep_insert
INSERT OR IGNORE INTO task_deps (task_id, depends_on_id) VALUES (:task_id, :depends_on_id);

-- name: task_deps_clear
DELETE FROM task_deps WHERE task_id = :id;

-- name: task_update_fields
-- NULL leaves a field as it is. Guarded by :version so a concurrent change is a conflict.
UPDATE tasks SET
    title = coalesce(:title, title),
    description = coalesce(:description, description),
    acceptance = coalesce(:acceptance, acceptance),
    priority = coalesce(:priority, priority),
    role = CASE WHEN :role IS NULL THEN role WHEN :role = '' THEN NULL ELSE :role END,
    stream_id = CASE WHEN :set_stream THEN :stream_id ELSE stream_id END,
    sprint_id = CASE WHEN :set_sprint THEN :sprint_id ELSE sprint_id END,
    max_attempts = coalesce(:max_attempts, max_attempts),
    requires_review = coalesce(:requires_review, requires_review),
    version = version + 1
WHERE id = :id AND version = :version;

-- name: task_set_rank
UPDATE tasks SET rank = :rank WHERE id = :id;

-- name: task_rank
SELECT rank FROM tasks WHERE id = :id;

-- name: task_dependency_ids
SELECT depends_on_id FROM task_deps WHERE task_id = :id;

-- name: task_dependent_ids
SELECT task_id FROM task_deps WHERE depends_on_id = :id;

-- name: task_touch
UPDATE tasks SET version = version + 1 WHERE id = :id;

-- name: task_context_set
UPDATE tasks SET context = :context, version = version + 1 WHERE id = :id AND version = :version;

-- name: note_insert
INSERT INTO notes (task_id, kind, body, agent, created_at) VALUES (:task_id, :kind, :body, :agent, :now);

-- ---------------------------------------------------------------- readiness

-- name: task_sched_state
SELECT id, code, status, stream_id, parent_id, claimed_by FROM tasks WHERE id = :id;

-- name: task_unmet
-- 1 if some dependency is neither done nor cancelled.
SELECT EXISTS (SELECT 1 FROM task_deps d JOIN tasks t ON t.id = d.depends_on_id
               WHERE d.task_id = :id AND t.status NOT IN ('done', 'cancelled'));

-- name: task_children
SELECT count(*) AS total,
       coalesce(sum(status NOT IN ('done', 'cancelled')), 0) AS open,
       coalesce(sum(status = 'done'), 0) AS done
FROM tasks WHERE parent_id = :id;

-- name: task_schedule
-- Move between waiting and ready; conditional on the status we read, so concurrent resolvers agree.
UPDATE tasks SET status = :to, version = version + 1,
    ready_at = CASE WHEN :to = 'ready' THEN :now ELSE ready_at END
WHERE id = :id AND status = :from;

-- name: task_parent_done
UPDATE tasks SET status = 'done', completed_at = :now, lease_expires_at = NULL, version = version + 1,
    summary = coalesce(summary, 'All subtasks are done.')
WHERE id = :id AND status IN ('waiting', 'ready', 'in_progress');

-- name: task_misfiled
-- Reconciliation: waiting or ready tasks whose status disagrees with the rules. One pass over
-- the schedulable tasks with indexed probes; the write that fixes them re-checks each one.
SELECT t.id FROM tasks t LEFT JOIN streams s ON s.id = t.stream_id
WHERE t.project_id = :project AND t.status IN ('waiting', 'ready')
  AND (t.status = 'ready') = (
      EXISTS (SELECT 1 FROM task_deps d JOIN tasks u ON u.id = d.depends_on_id
              WHERE d.task_id = t.id AND u.status NOT IN ('done', 'cancelled'))
      OR EXISTS (SELECT 1 FROM tasks c WHERE c.parent_id = t.id AND c.status NOT IN ('done', 'cancelled'))
      OR coalesce(s.status = 'waiting', 0));

-- name: task_parents_due
-- Reconciliation: parents whose subtasks are all closed but which have not finished.
SELECT p.id FROM tasks p
WHERE p.project_id = :project AND p.status IN ('waiting', 'ready', 'in_progress')
  AND EXISTS (SELECT 1 FROM tasks c WHERE c.parent_id = p.id)
  AND NOT EXISTS (SELECT 1 FROM tasks c WHERE c.parent_id = p.id AND c.status NOT IN ('done', 'cancelled'));

-- ---------------------------------------------------------------- the work cycle

-- name: claim_next
-- One statement: pick the best ready task and take it. Role filter also matches tasks with no role.
UPDATE tasks SET status = 'in_progress', claimed_by = :agent, lease_expires_at = :expires,
    started_at = coalesce(started_at, :now), version = version + 1
WHERE id = (
    SELECT t.id FROM tasks t
    WHERE t.project_id = :project AND t.status = 'ready'
      AND (:role IS NULL OR t.role = :role OR t.role IS NULL)
      AND (:stream_id IS NULL OR t.stream_id = :stream_id)
      AND (:label_count = 0 OR (SELECT count(*) FROM task_labels l WHERE l.task_id = t.id
                                AND l.label IN (SELECT value FROM json_each(:labels))) = :label_count)
    ORDER BY t.priority, t.rank DESC, t.id
    LIMIT 1)
  AND status = 'ready'
RETURNING id, code, stream_id;

-- name: claim_code
UPDATE tasks SET status = 'in_progress', claimed_by = :agent, lease_expires_at = :expires,
    started_at = coalesce(started_at, :now), version = version + 1
WHERE project_id = :project AND code = :code AND status = 'ready'
RETURNING id, code, stream_id;

-- name: lease_renew
-- No version bump: a heartbeat is not an edit, and must not fail an orchestrator's if_version.
UPDATE tasks SET lease_expires_at = :expires
WHERE id = :id AND status = 'in_progress' AND claimed_by = :agent
RETURNING lease_expires_at;

-- name: task_finish
-- The claimer finishes: to done, or to review when the task asks for it.
UPDATE tasks SET status = CASE WHEN requires_review THEN 'review' ELSE 'done' END,
    summary = :summary, lease_expires_at = NULL, version = version + 1,
    completed_at = CASE WHEN requires_review THEN NULL ELSE :now END
WHERE id = :id AND status = 'in_progress' AND claimed_by = :agent
RETURNING status;

-- name: task_fail
-- The claimer gives up an attempt: back to ready while attempts remain (and :retry), else failed.
UPDATE tasks SET attempts = attempts + 1, reason = :reason, lease_expires_at = NULL, version = version + 1,
    status = CASE WHEN :retry AND attempts + 1 < max_attempts THEN 'ready' ELSE 'failed' END,
    claimed_by = CASE WHEN :retry AND attempts + 1 < max_attempts THEN NULL ELSE claimed_by END,
    completed_at = CASE WHEN :retry AND attempts + 1 < max_attempts THEN NULL ELSE :now END,
    ready_at = CASE WHEN :retry AND attempts + 1 < max_attempts THEN :now ELSE ready_at END
WHERE id = :id AND status = 'in_progress' AND claimed_by = :agent
RETURNING status, attempts, max_attempts;

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
    completed_at = CASE WHEN :to IN ('done', 'cancelled', 'failed') THEN :now ELSE completed_at END,
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
UPDATE tasks SET attempts = attempts + 1, lease_expires_at = NULL, version = version + 1,
    reason = 'lease expired while held by ' || claimed_by,
    status = CASE WHEN attempts + 1 < max_attempts THEN 'ready' ELSE 'failed' END,
    claimed_by = CASE WHEN attempts + 1 < max_attempts THEN NULL ELSE claimed_by END,
    completed_at = CASE WHEN attempts + 1 < max_attempts THEN NULL ELSE :now END,
    ready_at = CASE WHEN attempts + 1 < max_attempts THEN :now ELSE ready_at END
WHERE id = :id AND status = 'in_progress' AND lease_expires_at < :now
RETURNING status, attempts;

-- name: lease_next_expiry
SELECT min(lease_expires_at) FROM tasks WHERE status = 'in_progress' AND project_id = :project;

-- ---------------------------------------------------------------- memory
-- An expired entry is invisible at once; the resolver deletes it later.

-- name: memory_set
INSERT INTO memory (project_id, scope, key, value, expires_at, updated_at, updated_by)
VALUES (:project, :scope, :key, :value, :expires_at, :now, :agent)
ON CONFLICT (project_id, scope, key) DO UPDATE SET
    value = excluded.value, expires_at = excluded.expires_at, updated_at = excluded.updated_at,
    updated_by = excluded.updated_by,
    version = CASE WHEN memory.expires_at IS NOT NULL AND memory.expires_at <= :now THEN 1
                   ELSE memory.version + 1 END
RETURNING *;

-- name: memory_get
SELECT * FROM memory WHERE project_id = :project AND scope = :scope AND key = :key
  AND (expires_at IS NULL OR expires_at > :now);

-- name: memory_list
-- Prefix match as a key range, so it walks the unique index instead of scanning. :upper is the
-- least string above every key with the prefix (NULL: no bound), computed by the caller.
SELECT * FROM memory WHERE project_id = :project AND scope = :scope
  AND key >= :prefix AND (:upper IS NULL OR key < :upper)
  AND (expires_at IS NULL OR expires_at > :now)
ORDER BY key LIMIT :limit OFFSET :offset;

-- name: memory_delete
DELETE FROM memory WHERE project_id = :project AND scope = :scope AND key = :key
  AND (expires_at IS NULL OR expires_at > :now);

-- name: memory_purge_expired
DELETE FROM memory WHERE expires_at IS NOT NULL AND expires_at <= :now AND project_id = :project;

-- name: waits_closure
-- Everything the :anchors tasks wait for, directly or not, in the waits-for graph the
-- readiness rules imply: a task waits for its dependencies, a parent for its subtasks, and a
-- task for every task of each stream its stream depends on. Tasks are positive ids, streams
-- negative ones (-stream id). The anchors themselves are not seeded, so an anchor in the result
-- waits for itself, perhaps through another anchor (services/waits.py tells which).
WITH RECURSIVE anchors(id) AS (SELECT value FROM json_each(:anchors)),
up(n) AS (
    SELECT d.depends_on_id FROM task_deps d WHERE d.task_id IN anchors
    UNION SELECT c.id FROM tasks c WHERE c.parent_id IN anchors
    UNION SELECT -sd.depends_on_id FROM tasks t JOIN stream_deps sd ON sd.stream_id = t.stream_id
          WHERE t.id IN anchors
    UNION SELECT d.depends_on_id FROM up JOIN task_deps d ON d.task_id = up.n WHERE up.n > 0
    UNION SELECT c.id FROM up JOIN tasks c ON c.parent_id = up.n WHERE up.n > 0
    UNION SELECT -sd.depends_on_id FROM up JOIN tasks t ON t.id = up.n
          JOIN stream_deps sd ON sd.stream_id = t.stream_id WHERE up.n > 0
    UNION SELECT t.id FROM up JOIN tasks t ON t.stream_id = -up.n WHERE up.n < 0
)
SELECT n FROM up;

-- name: waits_edges
-- The waits-for edges leaving :nodes (ids as in waits_closure), to name a cycle's path.
WITH nodes(n) AS (SELECT value FROM json_each(:nodes))
SELECT d.task_id AS src, d.depends_on_id AS dst FROM task_deps d WHERE d.task_id IN nodes
UNION ALL SELECT c.parent_id, c.id FROM tasks c WHERE c.parent_id IN nodes
UNION ALL SELECT t.id, -sd.depends_on_id FROM tasks t JOIN stream_deps sd ON sd.stream_id = t.stream_id
          WHERE t.id IN nodes
UNION ALL SELECT -t.stream_id, t.id FROM tasks t WHERE t.stream_id IN (SELECT -n FROM nodes WHERE n < 0);

-- name: waits_labels
-- Names for waits_closure ids: task codes, and 'stream <code>' for streams.
SELECT id AS n, code AS label FROM tasks WHERE id IN (SELECT value FROM json_each(:nodes))
UNION ALL SELECT -id, 'stream ' || code FROM streams WHERE -id IN (SELECT value FROM json_each(:nodes));

-- name: stream_task_ids
SELECT id FROM tasks WHERE stream_id = :stream_id;

-- name: task_codes_with_prefix
-- Completion: task codes starting with a prefix (LIKE: ASCII case-insensitive; the caller escapes
-- %, _ and \), oldest first, optionally within one stream.
SELECT code FROM tasks WHERE project_id = :project AND code LIKE :pattern ESCAPE '\'
  AND (:stream_id IS NULL OR stream_id = :stream_id)
ORDER BY id LIMIT :limit;

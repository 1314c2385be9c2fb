-- Tasks: reads, creation, edits, labels, dependencies and notes.
-- Parameters are :named; JSON list parameters are expanded with json_each, so each query
-- stays one static statement.

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
     -- Only the columns it shows, in the primary key's order: sorting whole task rows was a
     -- quarter of this statement's work.
     FROM (SELECT u.code, u.title, u.status, u.summary, u.reason FROM task_deps d JOIN tasks u ON u.id = d.depends_on_id
           WHERE d.task_id = t.id ORDER BY d.depends_on_id) u) AS deps_json,
    (SELECT json_group_array(json_object('kind', n.kind, 'body', n.body, 'agent', n.agent, 'at', n.created_at))
     FROM (SELECT * FROM notes WHERE task_id = t.id ORDER BY id DESC LIMIT :notes) n) AS notes_json,
    (SELECT json_group_array(json_object('trigger', e.trigger, 'reason', e.reason, 'at', e.created_at))
     FROM (SELECT * FROM escalations WHERE task_id = t.id ORDER BY id DESC LIMIT :notes) e) AS escalations_json,
    -- Its own artifacts first, then those of dependencies that are done: what the last agent left.
    -- Each target is looked up by (kind, target_id): an OR of the two made SQLite search
    -- artifact_links on kind alone, every task link of the database per read. Listing the targets
    -- costs a temporary table, so it is done only when a dependency has any artifact at all.
    CASE WHEN EXISTS (SELECT 1 FROM task_deps d CROSS JOIN artifact_links l
                      WHERE d.task_id = t.id AND l.kind = 'task' AND l.target_id = d.depends_on_id)
    THEN (SELECT json_group_array(json_object('sha', a.sha256, 'name', a.name, 'media_type', a.media_type,
                                              'size', a.size, 'task', a.task))
          FROM (SELECT a.sha256, a.name, a.media_type, a.size, lt.code AS task, l.target_id = t.id AS own
                FROM (SELECT t.id AS target_id
                      UNION ALL
                      SELECT d.depends_on_id FROM task_deps d JOIN tasks u ON u.id = d.depends_on_id
                      WHERE d.task_id = t.id AND u.status = 'done') x
                JOIN artifact_links l ON l.kind = 'task' AND l.target_id = x.target_id
                JOIN artifacts a ON a.id = l.artifact_id JOIN tasks lt ON lt.id = l.target_id
                ORDER BY own DESC, l.linked_at, a.id LIMIT :artifacts) a)
    ELSE (SELECT json_group_array(json_object('sha', a.sha256, 'name', a.name, 'media_type', a.media_type,
                                              'size', a.size, 'task', t.code))
          FROM (SELECT a.sha256, a.name, a.media_type, a.size
                FROM artifact_links l JOIN artifacts a ON a.id = l.artifact_id
                WHERE l.kind = 'task' AND l.target_id = t.id
                ORDER BY l.linked_at, l.artifact_id LIMIT :artifacts) a)  -- the index's order: no sort
    END AS artifacts_json
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

-- name: tasks_by_refs
-- The tasks whose code or key is one of :refs (a JSON list): every reference a batch of new
-- tasks makes, in one statement. Callers prefer a code to a key, as task_ref does.
SELECT id, code, key, status, depth FROM tasks
WHERE project_id = :project AND code IN (SELECT value FROM json_each(:refs))
UNION
SELECT id, code, key, status, depth FROM tasks
WHERE project_id = :project AND key IN (SELECT value FROM json_each(:refs));

-- name: task_last_id
-- The newest task's id. Writes run one at a time, so the rows a batch inserts next are the
-- ones after it (create_tasks checks their codes all the same).
SELECT coalesce(max(id), 0) FROM tasks;

-- name: tasks_after
-- The tasks of :project after id :after: a batch just inserted, read back by primary key
-- instead of looking each code up.
SELECT id, code FROM tasks WHERE project_id = :project AND id > :after;

-- name: task_code_taken
SELECT EXISTS (SELECT 1 FROM tasks WHERE project_id = :project AND code = :code);

-- name: task_open_subtasks
SELECT id FROM tasks WHERE parent_id = :id AND status NOT IN {TERMINAL};

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

-- name: task_count
-- task_list_count without filters: the index alone, where testing the NULL filters row by row cost
-- four times as much (11 against 3 ms at 100k tasks).
SELECT count(*) FROM tasks WHERE project_id = :project;

-- name: task_status_counts
SELECT status, count(*) AS n FROM tasks WHERE project_id = :project GROUP BY status;

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

-- name: task_ranks
-- Every task's id and rank, in id order, for a full re-rank (two integers a row: 100k rows are read).
SELECT t.id, t.rank FROM tasks t WHERE t.project_id = :project ORDER BY t.id;

-- name: task_edges
-- Every task dependency in the project, for ranks and reconciliation.
SELECT d.task_id, d.depends_on_id FROM task_deps d JOIN tasks t ON t.id = d.task_id
WHERE t.project_id = :project;

-- name: task_insert
INSERT INTO tasks (project_id, code, key, title, description, acceptance, context, status, priority,
    role, stream_id, sprint_id, parent_id, depth, requires_review, max_attempts, rank, created_by, created_at)
VALUES (:project, :code, :key, :title, :description, :acceptance, :context, :status, :priority,
    :role, :stream_id, :sprint_id, :parent_id, :depth, :requires_review, :max_attempts, :rank, :agent, :now);

-- name: task_set_parent
-- A subtask created in the same batch as its parent learns the parent's id once both are in.
UPDATE tasks SET parent_id = :parent_id WHERE id = :id;

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

-- name: task_codes_with_prefix
-- Completion: task codes starting with a prefix (LIKE: ASCII case-insensitive; the caller escapes
-- %, _ and \), oldest first, optionally within one stream.
SELECT code FROM tasks WHERE project_id = :project AND code LIKE :pattern ESCAPE '\'
  AND (:stream_id IS NULL OR stream_id = :stream_id)
ORDER BY id LIMIT :limit;

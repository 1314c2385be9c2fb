-- taskloom copy (services/copying.py): one project's rows out of a database and into another,
-- ids kept, so every reference stays right. A read per table, scoped to the project and ordered
-- so that what a row refers to is written before it; a write per table, every column named.

-- name: copy_projects_read
SELECT id, name, next_task_seq, graph_version, ranked_version, resolver_run_at, created_at
FROM projects
WHERE id = :project
ORDER BY id;

-- name: copy_projects_write
INSERT INTO projects (id, name, next_task_seq, graph_version, ranked_version, resolver_run_at, created_at)
VALUES (:id, :name, :next_task_seq, :graph_version, :ranked_version, :resolver_run_at, :created_at);

-- name: copy_sprints_read
SELECT id, project_id, code, title, goal, status, created_at
FROM sprints
WHERE project_id = :project
ORDER BY id;

-- name: copy_sprints_write
INSERT INTO sprints (id, project_id, code, title, goal, status, created_at)
VALUES (:id, :project_id, :code, :title, :goal, :status, :created_at);

-- name: copy_streams_read
SELECT id, project_id, code, name, description, status, created_at, ready_at, done_at
FROM streams
WHERE project_id = :project
ORDER BY id;

-- name: copy_streams_write
INSERT INTO streams (id, project_id, code, name, description, status, created_at, ready_at, done_at)
VALUES (:id, :project_id, :code, :name, :description, :status, :created_at, :ready_at, :done_at);

-- name: copy_stream_deps_read
SELECT stream_deps.stream_id, stream_deps.depends_on_id
FROM stream_deps JOIN streams s ON s.id = stream_deps.stream_id
WHERE s.project_id = :project
ORDER BY stream_deps.stream_id, stream_deps.depends_on_id;

-- name: copy_stream_deps_write
INSERT INTO stream_deps (stream_id, depends_on_id)
VALUES (:stream_id, :depends_on_id);

-- name: copy_tasks_read
-- Parents first (a subtask is one deeper than its parent), for the parent_id key.
SELECT id, project_id, code, key, title, description, acceptance, context, status, priority, role, stream_id,
    sprint_id, parent_id, depth, requires_review, rank, version, created_by, created_at, ready_at, started_at,
    completed_at, claimed_by, lease_expires_at, attempts, max_attempts, summary, reason
FROM tasks
WHERE project_id = :project
ORDER BY depth, id;

-- name: copy_tasks_write
-- A flag comes as 0/1 from SQLite and as a bool from PostgreSQL: through integer, either is a boolean.
INSERT INTO tasks (id, project_id, code, key, title, description, acceptance, context, status, priority, role,
    stream_id, sprint_id, parent_id, depth, requires_review, rank, version, created_by, created_at, ready_at,
    started_at, completed_at, claimed_by, lease_expires_at, attempts, max_attempts, summary, reason)
VALUES (:id, :project_id, :code, :key, :title, :description, :acceptance, :context, :status, :priority, :role,
    :stream_id, :sprint_id, :parent_id, :depth, :requires_review::integer::boolean, :rank, :version,
    :created_by, :created_at, :ready_at, :started_at, :completed_at, :claimed_by, :lease_expires_at,
    :attempts, :max_attempts, :summary, :reason);

-- name: copy_task_deps_read
SELECT task_deps.task_id, task_deps.depends_on_id
FROM task_deps JOIN tasks t ON t.id = task_deps.task_id
WHERE t.project_id = :project
ORDER BY task_deps.task_id, task_deps.depends_on_id;

-- name: copy_task_deps_write
INSERT INTO task_deps (task_id, depends_on_id)
VALUES (:task_id, :depends_on_id);

-- name: copy_task_labels_read
SELECT task_labels.task_id, task_labels.label
FROM task_labels JOIN tasks t ON t.id = task_labels.task_id
WHERE t.project_id = :project
ORDER BY task_labels.task_id, task_labels.label;

-- name: copy_task_labels_write
INSERT INTO task_labels (task_id, label)
VALUES (:task_id, :label);

-- name: copy_notes_read
SELECT notes.id, notes.task_id, notes.kind, notes.body, notes.agent, notes.created_at
FROM notes JOIN tasks t ON t.id = notes.task_id
WHERE t.project_id = :project
ORDER BY notes.id;

-- name: copy_notes_write
INSERT INTO notes (id, task_id, kind, body, agent, created_at)
VALUES (:id, :task_id, :kind, :body, :agent, :created_at);

-- name: copy_events_read
SELECT id, project_id, at, kind, subject, agent, payload
FROM events
WHERE project_id = :project
ORDER BY id;

-- name: copy_events_write
INSERT INTO events (id, project_id, at, kind, subject, agent, payload)
VALUES (:id, :project_id, :at, :kind, :subject, :agent, :payload);

-- name: copy_memory_read
SELECT id, project_id, scope, key, value, expires_at, updated_at, updated_by, version
FROM memory
WHERE project_id = :project
ORDER BY id;

-- name: copy_memory_write
INSERT INTO memory (id, project_id, scope, key, value, expires_at, updated_at, updated_by, version)
VALUES (:id, :project_id, :scope, :key, :value, :expires_at, :updated_at, :updated_by, :version);

-- name: copy_agents_read
SELECT id, project_id, name, role, capabilities, registered_at, last_seen_at
FROM agents
WHERE project_id = :project
ORDER BY id;

-- name: copy_agents_write
INSERT INTO agents (id, project_id, name, role, capabilities, registered_at, last_seen_at)
VALUES (:id, :project_id, :name, :role, :capabilities, :registered_at, :last_seen_at);

-- name: copy_roles_read
SELECT id, project_id, slug, name, definition, when_to_use, instructions, updated_at
FROM roles
WHERE project_id = :project
ORDER BY id;

-- name: copy_roles_write
INSERT INTO roles (id, project_id, slug, name, definition, when_to_use, instructions, updated_at)
VALUES (:id, :project_id, :slug, :name, :definition, :when_to_use, :instructions, :updated_at);

-- name: copy_messages_read
-- In id order: a reply comes after the message it answers (reply_to).
SELECT id, project_id, sender, recipient, task_id, kind, subject, body, ack_required, reply_to, created_at,
    acked_at
FROM messages
WHERE project_id = :project
ORDER BY id;

-- name: copy_messages_write
-- A flag comes as 0/1 from SQLite and as a bool from PostgreSQL: through integer, either is a boolean.
INSERT INTO messages (id, project_id, sender, recipient, task_id, kind, subject, body, ack_required, reply_to,
    created_at, acked_at)
VALUES (:id, :project_id, :sender, :recipient, :task_id, :kind, :subject, :body,
    :ack_required::integer::boolean, :reply_to, :created_at, :acked_at);

-- name: copy_message_receipts_read
SELECT message_receipts.message_id, message_receipts.agent, message_receipts.read_at,
    message_receipts.acked_at
FROM message_receipts JOIN messages m ON m.id = message_receipts.message_id
WHERE m.project_id = :project
ORDER BY message_receipts.message_id, message_receipts.agent;

-- name: copy_message_receipts_write
INSERT INTO message_receipts (message_id, agent, read_at, acked_at)
VALUES (:message_id, :agent, :read_at, :acked_at);

-- name: copy_thread_readers_read
SELECT project_id, agent, task_id
FROM thread_readers
WHERE project_id = :project
ORDER BY agent, task_id;

-- name: copy_thread_readers_write
INSERT INTO thread_readers (project_id, agent, task_id)
VALUES (:project_id, :agent, :task_id);

-- name: copy_escalations_read
SELECT escalations.id, escalations.task_id, escalations.trigger, escalations.reason, escalations.message_id,
    escalations.created_at
FROM escalations JOIN tasks t ON t.id = escalations.task_id
WHERE t.project_id = :project
ORDER BY escalations.id;

-- name: copy_escalations_write
INSERT INTO escalations (id, task_id, trigger, reason, message_id, created_at)
VALUES (:id, :task_id, :trigger, :reason, :message_id, :created_at);

-- name: copy_claim_waiters_read
SELECT id, project_id, agent, role, stream_id, labels, since, until
FROM claim_waiters
WHERE project_id = :project
ORDER BY id;

-- name: copy_claim_waiters_write
INSERT INTO claim_waiters (id, project_id, agent, role, stream_id, labels, since, until)
VALUES (:id, :project_id, :agent, :role, :stream_id, :labels, :since, :until);

-- name: copy_runs_read
SELECT id, project_id, runner, runner_pid, runner_started, agent, task_id, stream_id, preset, argv, host, pid,
    pid_started, log_path, started_at, held_until, ended_at, exit_code, outcome, reason, cost_usd, turns
FROM runs
WHERE project_id = :project
ORDER BY id;

-- name: copy_runs_write
INSERT INTO runs (id, project_id, runner, runner_pid, runner_started, agent, task_id, stream_id, preset, argv,
    host, pid, pid_started, log_path, started_at, held_until, ended_at, exit_code, outcome, reason, cost_usd,
    turns)
VALUES (:id, :project_id, :runner, :runner_pid, :runner_started, :agent, :task_id, :stream_id, :preset, :argv,
    :host, :pid, :pid_started, :log_path, :started_at, :held_until, :ended_at, :exit_code, :outcome, :reason,
    :cost_usd, :turns);

-- name: copy_file_reservations_read
SELECT id, project_id, agent, glob, exclusive, task_id, reason, ttl_seconds, reserved_at, expires_at
FROM file_reservations
WHERE project_id = :project
ORDER BY id;

-- name: copy_file_reservations_write
-- A flag comes as 0/1 from SQLite and as a bool from PostgreSQL: through integer, either is a boolean.
INSERT INTO file_reservations (id, project_id, agent, glob, exclusive, task_id, reason, ttl_seconds,
    reserved_at, expires_at)
VALUES (:id, :project_id, :agent, :glob, :exclusive::integer::boolean, :task_id, :reason, :ttl_seconds,
    :reserved_at, :expires_at);

-- name: copy_artifacts_read
SELECT id, project_id, sha256, name, media_type, size, description, uploaded_by, uploaded_at, unlinked_at
FROM artifacts
WHERE project_id = :project
ORDER BY id;

-- name: copy_artifacts_write
INSERT INTO artifacts (id, project_id, sha256, name, media_type, size, description, uploaded_by, uploaded_at,
    unlinked_at)
VALUES (:id, :project_id, :sha256, :name, :media_type, :size, :description, :uploaded_by, :uploaded_at,
    :unlinked_at);

-- name: copy_artifact_links_read
SELECT artifact_links.artifact_id, artifact_links.kind, artifact_links.target_id, artifact_links.linked_by,
    artifact_links.linked_at
FROM artifact_links JOIN artifacts a ON a.id = artifact_links.artifact_id
WHERE a.project_id = :project
ORDER BY artifact_links.artifact_id, artifact_links.kind, artifact_links.target_id;

-- name: copy_artifact_links_write
INSERT INTO artifact_links (artifact_id, kind, target_id, linked_by, linked_at)
VALUES (:artifact_id, :kind, :target_id, :linked_by, :linked_at);

-- name: copy_artifact_texts_read
-- The searchable text of text artifacts (its trigger indexes it again on the other side).
SELECT artifact_texts.artifact_id, artifact_texts.body
FROM artifact_texts JOIN artifacts a ON a.id = artifact_texts.artifact_id
WHERE a.project_id = :project ORDER BY artifact_texts.artifact_id;

-- name: copy_artifact_texts_write
INSERT INTO artifact_texts (artifact_id, body) VALUES (:artifact_id, :body);

-- name: copy_counts
-- One project's rows per table, in the order they are written; verifies a copy on both sides.
SELECT
    (SELECT count(*) FROM projects WHERE id = :project) AS projects,
    (SELECT count(*) FROM sprints WHERE project_id = :project) AS sprints,
    (SELECT count(*) FROM streams WHERE project_id = :project) AS streams,
    (SELECT count(*) FROM stream_deps JOIN streams s ON s.id = stream_deps.stream_id
        WHERE s.project_id = :project) AS stream_deps,
    (SELECT count(*) FROM tasks WHERE project_id = :project) AS tasks,
    (SELECT count(*) FROM task_deps JOIN tasks t ON t.id = task_deps.task_id
        WHERE t.project_id = :project) AS task_deps,
    (SELECT count(*) FROM task_labels JOIN tasks t ON t.id = task_labels.task_id
        WHERE t.project_id = :project) AS task_labels,
    (SELECT count(*) FROM notes JOIN tasks t ON t.id = notes.task_id
        WHERE t.project_id = :project) AS notes,
    (SELECT count(*) FROM events WHERE project_id = :project) AS events,
    (SELECT count(*) FROM memory WHERE project_id = :project) AS memory,
    (SELECT count(*) FROM agents WHERE project_id = :project) AS agents,
    (SELECT count(*) FROM roles WHERE project_id = :project) AS roles,
    (SELECT count(*) FROM messages WHERE project_id = :project) AS messages,
    (SELECT count(*) FROM message_receipts JOIN messages m ON m.id = message_receipts.message_id
        WHERE m.project_id = :project) AS message_receipts,
    (SELECT count(*) FROM thread_readers WHERE project_id = :project) AS thread_readers,
    (SELECT count(*) FROM escalations JOIN tasks t ON t.id = escalations.task_id
        WHERE t.project_id = :project) AS escalations,
    (SELECT count(*) FROM claim_waiters WHERE project_id = :project) AS claim_waiters,
    (SELECT count(*) FROM runs WHERE project_id = :project) AS runs,
    (SELECT count(*) FROM file_reservations WHERE project_id = :project) AS file_reservations,
    (SELECT count(*) FROM artifacts WHERE project_id = :project) AS artifacts,
    (SELECT count(*) FROM artifact_links JOIN artifacts a ON a.id = artifact_links.artifact_id
        WHERE a.project_id = :project) AS artifact_links,
    (SELECT count(*) FROM artifact_texts JOIN artifacts a ON a.id = artifact_texts.artifact_id
        WHERE a.project_id = :project) AS artifact_texts;

-- name: copy_identities_reset
-- Rows were written with their ids, which moves no identity: each sequence starts after the
-- largest id now in its table, so the next row made here does not collide with a copied one.
SELECT
    (SELECT setval(pg_get_serial_sequence('projects', 'id'), coalesce(max(id), 0) + 1, false) FROM projects) AS projects,
    (SELECT setval(pg_get_serial_sequence('sprints', 'id'), coalesce(max(id), 0) + 1, false) FROM sprints) AS sprints,
    (SELECT setval(pg_get_serial_sequence('streams', 'id'), coalesce(max(id), 0) + 1, false) FROM streams) AS streams,
    (SELECT setval(pg_get_serial_sequence('tasks', 'id'), coalesce(max(id), 0) + 1, false) FROM tasks) AS tasks,
    (SELECT setval(pg_get_serial_sequence('notes', 'id'), coalesce(max(id), 0) + 1, false) FROM notes) AS notes,
    (SELECT setval(pg_get_serial_sequence('events', 'id'), coalesce(max(id), 0) + 1, false) FROM events) AS events,
    (SELECT setval(pg_get_serial_sequence('memory', 'id'), coalesce(max(id), 0) + 1, false) FROM memory) AS memory,
    (SELECT setval(pg_get_serial_sequence('agents', 'id'), coalesce(max(id), 0) + 1, false) FROM agents) AS agents,
    (SELECT setval(pg_get_serial_sequence('roles', 'id'), coalesce(max(id), 0) + 1, false) FROM roles) AS roles,
    (SELECT setval(pg_get_serial_sequence('messages', 'id'), coalesce(max(id), 0) + 1, false) FROM messages) AS messages,
    (SELECT setval(pg_get_serial_sequence('escalations', 'id'), coalesce(max(id), 0) + 1, false) FROM escalations) AS escalations,
    (SELECT setval(pg_get_serial_sequence('claim_waiters', 'id'), coalesce(max(id), 0) + 1, false) FROM claim_waiters) AS claim_waiters,
    (SELECT setval(pg_get_serial_sequence('runs', 'id'), coalesce(max(id), 0) + 1, false) FROM runs) AS runs,
    (SELECT setval(pg_get_serial_sequence('file_reservations', 'id'), coalesce(max(id), 0) + 1, false) FROM file_reservations) AS file_reservations,
    (SELECT setval(pg_get_serial_sequence('artifacts', 'id'), coalesce(max(id), 0) + 1, false) FROM artifacts) AS artifacts;

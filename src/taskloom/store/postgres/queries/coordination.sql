-- Named queries for coordination: agents and presence, roles, messages, escalations, activity.
-- PostgreSQL: store/sqlite/queries/coordination.sql ported (docs/postgres-port.md). JSON lists
-- expand with jsonb_array_elements_text; a parameter PostgreSQL cannot type from its first use
-- gets a cast there.

-- ---------------------------------------------------------------- agents

-- name: agent_register
-- agent_init: create or refresh; a null role or capabilities keeps what was there.
INSERT INTO agents (project_id, name, role, capabilities, registered_at, last_seen_at)
VALUES (:project, :name, :role, coalesce(:capabilities, '[]'), :now, :now)
ON CONFLICT (project_id, name) DO UPDATE SET
    role = coalesce(excluded.role, agents.role),
    capabilities = coalesce(:capabilities, agents.capabilities),
    last_seen_at = GREATEST(agents.last_seen_at, excluded.last_seen_at)
RETURNING *;

-- name: agent_touch
-- Presence from any tool call: first sight registers the agent.
INSERT INTO agents (project_id, name, registered_at, last_seen_at) VALUES (:project, :name, :now, :now)
ON CONFLICT (project_id, name) DO UPDATE SET last_seen_at = GREATEST(agents.last_seen_at, excluded.last_seen_at);

-- name: agent_by_name
SELECT * FROM agents WHERE project_id = :project AND name = :name;

-- name: agent_list
-- Each agent with what it holds; the held count and current task come from the tasks it claims.
SELECT a.*,
    (SELECT count(*) FROM tasks t WHERE t.project_id = a.project_id AND t.claimed_by = a.name
        AND t.status IN {HELD}) AS held,
    (SELECT t.code FROM tasks t WHERE t.project_id = a.project_id AND t.claimed_by = a.name
        AND t.status = 'in_progress' ORDER BY t.started_at DESC NULLS LAST LIMIT 1) AS current_task
FROM agents a WHERE a.project_id = :project AND (:name::text IS NULL OR a.name = :name)
ORDER BY a.last_seen_at DESC, a.name
LIMIT :limit;

-- name: agents_with_role
SELECT name FROM agents WHERE project_id = :project AND role = :role;

-- name: agent_names
SELECT name FROM agents WHERE project_id = :project;

-- name: agents_in_roles
SELECT name FROM agents WHERE project_id = :project AND role IN (SELECT jsonb_array_elements_text(:roles::jsonb));

-- name: agent_count_others
SELECT count(*) FROM agents WHERE project_id = :project AND name != :name;

-- name: tasks_held
-- A task blocked before it started has no started_at: first, as SQLite sorts NULL.
SELECT t.*, s.code AS stream_code FROM tasks t LEFT JOIN streams s ON s.id = t.stream_id
WHERE t.project_id = :project AND t.claimed_by = :agent AND t.status IN {HELD}
ORDER BY t.started_at NULLS FIRST;

-- name: tasks_claimable
-- What task_claim would offer this role, in the same order, with the total alongside.
SELECT t.*, s.code AS stream_code, count(*) OVER () AS total
FROM tasks t LEFT JOIN streams s ON s.id = t.stream_id
WHERE t.project_id = :project AND t.status = 'ready' AND (t.role IS NULL OR :role::text IS NULL OR t.role = :role)
ORDER BY t.priority, t.rank DESC, t.id
LIMIT :limit;

-- ---------------------------------------------------------------- roles

-- name: role_upsert
INSERT INTO roles (project_id, slug, name, definition, when_to_use, instructions, updated_at)
VALUES (:project, :slug, :name, :definition, :when_to_use, :instructions, :now)
ON CONFLICT (project_id, slug) DO UPDATE SET
    name = excluded.name, definition = excluded.definition, when_to_use = excluded.when_to_use,
    instructions = excluded.instructions, updated_at = excluded.updated_at
RETURNING *;

-- name: role_by_slug
SELECT * FROM roles WHERE project_id = :project AND slug = :slug;

-- name: role_list
SELECT * FROM roles WHERE project_id = :project ORDER BY slug;

-- ---------------------------------------------------------------- messages

-- name: message_insert
INSERT INTO messages (project_id, sender, recipient, task_id, kind, subject, body, ack_required, reply_to, created_at)
VALUES (:project, :sender, :recipient, :task_id, :kind, :subject, :body, :ack_required, :reply_to, :now)
RETURNING id;

-- name: message_by_id
SELECT m.*, t.code AS task_code FROM messages m LEFT JOIN tasks t ON t.id = m.task_id
WHERE m.project_id = :project AND m.id = :id;

-- name: inbox
-- Everything addressed to :me: directly, through its role, to all, in a task thread it reads
-- (thread_readers: claims and messages keep it), or an escalation about a task it created (the
-- creator is a reader of every escalated task). Every branch starts from :me's own
-- rows, so the cost follows the reader's share of the project, not the project. :ids (a JSON
-- list, or null) narrows it to those messages. Unread first. The thread range on recipient is a
-- prefix scan in byte order: messages.recipient is COLLATE "C", so it holds here too.
WITH audience AS (
    SELECT id FROM messages
    WHERE project_id = :project AND recipient IN ('agent:' || :me, 'all', 'role:' || :role)
    UNION
    SELECT m.id FROM thread_readers h JOIN messages m ON m.task_id = h.task_id JOIN tasks t ON t.id = h.task_id
    WHERE h.project_id = :project AND h.agent = :me
      AND ((m.recipient >= 'task:' AND m.recipient < 'task;')
           OR (m.kind = 'escalation' AND t.created_by = :me))
)
SELECT m.*, t.code AS task_code, r.read_at, r.acked_at AS my_ack,
    count(*) FILTER (WHERE r.read_at IS NULL) OVER () AS unread_total
FROM audience a JOIN messages m ON m.id = a.id
LEFT JOIN tasks t ON t.id = m.task_id
LEFT JOIN message_receipts r ON r.message_id = m.id AND r.agent = :me
WHERE m.sender != :me
  AND (:task_id::bigint IS NULL OR m.task_id = :task_id)
  AND (NOT :unread_only OR r.read_at IS NULL)
  AND (:ids::jsonb IS NULL OR m.id IN (SELECT jsonb_array_elements_text(:ids::jsonb)::bigint))
ORDER BY r.read_at IS NULL DESC, CASE WHEN r.read_at IS NULL THEN m.id ELSE -m.id END
LIMIT :limit;

-- name: receipts_mark
-- Mark messages read (and acknowledged when :ack); first times are kept. The ids are made
-- distinct first: unlike SQLite, PostgreSQL refuses an upsert that touches one row twice.
INSERT INTO message_receipts (message_id, agent, read_at, acked_at)
SELECT m.id, :me::text, :now::float8, CASE WHEN :ack::boolean THEN :now END
FROM (SELECT DISTINCT jsonb_array_elements_text(:ids::jsonb)::bigint AS id) j JOIN messages m ON m.id = j.id
WHERE m.project_id = :project
ON CONFLICT (message_id, agent) DO UPDATE SET
    read_at = coalesce(message_receipts.read_at, excluded.read_at),
    acked_at = coalesce(message_receipts.acked_at, excluded.acked_at);

-- name: messages_acked
-- The first acknowledgement by anyone the message was for. The caller has checked that the ids
-- are in its inbox (so in its project); filtering by project here would make the planner walk it.
UPDATE messages SET acked_at = :now
WHERE id IN (SELECT jsonb_array_elements_text(:ids::jsonb)::bigint) AND acked_at IS NULL;

-- name: thread_readers_join
-- A claim: the new holder reads the task's thread, the messages before its claim included.
INSERT INTO thread_readers (project_id, agent, task_id)
SELECT project_id, :agent::text, id FROM tasks WHERE id = :task_id
  AND EXISTS (SELECT 1 FROM messages WHERE task_id = :task_id AND recipient >= 'task:' AND recipient < 'task;')
ON CONFLICT DO NOTHING;

-- name: thread_members
-- Who reads a task's thread: its holder, its creator, and its recorded readers.
SELECT claimed_by AS name FROM tasks WHERE id = :task_id AND claimed_by IS NOT NULL
UNION SELECT created_by FROM tasks WHERE id = :task_id AND created_by IS NOT NULL
UNION SELECT agent FROM thread_readers WHERE task_id = :task_id;

-- name: thread_readers_add
-- On a message in a task's thread: its sender, the task's creator and its current holder read
-- the thread from now on (an escalation passes no sender: it adds the creator and the holder).
INSERT INTO thread_readers (project_id, agent, task_id)
SELECT project_id, :sender::text, id FROM tasks WHERE id = :task_id AND :sender IS NOT NULL
UNION SELECT project_id, created_by, id FROM tasks WHERE id = :task_id AND created_by IS NOT NULL
UNION SELECT project_id, claimed_by, id FROM tasks WHERE id = :task_id AND claimed_by IS NOT NULL
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------- escalations

-- name: escalation_insert
INSERT INTO escalations (task_id, trigger, reason, message_id, created_at)
VALUES (:task_id, :trigger, :reason, :message_id, :now);

-- name: blocker_escalations_settle
-- task_unblock answers the blocker: its escalations leave the open list.
UPDATE messages SET acked_at = :now
WHERE task_id = :task_id AND kind = 'escalation' AND acked_at IS NULL
  AND id IN (SELECT message_id FROM escalations WHERE task_id = :task_id AND trigger = 'blocker');

-- name: tasks_waiting_on_failed
-- Open work that cannot start or finish now that :id failed: its dependents, its parent (which
-- waits for its subtasks), and the tasks of every stream that depends on its stream.
SELECT t.id, t.code, t.title, t.created_by,
    CASE WHEN t.id IN (SELECT task_id FROM task_deps WHERE depends_on_id = :id) THEN 'dependency'
         WHEN t.id = (SELECT parent_id FROM tasks WHERE id = :id) THEN 'subtask'
         ELSE 'stream' END AS via
FROM tasks t
WHERE t.id IN (
    SELECT task_id FROM task_deps WHERE depends_on_id = :id
    UNION SELECT parent_id FROM tasks WHERE id = :id AND parent_id IS NOT NULL
    UNION SELECT w.id FROM stream_deps sd JOIN tasks w ON w.stream_id = sd.stream_id
    WHERE sd.depends_on_id = (SELECT stream_id FROM tasks WHERE id = :id)
)
AND t.status NOT IN {ENDED}
-- Once per stranding: another failure upstream adds nothing while this one is unsettled.
AND NOT EXISTS (SELECT 1 FROM escalations e JOIN messages m ON m.id = e.message_id
                WHERE e.task_id = t.id AND e.trigger = 'dependency_failed' AND m.acked_at IS NULL)
ORDER BY t.id;

-- ---------------------------------------------------------------- activity

-- name: events_feed
SELECT * FROM events
WHERE project_id = :project AND id > :since
  AND (:agent::text IS NULL OR agent = :agent)
  AND (:kind::text IS NULL OR kind = :kind OR starts_with(kind, :kind || '.'))
ORDER BY id LIMIT :limit;

-- name: events_feed_subject
-- The same, for one task: its own events and those of its thread and links ('task:<code>').
-- SQLite needs INDEXED BY events_subject here; PostgreSQL has no hints and picks it by cost.
SELECT * FROM events
WHERE project_id = :project AND subject IN (:subject::text, 'task:' || :subject) AND id > :since
  AND (:agent::text IS NULL OR agent = :agent)
  AND (:kind::text IS NULL OR kind = :kind OR starts_with(kind, :kind || '.'))
ORDER BY id LIMIT :limit;

-- name: events_last_id
SELECT coalesce(max(id), 0) FROM events WHERE project_id = :project;

-- name: events_latest
-- The newest :limit events, newest first: the tail a live board shows. Walks events_project backwards.
SELECT * FROM events WHERE project_id = :project ORDER BY id DESC LIMIT :limit;

-- name: task_pages_showing
-- The tasks whose pages show any of :codes: their dependents (each dependency's state) and
-- their parents (the subtask list).
SELECT t.code FROM tasks d JOIN task_deps x ON x.depends_on_id = d.id JOIN tasks t ON t.id = x.task_id
WHERE d.project_id = :project AND d.code IN (SELECT jsonb_array_elements_text(:codes::jsonb))
UNION
SELECT p.code FROM tasks c JOIN tasks p ON p.id = c.parent_id
WHERE c.project_id = :project AND c.code IN (SELECT jsonb_array_elements_text(:codes::jsonb));

-- name: task_streams_by_codes
SELECT t.code, s.code AS stream_code FROM tasks t JOIN streams s ON s.id = t.stream_id
WHERE t.project_id = :project AND t.code IN (SELECT jsonb_array_elements_text(:codes::jsonb));

-- ---------------------------------------------------------------- briefings

-- name: tasks_needing_decision
-- One status at a time (blocked, failed or review), so each kind gets its own limit.
SELECT t.code, t.title, t.status, t.reason, t.claimed_by, t.attempts, t.max_attempts
FROM tasks t
WHERE t.project_id = :project AND t.status = :status
ORDER BY t.priority, t.id
LIMIT :limit;

-- name: escalations_open
-- Escalations nobody they were for has acknowledged, about tasks still open, newest first.
SELECT m.id, m.subject, m.created_at, t.code AS task_code FROM messages m
LEFT JOIN tasks t ON t.id = m.task_id
WHERE m.project_id = :project AND m.kind = 'escalation' AND m.acked_at IS NULL
  AND (t.status IS NULL OR t.status NOT IN {TERMINAL})
ORDER BY m.id DESC LIMIT :limit;

-- The full current schema. Migrations beside it must build the same thing (a test checks).
-- Times are epoch seconds (REAL); the application renders them.

CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    next_task_seq INTEGER NOT NULL DEFAULT 1,
    -- Bumped on every dependency or task-set change; the resolver re-ranks when it moves.
    graph_version INTEGER NOT NULL DEFAULT 0,
    ranked_version INTEGER NOT NULL DEFAULT 0,
    resolver_run_at REAL,
    created_at REAL NOT NULL
);

CREATE TABLE sprints (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    code TEXT NOT NULL,
    title TEXT NOT NULL,
    goal TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'active', 'closed')),
    created_at REAL NOT NULL,
    UNIQUE (project_id, code)
);

CREATE TABLE streams (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'ready' CHECK (status IN ('waiting', 'ready', 'active', 'done')),
    created_at REAL NOT NULL,
    ready_at REAL,
    done_at REAL,
    UNIQUE (project_id, code)
);

CREATE TABLE stream_deps (
    stream_id INTEGER NOT NULL REFERENCES streams(id),
    depends_on_id INTEGER NOT NULL REFERENCES streams(id),
    PRIMARY KEY (stream_id, depends_on_id)
) WITHOUT ROWID;
CREATE INDEX stream_deps_reverse ON stream_deps (depends_on_id, stream_id);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    code TEXT NOT NULL,
    key TEXT,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    acceptance TEXT NOT NULL DEFAULT '',
    context TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN
        ('backlog', 'waiting', 'ready', 'in_progress', 'review', 'blocked', 'done', 'failed', 'cancelled')),
    priority INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
    role TEXT,
    stream_id INTEGER REFERENCES streams(id),
    sprint_id INTEGER REFERENCES sprints(id),
    parent_id INTEGER REFERENCES tasks(id),
    depth INTEGER NOT NULL DEFAULT 1,
    requires_review INTEGER NOT NULL DEFAULT 0,
    rank INTEGER NOT NULL DEFAULT 1,
    version INTEGER NOT NULL DEFAULT 1,
    created_by TEXT,
    created_at REAL NOT NULL,
    ready_at REAL,
    started_at REAL,
    completed_at REAL,
    claimed_by TEXT,
    lease_expires_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    summary TEXT,
    reason TEXT,
    UNIQUE (project_id, code)
);
CREATE UNIQUE INDEX tasks_key ON tasks (project_id, key) WHERE key IS NOT NULL;
-- The claim order: the next task is one index step away, whatever the project's size.
CREATE INDEX tasks_claim_order ON tasks (project_id, status, priority, rank DESC, id);
-- A project's tasks in id order, as task_list pages them: without it, a page of 50 sorted all
-- 100k rows (80 ms) to keep 50.
CREATE INDEX tasks_project_order ON tasks (project_id, id);
-- Partial: most tasks have no parent or stream, and full indexes look unselective after ANALYZE.
CREATE INDEX tasks_stream_status ON tasks (stream_id, status) WHERE stream_id IS NOT NULL;
CREATE INDEX tasks_parent_status ON tasks (parent_id, status, id) WHERE parent_id IS NOT NULL;
CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE status = 'in_progress';
-- The tasks an agent holds now (an inbox, agent_list) without walking all it ever finished.
CREATE INDEX tasks_claimed_by ON tasks (project_id, claimed_by, status) WHERE claimed_by IS NOT NULL;

CREATE TABLE task_deps (
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    depends_on_id INTEGER NOT NULL REFERENCES tasks(id),
    PRIMARY KEY (task_id, depends_on_id)
) WITHOUT ROWID;
-- Reverse index: completing a task finds its dependents without scanning.
CREATE INDEX task_deps_reverse ON task_deps (depends_on_id, task_id);

CREATE TABLE task_labels (
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    label TEXT NOT NULL,
    PRIMARY KEY (task_id, label)
) WITHOUT ROWID;
CREATE INDEX task_labels_label ON task_labels (label, task_id);

CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    agent TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX notes_task ON notes (task_id, id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT,
    agent TEXT,
    payload TEXT
);
CREATE INDEX events_project ON events (project_id, id);

-- Memory, durable or with a TTL, for the project or one agent ('project' or 'agent:<name>').
CREATE TABLE memory (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at REAL,
    updated_at REAL NOT NULL,
    updated_by TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    UNIQUE (project_id, scope, key)
);
CREATE INDEX memory_expiry ON memory (project_id, expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    role TEXT,
    capabilities TEXT NOT NULL DEFAULT '[]',
    registered_at REAL NOT NULL,
    -- Presence: refreshed by any tool call the agent makes (at most every few seconds).
    last_seen_at REAL NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX agents_role ON agents (project_id, role) WHERE role IS NOT NULL;

CREATE TABLE roles (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL DEFAULT '',
    when_to_use TEXT NOT NULL DEFAULT '',
    instructions TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    UNIQUE (project_id, slug)
);

-- One row per message, whatever the audience; who has read or acknowledged it is in receipts.
-- recipient is 'agent:<name>', 'role:<slug>', 'all' or 'task:<code>'. acked_at is the first
-- acknowledgement by anyone the message was for: one settles an escalation.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    task_id INTEGER REFERENCES tasks(id),
    kind TEXT NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'escalation')),
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    ack_required INTEGER NOT NULL DEFAULT 0,
    reply_to INTEGER REFERENCES messages(id),
    created_at REAL NOT NULL,
    acked_at REAL
);
CREATE INDEX messages_recipient ON messages (project_id, recipient, id);
CREATE INDEX messages_task ON messages (task_id, id) WHERE task_id IS NOT NULL;
CREATE INDEX messages_open_escalations ON messages (project_id, id) WHERE kind = 'escalation' AND acked_at IS NULL;

-- Who reads a task's thread besides its current holder: whoever wrote in it, and the task's
-- creator and holder at the time of any message there or of an escalation about the task.
-- Written on send, so an inbox looks up its own threads instead of walking everyone's.
CREATE TABLE thread_readers (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    agent TEXT NOT NULL,
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    PRIMARY KEY (project_id, agent, task_id)
) WITHOUT ROWID;
CREATE INDEX thread_readers_task ON thread_readers (task_id);

CREATE TABLE message_receipts (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    agent TEXT NOT NULL,
    read_at REAL,
    acked_at REAL,
    PRIMARY KEY (message_id, agent)
) WITHOUT ROWID;

-- Why a task needs a person or an orchestrator: shown on the task's page.
CREATE TABLE escalations (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    trigger TEXT NOT NULL CHECK (trigger IN ('max_attempts', 'lease_expired', 'blocker', 'dependency_failed')),
    reason TEXT NOT NULL,
    message_id INTEGER REFERENCES messages(id),
    created_at REAL NOT NULL
);
CREATE INDEX escalations_task ON escalations (task_id, id);

-- activity_feed by task walks this instead of the whole feed.
CREATE INDEX events_subject ON events (project_id, subject, id);

-- Artifacts: bytes on disk by SHA-256 (store/blobs.py); one row per content per project.
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    description TEXT,
    uploaded_by TEXT,
    uploaded_at REAL NOT NULL,
    -- Set when the last link goes; artifacts_gc only removes what stayed unlinked this long.
    unlinked_at REAL,
    UNIQUE (project_id, sha256)
);
-- GC asks "does any project still hold this blob?"
CREATE INDEX artifacts_sha ON artifacts (sha256);

CREATE TABLE artifact_links (
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    kind TEXT NOT NULL CHECK (kind IN ('task', 'stream', 'sprint', 'project')),
    -- tasks.id, streams.id, sprints.id or projects.id, by kind
    target_id INTEGER NOT NULL,
    linked_by TEXT,
    linked_at REAL NOT NULL,
    PRIMARY KEY (artifact_id, kind, target_id)
) WITHOUT ROWID;
-- In the order a task read shows a task's links (see migrations/0011).
CREATE INDEX artifact_links_target ON artifact_links (kind, target_id, linked_at, artifact_id);

-- Agents waiting in task_claim(wait_seconds=...), oldest first (see migrations/0007).
CREATE TABLE claim_waiters (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    agent TEXT NOT NULL,
    role TEXT,
    stream_id INTEGER,
    labels TEXT NOT NULL DEFAULT '[]',
    since REAL NOT NULL,
    until REAL NOT NULL
);
CREATE INDEX claim_waiters_live ON claim_waiters (project_id, until);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    runner TEXT NOT NULL,
    runner_pid INTEGER,
    runner_started REAL,
    agent TEXT NOT NULL,
    task_id INTEGER REFERENCES tasks(id),
    stream_id INTEGER REFERENCES streams(id),
    preset TEXT NOT NULL,
    argv TEXT NOT NULL DEFAULT '[]',
    host TEXT NOT NULL,
    pid INTEGER,
    pid_started REAL,
    log_path TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL,
    held_until REAL NOT NULL,
    ended_at REAL,
    exit_code INTEGER,
    outcome TEXT,
    reason TEXT,
    cost_usd REAL,
    turns INTEGER
);
CREATE UNIQUE INDEX runs_live_task ON runs (task_id) WHERE ended_at IS NULL AND task_id IS NOT NULL;
CREATE UNIQUE INDEX runs_live_stream ON runs (stream_id) WHERE ended_at IS NULL AND task_id IS NULL;
CREATE INDEX runs_by_task ON runs (task_id, started_at);
CREATE INDEX runs_live ON runs (project_id, held_until) WHERE ended_at IS NULL;

-- Advisory file reservations: one row per agent and path glob (see migrations/0009).
CREATE TABLE file_reservations (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    agent TEXT NOT NULL,
    glob TEXT NOT NULL,
    exclusive INTEGER NOT NULL DEFAULT 1,
    task_id INTEGER REFERENCES tasks(id),
    reason TEXT,
    ttl_seconds REAL NOT NULL,
    reserved_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    UNIQUE (project_id, agent, glob)
);
CREATE INDEX file_reservations_live ON file_reservations (project_id, expires_at);
CREATE INDEX file_reservations_task ON file_reservations (task_id) WHERE task_id IS NOT NULL;

-- Full-text search (services/search.py, domain/search.py).

-- The text of text artifacts, decoded and capped (domain.search.ARTIFACT_TEXT_BYTES): the bytes
-- live in the blob store, out of reach of a trigger, so the upload writes this row in the same
-- transaction as the artifact's.
CREATE TABLE artifact_texts (
    artifact_id INTEGER NOT NULL PRIMARY KEY REFERENCES artifacts(id) ON DELETE CASCADE,  -- gc removes both
    body TEXT NOT NULL
);

-- One FTS5 document per task, note, message and artifact. Its rowid is the source row's id * 8
-- plus the kind (0 task, 1 note, 2 message, 3 artifact: domain.search.KIND_CODES), so a trigger
-- finds its document by rowid, never by scanning. Filters and visibility are joined from the
-- source rows at query time: a task's status changes on every claim, its text rarely.
-- Written only by the triggers below, so every write path (services, `taskloom copy`, imports)
-- keeps it in the same transaction; never copied, rebuilt from the rows.
CREATE VIRTUAL TABLE search_index USING fts5(
    project_id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER search_task_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO search_index (rowid, project_id, title, body) VALUES (new.id * 8, new.project_id, new.title,
        new.description || char(10) || new.acceptance || char(10) || new.context || char(10) || coalesce(new.summary, ''));
END;
-- Not on status, claims or leases: those change all the time and are joined at query time.
CREATE TRIGGER search_task_update AFTER UPDATE OF title, description, acceptance, context, summary ON tasks BEGIN
    UPDATE search_index SET title = new.title,
        body = new.description || char(10) || new.acceptance || char(10) || new.context || char(10) || coalesce(new.summary, '')
    WHERE rowid = new.id * 8;
END;
CREATE TRIGGER search_task_delete AFTER DELETE ON tasks BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 8;
END;

CREATE TRIGGER search_note_insert AFTER INSERT ON notes BEGIN
    INSERT INTO search_index (rowid, project_id, title, body)
    SELECT new.id * 8 + 1, project_id, '', new.body FROM tasks WHERE id = new.task_id;
END;
CREATE TRIGGER search_note_update AFTER UPDATE OF body ON notes BEGIN
    UPDATE search_index SET body = new.body WHERE rowid = new.id * 8 + 1;
END;
CREATE TRIGGER search_note_delete AFTER DELETE ON notes BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 8 + 1;
END;

CREATE TRIGGER search_message_insert AFTER INSERT ON messages BEGIN
    INSERT INTO search_index (rowid, project_id, title, body) VALUES (new.id * 8 + 2, new.project_id, new.subject, new.body);
END;
CREATE TRIGGER search_message_update AFTER UPDATE OF subject, body ON messages BEGIN
    UPDATE search_index SET title = new.subject, body = new.body WHERE rowid = new.id * 8 + 2;
END;
CREATE TRIGGER search_message_delete AFTER DELETE ON messages BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 8 + 2;
END;

CREATE TRIGGER search_artifact_insert AFTER INSERT ON artifacts BEGIN
    INSERT INTO search_index (rowid, project_id, title, body) VALUES (new.id * 8 + 3, new.project_id, new.name,
        coalesce(new.description, '') || char(10) || coalesce((SELECT body FROM artifact_texts WHERE artifact_id = new.id), ''));
END;
CREATE TRIGGER search_artifact_update AFTER UPDATE OF name, description ON artifacts BEGIN
    UPDATE search_index SET title = new.name,
        body = coalesce(new.description, '') || char(10) || coalesce((SELECT body FROM artifact_texts WHERE artifact_id = new.id), '')
    WHERE rowid = new.id * 8 + 3;
END;
CREATE TRIGGER search_artifact_delete AFTER DELETE ON artifacts BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 8 + 3;
END;
CREATE TRIGGER search_artifact_text_insert AFTER INSERT ON artifact_texts BEGIN
    UPDATE search_index SET body = coalesce((SELECT description FROM artifacts WHERE id = new.artifact_id), '')
        || char(10) || new.body
    WHERE rowid = new.artifact_id * 8 + 3;
END;
CREATE TRIGGER search_artifact_text_delete AFTER DELETE ON artifact_texts BEGIN
    UPDATE search_index SET body = coalesce((SELECT description FROM artifacts WHERE id = old.artifact_id), '')
    WHERE rowid = old.artifact_id * 8 + 3;
END;

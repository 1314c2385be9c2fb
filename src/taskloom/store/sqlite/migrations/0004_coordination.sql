-- 0004: agents and presence, roles, messages with per-reader state, escalations.

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
-- recipient is 'agent:<name>', 'role:<slug>', 'all' or 'task:<code>'.
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
    created_at REAL NOT NULL
);
CREATE INDEX messages_recipient ON messages (project_id, recipient, id);
CREATE INDEX messages_task ON messages (task_id, id) WHERE task_id IS NOT NULL;
-- Escalations also reach the task's creator, found through this.
CREATE INDEX messages_escalations ON messages (project_id, task_id) WHERE kind = 'escalation';

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

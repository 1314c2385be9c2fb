-- 0003: memory, durable or with a TTL, for the project or one agent.
CREATE TABLE memory (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    -- 'project', or 'agent:<name>'
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at REAL,
    updated_at REAL NOT NULL,
    updated_by TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    UNIQUE (project_id, scope, key)
);
CREATE INDEX memory_expiry ON memory (expires_at) WHERE expires_at IS NOT NULL;

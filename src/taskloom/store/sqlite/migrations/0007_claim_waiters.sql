-- 0007: agents waiting in task_claim(wait_seconds=...), oldest first, so that when work becomes
-- ready the agent that has waited longest gets it, whichever process serves it.

-- A waiting claim's filters (role, stream, labels) decide which ready tasks it could take. A row
-- lives as long as its wait; one left by a process that died is ignored after `until` and
-- purged by the resolver.
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

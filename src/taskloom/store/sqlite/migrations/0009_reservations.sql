-- 0009: advisory file reservations, for agents that share one checkout (see domain/reservations).

-- One row per agent and path glob. Overlap between globs is decided in Python (a domain rule),
-- not here; the table only keeps who holds what, how, until when, and for which task. A row
-- past `expires_at` is dead: it conflicts with nothing and the next reservation purges it.
-- A row with a task goes when its holder stops holding the task (services/reservations).
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

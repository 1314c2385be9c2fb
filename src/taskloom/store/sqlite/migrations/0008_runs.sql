-- 0008: the runner's workers (`taskloom run`): one row per agent process a runner started.

-- A row is live (ended_at NULL) while its runner holds it: `held_until` is renewed every few
-- seconds, so a row whose runner died (killed -9, its machine gone) is known by its lapsed hold,
-- or at once on the same host by its runner's pid and start time, and is adopted (the worker's
-- pid and start time still alive) or ended as lost. The partial unique
-- indexes are the slot: two runners, on one machine or several, cannot both start a worker for
-- one task (task_id) or one stream (stream_id with no task).
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

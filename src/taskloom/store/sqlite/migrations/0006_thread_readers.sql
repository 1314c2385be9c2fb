-- 0006: thread readers, settled escalations and indexes, so that an inbox, an acknowledgement
-- and the memory purge cost the caller's own share of the project, not the whole project.

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
INSERT OR IGNORE INTO thread_readers (project_id, agent, task_id)
SELECT m.project_id, m.sender, m.task_id FROM messages m
WHERE m.recipient >= 'task:' AND m.recipient < 'task;' AND m.task_id IS NOT NULL
UNION
SELECT t.project_id, t.created_by, t.id FROM tasks t
WHERE t.created_by IS NOT NULL AND EXISTS (SELECT 1 FROM messages m WHERE m.task_id = t.id
    AND (m.kind = 'escalation' OR (m.recipient >= 'task:' AND m.recipient < 'task;')))
UNION
SELECT t.project_id, t.claimed_by, t.id FROM tasks t
WHERE t.claimed_by IS NOT NULL AND EXISTS (SELECT 1 FROM messages m WHERE m.task_id = t.id
    AND m.recipient >= 'task:' AND m.recipient < 'task;');

-- The tasks an agent holds now (an inbox, agent_list) without walking all it ever finished.
CREATE INDEX tasks_claimed_by ON tasks (project_id, claimed_by, status) WHERE claimed_by IS NOT NULL;

-- The first acknowledgement by anyone the message was for; one settles an escalation, and the
-- open ones are found without walking every escalation ever raised.
ALTER TABLE messages ADD COLUMN acked_at REAL;
UPDATE messages SET acked_at = (SELECT min(r.acked_at) FROM message_receipts r WHERE r.message_id = messages.id);
CREATE INDEX messages_open_escalations ON messages (project_id, id) WHERE kind = 'escalation' AND acked_at IS NULL;
-- Creators now find their escalations through thread_readers.
DROP INDEX messages_escalations;

-- The purge is per project; an index on expiry alone left it walking the unique key.
DROP INDEX memory_expiry;
CREATE INDEX memory_expiry ON memory (project_id, expires_at) WHERE expires_at IS NOT NULL;

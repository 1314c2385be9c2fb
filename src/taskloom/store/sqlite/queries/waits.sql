-- What a task waits on: the closure of its unmet dependencies, for explanations.
-- Parameters are :named; JSON list parameters are expanded with json_each, so each query
-- stays one static statement.

-- name: waits_closure
-- Everything the :anchors tasks wait for, directly or not, in the waits-for graph the
-- readiness rules imply: a task waits for its dependencies, a parent for its subtasks, and a
-- task for every task of each stream its stream depends on. Tasks are positive ids, streams
-- negative ones (-stream id). The anchors themselves are not seeded, so an anchor in the result
-- waits for itself, perhaps through another anchor (services/waits.py tells which).
WITH RECURSIVE anchors(id) AS (SELECT value FROM json_each(:anchors)),
up(n) AS (
    SELECT d.depends_on_id FROM task_deps d WHERE d.task_id IN anchors
    UNION SELECT c.id FROM tasks c WHERE c.parent_id IN anchors
    UNION SELECT -sd.depends_on_id FROM tasks t JOIN stream_deps sd ON sd.stream_id = t.stream_id
          WHERE t.id IN anchors
    UNION SELECT d.depends_on_id FROM up JOIN task_deps d ON d.task_id = up.n WHERE up.n > 0
    UNION SELECT c.id FROM up JOIN tasks c ON c.parent_id = up.n WHERE up.n > 0
    UNION SELECT -sd.depends_on_id FROM up JOIN tasks t ON t.id = up.n
          JOIN stream_deps sd ON sd.stream_id = t.stream_id WHERE up.n > 0
    UNION SELECT t.id FROM up JOIN tasks t ON t.stream_id = -up.n WHERE up.n < 0
)
SELECT n FROM up;

-- name: waits_edges
-- The waits-for edges leaving :nodes (ids as in waits_closure), to name a cycle's path.
WITH nodes(n) AS (SELECT value FROM json_each(:nodes))
SELECT d.task_id AS src, d.depends_on_id AS dst FROM task_deps d WHERE d.task_id IN nodes
UNION ALL SELECT c.parent_id, c.id FROM tasks c WHERE c.parent_id IN nodes
UNION ALL SELECT t.id, -sd.depends_on_id FROM tasks t JOIN stream_deps sd ON sd.stream_id = t.stream_id
          WHERE t.id IN nodes
UNION ALL SELECT -t.stream_id, t.id FROM tasks t WHERE t.stream_id IN (SELECT -n FROM nodes WHERE n < 0);

-- name: waits_labels
-- Names for waits_closure ids: task codes, and 'stream <code>' for streams.
SELECT id AS n, code AS label FROM tasks WHERE id IN (SELECT value FROM json_each(:nodes))
UNION ALL SELECT -id, 'stream ' || code FROM streams WHERE -id IN (SELECT value FROM json_each(:nodes));

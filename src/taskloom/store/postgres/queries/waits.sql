-- What a task waits on: the closure of its unmet dependencies, for explanations.
-- Parameters are :named (store/postgres/named.py rewrites them for psycopg); JSON list
-- parameters are expanded with jsonb_array_elements_text, so each query stays one static statement.

-- name: waits_closure
-- Everything the :anchors tasks wait for, directly or not, in the waits-for graph the
-- readiness rules imply: a task waits for its dependencies, a parent for its subtasks, and a
-- task for every task of each stream its stream depends on. Tasks are positive ids, streams
-- negative ones (-stream id). The anchors themselves are not seeded, so an anchor in the result
-- waits for itself, perhaps through another anchor (services/waits.py tells which).
-- PostgreSQL allows the recursive term to read up only once, so the four kinds of step are one
-- LATERAL union per reached node; UNION (not ALL) drops nodes already reached, ending cycles.
WITH RECURSIVE anchors(id) AS (SELECT value::bigint FROM jsonb_array_elements_text(:anchors::jsonb) AS value),
up(n) AS (
    SELECT d.depends_on_id FROM task_deps d WHERE d.task_id IN (SELECT id FROM anchors)
    UNION SELECT c.id FROM tasks c WHERE c.parent_id IN (SELECT id FROM anchors)
    UNION SELECT -sd.depends_on_id FROM tasks t JOIN stream_deps sd ON sd.stream_id = t.stream_id
          WHERE t.id IN (SELECT id FROM anchors)
    UNION SELECT step.n FROM up, LATERAL (
        SELECT d.depends_on_id AS n FROM task_deps d WHERE up.n > 0 AND d.task_id = up.n
        UNION ALL SELECT c.id FROM tasks c WHERE up.n > 0 AND c.parent_id = up.n
        UNION ALL SELECT -sd.depends_on_id FROM tasks t JOIN stream_deps sd ON sd.stream_id = t.stream_id
                  WHERE up.n > 0 AND t.id = up.n
        UNION ALL SELECT t.id FROM tasks t WHERE up.n < 0 AND t.stream_id = -up.n
    ) step
)
SELECT n FROM up;

-- name: waits_edges
-- The waits-for edges leaving :nodes (ids as in waits_closure), to name a cycle's path.
WITH nodes(n) AS (SELECT value::bigint FROM jsonb_array_elements_text(:nodes::jsonb) AS value)
SELECT d.task_id AS src, d.depends_on_id AS dst FROM task_deps d WHERE d.task_id IN (SELECT n FROM nodes)
UNION ALL SELECT c.parent_id, c.id FROM tasks c WHERE c.parent_id IN (SELECT n FROM nodes)
UNION ALL SELECT t.id, -sd.depends_on_id FROM tasks t JOIN stream_deps sd ON sd.stream_id = t.stream_id
          WHERE t.id IN (SELECT n FROM nodes)
UNION ALL SELECT -t.stream_id, t.id FROM tasks t WHERE t.stream_id IN (SELECT -n FROM nodes WHERE n < 0);

-- name: waits_labels
-- Names for waits_closure ids: task codes, and 'stream <code>' for streams.
SELECT id AS n, code AS label FROM tasks
WHERE id IN (SELECT value::bigint FROM jsonb_array_elements_text(:nodes::jsonb) AS value)
UNION ALL SELECT -id, 'stream ' || code FROM streams
WHERE -id IN (SELECT value::bigint FROM jsonb_array_elements_text(:nodes::jsonb) AS value);

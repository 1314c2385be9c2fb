-- Named queries for search: the hits of one query, and the searchable text of text artifacts.
-- The index itself (search_index) is written by triggers only (migrations/0002_search.sql).

-- name: search_floor
-- The id of the :window-th newest match, or nothing when fewer match: whether search_hits
-- (ranked) or search_newest answers, as on SQLite.
SELECT s.id FROM search_index s WHERE s.doc @@ websearch_to_tsquery('simple', :text)
ORDER BY s.id DESC LIMIT 1 OFFSET :window - 1;

-- name: search_hits
-- The best :limit documents of the project matching :text, read by websearch_to_tsquery
-- (which takes any text and never raises), ranked by ts_rank_cd (titles weight A, bodies B), each with
-- the task it belongs to for the filters. ts_headline is costly, so only the :limit rows kept
-- get one. A message counts only if :me may read it (the rules of the `inbox` query, plus
-- what :me sent) or, for a :person at the CLI, if the dashboard shows it on a task's page:
-- thread messages and escalations, never a direct, role or broadcast message. An artifact
-- passes a stream or status filter through a task or stream it is linked to.
WITH q AS (SELECT websearch_to_tsquery('simple', :text) AS query),
hits AS (
    SELECT s.id, ts_rank_cd(s.doc, q.query) AS score, q.query,
        -- The snippet's source, as FTS5's snippet() picks one column: the body if it matches
        -- the whole query, else the title if it does, else the body.
        CASE WHEN NOT ts_filter(s.doc, '{b}') @@ q.query AND ts_filter(s.doc, '{a}') @@ q.query
             THEN s.title ELSE s.body END AS source,
        coalesce(t.title, m.subject, a.name, '') AS title,
        coalesce(t.created_by, n.agent, m.sender, a.uploaded_by) AS agent,
        coalesce(t.created_at, n.created_at, m.created_at, a.uploaded_at) AS at,
        n.kind AS note_kind, a.sha256, m.recipient,
        h.code AS task_code, h.status AS task_status, st.code AS stream_code
    FROM search_index s CROSS JOIN q
    LEFT JOIN tasks t ON s.id % 8 = 0 AND t.id = s.id / 8
    LEFT JOIN notes n ON s.id % 8 = 1 AND n.id = s.id / 8
    LEFT JOIN messages m ON s.id % 8 = 2 AND m.id = s.id / 8
    LEFT JOIN artifacts a ON s.id % 8 = 3 AND a.id = s.id / 8
    LEFT JOIN tasks h ON h.id = coalesce(t.id, n.task_id, m.task_id)
    LEFT JOIN streams st ON st.id = h.stream_id
    WHERE s.doc @@ q.query AND s.project_id = :project
      AND (:kind::integer IS NULL OR s.id % 8 = :kind::integer)
      AND (:agent::text IS NULL OR coalesce(t.created_by, n.agent, m.sender, a.uploaded_by) = :agent::text)
      AND (:stream::text IS NULL OR st.code = :stream::text
           OR (a.id IS NOT NULL AND EXISTS (
               SELECT 1 FROM artifact_links l LEFT JOIN tasks lt ON l.kind = 'task' AND lt.id = l.target_id
               JOIN streams ls ON ls.id = CASE l.kind WHEN 'stream' THEN l.target_id ELSE lt.stream_id END
               WHERE l.artifact_id = a.id AND ls.code = :stream::text)))
      AND (:status::text IS NULL OR h.status = :status::text
           OR (a.id IS NOT NULL AND EXISTS (
               SELECT 1 FROM artifact_links l JOIN tasks lt ON lt.id = l.target_id
               WHERE l.artifact_id = a.id AND l.kind = 'task' AND lt.status = :status::text)))
      AND (m.id IS NULL OR (:person::boolean AND ((m.recipient >= 'task:' AND m.recipient < 'task;') OR m.kind = 'escalation'))
           OR (:me::text IS NOT NULL AND (m.sender = :me::text
           OR m.recipient IN ('agent:' || :me::text, 'all', 'role:' || :role::text)
           OR (m.task_id IN (SELECT task_id FROM thread_readers WHERE project_id = :project AND agent = :me::text)
               AND ((m.recipient >= 'task:' AND m.recipient < 'task;')
                    OR (m.kind = 'escalation' AND h.created_by = :me::text))))))
    ORDER BY score DESC, s.id
    LIMIT :limit
)
SELECT id % 8 AS kind_code, id / 8 AS ref, score::double precision AS score,
    ts_headline('simple', source, query,
                'StartSel=**, StopSel=**, MaxWords=24, MinWords=8, MaxFragments=1, FragmentDelimiter=…') AS snippet,
    title, agent, at, note_kind, sha256, recipient, task_code, task_status, stream_code
FROM hits
ORDER BY score DESC, id;

-- name: search_newest
-- search_hits for a query matching more than the rank window (search_floor found one), newest
-- first and unranked (score 0), as on SQLite, where ranking such a query costs its every match;
-- down to :floor, the oldest match it may look at (search_floor with the scan window).
-- The same columns, joins and filters as search_hits; only the order and the score differ.
WITH q AS (SELECT websearch_to_tsquery('simple', :text) AS query),
hits AS (
    SELECT s.id, 0.0::real AS score, q.query,
        -- The snippet's source, as FTS5's snippet() picks one column: the body if it matches
        -- the whole query, else the title if it does, else the body.
        CASE WHEN NOT ts_filter(s.doc, '{b}') @@ q.query AND ts_filter(s.doc, '{a}') @@ q.query
             THEN s.title ELSE s.body END AS source,
        coalesce(t.title, m.subject, a.name, '') AS title,
        coalesce(t.created_by, n.agent, m.sender, a.uploaded_by) AS agent,
        coalesce(t.created_at, n.created_at, m.created_at, a.uploaded_at) AS at,
        n.kind AS note_kind, a.sha256, m.recipient,
        h.code AS task_code, h.status AS task_status, st.code AS stream_code
    FROM search_index s CROSS JOIN q
    LEFT JOIN tasks t ON s.id % 8 = 0 AND t.id = s.id / 8
    LEFT JOIN notes n ON s.id % 8 = 1 AND n.id = s.id / 8
    LEFT JOIN messages m ON s.id % 8 = 2 AND m.id = s.id / 8
    LEFT JOIN artifacts a ON s.id % 8 = 3 AND a.id = s.id / 8
    LEFT JOIN tasks h ON h.id = coalesce(t.id, n.task_id, m.task_id)
    LEFT JOIN streams st ON st.id = h.stream_id
    WHERE s.doc @@ q.query AND s.id >= :floor AND s.project_id = :project
      AND (:kind::integer IS NULL OR s.id % 8 = :kind::integer)
      AND (:agent::text IS NULL OR coalesce(t.created_by, n.agent, m.sender, a.uploaded_by) = :agent::text)
      AND (:stream::text IS NULL OR st.code = :stream::text
           OR (a.id IS NOT NULL AND EXISTS (
               SELECT 1 FROM artifact_links l LEFT JOIN tasks lt ON l.kind = 'task' AND lt.id = l.target_id
               JOIN streams ls ON ls.id = CASE l.kind WHEN 'stream' THEN l.target_id ELSE lt.stream_id END
               WHERE l.artifact_id = a.id AND ls.code = :stream::text)))
      AND (:status::text IS NULL OR h.status = :status::text
           OR (a.id IS NOT NULL AND EXISTS (
               SELECT 1 FROM artifact_links l JOIN tasks lt ON lt.id = l.target_id
               WHERE l.artifact_id = a.id AND l.kind = 'task' AND lt.status = :status::text)))
      AND (m.id IS NULL OR (:person::boolean AND ((m.recipient >= 'task:' AND m.recipient < 'task;') OR m.kind = 'escalation'))
           OR (:me::text IS NOT NULL AND (m.sender = :me::text
           OR m.recipient IN ('agent:' || :me::text, 'all', 'role:' || :role::text)
           OR (m.task_id IN (SELECT task_id FROM thread_readers WHERE project_id = :project AND agent = :me::text)
               AND ((m.recipient >= 'task:' AND m.recipient < 'task;')
                    OR (m.kind = 'escalation' AND h.created_by = :me::text))))))
    ORDER BY s.id DESC
    LIMIT :limit
)
SELECT id % 8 AS kind_code, id / 8 AS ref, score::double precision AS score,
    ts_headline('simple', source, query,
                'StartSel=**, StopSel=**, MaxWords=24, MinWords=8, MaxFragments=1, FragmentDelimiter=…') AS snippet,
    title, agent, at, note_kind, sha256, recipient, task_code, task_status, stream_code
FROM hits
ORDER BY id DESC;

-- name: artifact_text_insert
-- The decoded text of a new text artifact; its trigger adds it to the artifact's document.
INSERT INTO artifact_texts (artifact_id, body) VALUES (:id, :body);

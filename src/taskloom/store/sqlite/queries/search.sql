-- Named queries for search: the hits of one query, and the searchable text of text artifacts.
-- The index itself (search_index) is written by triggers only (migrations/0010_search.sql).

-- name: search_at_least
-- Whether at least :window documents match :fts: 1, or nothing (search_floor's walk, which
-- FTS5 makes as cheap as any count; PostgreSQL's differs).
SELECT 1 FROM search_index s WHERE s.search_index MATCH :fts
ORDER BY s.rowid DESC LIMIT 1 OFFSET :window - 1;

-- name: search_floor
-- The rowid of the :window-th newest match, or nothing when fewer match: whether search_hits
-- (ranked) or search_newest answers. FTS5 walks its doclists in rowid order without reading
-- any row, so this costs :window steps at most (0.1 ms for a word in 350k of 400k documents).
SELECT s.rowid FROM search_index s WHERE s.search_index MATCH :fts
ORDER BY s.rowid DESC LIMIT 1 OFFSET :window - 1;

-- name: search_hits
-- The best :limit documents of the project matching :fts (domain.search.fts5_query), titles
-- weighted 4 to 1 over bodies, each with the task it belongs to (itself, a note's or a
-- message's task) for the filters. FTS5 hands the matches over in rank order, so the filters
-- and snippet() run only on rows until :limit pass. A message counts only if :me may read it
-- (the rules of the `inbox` query, plus what :me sent) or, for a :person at the CLI, if the
-- dashboard shows it on a task's page: thread messages and escalations, never a direct, role or
-- broadcast message. An artifact passes a stream or status filter through a task or stream it
-- is linked to.
SELECT s.rowid % 8 AS kind_code, s.rowid / 8 AS ref, -s.rank AS score,
    snippet(search_index, -1, '**', '**', '…', 16) AS snippet,
    coalesce(t.title, m.subject, a.name, '') AS title,
    coalesce(t.created_by, n.agent, m.sender, a.uploaded_by) AS agent,
    coalesce(t.created_at, n.created_at, m.created_at, a.uploaded_at) AS at,
    n.kind AS note_kind, a.sha256, m.recipient,
    h.code AS task_code, h.status AS task_status, st.code AS stream_code
FROM search_index s
LEFT JOIN tasks t ON s.rowid % 8 = 0 AND t.id = s.rowid / 8
LEFT JOIN notes n ON s.rowid % 8 = 1 AND n.id = s.rowid / 8
LEFT JOIN messages m ON s.rowid % 8 = 2 AND m.id = s.rowid / 8
LEFT JOIN artifacts a ON s.rowid % 8 = 3 AND a.id = s.rowid / 8
LEFT JOIN tasks h ON h.id = coalesce(t.id, n.task_id, m.task_id)
LEFT JOIN streams st ON st.id = h.stream_id
WHERE s.search_index MATCH :fts AND s.rank MATCH 'bm25(0.0, 4.0, 1.0)'
  AND s.project_id = :project
  AND (:kind IS NULL OR s.rowid % 8 = :kind)
  AND (:agent IS NULL OR coalesce(t.created_by, n.agent, m.sender, a.uploaded_by) = :agent)
  AND (:stream IS NULL OR st.code = :stream
       OR (a.id IS NOT NULL AND EXISTS (
           SELECT 1 FROM artifact_links l LEFT JOIN tasks lt ON l.kind = 'task' AND lt.id = l.target_id
           JOIN streams ls ON ls.id = CASE l.kind WHEN 'stream' THEN l.target_id ELSE lt.stream_id END
           WHERE l.artifact_id = a.id AND ls.code = :stream)))
  AND (:status IS NULL OR h.status = :status
       OR (a.id IS NOT NULL AND EXISTS (
           SELECT 1 FROM artifact_links l JOIN tasks lt ON lt.id = l.target_id
           WHERE l.artifact_id = a.id AND l.kind = 'task' AND lt.status = :status)))
  AND (m.id IS NULL OR (:person AND ((m.recipient >= 'task:' AND m.recipient < 'task;') OR m.kind = 'escalation'))
           OR (:me IS NOT NULL AND (m.sender = :me
       OR m.recipient IN ('agent:' || :me, 'all', 'role:' || :role)
       OR (m.task_id IN (SELECT task_id FROM thread_readers WHERE project_id = :project AND agent = :me)
           AND ((m.recipient >= 'task:' AND m.recipient < 'task;')
                OR (m.kind = 'escalation' AND h.created_by = :me))))))
ORDER BY s.rank
LIMIT :limit;

-- name: search_newest
-- search_hits for a query matching more than the rank window (search_floor found a floor):
-- bm25 counts every match of each phrase before it ranks any, 45 ms for a word in most of
-- 400k documents, so these come newest first, unranked (score 0), FTS5 streaming its rowids
-- down to :floor, the oldest match it may look at (search_floor with the scan window).
-- The same columns, joins and filters as search_hits; only the order and the score differ.
SELECT s.rowid % 8 AS kind_code, s.rowid / 8 AS ref, 0.0 AS score,
    snippet(search_index, -1, '**', '**', '…', 16) AS snippet,
    coalesce(t.title, m.subject, a.name, '') AS title,
    coalesce(t.created_by, n.agent, m.sender, a.uploaded_by) AS agent,
    coalesce(t.created_at, n.created_at, m.created_at, a.uploaded_at) AS at,
    n.kind AS note_kind, a.sha256, m.recipient,
    h.code AS task_code, h.status AS task_status, st.code AS stream_code
FROM search_index s
LEFT JOIN tasks t ON s.rowid % 8 = 0 AND t.id = s.rowid / 8
LEFT JOIN notes n ON s.rowid % 8 = 1 AND n.id = s.rowid / 8
LEFT JOIN messages m ON s.rowid % 8 = 2 AND m.id = s.rowid / 8
LEFT JOIN artifacts a ON s.rowid % 8 = 3 AND a.id = s.rowid / 8
LEFT JOIN tasks h ON h.id = coalesce(t.id, n.task_id, m.task_id)
LEFT JOIN streams st ON st.id = h.stream_id
WHERE s.search_index MATCH :fts
  AND s.rowid >= :floor AND s.project_id = :project
  AND (:kind IS NULL OR s.rowid % 8 = :kind)
  AND (:agent IS NULL OR coalesce(t.created_by, n.agent, m.sender, a.uploaded_by) = :agent)
  AND (:stream IS NULL OR st.code = :stream
       OR (a.id IS NOT NULL AND EXISTS (
           SELECT 1 FROM artifact_links l LEFT JOIN tasks lt ON l.kind = 'task' AND lt.id = l.target_id
           JOIN streams ls ON ls.id = CASE l.kind WHEN 'stream' THEN l.target_id ELSE lt.stream_id END
           WHERE l.artifact_id = a.id AND ls.code = :stream)))
  AND (:status IS NULL OR h.status = :status
       OR (a.id IS NOT NULL AND EXISTS (
           SELECT 1 FROM artifact_links l JOIN tasks lt ON lt.id = l.target_id
           WHERE l.artifact_id = a.id AND l.kind = 'task' AND lt.status = :status)))
  AND (m.id IS NULL OR (:person AND ((m.recipient >= 'task:' AND m.recipient < 'task;') OR m.kind = 'escalation'))
           OR (:me IS NOT NULL AND (m.sender = :me
       OR m.recipient IN ('agent:' || :me, 'all', 'role:' || :role)
       OR (m.task_id IN (SELECT task_id FROM thread_readers WHERE project_id = :project AND agent = :me)
           AND ((m.recipient >= 'task:' AND m.recipient < 'task;')
                OR (m.kind = 'escalation' AND h.created_by = :me))))))
ORDER BY s.rowid DESC
LIMIT :limit;

-- name: artifact_text_insert
-- The decoded text of a new text artifact; its trigger adds it to the artifact's document.
INSERT INTO artifact_texts (artifact_id, body) VALUES (:id, :body);

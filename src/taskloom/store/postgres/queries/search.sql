-- Named queries for search: the hits of one query, and the searchable text of text artifacts.
-- The index itself (search_index) is written by triggers only (migrations/0002_search.sql).

-- name: search_at_least
-- Whether at least :window documents (of any project) match :text: 1, or nothing. In no order,
-- so the planner takes the GIN index's bitmap or a scan as it likes, and stops at :window.
-- Whether search_hits (ranked) or search_newest answers hangs on it, as on SQLite.
SELECT 1 FROM (SELECT FROM search_index s WHERE s.doc @@ websearch_to_tsquery('simple', :text) LIMIT :window) c
HAVING count(*) >= :window;

-- name: search_floor
-- Nothing: search_newest stops after its :window newest matches itself, as it walks them (on
-- SQLite this finds the oldest id it may look at). Counting to the window first, then walking
-- the ids backwards to the window-th match, read 10,000 rows twice (0.4-0.7 s for a word in 26k
-- of 400k documents) where the walk itself mostly stops after a few hundred.
SELECT NULL::bigint WHERE false;

-- name: search_hits
-- The best :limit documents of the project matching :text, read by websearch_to_tsquery
-- (which takes any text and never raises), ranked by ts_rank_cd (titles weight A, bodies B), each with
-- the task it belongs to for the filters (search_kept). ts_headline is costly, so only the :limit
-- rows kept get one.
WITH q AS (SELECT websearch_to_tsquery('simple', :text) AS query),
-- The kept ids first, from search_index alone, then the few kept rows joined: joined before
-- the LIMIT, the planner hashed whole tables (100k tasks, 300k notes) for every query. A row
-- is looked up per match only when it must be: with a filter, or for a message's readers.
hits AS (
    SELECT s.id, ts_rank_cd(s.doc, q.query) AS score, q.query
    FROM search_index s CROSS JOIN q
    WHERE s.doc @@ q.query AND s.project_id = :project
      AND (:kind::integer IS NULL OR s.id % 8 = :kind::integer)
      AND ((:agent::text IS NULL AND :stream::text IS NULL AND :status::text IS NULL AND s.id % 8 <> 2)
           OR EXISTS (SELECT 1 FROM search_kept(s.id, :agent::text, :stream::text, :status::text, :person::boolean,
                                                :me::text, :role::text, :project)))
    ORDER BY score DESC, s.id
    LIMIT :limit
)
SELECT k.id % 8 AS kind_code, k.id / 8 AS ref, k.score::double precision AS score,
    -- The snippet's source, as FTS5's snippet() picks one column: the body if it matches
    -- the whole query, else the title if it does, else the body.
    ts_headline('simple', CASE WHEN NOT ts_filter(s.doc, '{b}') @@ k.query AND ts_filter(s.doc, '{a}') @@ k.query
                               THEN s.title ELSE s.body END, k.query,
                'StartSel=**, StopSel=**, MaxWords=24, MinWords=8, MaxFragments=1, FragmentDelimiter=…') AS snippet,
    coalesce(t.title, m.subject, a.name, '') AS title,
    coalesce(t.created_by, n.agent, m.sender, a.uploaded_by) AS agent,
    coalesce(t.created_at, n.created_at, m.created_at, a.uploaded_at) AS at,
    n.kind AS note_kind, a.sha256, m.recipient,
    h.code AS task_code, h.status AS task_status, st.code AS stream_code
FROM hits k
JOIN search_index s ON s.id = k.id
LEFT JOIN tasks t ON k.id % 8 = 0 AND t.id = k.id / 8
LEFT JOIN notes n ON k.id % 8 = 1 AND n.id = k.id / 8
LEFT JOIN messages m ON k.id % 8 = 2 AND m.id = k.id / 8
LEFT JOIN artifacts a ON k.id % 8 = 3 AND a.id = k.id / 8
LEFT JOIN tasks h ON h.id = coalesce(t.id, n.task_id, m.task_id)
LEFT JOIN streams st ON st.id = h.stream_id
ORDER BY k.score DESC, k.id;

-- name: search_newest
-- search_hits for a query matching more than the rank window, newest first and unranked (score
-- 0), as on SQLite, where ranking such a query costs its every match; among its :window newest
-- matches (of any project, as SQLite's floor counts them) only, however few a filter keeps.
-- The same columns and filters as search_hits; only the order and the score differ.
WITH q AS (SELECT websearch_to_tsquery('simple', :text) AS query),
-- Whether the query has an author, stream or status filter (checked per match through
-- search_kept) and few matches: then all of them are in the window, and the GIN index hands
-- them over sorted in a few ms, where walking the ids backwards reads rows until :limit pass
-- the filter (a word in 0.25% of 400k documents with a status filter: 67k rows, 25-33 ms).
-- It only picks the plan: both branches give the same :window newest matches. How many match
-- comes, for one word, from the planner's statistics of search_index.doc (a frequency among its
-- most common elements, or under the least of them when not listed), as the planner estimates
-- it; counting the matches read a heap page per match, 2,000 pages wasted (10-25 ms) whenever
-- the word was common after all. Without statistics, or for several words, they are counted.
-- Where walking pays depends on how much the filter keeps: a status keeps 1 in 8 to 3 in 8
-- rows, an author or a stream about 1 in 20, so a status walks sooner. Never for a phrase
-- (GIN keeps no positions: counting would recheck).
cap AS (
    SELECT least(:window, CASE WHEN :agent::text IS NULL AND :stream::text IS NULL THEN 1500 ELSE 2000 END) AS n
),
word AS (
    SELECT (tsvector_to_array(to_tsvector('simple', :text)))[1] AS lexeme
    WHERE numnode(websearch_to_tsquery('simple', :text)) = 1
      AND array_length(tsvector_to_array(to_tsvector('simple', :text)), 1) = 1
),
estimate AS (
    SELECT coalesce(st.most_common_elem_freqs[array_position(st.most_common_elems::text::text[], w.lexeme)],
                    (SELECT min(f) FROM unnest(st.most_common_elem_freqs) f)) * c.reltuples AS n
    FROM word w, pg_stats st, pg_class c
    WHERE st.schemaname = current_schema() AND st.tablename = 'search_index' AND st.attname = 'doc'
      AND st.most_common_elems IS NOT NULL
      AND c.oid = 'search_index'::regclass AND c.reltuples > 0
),
few AS (
    SELECT CASE WHEN (:agent::text IS NULL AND :stream::text IS NULL AND :status::text IS NULL)
                     OR strpos(websearch_to_tsquery('simple', :text)::text, '<') > 0 THEN false
                WHEN EXISTS (SELECT FROM estimate) THEN (SELECT e.n < cap.n FROM estimate e, cap)
                ELSE (SELECT count(*) < (SELECT n FROM cap) FROM (
                          SELECT FROM search_index s WHERE s.doc @@ websearch_to_tsquery('simple', :text)
                          LIMIT (SELECT n FROM cap)) c) END AS yes
),
-- The newest matches are pulled one at a time (the ids walked backwards, or a bitmap sorted
-- when the planner expects few matches) until :limit pass the filters or :window were read;
-- or, when `few`, all of them from the bitmap, sorted (`id + 0`: never walked by the primary key).
newest AS (
    (SELECT s.id + 0 AS id, s.project_id FROM search_index s
     WHERE s.doc @@ websearch_to_tsquery('simple', :text) AND (SELECT yes FROM few)
     ORDER BY 1 DESC LIMIT :window)
    UNION ALL
    (SELECT s.id, s.project_id FROM search_index s
     WHERE s.doc @@ websearch_to_tsquery('simple', :text) AND NOT (SELECT yes FROM few)
     ORDER BY s.id DESC LIMIT :window)
),
-- The kept ids first, from search_index alone, then the few kept rows joined: joined before
-- the LIMIT, the planner hashed whole tables (100k tasks, 300k notes) for every query. A row
-- is looked up per match only when it must be: with a filter, or for a message's readers.
hits AS (
    SELECT s.id, 0.0::real AS score, q.query
    FROM newest s CROSS JOIN q
    WHERE s.project_id = :project
      AND (:kind::integer IS NULL OR s.id % 8 = :kind::integer)
      AND ((:agent::text IS NULL AND :stream::text IS NULL AND :status::text IS NULL AND s.id % 8 <> 2)
           OR EXISTS (SELECT 1 FROM search_kept(s.id, :agent::text, :stream::text, :status::text, :person::boolean,
                                                :me::text, :role::text, :project)))
    ORDER BY s.id DESC
    LIMIT :limit
)
SELECT k.id % 8 AS kind_code, k.id / 8 AS ref, k.score::double precision AS score,
    -- The snippet's source, as FTS5's snippet() picks one column: the body if it matches
    -- the whole query, else the title if it does, else the body.
    ts_headline('simple', CASE WHEN NOT ts_filter(s.doc, '{b}') @@ k.query AND ts_filter(s.doc, '{a}') @@ k.query
                               THEN s.title ELSE s.body END, k.query,
                'StartSel=**, StopSel=**, MaxWords=24, MinWords=8, MaxFragments=1, FragmentDelimiter=…') AS snippet,
    coalesce(t.title, m.subject, a.name, '') AS title,
    coalesce(t.created_by, n.agent, m.sender, a.uploaded_by) AS agent,
    coalesce(t.created_at, n.created_at, m.created_at, a.uploaded_at) AS at,
    n.kind AS note_kind, a.sha256, m.recipient,
    h.code AS task_code, h.status AS task_status, st.code AS stream_code
FROM hits k
JOIN search_index s ON s.id = k.id
LEFT JOIN tasks t ON k.id % 8 = 0 AND t.id = k.id / 8
LEFT JOIN notes n ON k.id % 8 = 1 AND n.id = k.id / 8
LEFT JOIN messages m ON k.id % 8 = 2 AND m.id = k.id / 8
LEFT JOIN artifacts a ON k.id % 8 = 3 AND a.id = k.id / 8
LEFT JOIN tasks h ON h.id = coalesce(t.id, n.task_id, m.task_id)
LEFT JOIN streams st ON st.id = h.stream_id
ORDER BY k.id DESC;

-- name: artifact_text_insert
-- The decoded text of a new text artifact; its trigger adds it to the artifact's document.
INSERT INTO artifact_texts (artifact_id, body) VALUES (:id, :body);

-- 0002: full-text search (services/search.py), as SQLite's migration 0010 builds it with FTS5.

-- The text of text artifacts, decoded and capped (domain.search.ARTIFACT_TEXT_BYTES): the bytes
-- live in the blob store, so the upload writes this row in the same transaction as the artifact's.
CREATE TABLE artifact_texts (
    artifact_id bigint PRIMARY KEY REFERENCES artifacts(id) ON DELETE CASCADE,  -- gc removes both
    body text NOT NULL
);

-- One document per task, note, message and artifact; id is the source row's id * 8 plus the
-- kind (0 task, 1 note, 2 message, 3 artifact: domain.search.KIND_CODES), as SQLite's rowid.
-- Written only by the triggers below, in the writing transaction; never copied.
-- 'simple': no stemming and no stop words, as SQLite's unicode61 tokenizer, so both backends
-- find the same words; and the text is code, paths and names in any language as much as English.
-- Weight A for titles, B for bodies: ts_rank_cd counts a title hit 1.0, a body hit 0.4.
CREATE TABLE search_index (
    id bigint PRIMARY KEY,
    project_id bigint NOT NULL,
    title text NOT NULL,
    body text NOT NULL,
    doc tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, title), 'A') || setweight(to_tsvector('simple'::regconfig, body), 'B')
    ) STORED
) WITH (parallel_workers = 0);  -- a search reads a few pages: starting workers took 6 of its 13 ms
CREATE INDEX search_index_doc ON search_index USING gin (doc);

CREATE FUNCTION search_put(key bigint, project bigint, title_text text, body_text text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO search_index (id, project_id, title, body) VALUES (key, project, title_text, body_text)
    ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body
$$;

-- Whether the document `key` passes search's filters (null: no filter) and, for a message, may
-- be read by `me` (the rules of the `inbox` query, plus what `me` sent) or, for a `person` at
-- the CLI, is shown on a task's page: thread messages and escalations, never a direct, role or
-- broadcast message. An artifact passes a stream or status filter through a task or stream it
-- is linked to. One row if it passes, none if not. A set-returning SQL function, STABLE, so the
-- planner inlines it into search_hits and search_newest, which ask it per match only when they
-- must (a filter, or a message).
CREATE FUNCTION search_kept(doc_id bigint, by_author text, in_stream text, of_status text, as_person boolean,
                            reader text, reader_role text, in_project bigint) RETURNS SETOF integer LANGUAGE sql STABLE AS $$
    SELECT 1
    FROM (SELECT doc_id AS key) k
    LEFT JOIN tasks t ON k.key % 8 = 0 AND t.id = k.key / 8
    LEFT JOIN notes n ON k.key % 8 = 1 AND n.id = k.key / 8
    LEFT JOIN messages m ON k.key % 8 = 2 AND m.id = k.key / 8
    LEFT JOIN artifacts a ON k.key % 8 = 3 AND a.id = k.key / 8
    LEFT JOIN tasks h ON h.id = coalesce(t.id, n.task_id, m.task_id)
    LEFT JOIN streams st ON st.id = h.stream_id
    WHERE (by_author IS NULL OR coalesce(t.created_by, n.agent, m.sender, a.uploaded_by) = by_author)
      AND (in_stream IS NULL OR st.code = in_stream
           OR (a.id IS NOT NULL AND EXISTS (
               SELECT 1 FROM artifact_links l LEFT JOIN tasks lt ON l.kind = 'task' AND lt.id = l.target_id
               JOIN streams ls ON ls.id = CASE l.kind WHEN 'stream' THEN l.target_id ELSE lt.stream_id END
               WHERE l.artifact_id = a.id AND ls.code = in_stream)))
      AND (of_status IS NULL OR h.status = of_status
           OR (a.id IS NOT NULL AND EXISTS (
               SELECT 1 FROM artifact_links l JOIN tasks lt ON lt.id = l.target_id
               WHERE l.artifact_id = a.id AND l.kind = 'task' AND lt.status = of_status)))
      AND (m.id IS NULL OR (as_person AND ((m.recipient >= 'task:' AND m.recipient < 'task;') OR m.kind = 'escalation'))
           OR (reader IS NOT NULL AND (m.sender = reader
           OR m.recipient IN ('agent:' || reader, 'all', 'role:' || reader_role)
           OR (m.task_id IN (SELECT task_id FROM thread_readers WHERE project_id = in_project AND agent = reader)
               AND ((m.recipient >= 'task:' AND m.recipient < 'task;')
                    OR (m.kind = 'escalation' AND h.created_by = reader))))))
$$;

CREATE FUNCTION search_task_body(t tasks) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT t.description || E'\n' || t.acceptance || E'\n' || t.context || E'\n' || coalesce(t.summary, '')
$$;

CREATE FUNCTION search_artifact_body(artifact bigint, description text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(description, '') || E'\n' || coalesce((SELECT body FROM artifact_texts WHERE artifact_id = artifact), '')
$$;

CREATE FUNCTION search_index_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM search_index WHERE id = OLD.id * 8;
    ELSE
        PERFORM search_put(NEW.id * 8, NEW.project_id, NEW.title, search_task_body(NEW));
    END IF;
    RETURN NULL;
END $$;
-- Not on status, claims or leases: those change all the time and are joined at query time.
CREATE TRIGGER search_task AFTER INSERT OR DELETE OR UPDATE OF title, description, acceptance, context, summary
ON tasks FOR EACH ROW EXECUTE FUNCTION search_index_task();

CREATE FUNCTION search_index_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM search_index WHERE id = OLD.id * 8 + 1;
    ELSE
        PERFORM search_put(NEW.id * 8 + 1, (SELECT project_id FROM tasks WHERE id = NEW.task_id), '', NEW.body);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER search_note AFTER INSERT OR DELETE OR UPDATE OF body ON notes
FOR EACH ROW EXECUTE FUNCTION search_index_note();

CREATE FUNCTION search_index_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM search_index WHERE id = OLD.id * 8 + 2;
    ELSE
        PERFORM search_put(NEW.id * 8 + 2, NEW.project_id, NEW.subject, NEW.body);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER search_message AFTER INSERT OR DELETE OR UPDATE OF subject, body ON messages
FOR EACH ROW EXECUTE FUNCTION search_index_message();

CREATE FUNCTION search_index_artifact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM search_index WHERE id = OLD.id * 8 + 3;
    ELSE
        PERFORM search_put(NEW.id * 8 + 3, NEW.project_id, NEW.name, search_artifact_body(NEW.id, NEW.description));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER search_artifact AFTER INSERT OR DELETE OR UPDATE OF name, description ON artifacts
FOR EACH ROW EXECUTE FUNCTION search_index_artifact();

CREATE FUNCTION search_index_artifact_text() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    artifact bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.artifact_id ELSE NEW.artifact_id END;
BEGIN
    UPDATE search_index SET body = search_artifact_body(artifact, (SELECT description FROM artifacts WHERE id = artifact))
    WHERE id = artifact * 8 + 3;
    RETURN NULL;
END $$;
CREATE TRIGGER search_artifact_text AFTER INSERT OR DELETE OR UPDATE ON artifact_texts
FOR EACH ROW EXECUTE FUNCTION search_index_artifact_text();

-- Backfill: what the triggers would have written for every row already there.
INSERT INTO search_index (id, project_id, title, body)
SELECT t.id * 8, t.project_id, t.title, search_task_body(t) FROM tasks t;
INSERT INTO search_index (id, project_id, title, body)
SELECT n.id * 8 + 1, t.project_id, '', n.body FROM notes n JOIN tasks t ON t.id = n.task_id;
INSERT INTO search_index (id, project_id, title, body)
SELECT id * 8 + 2, project_id, subject, body FROM messages;
INSERT INTO search_index (id, project_id, title, body)
SELECT id * 8 + 3, project_id, name, search_artifact_body(id, description) FROM artifacts;

-- 0010: full-text search (services/search.py, domain/search.py).

-- The text of text artifacts, decoded and capped (domain.search.ARTIFACT_TEXT_BYTES): the bytes
-- live in the blob store, out of reach of a trigger, so the upload writes this row in the same
-- transaction as the artifact's.
CREATE TABLE artifact_texts (
    artifact_id INTEGER NOT NULL PRIMARY KEY REFERENCES artifacts(id) ON DELETE CASCADE,  -- gc removes both
    body TEXT NOT NULL
);

-- One FTS5 document per task, note, message and artifact. Its rowid is the source row's id * 8
-- plus the kind (0 task, 1 note, 2 message, 3 artifact: domain.search.KIND_CODES), so a trigger
-- finds its document by rowid, never by scanning. Filters and visibility are joined from the
-- source rows at query time: a task's status changes on every claim, its text rarely.
-- Written only by the triggers below, so every write path (services, `taskloom copy`, imports)
-- keeps it in the same transaction; never copied, rebuilt from the rows.
CREATE VIRTUAL TABLE search_index USING fts5(
    project_id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER search_task_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO search_index (rowid, project_id, title, body) VALUES (new.id * 8, new.project_id, new.title,
        new.description || char(10) || new.acceptance || char(10) || new.context || char(10) || coalesce(new.summary, ''));
END;
-- Not on status, claims or leases: those change all the time and are joined at query time.
CREATE TRIGGER search_task_update AFTER UPDATE OF title, description, acceptance, context, summary ON tasks BEGIN
    UPDATE search_index SET title = new.title,
        body = new.description || char(10) || new.acceptance || char(10) || new.context || char(10) || coalesce(new.summary, '')
    WHERE rowid = new.id * 8;
END;
CREATE TRIGGER search_task_delete AFTER DELETE ON tasks BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 8;
END;

CREATE TRIGGER search_note_insert AFTER INSERT ON notes BEGIN
    INSERT INTO search_index (rowid, project_id, title, body)
    SELECT new.id * 8 + 1, project_id, '', new.body FROM tasks WHERE id = new.task_id;
END;
CREATE TRIGGER search_note_update AFTER UPDATE OF body ON notes BEGIN
    UPDATE search_index SET body = new.body WHERE rowid = new.id * 8 + 1;
END;
CREATE TRIGGER search_note_delete AFTER DELETE ON notes BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 8 + 1;
END;

CREATE TRIGGER search_message_insert AFTER INSERT ON messages BEGIN
    INSERT INTO search_index (rowid, project_id, title, body) VALUES (new.id * 8 + 2, new.project_id, new.subject, new.body);
END;
CREATE TRIGGER search_message_update AFTER UPDATE OF subject, body ON messages BEGIN
    UPDATE search_index SET title = new.subject, body = new.body WHERE rowid = new.id * 8 + 2;
END;
CREATE TRIGGER search_message_delete AFTER DELETE ON messages BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 8 + 2;
END;

CREATE TRIGGER search_artifact_insert AFTER INSERT ON artifacts BEGIN
    INSERT INTO search_index (rowid, project_id, title, body) VALUES (new.id * 8 + 3, new.project_id, new.name,
        coalesce(new.description, '') || char(10) || coalesce((SELECT body FROM artifact_texts WHERE artifact_id = new.id), ''));
END;
CREATE TRIGGER search_artifact_update AFTER UPDATE OF name, description ON artifacts BEGIN
    UPDATE search_index SET title = new.name,
        body = coalesce(new.description, '') || char(10) || coalesce((SELECT body FROM artifact_texts WHERE artifact_id = new.id), '')
    WHERE rowid = new.id * 8 + 3;
END;
CREATE TRIGGER search_artifact_delete AFTER DELETE ON artifacts BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 8 + 3;
END;
CREATE TRIGGER search_artifact_text_insert AFTER INSERT ON artifact_texts BEGIN
    UPDATE search_index SET body = coalesce((SELECT description FROM artifacts WHERE id = new.artifact_id), '')
        || char(10) || new.body
    WHERE rowid = new.artifact_id * 8 + 3;
END;
CREATE TRIGGER search_artifact_text_delete AFTER DELETE ON artifact_texts BEGIN
    UPDATE search_index SET body = coalesce((SELECT description FROM artifacts WHERE id = old.artifact_id), '')
    WHERE rowid = old.artifact_id * 8 + 3;
END;

-- Backfill: what the triggers would have written for every row already there.
INSERT INTO search_index (rowid, project_id, title, body)
SELECT id * 8, project_id, title,
    description || char(10) || acceptance || char(10) || context || char(10) || coalesce(summary, '') FROM tasks;
INSERT INTO search_index (rowid, project_id, title, body)
SELECT n.id * 8 + 1, t.project_id, '', n.body FROM notes n JOIN tasks t ON t.id = n.task_id;
INSERT INTO search_index (rowid, project_id, title, body)
SELECT id * 8 + 2, project_id, subject, body FROM messages;
INSERT INTO search_index (rowid, project_id, title, body)
SELECT id * 8 + 3, project_id, name, coalesce(description, '') || char(10) FROM artifacts;

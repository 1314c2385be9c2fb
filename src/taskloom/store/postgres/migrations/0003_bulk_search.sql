-- 0003: a bulk load builds the search index once, after its rows (PgStore.load, bulk.sql).
-- Per row, the index triggers cost an import of 100k tasks (550k rows) most of its time: a
-- plpgsql call, a tsvector and a GIN insert per document. So each trigger's INSERT half is a
-- trigger of its own that does not fire while the transaction-local setting taskloom.bulk is
-- 'on' (SET LOCAL: no other transaction, replica or project sees it); the load then writes
-- those documents with one INSERT ... SELECT per kind, the same rows these triggers write.
-- The WHEN clause (a built-in call, not a function of ours: trigger conditions are not inlined),
-- not a test inside the function: a row whose trigger's WHEN is false queues no after-trigger
-- event at all. DELETE and UPDATE keep their triggers, bulk or not.

DROP TRIGGER search_task ON tasks;
CREATE TRIGGER search_task AFTER DELETE OR UPDATE OF title, description, acceptance, context, summary
ON tasks FOR EACH ROW EXECUTE FUNCTION search_index_task();
CREATE TRIGGER search_task_insert AFTER INSERT ON tasks
FOR EACH ROW WHEN (current_setting('taskloom.bulk', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION search_index_task();

DROP TRIGGER search_note ON notes;
CREATE TRIGGER search_note AFTER DELETE OR UPDATE OF body ON notes
FOR EACH ROW EXECUTE FUNCTION search_index_note();
CREATE TRIGGER search_note_insert AFTER INSERT ON notes
FOR EACH ROW WHEN (current_setting('taskloom.bulk', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION search_index_note();

DROP TRIGGER search_message ON messages;
CREATE TRIGGER search_message AFTER DELETE OR UPDATE OF subject, body ON messages
FOR EACH ROW EXECUTE FUNCTION search_index_message();
CREATE TRIGGER search_message_insert AFTER INSERT ON messages
FOR EACH ROW WHEN (current_setting('taskloom.bulk', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION search_index_message();

DROP TRIGGER search_artifact ON artifacts;
CREATE TRIGGER search_artifact AFTER DELETE OR UPDATE OF name, description ON artifacts
FOR EACH ROW EXECUTE FUNCTION search_index_artifact();
CREATE TRIGGER search_artifact_insert AFTER INSERT ON artifacts
FOR EACH ROW WHEN (current_setting('taskloom.bulk', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION search_index_artifact();

DROP TRIGGER search_artifact_text ON artifact_texts;
CREATE TRIGGER search_artifact_text AFTER DELETE OR UPDATE ON artifact_texts
FOR EACH ROW EXECUTE FUNCTION search_index_artifact_text();
CREATE TRIGGER search_artifact_text_insert AFTER INSERT ON artifact_texts
FOR EACH ROW WHEN (current_setting('taskloom.bulk', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION search_index_artifact_text();

-- A bulk load (PgStore.load, migration 0003): the search index's documents of the projects it
-- loaded, written once after their rows, in the load's transaction, instead of by the per-row
-- triggers, which skip a row inserted while taskloom.bulk is 'on'. Each statement writes what
-- its trigger would have (search_put's upsert included), for every row of those projects.
-- Not in queries/: no service names these; only the store runs them, around a load.

-- name: bulk_begin
SELECT set_config('taskloom.bulk', 'on', true);

-- name: bulk_end
SELECT set_config('taskloom.bulk', 'off', true);

-- name: bulk_search_tasks
INSERT INTO search_index (id, project_id, title, body)
SELECT t.id * 8, t.project_id, t.title, search_task_body(t) FROM tasks t WHERE t.project_id = ANY(:projects)
ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body;

-- name: bulk_search_notes
INSERT INTO search_index (id, project_id, title, body)
SELECT n.id * 8 + 1, t.project_id, '', n.body FROM notes n JOIN tasks t ON t.id = n.task_id
WHERE t.project_id = ANY(:projects)
ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body;

-- name: bulk_search_messages
INSERT INTO search_index (id, project_id, title, body)
SELECT m.id * 8 + 2, m.project_id, m.subject, m.body FROM messages m WHERE m.project_id = ANY(:projects)
ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body;

-- name: bulk_search_artifacts
-- After artifact_texts' rows: the body is the description and the text, as the triggers leave it.
INSERT INTO search_index (id, project_id, title, body)
SELECT a.id * 8 + 3, a.project_id, a.name, search_artifact_body(a.id, a.description) FROM artifacts a
WHERE a.project_id = ANY(:projects)
ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body;

-- name: bulk_foreign_keys
-- The foreign keys of taskloom's tables that this role may alter (it owns them when it migrated
-- them), as the statements that drop each and add it back exactly as it was. A load drops them
-- before its rows and adds them after: adding a foreign key checks every row with one join
-- (PostgreSQL's initial check) and refuses a missing row with the same error, 23503, in the same
-- words, as the per-row check, which cost an import of 100k tasks 700k lookups (3-4 s).
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname) AS drop_fk,
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) AS add_fk
FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
WHERE c.contype = 'f' AND r.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
  AND pg_has_role(r.relowner, 'USAGE')
ORDER BY c.oid;

-- name: bulk_analyze
-- After a load commits: the statement that gathers planner statistics on taskloom's tables that
-- this role owns. A loaded table has none until autovacuum comes by (a minute or more), and
-- without them the planner guessed 214 tasks where 100k had arrived: task_list sorted them all
-- for each page (100 ms) instead of walking the primary key (0.7 ms). pg_restore's own advice.
-- Store.load runs it with a statistics target of 10 (a 3,000-row sample): the row counts and
-- the few values of a status are what our plans hang on, and the default target's 30,000-row
-- sample cost an import of 100k tasks 2.4 s of server CPU, a tenth of that at 10. Autovacuum
-- gathers the full statistics once a tenth of the rows have changed.
SELECT 'ANALYZE ' || string_agg(r.oid::regclass::text, ', ' ORDER BY r.oid) AS analyze
FROM pg_class r
WHERE r.relkind = 'r' AND r.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
  AND pg_has_role(r.relowner, 'USAGE');

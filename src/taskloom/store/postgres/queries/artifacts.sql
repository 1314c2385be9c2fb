-- Artifacts: metadata rows and their links. The bytes are in store/blobs.py.
-- PostgreSQL: store/sqlite/queries/artifacts.sql ported (docs/postgres-port.md).

-- name: artifact_by_sha
SELECT * FROM artifacts WHERE project_id = :project AND sha256 = :sha;

-- name: artifact_insert
INSERT INTO artifacts (project_id, sha256, name, media_type, size, description, uploaded_by, uploaded_at)
VALUES (:project, :sha, :name, :media_type, :size, :description, :agent, :now)
RETURNING id;

-- name: artifact_fill_description
-- A re-upload may describe content that had no description; it never overwrites one.
UPDATE artifacts SET description = :description WHERE id = :id AND description IS NULL;

-- name: artifact_bytes_used
-- sum(bigint) is numeric in PostgreSQL: the cast keeps it an int for the quota check.
SELECT coalesce(sum(size), 0)::bigint FROM artifacts WHERE project_id = :project;

-- name: artifact_link
INSERT INTO artifact_links (artifact_id, kind, target_id, linked_by, linked_at)
VALUES (:id, :kind, :target, :agent, :now)
ON CONFLICT DO NOTHING;

-- name: artifact_relinked
UPDATE artifacts SET unlinked_at = NULL WHERE id = :id AND unlinked_at IS NOT NULL;

-- name: artifact_unlink
DELETE FROM artifact_links WHERE artifact_id = :id AND kind = :kind AND target_id = :target;

-- name: artifact_mark_unlinked
-- Starts gc's grace period when the last link goes.
UPDATE artifacts SET unlinked_at = :now
WHERE id = :id AND unlinked_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM artifact_links WHERE artifact_id = :id);

-- name: artifact_links_of
-- Each link as 'task:T-1', 'stream:api', 'sprint:S1' or 'project'.
SELECT CASE l.kind
         WHEN 'task' THEN 'task:' || (SELECT code FROM tasks WHERE id = l.target_id)
         WHEN 'stream' THEN 'stream:' || (SELECT code FROM streams WHERE id = l.target_id)
         WHEN 'sprint' THEN 'sprint:' || (SELECT code FROM sprints WHERE id = l.target_id)
         ELSE 'project' END AS link
FROM artifact_links l WHERE l.artifact_id = :id ORDER BY l.linked_at, l.kind, l.target_id;

-- name: artifact_list
-- Newest first. Filters are optional (NULL means any). A stream or sprint filter also matches
-- artifacts linked to the stream's or sprint's tasks. :name_like is a LIKE pattern (escape '\')
-- on the lower-cased name, from domain/globs.py; :media_prefix matches 'image/' or a whole type.
SELECT a.* FROM artifacts a
WHERE a.project_id = :project
  AND (:task_id::bigint IS NULL OR EXISTS (
        SELECT 1 FROM artifact_links l WHERE l.artifact_id = a.id AND l.kind = 'task' AND l.target_id = :task_id))
  AND (:stream_id::bigint IS NULL OR EXISTS (
        SELECT 1 FROM artifact_links l WHERE l.artifact_id = a.id
          AND ((l.kind = 'stream' AND l.target_id = :stream_id)
               OR (l.kind = 'task' AND l.target_id IN (SELECT id FROM tasks WHERE stream_id = :stream_id)))))
  AND (:sprint_id::bigint IS NULL OR EXISTS (
        SELECT 1 FROM artifact_links l WHERE l.artifact_id = a.id
          AND ((l.kind = 'sprint' AND l.target_id = :sprint_id)
               OR (l.kind = 'task' AND l.target_id IN (SELECT id FROM tasks WHERE sprint_id = :sprint_id)))))
  AND (:name_like::text IS NULL OR lower(a.name) LIKE :name_like ESCAPE '\')
  AND (:media_prefix::text IS NULL OR starts_with(a.media_type, :media_prefix))
ORDER BY a.uploaded_at DESC, a.id DESC
LIMIT :limit OFFSET :offset;

-- name: artifact_list_count
SELECT count(*) FROM artifacts a
WHERE a.project_id = :project
  AND (:task_id::bigint IS NULL OR EXISTS (
        SELECT 1 FROM artifact_links l WHERE l.artifact_id = a.id AND l.kind = 'task' AND l.target_id = :task_id))
  AND (:stream_id::bigint IS NULL OR EXISTS (
        SELECT 1 FROM artifact_links l WHERE l.artifact_id = a.id
          AND ((l.kind = 'stream' AND l.target_id = :stream_id)
               OR (l.kind = 'task' AND l.target_id IN (SELECT id FROM tasks WHERE stream_id = :stream_id)))))
  AND (:sprint_id::bigint IS NULL OR EXISTS (
        SELECT 1 FROM artifact_links l WHERE l.artifact_id = a.id
          AND ((l.kind = 'sprint' AND l.target_id = :sprint_id)
               OR (l.kind = 'task' AND l.target_id IN (SELECT id FROM tasks WHERE sprint_id = :sprint_id)))))
  AND (:name_like::text IS NULL OR lower(a.name) LIKE :name_like ESCAPE '\')
  AND (:media_prefix::text IS NULL OR starts_with(a.media_type, :media_prefix));

-- name: artifact_gc_candidates
-- Unlinked for at least the grace period: nothing refers to them.
SELECT a.id, a.sha256, a.size FROM artifacts a
WHERE a.project_id = :project AND a.unlinked_at IS NOT NULL AND a.unlinked_at <= :cutoff
  AND NOT EXISTS (SELECT 1 FROM artifact_links l WHERE l.artifact_id = a.id);

-- name: artifact_delete
DELETE FROM artifacts WHERE id = :id;

-- name: artifact_sha_held
-- Blobs are shared by every project in this database.
SELECT EXISTS (SELECT 1 FROM artifacts WHERE sha256 = :sha);

-- name: artifact_all_shas
-- Every blob some row still holds, in any project, leaving out the rows in :except (a JSON list
-- of ids: a dry run's would-be deletions).
SELECT DISTINCT sha256 FROM artifacts WHERE id NOT IN (SELECT jsonb_array_elements_text(:except::jsonb)::bigint);

-- name: artifact_by_prefix
-- A sha256 by its leading hex digits (the CLI shows 12); two rows back means ambiguous.
-- artifacts.sha256 is COLLATE "C", so the range is a prefix whatever the database's collation.
SELECT sha256 FROM artifacts
WHERE project_id = :project AND sha256 >= :prefix::text AND sha256 < :prefix || 'g'
ORDER BY sha256 LIMIT 2;

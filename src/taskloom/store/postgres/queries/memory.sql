-- Shared memory: keyed values per project or agent, with an optional expiry.
-- An expired entry is invisible at once; the resolver deletes it later.
-- Parameters are :named (store/postgres/named.py rewrites them for psycopg); JSON list
-- parameters are expanded with jsonb_array_elements_text, so each query stays one static statement.

-- name: memory_set
INSERT INTO memory (project_id, scope, key, value, expires_at, updated_at, updated_by)
VALUES (:project, :scope, :key, :value, :expires_at, :now, :agent)
ON CONFLICT (project_id, scope, key) DO UPDATE SET
    value = excluded.value, expires_at = excluded.expires_at, updated_at = excluded.updated_at,
    updated_by = excluded.updated_by,
    version = CASE WHEN memory.expires_at IS NOT NULL AND memory.expires_at <= :now THEN 1
                   ELSE memory.version + 1 END
RETURNING *;

-- name: memory_get
SELECT * FROM memory WHERE project_id = :project AND scope = :scope AND key = :key
  AND (expires_at IS NULL OR expires_at > :now);

-- name: memory_list
-- Prefix match as a key range, so it walks the unique index instead of scanning. :upper is the
-- least string above every key with the prefix (NULL: no bound), computed by the caller in code
-- point order: memory.key is COLLATE "C" so the range means the same here.
SELECT * FROM memory WHERE project_id = :project AND scope = :scope
  AND key >= :prefix AND (:upper::text IS NULL OR key < :upper)
  AND (expires_at IS NULL OR expires_at > :now)
ORDER BY key LIMIT :limit OFFSET :offset;

-- name: memory_delete
DELETE FROM memory WHERE project_id = :project AND scope = :scope AND key = :key
  AND (expires_at IS NULL OR expires_at > :now);

-- name: memory_purge_expired
DELETE FROM memory WHERE expires_at IS NOT NULL AND expires_at <= :now AND project_id = :project;

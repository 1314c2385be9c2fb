-- 0005: artifacts. The bytes live on disk by SHA-256 (store/blobs.py); these rows say what they
-- are and what they belong to. One row per content per project: uploading the same bytes again
-- adds links instead of a second copy.
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    description TEXT,
    uploaded_by TEXT,
    uploaded_at REAL NOT NULL,
    -- Set when the last link goes; artifacts_gc only removes what stayed unlinked this long.
    unlinked_at REAL,
    UNIQUE (project_id, sha256)
);
-- GC asks "does any project still hold this blob?"
CREATE INDEX artifacts_sha ON artifacts (sha256);

CREATE TABLE artifact_links (
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    kind TEXT NOT NULL CHECK (kind IN ('task', 'stream', 'sprint', 'project')),
    -- tasks.id, streams.id, sprints.id or projects.id, by kind
    target_id INTEGER NOT NULL,
    linked_by TEXT,
    linked_at REAL NOT NULL,
    PRIMARY KEY (artifact_id, kind, target_id)
) WITHOUT ROWID;
CREATE INDEX artifact_links_target ON artifact_links (kind, target_id, artifact_id);

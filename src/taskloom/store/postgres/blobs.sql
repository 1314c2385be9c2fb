-- Artifact bytes in the database, chunked, so every replica reaches them (store/postgres/blobs.py).
-- A blob row exists only with all its chunks: both are written in one transaction.

-- name: blobs_schema
-- Idempotent; the lead folds the two tables into schema.sql. No foreign key from artifacts to
-- blobs: gc deletes a blob on its own connection while its write transaction holds artifact rows.
CREATE TABLE IF NOT EXISTS blobs (
    sha256 text PRIMARY KEY,
    size bigint NOT NULL,
    created_at double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS blob_chunks (
    sha256 text NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
    seq integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (sha256, seq)
);

-- name: blobs_schema_lock
-- Two replicas starting together would race on CREATE TABLE IF NOT EXISTS (pg_type's unique index).
SELECT pg_advisory_xact_lock(hashtext('taskloom blobs schema'));

-- name: blob_insert
-- Returns a row only when this call stored the blob; a concurrent insert of the same blob waits
-- for the other transaction and then inserts nothing.
INSERT INTO blobs (sha256, size, created_at) VALUES (:sha, :size, :now)
ON CONFLICT (sha256) DO NOTHING
RETURNING sha256;

-- name: blob_chunks_copy
COPY blob_chunks (sha256, seq, data) FROM STDIN (FORMAT BINARY);

-- name: blob_freshen
-- An upload found these bytes stored: gc's grace period starts again before its row is recorded.
UPDATE blobs SET created_at = greatest(created_at, :now) WHERE sha256 = :sha RETURNING size;

-- name: blob_get
SELECT size, created_at FROM blobs WHERE sha256 = :sha;

-- name: blob_chunk
SELECT data FROM blob_chunks WHERE sha256 = :sha AND seq = :seq;

-- name: blob_delete
-- The chunks go with it (ON DELETE CASCADE).
DELETE FROM blobs WHERE sha256 = :sha RETURNING size;

-- name: blob_shas
SELECT sha256 FROM blobs ORDER BY sha256;

-- name: blob_snapshot
-- The first statement of a read: one snapshot for every chunk, so a gc cannot cut a read in half.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;

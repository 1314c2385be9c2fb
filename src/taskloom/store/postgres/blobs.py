"""Artifact blobs in PostgreSQL, chunked, so every replica of a project reaches them.

An upload spools to an anonymous local temp file while it is hashed, so a failed or over-limit
upload never touches the database, and the kernel frees the spool even if the process is killed.
On commit, ONE transaction inserts the blob row (`ON CONFLICT DO NOTHING`) and, only if that
inserted, copies the chunks in: identical content is stored once, and a blob row is never seen
without all its chunks. A kill mid-way rolls the whole blob back.

A read takes its chunks in one REPEATABLE READ snapshot and checks the size, and for a whole
blob the hash, before returning anything. `local_path` gives a verified copy in a temp directory
of this process (content-addressed, so each blob is copied once; removed on `close`): what a
local stdio client and the dashboard's file responses need. The copies are bounded by total
bytes (`cache_bytes`), the least recently used removed first; the copy just asked for is never
removed, and a response already streaming a removed copy keeps reading it (POSIX unlink).

These transactions do not take the store's write lock: they touch only the blob tables, and
holding that lock through a large COPY would stall every other writer.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from psycopg import Connection
from psycopg_pool import ConnectionPool

from taskloom.clock import Clock, SystemClock
from taskloom.errors import Storage
from taskloom.store import queries
from taskloom.store.blobs import CHUNK, SHA256, Stored, check_expected, fill, too_large
from taskloom.store.postgres import named

POOL_SIZE = 4  # connections: blob I/O is a few uploads and reads at a time
CACHE_BYTES = 256 * 1024 * 1024  # local copies kept for file responses, least recently used dropped


def load_queries() -> dict[str, str]:
    """blobs.sql, rewritten for psycopg by the backend's one `:name` rewrite (named.py)."""
    loaded = queries.load(Path(__file__).with_name("blobs.sql"))
    return {name: named.pyformat(sql) for name, sql in loaded.items()}


class PgBlobWriter:
    """One upload: chunks spooled to an anonymous temp file, stored in the database on commit."""

    def __init__(self, blobs: PgBlobs, limit: int, sha256: str | None, size: int | None) -> None:
        self._blobs = blobs
        self._limit = limit
        self._want = (sha256, size)
        self._hash = hashlib.sha256()
        self.size = 0
        # Unnamed (O_TMPFILE): the kernel frees it when the process dies; closed by commit/abort.
        self._spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._limit:
            self.abort()
            raise too_large(self._limit)
        self._hash.update(chunk)
        self._spool.write(chunk)

    def commit(self) -> Stored:
        try:
            sha = self._hash.hexdigest()
            check_expected(sha, self.size, *self._want)
            self._spool.seek(0)
            return self._blobs._store(sha, self.size, self._spool)
        finally:
            self.abort()

    def abort(self) -> None:
        self._spool.close()


class PgBlobs:
    """The `Blobs` protocol (store/blobs.py) on a PostgreSQL database, over a pool of its own.

    Its own pool, not the store's: gc and `record` call blob methods from inside a store write,
    and eight writes each waiting for a ninth connection from one shared pool would deadlock.
    """

    def __init__(self, pool: ConnectionPool, clock: Clock | None = None, *, cache_bytes: int = CACHE_BYTES) -> None:
        self._pool = pool
        self._clock = clock or SystemClock()
        self._q = load_queries()
        self._cache: Path | None = None
        self._cache_lock = threading.Lock()
        self._cache_bytes = cache_bytes
        self._cached: OrderedDict[str, int] = OrderedDict()  # sha -> size, least recently used first

    @classmethod
    def open(cls, url: str, clock: Clock | None = None, *, pool_size: int = POOL_SIZE,
             cache_bytes: int = CACHE_BYTES) -> PgBlobs:
        """Connect to `url` and make sure the blob tables exist."""
        pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=True,
                              kwargs={"application_name": f"taskloom blobs {os.getpid()}"})
        try:
            blobs = cls(pool, clock, cache_bytes=cache_bytes)
            blobs.ensure_schema()
        except BaseException:
            pool.close()
            raise
        return blobs

    def ensure_schema(self) -> None:
        with self._pool.connection() as conn:
            conn.execute(self._q["blobs_schema_lock"])
            conn.execute(self._q["blobs_schema"])

    def close(self) -> None:
        self._pool.close()
        if self._cache is not None:
            shutil.rmtree(self._cache, ignore_errors=True)

    # ---------------------------------------------------------------- writing

    def writer(self, limit: int, *, sha256: str | None = None, size: int | None = None) -> PgBlobWriter:
        return PgBlobWriter(self, limit, sha256, size)

    def put(self, data: bytes, limit: int) -> Stored:
        return fill(self.writer(limit), data)

    def _store(self, sha: str, size: int, spool: IO[bytes]) -> Stored:
        now = self._clock.now()
        with self._pool.connection() as conn, conn.transaction():
            if conn.execute(self._q["blob_insert"], {"sha": sha, "size": size, "now": now}).fetchone() is None:
                conn.execute(self._q["blob_freshen"], {"sha": sha, "now": now})
                return Stored(sha, size, new=False)
            with conn.cursor().copy(self._q["blob_chunks_copy"]) as copy:
                copy.set_types(["text", "int4", "bytea"])
                seq = 0
                while chunk := spool.read(CHUNK):
                    copy.write_row((sha, seq, chunk))
                    seq += 1
        return Stored(sha, size, new=True)

    def known(self, sha256: str, size: int) -> Stored | None:
        with self._pool.connection() as conn:
            row = conn.execute(self._q["blob_freshen"], {"sha": _checked(sha256), "now": self._clock.now()}).fetchone()
        return None if row is None else Stored(sha256, row[0], new=False)

    def delete(self, sha256: str) -> int:
        with self._pool.connection() as conn:
            row = conn.execute(self._q["blob_delete"], {"sha": _checked(sha256)}).fetchone()
        return 0 if row is None else row[0]

    # ---------------------------------------------------------------- reading

    def exists(self, sha256: str) -> bool:
        return self._get(sha256) is not None

    def size(self, sha256: str) -> int:
        row = self._get(sha256)
        return 0 if row is None else row[0]

    def age(self, sha256: str) -> float:
        row = self._get(sha256)
        return 0.0 if row is None else max(0.0, self._clock.now() - row[1])

    def shas(self) -> Iterator[str]:
        with self._pool.connection() as conn:
            rows = conn.execute(self._q["blob_shas"]).fetchall()
        return iter([r[0] for r in rows])

    def stale_temps(self, older_than: float) -> list[Path]:
        """None ever: spools are unnamed files, freed by the kernel when their process dies."""
        return []

    def read(self, sha256: str, limit: int | None = None) -> bytes:
        out = bytearray()
        for chunk in self._chunks(sha256, limit):
            out += chunk
        return bytes(out if limit is None else out[:limit])

    def local_path(self, sha256: str) -> Path:
        cache = self._cache_dir()
        final = cache / _checked(sha256)
        with self._cache_lock:
            if sha256 in self._cached and final.is_file():
                self._cached.move_to_end(sha256)
                return final  # written only after its hash was checked, and read-only since
        fd, name = tempfile.mkstemp(dir=cache, prefix="fill-")
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in self._chunks(sha256, None):
                    f.write(chunk)
            os.chmod(name, 0o444)
            os.replace(name, final)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        self._keep(sha256, final.stat().st_size)
        return final

    def cached_bytes(self) -> int:
        """What the local copies hold now, in bytes."""
        with self._cache_lock:
            return sum(self._cached.values())

    def _keep(self, sha256: str, size: int) -> None:
        with self._cache_lock:
            self._cached[sha256] = size
            self._cached.move_to_end(sha256)
            total = sum(self._cached.values())
            while total > self._cache_bytes and len(self._cached) > 1:
                old, freed = self._cached.popitem(last=False)
                if self._cache is not None:
                    (self._cache / old).unlink(missing_ok=True)
                total -= freed

    def _cache_dir(self) -> Path:
        with self._cache_lock:
            if self._cache is None:
                self._cache = Path(tempfile.mkdtemp(prefix="taskloom-blobs-"))
            return self._cache

    def _get(self, sha256: str) -> Any:
        with self._pool.connection() as conn:
            return conn.execute(self._q["blob_get"], {"sha": _checked(sha256)}).fetchone()

    def _chunks(self, sha256: str, limit: int | None) -> Iterator[bytes]:
        """The blob's bytes in order from one snapshot; the whole blob (`limit` None) is checked
        against its hash, a prefix against its length. Raises FileNotFoundError if not stored."""
        with self._pool.connection() as conn:
            conn.execute(self._q["blob_snapshot"])
            row = conn.execute(self._q["blob_get"], {"sha": _checked(sha256)}).fetchone()
            if row is None:
                raise FileNotFoundError(f"blob {sha256}")
            size = row[0]
            want = size if limit is None else min(size, limit)
            digest = hashlib.sha256()
            got = seq = 0
            while got < want:
                data = _chunk(conn, self._q["blob_chunk"], sha256, seq)
                if data is None:
                    raise _damaged(sha256, f"chunk {seq} is missing")
                got += len(data)
                digest.update(data)
                seq += 1
                yield data
            if limit is None and (_chunk(conn, self._q["blob_chunk"], sha256, seq) is not None or got != size):
                raise _damaged(sha256, f"its chunks hold more or less than its {size} bytes")
            if limit is None and digest.hexdigest() != sha256:
                raise _damaged(sha256, "its bytes do not hash to its name")


def _chunk(conn: Connection[Any], sql: str, sha: str, seq: int) -> bytes | None:
    row = conn.execute(sql, {"sha": sha, "seq": seq}).fetchone()
    return None if row is None else bytes(row[0])


def _checked(sha256: str) -> str:
    # As BlobStore.path: callers have checked the digest already (domain.artifacts.sha_of).
    if not SHA256.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256[:80]!r}")
    return sha256


def _damaged(sha256: str, what: str) -> Storage:
    return Storage(f"The stored bytes of blob {sha256} are damaged: {what}.",
                   hint="Nothing was returned. Upload the file again, and report it to the orchestrator.")

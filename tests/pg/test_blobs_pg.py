"""Artifact blobs in PostgreSQL (store/postgres/blobs.py) keep the guarantees of blobs on disk.

The shared ones run on both implementations of the `Blobs` protocol: bytes come back whole under
their SHA-256, identical content is stored once, and a refused upload (over the limit, or not the
declared hash or size) leaves nothing. The rest is PostgreSQL's own: chunks, a writer killed -9
in the middle of its COPY, two processes storing the same bytes at once, and gc through the
artifacts service. Each test gets a database of its own in the session's throwaway cluster.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskloom.clock import ManualClock
from taskloom.errors import InvalidInput, Storage, TooLarge
from taskloom.services import artifacts, uploads
from taskloom.services.app import Taskloom
from taskloom.store.blobs import CHUNK, Blobs, BlobStore
from tests.pg.cluster import Cluster

psycopg = pytest.importorskip("psycopg")
from taskloom.store.postgres.blobs import PgBlobs  # after the skip: it imports the driver

GRACE = 600.0  # artifacts_gc's default grace period, in seconds
WAIT = 30  # seconds a subprocess or a lock may take before the test fails instead of hanging


def content(seed: int, size: int) -> bytes:
    """The same bytes in this process and in a child given the same seed."""
    return random.Random(seed).randbytes(size)


@dataclass
class Backend:
    blobs: Blobs
    leftovers: Callable[[], list[str]]  # everything stored, temp files and chunks included


@pytest.fixture
def pg_dsn(pg_cluster: Cluster) -> str:
    return pg_cluster.create_database(f"blobs_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def pg_blobs(pg_dsn: str, clock: ManualClock) -> Iterator[PgBlobs]:
    blobs = PgBlobs.open(pg_dsn, clock)
    try:
        yield blobs
    finally:
        blobs.close()


def counts(dsn: str) -> tuple[int, int]:
    """(blob rows, chunk rows), once no transaction writing them is still open."""
    with psycopg.connect(dsn) as conn:
        conn.execute(f"SET lock_timeout = '{WAIT}s'")
        # SHARE waits for every open transaction that inserted into the table: a killed writer's
        # too, until the server has noticed the kill and rolled it back.
        conn.execute("LOCK TABLE blobs, blob_chunks IN SHARE MODE")
        blobs = conn.execute("SELECT count(*) FROM blobs").fetchone()[0]
        chunks = conn.execute("SELECT count(*) FROM blob_chunks").fetchone()[0]
        return blobs, chunks


@pytest.fixture(params=["disk", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "disk":
        disk = BlobStore(tmp_path / "blobs")
        tmp = disk.root / "tmp"
        return Backend(disk, lambda: [*disk.shas(), *(p.name for p in (tmp.iterdir() if tmp.is_dir() else []))])
    pg: PgBlobs = request.getfixturevalue("pg_blobs")
    dsn: str = request.getfixturevalue("pg_dsn")
    return Backend(pg, lambda: [*pg.shas(), *(["chunk"] * counts(dsn)[1])])


# ---------------------------------------------------------------- both implementations


@pytest.mark.parametrize("size", [0, 1, CHUNK, 3 * CHUNK + 1], ids=["0B", "1B", "one-chunk", "three-chunks+1B"])
def test_bytes_come_back_whole_under_their_sha256_by_read_prefix_and_local_file(backend: Backend, size: int):
    blobs, data = backend.blobs, os.urandom(size)
    stored = blobs.put(data, limit=size)
    sha = hashlib.sha256(data).hexdigest()
    assert (stored.sha256, stored.size, stored.new) == (sha, size, True)
    assert blobs.read(sha) == data and blobs.read(sha, limit=5) == data[:5]
    assert blobs.read(sha, limit=CHUNK + 1) == data[: CHUNK + 1]
    assert blobs.local_path(sha).read_bytes() == data
    assert blobs.exists(sha) and blobs.size(sha) == size and list(blobs.shas()) == [sha]
    assert backend.leftovers() == [sha] + (["chunk"] * -(-size // CHUNK) if isinstance(blobs, PgBlobs) else [])


def test_the_same_bytes_stored_twice_are_kept_once_and_the_second_store_freshens_them(backend, clock):
    first = backend.blobs.put(b"twice", limit=100)
    clock.advance(3600)
    second = backend.blobs.put(b"twice", limit=100)
    assert (first.new, second.new) == (True, False)
    assert list(backend.blobs.shas()) == [first.sha256]
    assert backend.blobs.age(first.sha256) < 60  # gc's grace period starts again for the re-upload


def test_bytes_other_than_the_declared_hash_or_size_are_refused_and_leave_nothing(backend):
    data = b"what was sent"
    sha = hashlib.sha256(data).hexdigest()
    for wrong in ({"sha256": "0" * 64}, {"size": len(data) + 1}, {"sha256": sha, "size": len(data) - 1}):
        writer = backend.blobs.writer(100, **wrong)
        writer.write(data)
        with pytest.raises(InvalidInput):
            writer.commit()
        assert backend.leftovers() == []
    writer = backend.blobs.writer(100, sha256=sha, size=len(data))
    writer.write(data)
    assert writer.commit().sha256 == sha


def test_going_over_the_limit_mid_stream_raises_too_large_and_leaves_nothing(backend):
    writer = backend.blobs.writer(limit=CHUNK)
    writer.write(b"x" * (CHUNK - 1))
    with pytest.raises(TooLarge) as caught:
        writer.write(b"xx")
    assert caught.value.details == {"limit": CHUNK}
    with pytest.raises(TooLarge):
        backend.blobs.put(b"y" * (2 * CHUNK + 1), limit=2 * CHUNK)
    assert backend.leftovers() == []


def test_an_aborted_writer_leaves_nothing(backend):
    writer = backend.blobs.writer(limit=100)
    writer.write(b"partial")
    writer.abort()
    assert backend.leftovers() == []


def test_delete_frees_the_blob_and_its_bytes_once(backend):
    stored = backend.blobs.put(b"x" * (CHUNK + 5), limit=2 * CHUNK)
    assert backend.blobs.delete(stored.sha256) == CHUNK + 5
    assert backend.blobs.delete(stored.sha256) == 0
    assert not backend.blobs.exists(stored.sha256) and backend.leftovers() == []


def test_a_blob_that_is_not_stored_is_file_not_found_and_has_no_size_or_age(backend):
    sha = "a" * 64
    for read in (backend.blobs.read, backend.blobs.local_path):
        with pytest.raises(FileNotFoundError):
            read(sha)
    assert (backend.blobs.exists(sha), backend.blobs.size(sha), backend.blobs.age(sha)) == (False, 0, 0.0)


# ---------------------------------------------------------------- PostgreSQL's own


def test_a_blob_is_stored_as_whole_chunks_in_order_and_a_damaged_chunk_is_never_served(pg_blobs, pg_dsn):
    data = os.urandom(2 * CHUNK + 7)
    sha = pg_blobs.put(data, limit=len(data)).sha256
    with psycopg.connect(pg_dsn) as conn:
        sizes = conn.execute("SELECT seq, length(data) FROM blob_chunks ORDER BY seq").fetchall()
        assert sizes == [(0, CHUNK), (1, CHUNK), (2, 7)]
        conn.execute("UPDATE blob_chunks SET data = %s WHERE seq = 1", (b"z" * CHUNK,))
    with pytest.raises(Storage, match="do not hash"):
        pg_blobs.read(sha)
    with pytest.raises(Storage):
        pg_blobs.local_path(sha)
    assert list(pg_blobs._cache_dir().iterdir()) == []  # no unchecked copy left to serve later
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("DELETE FROM blob_chunks WHERE seq = 2")
    with pytest.raises(Storage, match="missing"):
        pg_blobs.read(sha)


def test_a_read_under_way_when_gc_deletes_the_blob_still_returns_every_byte(pg_blobs):
    data = os.urandom(3 * CHUNK)
    sha = pg_blobs.put(data, limit=len(data)).sha256
    reading = pg_blobs._chunks(sha, None)  # the generator read() drains, stopped after one chunk
    first = next(reading)
    assert pg_blobs.delete(sha) == len(data)  # committed on another connection meanwhile
    assert first + b"".join(reading) == data  # the read's snapshot still holds them
    assert not pg_blobs.exists(sha)


# A child process: stores `size` bytes of content(seed); with `stall` >= 0 its commit says so
# and waits, mid-COPY, after that many chunks (until killed, or until a line on stdin).
WRITER = """
import random, sys
from taskloom.store.blobs import CHUNK
from taskloom.store.postgres.blobs import PgBlobs

class Stalling:
    def __init__(self, spool, after):
        self.spool, self.after, self.reads = spool, after, 0
    def read(self, n):
        if self.reads == self.after:
            print("inserting", flush=True)
            sys.stdin.readline()
        self.reads += 1
        return self.spool.read(n)
    def __getattr__(self, name):
        return getattr(self.spool, name)

dsn, seed, size, stall = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
blobs = PgBlobs.open(dsn)
writer = blobs.writer(limit=size)
writer.write(random.Random(seed).randbytes(size))
writer._spool = Stalling(writer._spool, stall)
print("stored", writer.commit().new, flush=True)
blobs.close()
"""


@pytest.fixture
def writers() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(dsn: str, seed: int, size: int, stall: int = -1) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, dsn, str(seed), str(size), str(stall)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT)
        proc.stdin.close()
        proc.stdout.close()


def copying(dsn: str) -> list[str]:
    """The statements blob writers are running now."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT query FROM pg_stat_activity WHERE application_name LIKE 'taskloom blobs %' "
                            "AND state = 'active'").fetchall()
        return [r[0].split()[0] for r in rows]


def test_a_writer_killed_mid_copy_leaves_no_blob_row_and_no_chunks(pg_blobs, pg_dsn, writers):
    size = 8 * CHUNK + 1
    sha = hashlib.sha256(content(7, size)).hexdigest()
    child = writers(pg_dsn, 7, size, stall=4)
    assert child.stdout.readline() == b"inserting\n"
    assert copying(pg_dsn) == ["COPY"]  # the kill lands mid-insert, the blob row already written
    assert not pg_blobs.exists(sha)  # and nothing of it is visible meanwhile

    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(WAIT) == -signal.SIGKILL
    assert counts(pg_dsn) == (0, 0)
    assert pg_blobs.put(content(7, size), limit=size).new  # the bytes can be stored again, whole
    assert pg_blobs.read(sha) == content(7, size)


def test_two_processes_storing_the_same_bytes_at_once_store_them_once(pg_blobs, pg_dsn, writers):
    size = 6 * CHUNK + 3
    first = writers(pg_dsn, 11, size, stall=2)
    assert first.stdout.readline() == b"inserting\n"  # its blob row is inserted, not yet committed
    second = writers(pg_dsn, 11, size)
    waiting_for_the_first(pg_dsn)
    first.stdin.write(b"go\n")
    first.stdin.flush()
    assert (first.stdout.readline(), second.stdout.readline()) == (b"stored True\n", b"stored False\n")
    assert (first.wait(WAIT), second.wait(WAIT)) == (0, 0)
    assert counts(pg_dsn) == (1, 7)
    assert pg_blobs.read(hashlib.sha256(content(11, size)).hexdigest()) == content(11, size)


def waiting_for_the_first(dsn: str) -> None:
    """Until the second writer's insert blocks on the first's uncommitted row. Nothing announces
    that, so this looks, with a deadline."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(WAIT * 20):
            if conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
                return
            conn.execute("SELECT pg_sleep(0.05)")
    raise AssertionError("the second writer never waited for the first")


# ---------------------------------------------------------------- through the artifacts service


@pytest.fixture
def pg_app(app: Taskloom, pg_blobs: PgBlobs) -> Iterator[Taskloom]:
    """A project whose artifact bytes are in PostgreSQL (its rows stay in SQLite until PgStore)."""
    disk, app.blobs = app.blobs, pg_blobs
    try:
        yield app
    finally:
        app.blobs = disk


async def gc(app: Taskloom, older_than: float = GRACE):
    return await app.write(artifacts.gc, app.blobs, older_than=older_than, dry_run=False)


async def test_gc_deletes_an_unlinked_artifacts_blob_and_its_chunks_after_the_grace_and_keeps_the_rest(
    pg_app, pg_dsn, clock
):
    kept = await uploads.upload(pg_app, uploads.Source(content="keep"), name="keep.txt")
    gone = await uploads.upload(pg_app, uploads.Source(content_base64="eA=="), name="x.bin")
    await pg_app.write(artifacts.unlink, gone.artifact.sha256, ["project"])
    assert counts(pg_dsn) == (2, 2)
    clock.advance(GRACE + 1)
    result = await gc(pg_app)
    assert (result.artifacts_removed, result.blobs_removed, result.bytes_freed) == (1, 1, 1)
    assert counts(pg_dsn) == (1, 1) and list(pg_app.blobs.shas()) == [kept.artifact.sha256]


async def test_gc_spares_a_young_blob_without_a_row_and_takes_it_once_older_than_the_grace(pg_app, pg_dsn, clock):
    orphan = pg_app.blobs.put(b"an upload in flight", limit=100)
    assert (await gc(pg_app)).blobs_removed == 0
    clock.advance(GRACE + 1)
    result = await gc(pg_app)
    assert (result.blobs_removed, result.temp_files_removed) == (1, 0)
    assert not pg_app.blobs.exists(orphan.sha256) and counts(pg_dsn) == (0, 0)


async def test_an_artifact_uploaded_to_postgresql_is_read_back_by_the_tools_paths(pg_app):
    up = await uploads.upload(pg_app, uploads.Source(content="x" * (CHUNK + 9)), name="big.txt")
    got = await uploads.read(pg_app, up.artifact.sha256, want="text", max_bytes=10)
    assert (got.text, got.truncated) == ("x" * 10, True)
    path = await uploads.read(pg_app, up.artifact.sha256, want="path")
    assert Path(path.path).read_text() == "x" * (CHUNK + 9)


def test_local_copies_stay_within_their_bound_dropping_the_least_recently_used(pg_dsn, clock):
    blobs = PgBlobs.open(pg_dsn, clock, cache_bytes=3 * CHUNK)
    try:
        shas = [blobs.put(content(seed, CHUNK), limit=4 * CHUNK).sha256 for seed in range(5)]
        first = blobs.local_path(shas[0])
        held = first.open("rb")  # a response streaming it while it is dropped
        for sha in shas[1:3]:
            blobs.local_path(sha)
        blobs.local_path(shas[0])  # used again: now the most recent
        for sha in shas[3:]:
            blobs.local_path(sha)
        assert blobs.cached_bytes() <= 3 * CHUNK
        assert sorted(p.name for p in first.parent.iterdir()) == sorted([shas[0], shas[3], shas[4]])
        assert held.read() == content(0, CHUNK)
        held.close()
        # A blob bigger than the bound is still served; it alone is kept.
        big = blobs.put(content(9, 4 * CHUNK), limit=4 * CHUNK).sha256
        assert blobs.local_path(big).read_bytes() == content(9, 4 * CHUNK)
        assert [p.name for p in first.parent.iterdir()] == [big]
        assert blobs.local_path(shas[1]).read_bytes() == content(1, CHUNK)  # dropped, fetched again
    finally:
        blobs.close()


async def test_describing_an_artifact_for_a_head_request_fetches_no_bytes(pg_app):
    from taskloom.services import transfers

    up = await uploads.upload(pg_app, uploads.Source(content="y" * (CHUNK + 1)), name="big.txt")
    meta = await transfers.describe(pg_app, up.artifact.sha256)
    assert meta.size == CHUNK + 1 and pg_app.blobs.cached_bytes() == 0
    await transfers.locate(pg_app, up.artifact.sha256)
    assert pg_app.blobs.cached_bytes() == CHUNK + 1

"""The blob store on a real directory: content addressing, atomic writes, and what a killed writer leaves.

A blob is visible only under its SHA-256 (`ab/cdef...`) and only once whole: a writer killed with
SIGKILL in the middle leaves a temp file under `tmp/` that nothing lists and gc removes, never a
file in the fan-out directories.
"""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taskloom.config import Settings
from taskloom.errors import TooLarge
from taskloom.services import artifacts
from taskloom.store.backends import open_blobs
from taskloom.store.blobs import CHUNK, BlobStore

MiB = 1024 * 1024


def fanned_out(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("??/*"))


def assert_every_blob_matches_its_name(root: Path) -> None:
    for path in fanned_out(root):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.parent.name + path.name, path


def temps(root: Path) -> list[Path]:
    return sorted((root / "tmp").iterdir()) if (root / "tmp").is_dir() else []


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def test_a_blob_is_stored_under_its_sha256_fanned_out_by_the_first_two_digits_and_read_back(blobs):
    data = bytes(range(256)) * 10
    stored = blobs.put(data, limit=len(data))
    sha = hashlib.sha256(data).hexdigest()
    assert (stored.sha256, stored.size, stored.new) == (sha, len(data), True)
    assert blobs.path(sha) == blobs.root / sha[:2] / sha[2:]
    assert blobs.read(sha) == data and blobs.read(sha, limit=5) == data[:5]
    assert list(blobs.shas()) == [sha]
    assert temps(blobs.root) == []


def test_a_stored_blob_is_read_only(blobs):
    stored = blobs.put(b"immutable", limit=100)
    assert stat.S_IMODE(blobs.path(stored.sha256).stat().st_mode) == 0o444


def test_the_same_bytes_put_twice_are_one_file_and_the_second_put_is_not_new_but_makes_the_blob_fresh(blobs):
    first = blobs.put(b"twice", limit=100)
    path = blobs.path(first.sha256)
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    second = blobs.put(b"twice", limit=100)
    assert (first.new, second.new) == (True, False)
    assert fanned_out(blobs.root) == [path]
    assert temps(blobs.root) == []
    # gc spares young orphans: the upload that just found this blob has not recorded its row yet.
    assert blobs.age(first.sha256) < 60


def test_a_blob_spanning_several_chunks_hashes_and_reads_back_whole(blobs):
    data = os.urandom(2 * CHUNK + 123)
    stored = blobs.put(data, limit=len(data))
    assert blobs.read(stored.sha256) == data
    assert_every_blob_matches_its_name(blobs.root)


@pytest.mark.parametrize("bad", ["", "abc", "A" * 64, "g" * 64, "../" + "a" * 61, "a" * 63 + "/"])
def test_a_path_is_only_given_for_a_lower_case_hex_sha256(blobs, bad):
    with pytest.raises(ValueError):
        blobs.path(bad)


def test_a_writer_going_over_its_limit_mid_stream_raises_too_large_and_removes_its_temp_file(blobs):
    # The size a path upload checked with fstat can be wrong if the file grows while it is read.
    writer = blobs.writer(limit=10)
    writer.write(b"x" * 8)
    assert len(temps(blobs.root)) == 1
    with pytest.raises(TooLarge) as caught:
        writer.write(b"x" * 8)
    assert caught.value.details == {"limit": 10}
    assert temps(blobs.root) == [] and fanned_out(blobs.root) == []


def test_put_over_the_limit_leaves_nothing(blobs):
    with pytest.raises(TooLarge):
        blobs.put(b"y" * (CHUNK + 1), limit=CHUNK)
    assert temps(blobs.root) == [] and list(blobs.shas()) == []


def test_an_aborted_writer_leaves_nothing_behind(blobs):
    writer = blobs.writer(limit=100)
    writer.write(b"partial")
    writer.abort()
    assert temps(blobs.root) == [] and list(blobs.shas()) == []


def test_shas_lists_only_blobs_not_temp_files_or_stray_files(blobs):
    stored = blobs.put(b"real", limit=100)
    writer = blobs.writer(limit=100)
    writer.write(b"in flight")  # a temp file under tmp/
    (blobs.root / "zz").mkdir()
    (blobs.root / "zz" / "not-a-digest").write_bytes(b"?")
    (blobs.root / "stray.txt").write_bytes(b"?")
    assert list(blobs.shas()) == [stored.sha256]
    writer.abort()


def test_stale_temps_are_only_unlocked_upload_temp_files_older_than_asked(blobs):
    live = blobs.writer(limit=100)
    live.write(b"x")
    dead = blobs.writer(limit=100)
    dead.write(b"y")
    dead._file.close()  # as if its process died: the lock is gone, the file stays
    (blobs.root / "tmp" / "someone-elses-file").write_bytes(b"")
    assert blobs.stale_temps(older_than=600) == []
    [stale] = blobs.stale_temps(older_than=0)
    assert stale == dead._temp
    live.abort()


def test_delete_frees_the_blob_and_says_how_many_bytes_and_deleting_again_frees_nothing(blobs):
    stored = blobs.put(b"12345", limit=100)
    assert blobs.delete(stored.sha256) == 5
    assert blobs.delete(stored.sha256) == 0
    assert not blobs.exists(stored.sha256)


def test_a_store_whose_directory_does_not_exist_yet_lists_nothing(tmp_path):
    empty = BlobStore(tmp_path / "never-created")
    assert list(empty.shas()) == [] and empty.stale_temps(0) == []


# ---------------------------------------------------------------- a writer killed mid-upload

# Writes ten 1 MiB chunks of a 20 MiB upload, says so, then waits to be killed.
KILLED_WRITER = """
import os, sys
from pathlib import Path
from taskloom.store.blobs import CHUNK, BlobStore
writer = BlobStore(Path(sys.argv[1])).writer(limit=64 * CHUNK)
for _ in range(10):
    writer.write(os.urandom(CHUNK))
print("half written", flush=True)
sys.stdin.readline()
writer.commit()
"""


def kill_a_writer_mid_upload(root: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout.readline() == b"half written\n"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdin.close()
        proc.stdout.close()


async def test_a_writer_killed_mid_upload_leaves_no_visible_blob_and_gc_removes_its_temp_file(app):
    root = app.blobs.root
    kept = app.blobs.put(b"an earlier, finished blob", limit=100)
    kill_a_writer_mid_upload(root)

    [temp] = temps(root)
    assert temp.stat().st_size == 10 * MiB  # the kill did land mid-upload
    assert list(app.blobs.shas()) == [kept.sha256]
    assert_every_blob_matches_its_name(root)

    result = await app.write(artifacts.gc, app.blobs, older_than=0, dry_run=False)
    assert result.temp_files_removed == 1
    assert temps(root) == []
    assert result.blobs_removed == 1  # the earlier blob had no row: an orphan, collected with no grace


# ---------------------------------------------------------------- which blobs a database gets


def test_a_sqlite_files_blobs_live_beside_it_named_after_its_whole_name(tmp_path):
    for settings in (Settings(db_path=tmp_path / "team.db"), Settings(db_url=f"sqlite:///{tmp_path}/team.db")):
        blobs = open_blobs(settings)
        assert isinstance(blobs, BlobStore) and blobs.root == tmp_path / "team.db-artifacts"
    assert open_blobs(Settings(db_path=tmp_path / "team.sqlite")).root == tmp_path / "team.sqlite-artifacts"


def test_each_in_memory_database_gets_blobs_of_its_own(tmp_path):
    first, second = (open_blobs(Settings(db_path=Path(":memory:"))) for _ in range(2))
    assert first.root != second.root and not first.root.exists()

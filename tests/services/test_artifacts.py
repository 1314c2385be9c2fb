"""Artifacts as stored: deduplication, the size limit and the quota, and garbage collection.

Every test works on a real SQLite file with its blob directory beside it, through the upload
service the tools and the CLI share, and then looks at the disk and the database directly:
one blob file per content, nothing partial after a refusal, and gc never taking a blob that
any row (in any project of the file) still holds.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.errors import TaskloomError
from taskloom.services import artifacts, uploads
from taskloom.services.app import Taskloom

GRACE = 600.0  # artifacts_gc's default grace period, in seconds


def text(data: str) -> uploads.Source:
    return uploads.Source(content=data)


def blob_files(app: Taskloom) -> list[Path]:
    return sorted(p for p in app.blobs.root.glob("??/*") if p.is_file())


def temp_files(app: Taskloom) -> list[Path]:
    tmp = app.blobs.root / "tmp"
    return sorted(tmp.iterdir()) if tmp.is_dir() else []


def artifact_rows(db: Path) -> list[tuple[str, str, int]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT sha256, name, project_id FROM artifacts ORDER BY id").fetchall()
    finally:
        conn.close()


async def gc(app: Taskloom, older_than: float = GRACE, dry_run: bool = False):
    return await app.write(artifacts.gc, app.blobs, older_than=older_than, dry_run=dry_run)


@pytest.fixture
async def limited(settings: Settings, clock: ManualClock) -> AsyncIterator[Taskloom]:
    """An app with a 1,000-byte artifact limit and a 1,500-byte project quota."""
    app = await Taskloom.open(dataclasses.replace(settings, artifact_max_bytes=1000, artifact_quota_bytes=1500), clock)
    try:
        yield app
    finally:
        await app.close()


async def expect_error(code: str, coro) -> TaskloomError:
    with pytest.raises(TaskloomError) as caught:
        await coro
    assert caught.value.code == code, caught.value
    return caught.value


# ---------------------------------------------------------------- deduplication


async def test_the_same_bytes_uploaded_twice_are_one_blob_file_and_one_row_and_new_is_false_the_second_time(
    app, db_path
):
    first = await uploads.upload(app, text("# report\n"), name="report.md")
    second = await uploads.upload(app, text("# report\n"), name="report.md")
    assert first.new is True and second.new is False
    assert first.artifact.uri == second.artifact.uri
    assert first.artifact.sha256 == hashlib.sha256(b"# report\n").hexdigest()
    assert [p.parent.name + p.name for p in blob_files(app)] == [first.artifact.sha256]
    assert len(artifact_rows(db_path)) == 1
    assert temp_files(app) == []


async def test_a_second_upload_of_the_same_bytes_under_another_name_keeps_the_first_name_and_says_so(app, db_path):
    await uploads.upload(app, text("same"), name="first.txt")
    again = await uploads.upload(app, text("same"), name="second.txt")
    assert again.new is False and again.artifact.name == "first.txt"
    assert "first.txt" in again.message
    assert [name for _, name, _ in artifact_rows(db_path)] == ["first.txt"]


async def test_a_second_upload_of_the_same_bytes_merges_its_links_with_the_first(app, client):
    await client.call_tool("task_create", {"tasks": [{"title": "a"}, {"title": "b"}]})
    await uploads.upload(app, text("shared"), name="s.txt", links=["task:T-1"])
    again = await uploads.upload(app, text("shared"), name="s.txt", links=["task:T-2", "task:T-1"])
    assert again.artifact.links == ["task:T-1", "task:T-2"]


async def test_a_description_given_on_a_later_upload_fills_an_empty_one_but_never_replaces_one(app):
    await uploads.upload(app, text("x"), name="x.txt")
    filled = await uploads.upload(app, text("x"), name="x.txt", description="the x file")
    kept = await uploads.upload(app, text("x"), name="x.txt", description="something else")
    assert filled.artifact.description == kept.artifact.description == "the x file"


async def test_two_projects_in_one_database_share_one_blob_file_but_each_has_its_own_row(app, settings, clock, db_path):
    other = await Taskloom.open(dataclasses.replace(settings, project="other"), clock)
    try:
        mine = await uploads.upload(app, text("common"), name="c.txt")
        theirs = await uploads.upload(other, text("common"), name="c.txt")
    finally:
        await other.close()
    assert mine.new and theirs.new  # new to each project
    assert len(blob_files(app)) == 1
    assert len({project for _, _, project in artifact_rows(db_path)}) == 2


# ---------------------------------------------------------------- the size limit and the quota


@pytest.mark.parametrize(
    "source",
    [
        uploads.Source(content="x" * 1001),
        uploads.Source(content_base64="eHh4" * 400),  # 1,200 bytes once decoded
    ],
    ids=["content", "content_base64"],
)
async def test_an_artifact_over_the_size_limit_is_too_large_and_leaves_no_temp_file_blob_or_row(
    limited, db_path, source
):
    error = await expect_error("too_large", uploads.upload(limited, source, name="big.bin"))
    assert error.details["limit"] == 1000
    assert blob_files(limited) == [] and temp_files(limited) == [] and artifact_rows(db_path) == []


async def test_an_artifact_of_exactly_the_size_limit_is_stored(limited):
    stored = await uploads.upload(limited, text("x" * 1000), name="edge.txt")
    assert stored.artifact.size == 1000


async def test_an_upload_that_would_go_over_the_project_quota_is_too_large_and_stores_nothing(limited, db_path):
    await uploads.upload(limited, text("a" * 1000), name="a.txt")
    error = await expect_error("too_large", uploads.upload(limited, text("b" * 600), name="b.txt"))
    assert error.details == {"used": 1000, "size": 600, "limit": 1500}
    assert len(blob_files(limited)) == 1 and temp_files(limited) == []
    assert [name for _, name, _ in artifact_rows(db_path)] == ["a.txt"]


async def test_the_quota_has_room_again_once_unlinked_artifacts_are_collected(limited, clock):
    first = await uploads.upload(limited, text("a" * 1000), name="a.txt")
    await limited.write(artifacts.unlink, first.artifact.sha256, ["project"])
    await expect_error("too_large", uploads.upload(limited, text("b" * 600), name="b.txt"))
    clock.advance(GRACE + 1)
    assert (await gc(limited)).artifacts_removed == 1
    assert (await uploads.upload(limited, text("b" * 600), name="b.txt")).new


async def test_uploading_bytes_the_project_already_holds_costs_no_quota(limited):
    await uploads.upload(limited, text("a" * 1000), name="a.txt")
    again = await uploads.upload(limited, text("a" * 1000), name="a.txt", links=["project"])
    assert again.new is False


async def test_the_quota_is_per_project_so_another_project_in_the_same_file_is_not_charged(limited, clock):
    other = await Taskloom.open(dataclasses.replace(limited.settings, project="other"), clock)
    try:
        await uploads.upload(limited, text("a" * 1000), name="a.txt")
        assert (await uploads.upload(other, text("b" * 1000), name="b.txt")).new
    finally:
        await other.close()


async def test_two_uploads_racing_for_the_last_of_the_quota_leave_one_artifact_and_no_orphan_blob(settings, clock):
    # Each upload's progress callback runs after its quota precheck passed; holding the first
    # until the second reports makes both pass the precheck before either records.
    app = await Taskloom.open(dataclasses.replace(settings, artifact_quota_bytes=3 * 2**20), clock)
    second_started = anyio.Event()
    outcomes: dict[str, str] = {}

    async def first_progress(done, total, message):
        await second_started.wait()

    async def second_progress(done, total, message):
        second_started.set()

    async def run(name: str, fill: bytes, progress) -> None:
        try:
            await uploads.upload(app, uploads.Source(content_base64=_b64(fill * 2**21)), name=name, progress=progress)
            outcomes[name] = "stored"
        except TaskloomError as exc:
            outcomes[name] = exc.code

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run, "one.bin", b"1", first_progress)
                tg.start_soon(run, "two.bin", b"2", second_progress)
        assert sorted(outcomes.values()) == ["stored", "too_large"]
        assert temp_files(app) == []
        assert len(blob_files(app)) == 1  # the refused upload's bytes are gone too
    finally:
        await app.close()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------- garbage collection


async def test_gc_with_no_grace_period_never_removes_a_linked_artifact_or_its_blob(app, clock, db_path):
    kept = await uploads.upload(app, text("keep me"), name="k.txt")
    clock.advance(10 * GRACE)
    result = await gc(app, older_than=0)
    assert result.artifacts_removed == result.blobs_removed == 0
    assert app.blobs.read(kept.artifact.sha256) == b"keep me"
    assert len(artifact_rows(db_path)) == 1


async def test_an_unlinked_artifact_survives_gc_within_the_grace_period_and_goes_after_it(app, clock, db_path):
    gone = await uploads.upload(app, text("bye"), name="bye.txt")
    await app.write(artifacts.unlink, gone.artifact.sha256, ["project"])
    clock.advance(GRACE - 1)
    assert (await gc(app)).artifacts_removed == 0
    assert app.blobs.exists(gone.artifact.sha256)

    clock.advance(2)
    result = await gc(app)
    assert (result.artifacts_removed, result.blobs_removed, result.bytes_freed) == (1, 1, 3)
    assert not app.blobs.exists(gone.artifact.sha256) and artifact_rows(db_path) == []


async def test_relinking_an_artifact_restarts_nothing_and_protects_it_from_gc(app, clock):
    art = await uploads.upload(app, text("again"), name="a.txt")
    await app.write(artifacts.unlink, art.artifact.sha256, ["project"])
    clock.advance(GRACE / 2)
    await app.write(artifacts.link, art.artifact.sha256, ["project"])
    clock.advance(GRACE)
    assert (await gc(app)).artifacts_removed == 0
    assert app.blobs.exists(art.artifact.sha256)


async def test_a_blob_shared_by_two_projects_survives_gc_while_one_still_holds_it(app, settings, clock, db_path):
    other = await Taskloom.open(dataclasses.replace(settings, project="other"), clock)
    try:
        mine = await uploads.upload(app, text("common"), name="c.txt")
        await uploads.upload(other, text("common"), name="c.txt")
        await app.write(artifacts.unlink, mine.artifact.sha256, ["project"])
        clock.advance(GRACE + 1)
        result = await gc(app, older_than=0)
        assert (result.artifacts_removed, result.blobs_removed) == (1, 0)
        assert app.blobs.read(mine.artifact.sha256) == b"common"
        assert len(artifact_rows(db_path)) == 1
        # The other project still reads it through its own row.
        assert (await uploads.read(other, mine.artifact.sha256)).text == "common"
    finally:
        await other.close()


async def test_a_dry_run_reports_the_same_counts_a_real_run_then_has_when_another_project_shares_a_blob(
    app, settings, clock
):
    other = await Taskloom.open(dataclasses.replace(settings, project="other"), clock)
    try:
        mine = await uploads.upload(app, text("common"), name="c.txt")
        await uploads.upload(other, text("common"), name="c.txt")
        await app.write(artifacts.unlink, mine.artifact.sha256, ["project"])
        clock.advance(GRACE + 1)
        dry = await gc(app, older_than=0, dry_run=True)
        real = await gc(app, older_than=0)
        assert (dry.artifacts_removed, dry.blobs_removed) == (real.artifacts_removed, real.blobs_removed)
    finally:
        await other.close()


async def test_a_dry_run_counts_what_gc_would_remove_and_changes_nothing(app, clock, db_path):
    for n in range(2):
        art = await uploads.upload(app, text(f"old {n}"), name=f"old{n}.txt")
        await app.write(artifacts.unlink, art.artifact.sha256, ["project"])
    await uploads.upload(app, text("linked"), name="linked.txt")
    clock.advance(GRACE + 1)
    before = (blob_files(app), artifact_rows(db_path))

    dry = await gc(app, dry_run=True)
    assert (dry.artifacts_removed, dry.blobs_removed, dry.bytes_freed, dry.dry_run) == (2, 2, 10, True)
    assert (blob_files(app), artifact_rows(db_path)) == before

    real = await gc(app)
    assert (real.artifacts_removed, real.blobs_removed, real.bytes_freed) == (2, 2, 10)
    assert len(blob_files(app)) == 1 and len(artifact_rows(db_path)) == 1


async def test_gc_leaves_a_fresh_blob_without_a_row_alone_and_removes_it_once_older_than_the_grace(app):
    # An upload writes its blob before it commits the row: a young orphan may be one in flight.
    orphan = app.blobs.put(b"in flight", limit=100)
    assert (await gc(app, older_than=GRACE)).blobs_removed == 0
    assert app.blobs.exists(orphan.sha256)
    result = await gc(app, older_than=0)
    assert (result.blobs_removed, result.artifacts_removed) == (1, 0)
    assert not app.blobs.exists(orphan.sha256)


async def test_gc_removes_a_dead_uploads_temp_file_only_once_older_than_the_grace_period(app):
    writer = app.blobs.writer(limit=100)
    writer.write(b"half an upload")
    writer._file.close()  # the uploading process died: its lock on the temp file went with it
    assert (await gc(app, older_than=GRACE)).temp_files_removed == 0
    assert len(temp_files(app)) == 1
    assert (await gc(app, older_than=0)).temp_files_removed == 1
    assert temp_files(app) == []


async def test_gc_never_takes_the_temp_file_of_an_upload_that_is_still_running(app):
    writer = app.blobs.writer(limit=100)
    writer.write(b"half an upload")
    assert (await gc(app, older_than=0)).temp_files_removed == 0
    writer.write(b", and the rest")
    stored = writer.commit()
    assert app.blobs.read(stored.sha256) == b"half an upload, and the rest"


async def test_gc_with_no_grace_during_an_upload_leaves_the_upload_to_finish(app):
    async def collect_mid_upload(done, total, message):
        if done == 2**20:
            assert (await gc(app, older_than=0)).temp_files_removed == 0  # still locked by the upload

    try:
        result = await uploads.upload(
            app, uploads.Source(content_base64=_b64(b"m" * 2**21)), name="m.bin", progress=collect_mid_upload
        )
    except TaskloomError as exc:
        assert exc.code == "conflict"
    else:
        assert app.blobs.read(result.artifact.sha256) == b"m" * 2**21
    assert temp_files(app) == []


# Found in review: blob directories and gc racing uploads.


async def test_two_databases_with_the_same_stem_in_one_directory_do_not_collect_each_others_blobs(
    tmp_path: Path, clock
):
    from taskloom.config import Settings
    from taskloom.services import artifacts, uploads
    from taskloom.services.app import Taskloom

    team_db = await Taskloom.open(Settings(db_path=tmp_path / "team.db", project="p"), clock)
    team_sqlite = await Taskloom.open(Settings(db_path=tmp_path / "team.sqlite", project="p"), clock)
    try:
        kept = await uploads.upload(team_sqlite, uploads.Source(content="the only copy"), name="keep.md")
        # team.db has no row for it, so to team.db's gc it is an orphan (older_than=0: no grace).
        await team_db.write(artifacts.gc, team_db.blobs, older_than=0, dry_run=False)
        assert team_sqlite.blobs.exists(kept.artifact.sha256)
    finally:
        await team_db.close()
        await team_sqlite.close()


async def test_artifacts_gc_survives_uploads_finishing_while_it_looks_at_temp_files(app):
    import threading
    import time

    from taskloom.services import artifacts

    stop = threading.Event()

    def uploads_finishing() -> None:
        # Many writers open at once, then all finishing: their temp files vanish from tmp/ in a burst.
        n = 0
        while not stop.is_set():
            writers = [app.blobs.writer(1 << 20) for _ in range(64)]
            for w in writers:
                n += 1
                w.write(b"x%d" % n)
            for w in writers:
                w.commit()

    worker = threading.Thread(target=uploads_finishing)
    worker.start()
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            await app.write(artifacts.gc, app.blobs, older_than=600.0, dry_run=True)
    finally:
        stop.set()
        worker.join()

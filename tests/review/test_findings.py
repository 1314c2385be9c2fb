"""Review of the 2026-11-21 changes: each strict xfail is a defect found by reading the diff.

Real SQLite files, real blob directories, real server processes: when the bug is fixed, the
test passes and strict xfail turns that into a failure, so the marker must then be removed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.common import exec_server, serve_argv
from tests.server.test_transports import PROJECT

REPLY_DEADLINE = 20.0


@pytest.mark.xfail(strict=True, reason="BUG: stdio._Lines/rejection let json.loads' RecursionError escape: "
                   "one deeply nested line kills the stdio server")
def test_a_deeply_nested_json_line_on_stdio_gets_an_error_and_the_server_keeps_serving(tmp_path: Path):
    server = exec_server(tmp_path, serve_argv(tmp_path / "t.db", PROJECT), "client", "deep")
    try:
        server.wire.initialize()
        # Not JSON-RPC, so pydantic refuses it (its own depth limit) and rejection() re-parses it
        # with json.loads, which recurses once per bracket.
        server.wire.send_bytes(b"[" * 100_000 + b"\n")
        rid = server.wire.request("ping")
        replies = []
        while (message := server.wire.read(REPLY_DEADLINE)) is not None:
            replies.append(message)
            if message.get("id") == rid:
                break
        assert replies and replies[-1] == {"jsonrpc": "2.0", "id": rid, "result": {}}, server.stderr()[-2000:]
        assert replies[0].get("error", {}).get("code") in (-32700, -32600)
    finally:
        server.stop()
        server.cleanup()


# ------------------------------------------------------------------ artifacts: blob directory


@pytest.mark.xfail(strict=True, reason="BUG: services/app.artifacts_dir names the blob directory by the db file's stem only: "
                   "team.db and team.sqlite share blobs, and one's gc deletes the other's (data loss)")
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


@pytest.mark.xfail(strict=True, reason="BUG: BlobStore.stale_temps stats each temp file it listed without catching "
                   "FileNotFoundError: an upload finishing during artifacts_gc crashes the gc")
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
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            await app.write(artifacts.gc, app.blobs, older_than=600.0, dry_run=True)
    finally:
        stop.set()
        worker.join()


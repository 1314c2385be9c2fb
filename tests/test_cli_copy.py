"""`taskloom copy` between SQLite files, and its refusals, run as a person would: the console
script on real files. The copies to and from PostgreSQL are in tests/pg/test_copy.py; the
project both use is built here, through the tools, as agents would build it."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

from mcp import Client

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.services import copying
from taskloom.services.app import Taskloom
from taskloom.store import backends
from tests.conftest import call
from tests.test_cli import refused, taskloom

PROJECT = "demo"
BLOB = bytes(range(256)) * 40 + b"the end"  # binary, so no text path can pass it unchanged by luck
NOT_COPIED = {"sqlite_sequence"}  # SQLite's own bookkeeping, which follows the rows written
# The search index and FTS5's tables behind it: triggers on the copied rows rebuild it.
NOT_COPIED |= {"search_index", *(f"search_index_{part}" for part in ("data", "idx", "content", "docsize", "config"))}


async def build_project(settings: Settings, clock: ManualClock) -> dict[str, str]:
    """A project with one of everything, made through the tools: streams with a dependency, tasks
    with dependencies, a subtask, labels, a claimed task with a note, messages (one to a task's
    thread), memory, an artifact with bytes, a file reservation. Returns the task codes by key."""
    app = await Taskloom.open(settings, clock)
    try:
        async with Client(build_server(app), mode="legacy") as c:
            await call(c, "role_define", role={"slug": "backend", "instructions": "Write tests first."})
            await call(c, "sprint_create", code="s1", title="Sprint 1", goal="ship")
            await call(c, "stream_create", code="api", name="API")
            await call(c, "stream_create", code="ui", name="UI", depends_on=["api"])
            made = await call(c, "task_create", tasks=[
                {"title": "schema", "key": "schema", "stream": "api", "sprint": "s1", "labels": ["db"], "priority": 0},
                {"title": "endpoints", "key": "endpoints", "stream": "api", "depends_on": ["schema"],
                 "requires_review": True},
                {"title": "migration script", "key": "migration", "parent": "schema"},
                {"title": "screens", "key": "screens", "stream": "ui"},
            ])
            codes = dict(zip(["schema", "endpoints", "migration", "screens"], [t["code"] for t in made["tasks"]],
                             strict=True))
            await call(c, "agent_init", agent="alice", role="backend")
            await call(c, "agent_init", agent="bob")
            claimed = await call(c, "task_claim", agent="alice", task=codes["migration"])
            assert claimed["claimed"], claimed
            await call(c, "task_note", task=codes["migration"], body="halfway", kind="progress", agent="alice")
            await call(c, "message_send", to="bob", subject="review", body="please look", ack_required=True,
                       agent="alice")
            await call(c, "message_send", to=f"task:{codes['migration']}", body="how is it going?")
            await call(c, "memory_set", key="decisions/db", value="postgres", scope="project", agent="alice")
            await call(c, "artifacts_upload", name="dump.bin", content_base64=base64.b64encode(BLOB).decode(),
                       links=[f"task:{codes['migration']}"], agent="alice")
            await call(c, "files_reserve", paths=["src/api/**"], task=codes["migration"], agent="alice")
    finally:
        await app.close()
    return codes


async def rows_of(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Every row of the project, table by table, as the copy reads them; flags as 0/1 on both backends."""
    store = await backends.open_store(settings)
    try:
        def read(tx):
            row = tx.one("project_get", {"name": settings.project})
            return copying.read_rows(tx, row["id"])

        found = await store.read(read)
    finally:
        await store.close()
    return {t: [{k: int(v) if isinstance(v, bool) else v for k, v in r.items()} for r in rows]
            for t, rows in found.items()}


async def test_a_project_copied_between_sqlite_files_has_every_row_and_its_bytes(tmp_path, clock):
    source, target = tmp_path / "a.db", tmp_path / "copy" / "b.db"
    await build_project(Settings(db_path=source, project=PROJECT), clock)

    run = taskloom("copy", "--from", str(source), "--to", f"sqlite:///{target}", "--json")

    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["verified"] is True and report["projects"] == [PROJECT]
    assert report["blobs"] == 1 and report["blob_bytes"] == len(BLOB) and report["bad_blobs"] == []
    counted = {t["table"]: (t["source"], t["destination"]) for t in report["tables"]}
    for table in ("projects", "streams", "stream_deps", "tasks", "task_deps", "task_labels", "notes", "events",
                  "messages", "memory", "artifacts", "artifact_links", "file_reservations", "thread_readers"):
        assert counted[table][0] > 0 and counted[table][0] == counted[table][1], table
    assert await rows_of(Settings(db_path=target, project=PROJECT)) == \
        await rows_of(Settings(db_path=source, project=PROJECT))
    (sha,) = [r[0] for r in sqlite3.connect(source).execute("SELECT sha256 FROM artifacts")]
    assert backends.BlobStore.beside(target).read(sha) == BLOB


def test_every_table_of_the_sqlite_schema_is_copied(tmp_path):
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    schema = Path(copying.__file__).parents[1] / "store" / "sqlite" / "schema.sql"
    conn.executescript(schema.read_text(encoding="utf-8"))
    conn.execute("INSERT INTO projects (id, name, created_at) VALUES (1, 'p', 0)")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    from taskloom.store.sqlite.store import SqliteTx

    assert set(copying.read_rows(SqliteTx(conn), 1)) == tables - NOT_COPIED


async def test_a_destination_that_holds_a_project_is_refused_and_left_unchanged(tmp_path, clock):
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    await build_project(Settings(db_path=source, project=PROJECT), clock)
    await build_project(Settings(db_path=target, project="other"), clock)
    before = target.read_bytes()

    refused(taskloom("copy", "--from", str(source), "--to", str(target)), "conflict:", "already holds projects (other)")

    assert sqlite3.connect(target).execute("SELECT name FROM projects").fetchall() == [("other",)]
    assert target.read_bytes() == before


async def test_bad_input_is_one_line_with_a_code_and_creates_nothing(tmp_path, clock):
    source = tmp_path / "a.db"
    await build_project(Settings(db_path=source, project=PROJECT), clock)
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 300)

    refused(taskloom("copy", "--from", str(source), "--to", f"sqlite:///{source}"), "invalid_input:", "same database")
    refused(taskloom("copy", "--from", str(tmp_path / "nope.db"), "--to", str(tmp_path / "n.db")), "not_found:")
    refused(taskloom("copy", "--from", str(source), "--to", str(tmp_path / "x.db"), "--project", "nope"),
            "not_found:", "No project 'nope'", "demo")
    refused(taskloom("copy", "--from", str(broken), "--to", str(tmp_path / "y.db")), "storage:")
    refused(taskloom("copy", "--from", str(source), "--to", "postgresql://taskloom@127.0.0.1:1/none",
                     env={"TASKLOOM_DB_PATIENCE": "0.5"}), "storage:", "Cannot reach")
    refused(taskloom("copy", "--from", str(source), "--to", "mysql://x/y"), "invalid_input:")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["a.db", "broken.db"]


async def test_a_damaged_artifact_in_the_source_stops_the_copy_before_any_row_lands(tmp_path, clock):
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    await build_project(Settings(db_path=source, project=PROJECT), clock)
    (sha,) = [r[0] for r in sqlite3.connect(source).execute("SELECT sha256 FROM artifacts")]
    blob = backends.BlobStore.beside(source).path(sha)
    blob.chmod(0o644)
    blob.write_bytes(BLOB[:-1] + b"!")

    refused(taskloom("copy", "--from", str(source), "--to", str(target)), "storage:", "damaged", sha[:12])

    assert sqlite3.connect(target).execute("SELECT count(*) FROM projects").fetchone() == (0,)
    assert not backends.BlobStore.beside(target).exists(sha)


async def test_the_verification_names_a_blob_the_destination_lost(tmp_path, clock):
    source = Settings(db_path=tmp_path / "a.db", project=PROJECT)
    await build_project(source, clock)
    store = await backends.open_store(source)
    try:
        found = await store.read(lambda tx: copying.read_projects(tx, PROJECT, "a.db"))
    finally:
        await store.close()
    here, there = backends.BlobStore.beside(tmp_path / "a.db"), backends.BlobStore.beside(tmp_path / "b.db")
    copying.copy_blobs(found, here, there)
    (sha,) = [a["sha256"] for a in found[0].rows["artifacts"]]
    assert copying.bad_blobs(found, there) == ([], len(BLOB))

    there.delete(sha)

    assert copying.bad_blobs(found, there) == ([sha], 0)


def test_a_copy_that_differs_is_reported_as_not_verified_table_by_table():
    from taskloom.cli.copy import render
    from taskloom.models.copying import CopyReport, TableCount

    report = CopyReport(source="a.db", destination="b.db", projects=[PROJECT], blobs=1, blob_bytes=0,
                        tables=[TableCount(table="tasks", source=4, destination=4),
                                TableCount(table="events", source=9, destination=8)], bad_blobs=["ab" * 32])

    text = render(report)

    assert not report.verified and json.loads(report.model_dump_json())["verified"] is False
    assert "  events         9         8  DIFFERS\n" in text and "  tasks          4         4\n" in text
    assert f"missing or damaged in the destination: {'ab' * 32}" in text and "NOT verified" in text

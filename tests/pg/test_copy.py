"""`taskloom copy` from SQLite to PostgreSQL and back (issue 15, item 8), on a throwaway cluster:
the copy serves the same state through the tools, keeps working without id collisions, and a
refused or failed copy leaves the destination as it was."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import psycopg
import pytest
from mcp import Client

from taskloom.config import Settings
from taskloom.errors import Conflict, InvalidInput, Storage
from taskloom.server import build_server
from taskloom.services import copying
from taskloom.services.app import Taskloom
from taskloom.store import backends
from tests.conftest import call
from tests.test_cli import taskloom
from tests.test_cli_copy import BLOB, PROJECT, build_project, rows_of

# Ours but not a project's: the schema version, and the blob tables the Blobs protocol fills.
NOT_COPIED = {"taskloom_schema", "blobs", "blob_chunks", "search_index"}  # the index: triggers rebuild it


def lite(path: Path, project: str = PROJECT) -> Settings:
    return Settings(db_path=path, project=project, default_agent="olivia")


def pg(url: str, project: str = PROJECT) -> Settings:
    return Settings(db_url=url, project=project, default_agent="olivia", db_patience=5.0)


def count(url: str, table: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def seen_through_the_tools(settings: Settings, codes: dict[str, str], clock) -> dict[str, object]:
    """What agents see: every task in full, bob's inbox, the artifact's bytes, the project's memory."""
    app = await Taskloom.open(settings, clock, create_project=False)
    try:
        async with Client(build_server(app), mode="legacy") as c:
            tasks = {code: await call(c, "task_get", task=code) for code in codes.values()}
            (ref,) = tasks[codes["migration"]]["artifacts"]
            got = await call(c, "artifacts_get", artifact=ref["uri"], want="base64")
            return {
                "tasks": tasks,
                "inbox": await call(c, "message_inbox", agent="bob"),
                "bytes": base64.b64decode(got["base64"]),
                "memory": await call(c, "memory_get", key="decisions/db", scope="project"),
            }
    finally:
        await app.close()


async def test_a_sqlite_project_copied_to_postgresql_serves_the_same_state_and_keeps_working(tmp_path, pg_url, clock):
    source = lite(tmp_path / "a.db")
    codes = await build_project(source, clock)

    report = await copying.copy(source, pg(pg_url), None)

    assert report.verified and report.projects == [PROJECT] and report.blob_bytes == len(BLOB)
    assert await rows_of(pg(pg_url)) == await rows_of(source)
    there = await seen_through_the_tools(pg(pg_url), codes, clock)
    assert there == await seen_through_the_tools(source, codes, clock)
    assert there["bytes"] == BLOB
    assert there["tasks"][codes["migration"]]["task"]["claimed_by"] == "alice"

    # New rows in every table with an identity get ids past the copied ones.
    app = await Taskloom.open(pg(pg_url), clock)
    try:
        async with Client(build_server(app), mode="legacy") as c:
            made = await call(c, "task_create", tasks=[{"title": "after the move"}])
            assert made["tasks"][0]["code"] == "T-5"
            await call(c, "task_note", task=codes["migration"], body="moved to postgres", agent="alice")
            await call(c, "message_send", to="alice", body="welcome to postgres")
            await call(c, "artifacts_upload", name="new.txt", content="fresh bytes")
            await call(c, "task_done", task=codes["migration"], summary="done on postgres", agent="alice")
    finally:
        await app.close()
    assert count(pg_url, "tasks") == 5


async def test_a_project_copied_to_postgresql_and_back_to_sqlite_is_the_same(tmp_path, pg_url, clock):
    source, back = lite(tmp_path / "a.db"), lite(tmp_path / "back.db")
    await build_project(source, clock)
    await copying.copy(source, pg(pg_url), PROJECT)

    report = await copying.copy(pg(pg_url), back, PROJECT)

    assert report.verified
    assert await rows_of(back) == await rows_of(source)
    (sha,) = [r[0] for r in sqlite3.connect(source.db_path).execute("SELECT sha256 FROM artifacts")]
    assert backends.BlobStore.beside(back.db_path).read(sha) == BLOB


async def test_a_postgresql_destination_that_holds_a_project_is_refused_and_left_unchanged(tmp_path, pg_url, clock):
    source = lite(tmp_path / "a.db")
    await build_project(source, clock)
    await build_project(pg(pg_url, "other"), clock)
    before = await rows_of(pg(pg_url, "other"))

    with pytest.raises(Conflict, match=r"already holds projects \(other\)"):
        await copying.copy(source, pg(pg_url), None)

    assert await rows_of(pg(pg_url, "other")) == before
    assert count(pg_url, "projects") == 1


async def test_a_row_postgresql_refuses_halfway_leaves_the_destination_without_the_project(tmp_path, pg_url, clock):
    source = lite(tmp_path / "a.db")
    await build_project(source, clock)
    # A run's exit code fits SQLite's 64-bit integer but not PostgreSQL's `integer`; runs are
    # written after the project, its tasks, messages and events, so all of those are rolled back.
    with sqlite3.connect(source.db_path) as conn:
        conn.execute(
            "INSERT INTO runs (project_id, runner, agent, preset, host, started_at, held_until, ended_at, exit_code)"
            " VALUES (1, 'r', 'alice', 'claude', 'h', 0, 0, 1, ?)", (2**40,)
        )

    with pytest.raises(InvalidInput, match="out of range"):
        await copying.copy(source, pg(pg_url), None)

    assert {t: count(pg_url, t) for t in ("projects", "tasks", "events", "messages", "artifacts")} == \
        dict.fromkeys(("projects", "tasks", "events", "messages", "artifacts"), 0)


async def test_a_destination_that_goes_away_mid_copy_is_left_without_the_project(tmp_path, pg_own_url, clock):
    source = lite(tmp_path / "a.db")
    await build_project(source, clock)
    # The destination's server drops the connection when the copy reaches file reservations,
    # after the project, its tasks, messages and events are written; and again on each retry.
    with psycopg.connect(pg_own_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION go_away() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$;"
            " CREATE TRIGGER go_away BEFORE INSERT ON file_reservations FOR EACH ROW EXECUTE FUNCTION go_away()"
        )

    with pytest.raises(Storage, match="Cannot reach the PostgreSQL database"):
        await copying.copy(source, pg(pg_own_url), None)

    assert {t: count(pg_own_url, t) for t in ("projects", "tasks", "events", "messages", "artifacts")} == \
        dict.fromkeys(("projects", "tasks", "events", "messages", "artifacts"), 0)


async def test_the_cli_copies_sqlite_to_postgresql_and_says_it_verified(tmp_path, pg_url, clock):
    await build_project(lite(tmp_path / "a.db"), clock)

    run = taskloom("copy", "--from", str(tmp_path / "a.db"), "--to", pg_url)

    assert run.returncode == 0, run.stderr
    assert "Verified: every row and every artifact's bytes are in the destination." in run.stdout
    assert count(pg_url, "tasks") == 4 and count(pg_url, "blobs") == 1


def test_every_table_of_the_postgresql_schema_is_copied(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO projects (id, name, created_at) VALUES (1, 'p', 0)")
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )}
    store_rows = _read_rows_on(pg_url)
    assert set(store_rows) == tables - NOT_COPIED


def _read_rows_on(url: str) -> dict[str, object]:
    from taskloom.store.postgres.store import PgTx, row_factory

    with psycopg.connect(url, autocommit=True, row_factory=row_factory) as conn:
        return copying.read_rows(PgTx(conn), 1)


@pytest.mark.parametrize("spelled", ["{url}", "{url}?application_name=other", "{url}?connect_timeout=3"])
def test_two_spellings_of_one_postgresql_database_are_the_same_database(pg_url, spelled):
    with pytest.raises(InvalidInput, match="the same database"):
        copying.check_pair(pg(pg_url), pg(spelled.format(url=pg_url)))


def test_another_database_on_the_same_server_is_not_the_same(pg_url):
    copying.check_pair(pg(pg_url), pg(pg_url.rsplit("/", 1)[0] + "/postgres"))


def foreign_keys(url: str) -> list[tuple[str, str]]:
    """The keys of the project tables (the blob store makes its own tables when it first opens)."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f'"
                            " AND conrelid::regclass::text NOT LIKE 'blob%' ORDER BY conname").fetchall()


async def test_a_dependency_on_a_missing_task_is_refused_by_its_foreign_key_and_the_keys_stay(tmp_path, pg_url, clock):
    """A load drops the foreign keys and adds them back after its rows (PgStore.load): the row
    that names a missing task is refused all the same, with the per-row check's words."""
    source = lite(tmp_path / "a.db")
    await build_project(source, clock)
    with sqlite3.connect(source.db_path) as conn:  # foreign_keys is off on a bare connection
        conn.execute("INSERT INTO task_deps (task_id, depends_on_id) SELECT min(id), 999999 FROM tasks")
    keys = foreign_keys(pg_url)

    with pytest.raises(Conflict, match='violates foreign key constraint "task_deps_depends_on_id_fkey"'):
        await copying.copy(source, pg(pg_url), None)

    assert count(pg_url, "projects") == count(pg_url, "task_deps") == 0
    assert foreign_keys(pg_url) == keys and len(keys) > 30

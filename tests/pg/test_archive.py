"""`taskloom export` / `taskloom import` across backends (issue 16, item 2): a SQLite project's archive
loaded into PostgreSQL, exported there, loaded into a new SQLite file and exported again: the three
archives match member for member (only the manifest's `source` says where each was written)."""

from __future__ import annotations

import base64

import pytest
from mcp import Client

from taskloom.config import Settings
from taskloom.errors import Conflict
from taskloom.server import build_server
from taskloom.services import archive, importing
from taskloom.services.app import Taskloom
from tests.conftest import call
from tests.test_cli_archive import build_full_project, same_but_source
from tests.test_cli_copy import BLOB, PROJECT, rows_of

psycopg = pytest.importorskip("psycopg")


def pg(url: str) -> Settings:
    return Settings(db_url=url, project=PROJECT, db_patience=5.0)


async def test_an_archive_goes_sqlite_to_postgresql_to_sqlite_and_comes_out_the_same(tmp_path, pg_url, clock):
    lite = Settings(db_path=tmp_path / "a.db", project=PROJECT)
    await build_full_project(lite, clock)
    await archive.export(lite, None, tmp_path / "a.tar.gz")

    into_pg = await importing.import_archive(pg(pg_url), tmp_path / "a.tar.gz")
    from_pg = await archive.export(pg(pg_url), PROJECT, tmp_path / "b.tar.gz")
    back = await importing.import_archive(Settings(db_path=tmp_path / "c.db"), tmp_path / "b.tar.gz")
    await archive.export(Settings(db_path=tmp_path / "c.db"), None, tmp_path / "c.tar.gz")

    assert into_pg.verified and back.verified and into_pg.blob_bytes == len(BLOB)
    assert from_pg.tables["tasks"] == 5 and from_pg.blobs == 1
    same_but_source(tmp_path / "a.tar.gz", tmp_path / "b.tar.gz")
    same_but_source(tmp_path / "a.tar.gz", tmp_path / "c.tar.gz")
    assert (tmp_path / "a.tar.gz").read_bytes() != (tmp_path / "b.tar.gz").read_bytes()  # the source differs
    assert await rows_of(pg(pg_url)) == await rows_of(lite)

    with pytest.raises(Conflict, match="taskloom import only fills a database that holds none"):
        await importing.import_archive(pg(pg_url), tmp_path / "a.tar.gz")


def index_rows(url: str) -> list[tuple[object, ...]]:
    """Every search document, with its tsvector as text: what search reads."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, project_id, title, body, doc::text FROM search_index ORDER BY id").fetchall()


async def test_an_imported_project_has_the_search_index_its_rows_were_written_with(tmp_path, pg_url, pg_dsn, clock):
    """The import loads rows with the index triggers' INSERT half off and writes the documents once
    after (Store.load); they must be the triggers' own rows, for every kind, text artifacts included."""
    await build_full_project(pg(pg_url), clock)
    app = await Taskloom.open(pg(pg_url), clock)
    try:
        async with Client(build_server(app), mode="legacy") as c:
            text = "Rollout plan: ledger rounding first, then the café migration.".encode()
            await call(c, "artifacts_upload", name="plan.md", content_base64=base64.b64encode(text).decode(), agent="alice")
    finally:
        await app.close()
    await archive.export(pg(pg_url), PROJECT, tmp_path / "a.tar.gz")

    await importing.import_archive(pg(pg_dsn), tmp_path / "a.tar.gz")

    written, imported = index_rows(pg_url), index_rows(pg_dsn)
    assert imported == written
    assert {row[0] % 8 for row in written} == {0, 1, 2, 3}  # tasks, notes, messages, artifacts
    assert any("ledger rounding" in row[3] for row in written if row[0] % 8 == 3)  # an artifact's text
    app = await Taskloom.open(pg(pg_dsn), clock)  # after the load, a plain write is indexed by its trigger
    try:
        async with Client(build_server(app), mode="legacy") as c:
            task = (await call(c, "task_list"))["tasks"][0]["code"]
            await call(c, "task_note", task=task, body="zanzibar after import", agent="alice")
            found = await call(c, "search", query="zanzibar")
    finally:
        await app.close()
    assert [hit["kind"] for hit in found["hits"]] == ["note"]

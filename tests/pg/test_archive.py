"""`taskloom export` / `taskloom import` across backends (issue 16, item 2): a SQLite project's archive
loaded into PostgreSQL, exported there, loaded into a new SQLite file and exported again: the three
archives match member for member (only the manifest's `source` says where each was written)."""

from __future__ import annotations

import pytest

from taskloom.config import Settings
from taskloom.errors import Conflict
from taskloom.services import archive, importing
from tests.test_cli_archive import build_full_project, same_but_source
from tests.test_cli_copy import BLOB, PROJECT, rows_of


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

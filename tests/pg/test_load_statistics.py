"""A PostgreSQL load leaves planner statistics behind it (Store.load's ANALYZE).

Without them the planner took a freshly imported 100k-task project for a couple of hundred rows
and sorted every task for each page of task_list (100 ms against 0.7 ms), until autovacuum came by.
"""

from __future__ import annotations

import pytest

from taskloom.config import Settings
from taskloom.services import archive, importing
from tests.test_cli_archive import build_full_project
from tests.test_cli_copy import PROJECT

psycopg = pytest.importorskip("psycopg")


async def test_an_import_leaves_every_table_analyzed(tmp_path, pg_url, clock):
    lite = Settings(db_path=tmp_path / "a.db", project=PROJECT)
    await build_full_project(lite, clock)
    await archive.export(lite, None, tmp_path / "a.tar.gz")

    await importing.import_archive(Settings(db_url=pg_url, project=PROJECT, db_patience=5.0), tmp_path / "a.tar.gz")

    with psycopg.connect(pg_url) as conn:
        # reltuples is -1 until a table is first analyzed or vacuumed (PostgreSQL 14+).
        never = conn.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples < 0"
            " AND relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
        ).fetchall()
        tasks = conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'tasks'::regclass").fetchone()
    assert never == []
    assert tasks[0] == 5

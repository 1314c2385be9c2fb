"""Many rows of a plain insert reach PostgreSQL as COPY, not a statement each (issue 16: an import
of 100k tasks took 72 s here). Counted by the server itself: every data-changing statement of a
transaction gets its own command id (`cmin`), and rows one COPY wrote share one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from taskloom.config import Settings
from taskloom.errors import TaskloomError
from taskloom.models import TaskSpec
from taskloom.services import creation, search
from taskloom.services.app import Taskloom
from tests.conftest import table_rows
from tests.store.test_bulk_insert import ROWS, events


@pytest.fixture
async def pg_app(pg_dsn: str) -> AsyncIterator[Taskloom]:
    app = await Taskloom.open(Settings(db_url=pg_dsn, project="bulk"))
    try:
        yield app
    finally:
        await app.close()


async def test_many_rows_of_a_plain_insert_are_one_copy_per_chunk(pg_app: Taskloom) -> None:
    rows = events(pg_app.project_id)
    rows[600]["subject"] = "deploy with password=hunter2xyz"
    guarded = await pg_app.store.write(lambda tx: (tx.many("copy_events_write", rows), tx)[1])
    assert guarded.redacted == 1

    # cmin is a system column, read beside the rows straight from the database
    landed = table_rows(pg_app.settings, "SELECT id, cmin::text::int, subject FROM events WHERE id >= 1000 ORDER BY id")
    assert [r[0] for r in landed] == [r["id"] for r in rows]
    statements = len({r[1] for r in landed})
    assert statements <= 2, f"{ROWS} rows took {statements} statements"
    assert landed[600][2] == "deploy with password=[REDACTED]"


async def test_one_bad_row_in_a_copy_writes_none_of_them(pg_app: Taskloom) -> None:
    rows = events(pg_app.project_id)
    rows[-1]["id"] = rows[0]["id"]
    with pytest.raises(TaskloomError):
        await pg_app.store.write(lambda tx: tx.many("copy_events_write", rows))
    left = await pg_app.store.read(lambda tx: tx.all("copy_events_read", {"project": pg_app.project_id}))
    assert not [r for r in left if r["id"] >= 1000]


async def test_tasks_created_in_bulk_are_found_by_search(pg_app: Taskloom) -> None:
    await pg_app.write(creation.create_tasks, [TaskSpec(title=f"bulk zeppelin {i}", code=f"Z-{i}") for i in range(300)],
                       agent="boss")
    found = await pg_app.read(search.search, "zeppelin 299", kind="task")
    assert found.hits[0].title == "bulk zeppelin 299"

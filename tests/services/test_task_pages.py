"""task_list's pages and totals: every page of every filter agrees with the whole list.

The total is counted three ways (a short last page is its own count; no filter counts the
project's index alone; a filter counts its matches), so each is checked against the same truth.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from taskloom.models import TaskSpec
from taskloom.services import creation, tasks, work
from taskloom.store.sqlite.store import QUERIES, SqliteStore

N = 23


async def build(app) -> None:
    specs = [
        TaskSpec(title=f"task {i}", code=f"T{i}", role="dev" if i % 3 else "ops", labels=["odd"] if i % 2 else [])
        for i in range(N)
    ]
    await app.write(creation.create_tasks, specs, agent="boss")
    for _ in range(4):
        await app.write(work.claim, role="dev", agent="alice")


FILTERS = [
    {},
    {"role": "ops"},
    {"label": "odd"},
    {"claimed_by": "alice"},
    {"claimed_by": "nobody"},
    {"statuses": ["in_progress"]},
    {"statuses": ["ready", "in_progress"], "role": "dev"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "none")
async def test_every_page_and_total_match_the_whole_list(app, filters) -> None:
    await build(app)
    whole = await app.read(tasks.list_tasks, limit=200, **filters)
    codes = [t.code for t in whole.tasks]
    assert whole.total == len(codes) and whole.next_offset is None
    for limit in (1, 4, 5, len(codes) or 1, 200):
        for offset in (0, 3, 4, len(codes), len(codes) + 2, 400):
            page = await app.read(tasks.list_tasks, limit=limit, offset=offset, **filters)
            assert [t.code for t in page.tasks] == codes[offset:offset + limit], (limit, offset)
            assert page.total == len(codes), (limit, offset)
            nxt = offset + len(page.tasks)
            assert page.next_offset == (nxt if nxt < len(codes) else None), (limit, offset)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("filters", [{}, {"statuses": '["ready"]'}, {"role": "dev"}], ids=["none", "status", "role"])
async def test_a_page_walks_the_project_in_id_order_without_sorting(tmp_path: Path, filters) -> None:
    # Sorting all of a project's rows to keep a page cost 80 ms at 100k tasks.
    store = await SqliteStore.open(tmp_path / "t.db")
    await store.close()
    params = {
        "project": 1, "statuses": None, "role": None, "stream_id": None, "sprint_id": None,
        "parent_id": None, "label": None, "claimed_by": None, "limit": 50, "offset": 0, **filters,
    }
    conn = sqlite3.connect(str(tmp_path / "t.db"))
    try:
        plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + QUERIES["task_list"], params))
    finally:
        conn.close()
    assert "tasks_project_order" in plan and "TEMP B-TREE" not in plan, plan

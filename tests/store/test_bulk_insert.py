"""A write of many rows costs per batch, not per row (issue 16: import 100k tasks in under 10 s).

On SQLite each statement on a table with search triggers flushed FTS5's pending terms into a new
segment, so `many` as one statement per row spent most of an import merging 100k tiny segments;
and the guard built a redaction object per clean text. Both are counted here on a real file:
statements as SQLite traces them, redaction objects by wrapping the domain's `Redacted`.
"""

from __future__ import annotations

import sqlite3

import pytest

from taskloom.domain import redact as redaction
from taskloom.errors import Conflict
from taskloom.models import TaskSpec
from taskloom.services import creation, search
from tests.conftest import table_rows

pytestmark = pytest.mark.sqlite_only
ROWS = 1200


def events(project_id: int, n: int = ROWS, first: int = 1000) -> list[dict[str, object]]:
    return [{"id": first + i, "project_id": project_id, "at": 1.0 + i, "kind": "task.note", "subject": f"task:T-{i}",
             "agent": "bulk", "payload": "{}"} for i in range(n)]


async def test_many_rows_of_a_plain_insert_go_to_sqlite_as_a_few_statements(app):
    traced: list[str] = []
    await app.store.write_raw(lambda conn: conn.set_trace_callback(traced.append))
    try:
        await app.store.write(lambda tx: tx.many("copy_events_write", events(app.project_id)))
    finally:
        await app.store.write_raw(lambda conn: conn.set_trace_callback(None))
    inserts = [s for s in traced if s.lstrip().upper().startswith("INSERT INTO EVENTS")]
    assert 1 <= len(inserts) <= 5, f"{ROWS} rows took {len(inserts)} statements"
    landed = await app.store.read(lambda tx: [tuple(r) for r in tx.all("copy_events_read", {"project": app.project_id})])
    assert [r[0] for r in landed if r[0] >= 1000] == list(range(1000, 1000 + ROWS))  # every row, in order


async def test_an_insert_or_ignore_goes_as_a_few_statements_and_skips_each_duplicate_as_one_row_would(app, settings):
    made = await app.write(creation.create_tasks, [TaskSpec(code="L", title="labelled", labels=["old"])])
    [task] = made.ids
    labels = ["old"] + [f"l{i % (ROWS // 2)}" for i in range(ROWS)]  # one there already, each new one twice
    traced: list[str] = []
    await app.store.write_raw(lambda conn: conn.set_trace_callback(traced.append))
    try:
        await app.store.write(lambda tx: tx.many("task_label_insert", [{"task_id": task, "label": x} for x in labels]))
    finally:
        await app.store.write_raw(lambda conn: conn.set_trace_callback(None))
    inserts = [s for s in traced if s.lstrip().upper().startswith("INSERT OR IGNORE INTO TASK_LABELS")]
    assert 1 <= len(inserts) <= 5, f"{ROWS} rows took {len(inserts)} statements"
    stored = table_rows(settings, "SELECT label FROM task_labels WHERE task_id = ? ORDER BY label", (task,))
    assert sorted(r[0] for r in stored) == sorted(set(labels))


async def test_one_bad_row_in_a_batch_writes_none_of_them(app):
    rows = events(app.project_id)
    rows[-1]["id"] = rows[0]["id"]  # the same id twice: the last batch fails
    with pytest.raises(Conflict):
        await app.store.write(lambda tx: tx.many("copy_events_write", rows))
    left = await app.store.read(lambda tx: tx.all("copy_events_read", {"project": app.project_id}))
    assert not [r for r in left if r["id"] >= 1000]


async def test_a_missing_parameter_fails_the_write_as_before(app):
    rows = events(app.project_id)
    del rows[7]["payload"]
    with pytest.raises(Exception) as raised:
        await app.store.write(lambda tx: tx.many("copy_events_write", rows))
    assert not isinstance(raised.value, sqlite3.Error)  # translated at the store's edge, as every fault is


async def test_a_bulk_write_builds_no_redaction_object_for_clean_text(app, monkeypatch):
    made: list[int] = []

    class Counting(redaction.Redacted):
        def __init__(self, *args: object, **kwargs: object) -> None:
            made.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(redaction, "Redacted", Counting)
    rows = events(app.project_id)
    rows[600]["subject"] = "deploy with password=hunter2xyz"
    guarded = await app.store.write(lambda tx: (tx.many("copy_events_write", rows), tx)[1])
    assert guarded.redacted == 1
    assert len(made) <= 2, f"{len(made)} redaction objects for {ROWS} rows, one of them with a secret"
    stored = await app.store.read(lambda tx: {r["id"]: r["subject"] for r in tx.all("copy_events_read", {"project": app.project_id})})
    assert stored[1600] == "deploy with password=[REDACTED]" and stored[1601] == "task:T-601"


async def test_tasks_created_in_bulk_are_all_in_the_search_index(app):
    await app.write(creation.create_tasks, [TaskSpec(title=f"bulk zeppelin {i}", code=f"Z-{i}") for i in range(600)],
                    agent="boss")
    assert table_rows(app.settings, "SELECT count(*) FROM search_index WHERE search_index MATCH 'zeppelin'") == [(600,)]
    found = await app.read(search.search, "zeppelin 599", kind="task")
    assert found.hits[0].title == "bulk zeppelin 599"

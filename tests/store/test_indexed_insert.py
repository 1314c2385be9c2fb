"""A large batch of new tasks is indexed for search after it is inserted, not row by row by its
trigger (batch.insert_indexed): the index, the trigger and the schema must end up exactly as the
trigger leaves them, and a failed write must leave all three as they were."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from taskloom.config import Settings
from taskloom.errors import Conflict
from taskloom.models import TaskSpec
from taskloom.services import creation
from taskloom.services.app import Taskloom
from taskloom.store.sqlite import batch

pytestmark = pytest.mark.sqlite_only
MANY = batch.INDEX_AFTER_ROWS + 200


def specs(n: int, prefix: str = "T-") -> list[TaskSpec]:
    return [
        TaskSpec(code=f"{prefix}{i}", title=f"Parser step {i} ünïcode", description=f"Wire stage {i % 7} into the pipeline",
                 acceptance="tests pass" if i % 3 else "", context=f"see ADR-{i % 11}")
        for i in range(n)
    ]


def index_of(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT t.code, s.rowid = t.id * 8, s.project_id, s.title, s.body FROM search_index s "
            "JOIN tasks t ON s.rowid = t.id * 8 ORDER BY t.id"
        ).fetchall()


def schema_of(path: Path) -> set[tuple]:
    with sqlite3.connect(path) as conn:
        return set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'search_index_%'"))


def matches(path: Path, query: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO search_index (search_index) VALUES ('integrity-check')")  # raises if corrupt
        rows = conn.execute(
            "SELECT t.code FROM search_index s JOIN tasks t ON s.rowid = t.id * 8 WHERE search_index MATCH ? ORDER BY t.id",
            (query,),
        )
        return [r[0] for r in rows]


async def test_a_large_batch_indexed_after_it_is_inserted_gives_the_index_the_trigger_gives(
    app, settings, clock, sqlite_template, tmp_path, monkeypatch
):
    per_row = tmp_path / "per-row.db"
    shutil.copyfile(sqlite_template, per_row)
    before = schema_of(settings.db_path)
    await app.write(creation.create_tasks, specs(3, "OLD-"))  # rows already there keep their entries
    await app.write(creation.create_tasks, specs(MANY))
    await app.close()
    monkeypatch.setattr(batch, "INDEX_AFTER_ROWS", 10**9)  # the trigger, row by row
    other = await Taskloom.open(Settings(db_path=per_row, project="test", default_agent="tester"), clock)
    try:
        await other.write(creation.create_tasks, specs(3, "OLD-"))
        await other.write(creation.create_tasks, specs(MANY))
    finally:
        await other.close()
    ours, theirs = index_of(settings.db_path), index_of(per_row)
    assert len(ours) == MANY + 3 and all(row[1] for row in ours)
    assert ours == theirs
    assert schema_of(settings.db_path) == schema_of(per_row) == before  # the trigger is back, word for word
    for query in ("parser", "pipeline AND stage", '"adr 7"', "unicode", "tests"):
        assert matches(settings.db_path, query) == matches(per_row, query)


async def test_a_failed_large_batch_leaves_the_trigger_and_the_index_as_they_were(app, settings):
    await app.write(creation.create_tasks, specs(2, "OLD-"))
    before_index, before_schema = index_of(settings.db_path), schema_of(settings.db_path)

    def fails(tx, scope):
        creation.create_tasks(tx, scope, specs(MANY))
        raise Conflict("stop after the rows went in")

    with pytest.raises(Conflict):
        await app.write(fails)
    assert index_of(settings.db_path) == before_index
    assert schema_of(settings.db_path) == before_schema
    await app.write(creation.create_tasks, [TaskSpec(code="AFTER", title="Indexed by its trigger")])
    assert matches(settings.db_path, "trigger") == ["AFTER"]

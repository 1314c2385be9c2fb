"""Schema, migrations, connection settings and transaction boundaries of the SQLite store.

All on real SQLite files; the concurrent-open test uses real processes.
"""

from __future__ import annotations

import json
import re
import selectors
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from taskloom.config import Settings
from taskloom.errors import Conflict, InvalidInput
from taskloom.services.app import Taskloom
from taskloom.store.sqlite import SqliteStore, migrate

OPENERS = 8


# ------------------------------------------------------------------ helpers


def _normal_sql(sql: str | None) -> str | None:
    """Comparable DDL: comments dropped, whitespace collapsed, none around punctuation."""
    if sql is None:
        return None
    sql = re.sub(r"--[^\n]*", "", sql)
    sql = re.sub(r"\s+", " ", sql).strip()
    return re.sub(r"\s*([(),])\s*", r"\1", sql)


def schema_of(conn: sqlite3.Connection) -> dict[str, object]:
    """Everything that defines a schema: sqlite_master plus each table's columns, keys and indexes."""
    master = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
    ).fetchall()
    out: dict[str, object] = {
        "master": [(t, n, tbl, _normal_sql(sql)) for t, n, tbl, sql in master],
        "user_version": conn.execute("PRAGMA user_version").fetchone()[0],
    }
    for kind, name, _, _ in master:
        if kind == "table":
            out[f"columns:{name}"] = conn.execute(f"PRAGMA table_xinfo('{name}')").fetchall()
            out[f"fks:{name}"] = conn.execute(f"PRAGMA foreign_key_list('{name}')").fetchall()
            # seq (creation order) is not part of the schema's meaning; compare the rest.
            out[f"indexes:{name}"] = sorted(row[1:] for row in conn.execute(f"PRAGMA index_list('{name}')"))
        elif kind == "index":
            out[f"index:{name}"] = conn.execute(f"PRAGMA index_xinfo('{name}')").fetchall()
    return out


def schema_at(path: Path) -> dict[str, object]:
    conn = sqlite3.connect(path)
    try:
        return schema_of(conn)
    finally:
        conn.close()


def build_with_migrations(path: Path) -> int:
    """A new database built only from the numbered migrations, the way an old database is upgraded."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        before = migrate.apply(conn, fresh_from_schema=False)
        conn.execute("COMMIT")
        return before
    finally:
        conn.close()


def differences(a: dict[str, object], b: dict[str, object]) -> list[str]:
    return [f"{k}:\n  {a.get(k)!r}\n  {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


async def pragma(store: SqliteStore, name: str):
    return await store.write_raw(lambda conn: conn.execute(f"PRAGMA {name}").fetchone()[0])


# ------------------------------------------------------------------ schema and migrations


def test_migration_files_are_numbered_one_to_n_without_gaps():
    numbers = [n for n, _ in migrate.migrations()]
    assert numbers == list(range(1, len(numbers) + 1))
    assert migrate.latest_version() == numbers[-1]
    stray = [
        p.name
        for p in migrate.MIGRATIONS.glob("*.sql")
        if p not in {path for _, path in migrate.migrations()}
    ]
    assert not stray, f"SQL files in migrations/ that would never run: {stray}"


async def test_schema_sql_and_the_numbered_migrations_build_the_same_schema(tmp_path):
    from_schema = tmp_path / "schema.db"
    store = await SqliteStore.open(from_schema)
    await store.close()
    assert build_with_migrations(tmp_path / "migrated.db") == 0

    a, b = schema_at(from_schema), schema_at(tmp_path / "migrated.db")
    assert a["user_version"] == migrate.latest_version()
    assert len(a["master"]) >= 10, "the schema looks empty"
    assert not differences(a, b), "schema.sql and migrations differ:\n" + "\n".join(differences(a, b))


async def test_a_database_built_by_migrations_opens_without_further_changes(tmp_path):
    path = tmp_path / "migrated.db"
    build_with_migrations(path)
    before = schema_at(path)
    store = await SqliteStore.open(path)
    await store.close()
    assert not differences(before, schema_at(path))


async def test_reopening_a_database_changes_nothing_and_keeps_its_data(tmp_path, settings):
    app = await Taskloom.open(settings)
    project_id = app.project_id
    await app.store.write(lambda tx: tx.one("task_insert", _task(project_id, "KEEP-1")))
    await app.close()
    schema_before = schema_at(settings.db_path)

    watcher = sqlite3.connect(settings.db_path)
    try:
        data_version = watcher.execute("PRAGMA data_version").fetchone()[0]
        store = await SqliteStore.open(settings.db_path)
        try:
            changes = await store.write_raw(
                lambda conn: (conn.total_changes, migrate.apply(conn), conn.total_changes)
            )
            project = await store.read(lambda tx: tx.one("project_get", {"name": settings.project}))
        finally:
            await store.close()
        # data_version moves when another connection commits a change to the file.
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == data_version
    finally:
        watcher.close()

    total_before, version_seen, total_after = changes
    assert version_seen == migrate.latest_version()
    assert total_after == total_before
    assert project["id"] == project_id
    assert _codes(settings.db_path) == ["KEEP-1"]
    assert not differences(schema_before, schema_at(settings.db_path))


CONCURRENT_OPEN = textwrap.dedent(
    """
    import json, sys, traceback
    from pathlib import Path
    import anyio
    from taskloom.config import Settings
    from taskloom.services.app import Taskloom
    from taskloom.store.sqlite import migrate

    seen = []
    real_apply = migrate.apply
    def spy(conn, **kw):
        before = real_apply(conn, **kw)
        seen.append(before)
        return before
    migrate.apply = spy

    async def main():
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        app = await Taskloom.open(Settings(db_path=Path(sys.argv[1]), project="shared"))
        try:
            return {"versions_before": seen, "project_id": app.project_id}
        finally:
            await app.close()

    try:
        print(json.dumps(anyio.run(main)), flush=True)
    except BaseException:
        print(json.dumps({"error": traceback.format_exc()}), flush=True)
        sys.exit(1)
    """
)


def test_processes_opening_a_brand_new_file_at_once_all_succeed_and_only_one_migrates(tmp_path):
    path = tmp_path / "fresh" / "taskloom.db"
    procs = []
    try:
        for _ in range(OPENERS):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", CONCURRENT_OPEN, str(path)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    cwd=tmp_path,
                )
            )
        for proc in procs:  # every process has imported everything; now they race
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                assert sel.select(120), "an opener never got ready"
            assert proc.stdout.readline().strip() == "ready"
        assert not path.exists()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            results.append((proc.returncode, out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    failed = [out for code, out in results if code != 0]
    assert not failed, "some openers failed:\n" + "\n".join(failed)
    reports = [json.loads(out.strip().splitlines()[-1]) for _, out in results]
    seen = sorted(v for r in reports for v in r["versions_before"])
    latest = migrate.latest_version()
    assert seen == [0] + [latest] * (OPENERS - 1), f"user_version each opener found: {seen}"
    assert len({r["project_id"] for r in reports}) == 1

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM projects").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    reference = tmp_path / "reference.db"
    build_with_migrations(reference)
    mine = schema_at(path)
    assert not differences(mine, schema_at(reference))


# ------------------------------------------------------------------ connection settings


async def test_the_store_runs_in_wal_mode_with_normal_sync_foreign_keys_and_a_busy_timeout(tmp_path):
    store = await SqliteStore.open(tmp_path / "p.db")
    try:
        assert await pragma(store, "journal_mode") == "wal"
        assert await pragma(store, "synchronous") == 1  # NORMAL
        assert await pragma(store, "foreign_keys") == 1
        assert await pragma(store, "busy_timeout") == 10_000
    finally:
        await store.close()
    # WAL is a property of the file: any other connection, in any process, sees it too.
    conn = sqlite3.connect(tmp_path / "p.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


async def test_the_configured_busy_timeout_reaches_the_connection(tmp_path):
    app = await Taskloom.open(Settings(db_path=tmp_path / "b.db", project="p", busy_timeout_ms=4321))
    try:
        assert await pragma(app.store, "busy_timeout") == 4321
    finally:
        await app.close()


async def test_a_write_breaking_a_foreign_key_is_refused_as_a_conflict(tmp_path):
    store = await SqliteStore.open(tmp_path / "fk.db")
    try:
        with pytest.raises(Conflict):
            await store.write(
                lambda tx: tx.run(
                    "event_insert",
                    {
                        "project": 424242,
                        "now": 1.0,
                        "kind": "x",
                        "subject": None,
                        "agent": None,
                        "payload": None,
                    },
                )
            )
        assert (
            await store.read(lambda tx: tx.all("events_since", {"project": 424242, "since": 0, "limit": 10}))
            == []
        )
    finally:
        await store.close()


# ------------------------------------------------------------------ transactions


def _counts(path: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(path)
    try:
        return tuple(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("projects", "tasks", "events")
        )
    finally:
        conn.close()


def _codes(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [code for (code,) in conn.execute("SELECT code FROM tasks ORDER BY code")]
    finally:
        conn.close()


def _task(project: int, code: str) -> dict:
    return {
        "project": project,
        "code": code,
        "key": None,
        "title": code,
        "description": "",
        "acceptance": "",
        "context": "",
        "status": "ready",
        "priority": 2,
        "role": None,
        "stream_id": None,
        "sprint_id": None,
        "parent_id": None,
        "depth": 1,
        "requires_review": 0,
        "max_attempts": 3,
        "rank": 1,
        "agent": "t",
        "now": 1.0,
    }


def _write_a_lot(tx) -> int:
    """Rows in three tables, all of which must vanish if the transaction fails."""
    tx.run("project_insert", {"name": "doomed", "now": 1.0})
    pid = tx.one("project_get", {"name": "doomed"})["id"]
    for n in range(3):
        tx.one("task_insert", _task(pid, f"D-{n}"))
    tx.run(
        "event_insert",
        {"project": pid, "now": 1.0, "kind": "k", "subject": None, "agent": None, "payload": None},
    )
    return pid


async def test_a_write_that_raises_midway_leaves_nothing_behind_and_the_store_stays_usable(tmp_path):
    path = tmp_path / "rb.db"
    store = await SqliteStore.open(path)
    try:
        before = _counts(path)

        def fails_after_writing(tx):
            _write_a_lot(tx)
            assert tx.scalar("project_get", {"name": "doomed"}) is not None  # really written, inside the tx
            raise InvalidInput("changed my mind")

        with pytest.raises(InvalidInput):
            await store.write(fails_after_writing)
        assert _counts(path) == before
        assert await store.read(lambda tx: tx.one("project_get", {"name": "doomed"})) is None

        # The write lock was released: another connection can take it at once.
        other = sqlite3.connect(path, timeout=0.5, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        finally:
            other.close()
        # The connection is not left inside a transaction: the next write commits for everyone.
        await store.write(lambda tx: tx.run("project_insert", {"name": "kept", "now": 2.0}))
        assert _counts(path)[0] == before[0] + 1
    finally:
        await store.close()


async def test_a_write_failing_on_a_constraint_midway_rolls_back_its_earlier_statements(tmp_path):
    path = tmp_path / "rb2.db"
    store = await SqliteStore.open(path)
    try:
        before = _counts(path)

        def duplicate_code(tx):
            pid = _write_a_lot(tx)
            tx.one("task_insert", _task(pid, "D-0"))  # UNIQUE (project_id, code)

        with pytest.raises(Conflict):
            await store.write(duplicate_code)
        assert _counts(path) == before
        await store.write(lambda tx: tx.run("project_insert", {"name": "kept", "now": 2.0}))
        assert _counts(path)[0] == before[0] + 1
    finally:
        await store.close()

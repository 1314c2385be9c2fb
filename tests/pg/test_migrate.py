"""store/postgres/migrate.py on a real throwaway cluster: what a database is brought to, once,
and what is refused untouched."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from taskloom.errors import Storage
from taskloom.store.sqlite import migrate as sqlite_migrate

psycopg = pytest.importorskip("psycopg")
from taskloom.store.postgres import migrate  # needs psycopg: skipped above without it

APPLIERS = 4


def _version_rows(dsn: str) -> list[tuple[int, float]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT version, applied_at FROM taskloom_schema ORDER BY version").fetchall()


def _tables(conn: psycopg.Connection, schema: str = "public") -> set[str]:
    rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
    return {name for (name,) in rows}


def test_a_fresh_database_is_brought_to_the_latest_version(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        assert migrate.apply(conn, now=1000.0) == 0
        assert migrate.current_version(conn) == migrate.latest_version()
    assert _version_rows(pg_dsn) == [(migrate.latest_version(), 1000.0)]


def test_the_schema_has_every_sqlite_table_column_and_index_by_the_same_name(pg_dsn: str) -> None:
    """Services read rows by column name on both backends: a name missing here fails only at run time."""
    lite = sqlite3.connect(":memory:")
    lite.executescript((Path(sqlite_migrate.__file__).parent / "schema.sql").read_text(encoding="utf-8"))
    # The search index is FTS5 on SQLite (a virtual table and its own tables behind it) and a
    # tsvector table on PostgreSQL: only its name is shared, and only search reads it.
    tables = [name for (name,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                 "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'search_index%'")]
    want_columns = {
        t: [(row[1], bool(row[3])) for row in lite.execute(f"PRAGMA table_info('{t}')")] for t in tables
    }
    want_indexes = {name for (name,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                      "AND name NOT LIKE 'sqlite_%'")}
    with psycopg.connect(pg_dsn) as conn:
        migrate.apply(conn)
        got_columns = {
            t: [(name, nullable == "NO") for name, nullable in conn.execute(
                "SELECT column_name, is_nullable FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position", (t,))]
            for t in tables
        }
        got_indexes = {name for (name,) in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
        assert _tables(conn) == {*tables, "search_index", "taskloom_schema"}
    # SQLite lets an INTEGER PRIMARY KEY be NULL on paper; PostgreSQL's primary keys are NOT NULL.
    for t, cols in want_columns.items():
        want_columns[t] = [(name, notnull or name == "id") for name, notnull in cols]
    assert got_columns == want_columns
    assert want_indexes <= got_indexes


def test_applying_twice_changes_nothing(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        migrate.apply(conn, now=1000.0)
        assert migrate.apply(conn, now=2000.0) == migrate.latest_version()
    assert _version_rows(pg_dsn) == [(migrate.latest_version(), 1000.0)]


def test_replicas_applying_at_the_same_moment_migrate_once(pg_dsn: str) -> None:
    barrier = threading.Barrier(APPLIERS)
    before: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with psycopg.connect(pg_dsn) as conn:
                barrier.wait(timeout=10)
                before.append(migrate.apply(conn))
        except (psycopg.Error, Storage, threading.BrokenBarrierError) as exc:  # reported in the test thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=one) for _ in range(APPLIERS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert errors == []
    assert sorted(before) == [0] + [migrate.latest_version()] * (APPLIERS - 1)
    assert len(_version_rows(pg_dsn)) == 1


def test_a_database_newer_than_this_taskloom_is_refused_untouched(pg_dsn: str) -> None:
    newer = migrate.latest_version() + 1
    with psycopg.connect(pg_dsn) as conn:
        migrate.apply(conn, now=1000.0)
        conn.execute("INSERT INTO taskloom_schema VALUES (%s, 2000.0)", (newer,))
        conn.commit()
        with pytest.raises(Storage, match=f"version {newer}") as raised:
            migrate.apply(conn)
    assert "upgrade taskloom on this machine" in raised.value.hint
    assert [v for v, _ in _version_rows(pg_dsn)] == [migrate.latest_version(), newer]


def test_someone_elses_database_is_refused_and_left_as_it_was(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE TABLE invoices (id int PRIMARY KEY)")
        conn.commit()
        with pytest.raises(Storage, match="is not a taskloom one") as raised:
            migrate.apply(conn)
        assert "search_path" in raised.value.hint
        assert _tables(conn) == {"invoices"}


def test_a_schema_of_its_own_named_by_the_urls_search_path_holds_the_tables(pg_dsn: str) -> None:
    """Beside someone else's tables in public: the recipe the refusal above suggests."""
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE TABLE invoices (id int PRIMARY KEY)")
        conn.execute("CREATE SCHEMA taskloom")
        conn.commit()
    with psycopg.connect(pg_dsn + "?options=-csearch_path%3Dtaskloom") as conn:
        assert migrate.apply(conn) == 0
        assert "tasks" in _tables(conn, "taskloom")
        assert _tables(conn) == {"invoices"}


def test_a_search_path_naming_no_schema_is_refused_with_what_to_create(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn + "?options=-csearch_path%3Dnowhere") as conn, \
            pytest.raises(Storage, match="nowhere") as raised:
        migrate.apply(conn)
    assert "CREATE SCHEMA" in raised.value.hint


def test_an_older_database_gets_each_later_migration_and_only_those(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(pg_dsn) as conn:
        migrate.apply(conn, now=1000.0)
    base = migrate.latest_version()
    (tmp_path / f"{base:04d}_already_in_schema.sql").write_text("CREATE TABLE must_not_run (x int);\n")
    (tmp_path / f"{base + 1:04d}_a_column.sql").write_text("ALTER TABLE tasks ADD COLUMN effort integer;\n")
    (tmp_path / f"{base + 2:04d}_a_table.sql").write_text("CREATE TABLE later (x int);\nCREATE INDEX later_x ON later (x);\n")
    monkeypatch.setattr(migrate, "MIGRATIONS", tmp_path)
    with psycopg.connect(pg_dsn) as conn:
        assert migrate.apply(conn, now=2000.0) == base
        tables = _tables(conn)
        assert "later" in tables and "must_not_run" not in tables
        assert conn.execute("SELECT count(*) FROM information_schema.columns "
                            "WHERE table_name = 'tasks' AND column_name = 'effort'").fetchone()[0] == 1
    assert _version_rows(pg_dsn) == [(base, 1000.0), (base + 2, 2000.0)]


def test_a_failing_migration_leaves_the_database_at_its_old_version(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(pg_dsn) as conn:
        migrate.apply(conn, now=1000.0)
    base = migrate.latest_version()
    (tmp_path / f"{base + 1:04d}_half.sql").write_text("CREATE TABLE half (x int);\nALTER TABLE nowhere ADD y int;\n")
    monkeypatch.setattr(migrate, "MIGRATIONS", tmp_path)
    with psycopg.connect(pg_dsn) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            migrate.apply(conn)
        conn.rollback()
        assert "half" not in _tables(conn)
    assert _version_rows(pg_dsn) == [(base, 1000.0)]

"""The store's guard: every text column is classified, and every write query is read correctly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from taskloom.errors import InvalidInput
from taskloom.store import guard
from taskloom.store.sqlite.store import GUARDED, SqliteTx

SCHEMA = Path(guard.__file__).parent / "sqlite" / "schema.sql"
KEY = "ghp_" + "0123456789abcdefghijklmnopqrstuvwxyz"


def text_columns() -> set[str]:
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA.read_text())
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        f"{t}.{c[1]}"
        for t in tables
        if not t.startswith("sqlite_")
        for c in conn.execute(f"PRAGMA table_info({t})")
        if c[2].upper() == "TEXT"
    }


def test_every_text_column_of_the_schema_is_classified_exactly_once():
    classes = [guard.FREE_TEXT, guard.NAMES, guard.SYSTEM]
    assert set().union(*classes) == text_columns(), "classify each new TEXT column in store/guard.py"
    assert sum(len(c) for c in classes) == len(text_columns()), "a column is in two classes"


def test_every_free_text_column_is_guarded_on_the_queries_that_write_it():
    """A shape the parser missed would leave its columns unguarded: each must be seen somewhere."""
    assert {column for f in GUARDED.values() for column in f.free.values()} == guard.FREE_TEXT


def test_the_columns_of_each_write_shape_are_read_with_their_parameters():
    assert guard.bindings(
        "INSERT INTO t (a, b) VALUES (:x, coalesce(:y, 'a,b')) ON CONFLICT (a) DO NOTHING"
    ) == [
        ("t.a", ["x"]),
        ("t.b", ["y"]),
    ]
    assert guard.bindings("INSERT OR IGNORE INTO t (a, b) SELECT id, :me FROM u WHERE x = :z") == [
        ("t.a", []),
        ("t.b", ["me"]),
    ]
    assert guard.bindings(
        "INSERT INTO t (a) VALUES (:a) ON CONFLICT (a) DO UPDATE SET b = coalesce(:b, t.b) RETURNING *"
    ) == [("t.a", ["a"]), ("t.b", ["b"])]
    assert guard.bindings(
        "UPDATE t SET a = :a, b = CASE WHEN :c THEN 1 END WHERE id = (SELECT :d) RETURNING x"
    ) == [
        ("t.a", ["a"]),
        ("t.b", ["c"]),
    ]
    assert guard.bindings("SELECT :a FROM t") == []


def test_a_write_the_guard_cannot_read_fails_at_load():
    with pytest.raises(ValueError):
        guard.plan({"odd": "INSERT INTO t (a, b) VALUES (:a)"})
    with pytest.raises(ValueError):
        guard.plan({"odd": "INSERT INTO t (a) DEFAULT VALUES"})


def _memory_tx() -> tuple[sqlite3.Connection, guard.Guarded]:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    conn.executescript(SCHEMA.read_text())
    conn.execute("INSERT INTO projects (name, created_at) VALUES ('p', 0)")
    return conn, guard.Guarded(SqliteTx(conn), GUARDED)


def test_free_text_is_masked_and_counted_and_a_name_holding_a_secret_is_refused():
    conn, tx = _memory_tx()
    tx.scalar(
        "stream_insert", {"project": 1, "code": "api", "name": "API", "description": f"use {KEY}", "now": 0}
    )
    assert conn.execute("SELECT description FROM streams").fetchone()[0] == "use [REDACTED]"
    assert tx.redacted == 1
    with pytest.raises(InvalidInput) as refused:
        tx.scalar("stream_insert", {"project": 1, "code": KEY, "name": "x", "description": "", "now": 0})
    assert refused.value.message.startswith("The stream code looks like it holds a secret")
    with pytest.raises(InvalidInput, match="task label"):
        tx.many(
            "task_label_insert", [{"task_id": 1, "label": "ok"}, {"task_id": 1, "label": f"password={KEY}"}]
        )


def test_masked_text_passes_the_guard_unchanged():
    """Services mask first and count for their answers; the guard then finds nothing more."""
    conn, tx = _memory_tx()
    tx.scalar(
        "stream_insert", {"project": 1, "code": "a", "name": "A", "description": "[REDACTED] x", "now": 0}
    )
    tx.run(
        "note_insert", {"task_id": 1, "kind": "note", "body": "PASSWORD=[REDACTED]", "agent": "a", "now": 0}
    )
    assert tx.redacted == 0
    assert conn.execute("SELECT description FROM streams").fetchone()[0] == "[REDACTED] x"

"""A multi-row insert binds each column as plain values (batch._plain) and stores exactly what
one statement per row stores: NULL columns, booleans, str subclasses (redaction's Masked) and
columns that mix them."""

from __future__ import annotations

import sqlite3

from taskloom.domain.redact import Masked
from taskloom.store.sqlite import batch

COLUMNS = ("a", "b", "c", "d", "e")
SQL = "INSERT INTO {t} (a, b, c, d, e) VALUES (:a, :b, :c, :d, :e)"


def _rows(n: int) -> list[dict]:
    return [
        {
            "a": None,  # NULL in every row
            "b": i % 3 == 0,  # booleans only
            "c": Masked(f"text {i}"),  # a str subclass only
            "d": None if i % 2 else Masked("x"),  # NULL and a subclass mixed
            "e": [1, 2.5, "s", b"\x00by", True, None][i % 6],  # anything
        }
        for i in range(n)
    ]


def _stored(conn: sqlite3.Connection, table: str) -> list[tuple]:
    cols = ", ".join(f"{c}, typeof({c})" for c in COLUMNS)
    return conn.execute(f"SELECT {cols} FROM {table} ORDER BY rowid").fetchall()


def test_a_batch_stores_what_a_statement_per_row_stores(tmp_path):
    conn = sqlite3.connect(tmp_path / "t.db")
    for table in ("batched", "each"):
        conn.execute(f"CREATE TABLE {table} (a, b, c, d, e)")
    rows = _rows(batch.MAX_ROWS + 37)  # a full statement and a short one
    (insert,) = batch.plan({"q": SQL.format(t="batched")}).values()
    batch.insert_many(conn, insert, rows)
    conn.executemany(SQL.format(t="each"), rows)
    assert _stored(conn, "batched") == _stored(conn, "each")
    assert {r[1] for r in _stored(conn, "batched")} == {"null"}


def test_plain_values_are_of_the_exact_types_sqlite3_binds_without_an_adapter():
    assert batch._plain([None, None]) is None
    assert [type(v) for v in batch._plain([Masked("a"), Masked("b")])] == [str, str]
    assert batch._plain([True, False]) == [1, 0] and type(batch._plain([True])[0]) is int
    mixed = [None, Masked("a")]
    assert batch._plain(mixed) is mixed  # left to sqlite3, which adapts each value as before

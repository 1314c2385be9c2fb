"""Many rows of a plain INSERT as a few multi-row statements instead of one statement per row.

A table with triggers (the search index's, on tasks, notes, messages and artifacts) runs each
statement in a statement journal, and FTS5 writes its pending terms out as a new segment at every
statement's savepoint: 100k tasks inserted one statement each made 100k tiny segments and their
merges, 5-6 s of an import. One statement per few hundred rows gives the same rows, in the same
order, through the same triggers, at a fraction of the cost. Rows are bound positionally (tuples,
not a dict lookup per parameter).

Only `INSERT [OR IGNORE] INTO t (cols) VALUES (:a, :b, ...)` with nothing after it qualifies:
every value a bare parameter, no upsert, no RETURNING. OR IGNORE skips each conflicting row of a
multi-row statement as it would skip that row alone (a plan's 150k dependencies). Within a write
transaction the effect is the same as `executemany`: a failing row fails the write, and the write
rolls back whole.

Many new tasks at once (a plan import) go in with their search trigger dropped and the index
written after them in one INSERT ... SELECT (`insert_indexed`): the same index rows, without a
trigger program run per row (0.4 of 4.3 s at 100k tasks).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

_PLAIN = re.compile(
    r"^\s*(INSERT\s+(?:OR\s+IGNORE\s+)?INTO\s+\w+\s*\([\w\s,]+\))\s*VALUES\s*\(([:\w\s,]+)\)\s*$", re.IGNORECASE
)
_PARAM = re.compile(r"^:(\w+)$")
MAX_ROWS = 500  # rows per statement: one FTS5 flush per 500 rows is already lost in the noise
# Rows from which a batch is indexed after it is inserted: dropping and re-creating a trigger
# changes the schema, which every connection then reads again (about a millisecond).
INDEX_AFTER_ROWS = 1000
MAX_ROWID = 2**63 - 1


@dataclass(frozen=True)
class Indexed:
    """A table whose search trigger a large batch of inserts runs without (see insert_indexed)."""

    table: str
    trigger: str  # its AFTER INSERT trigger on the search index
    index_after: str  # the trigger's INSERT for every row whose rowid is above :after


@dataclass(frozen=True)
class Insert:
    head: str  # INSERT INTO t (cols)
    params: tuple[str, ...]  # the parameter bound to each column, in order


def plan(queries: Mapping[str, str]) -> dict[str, Insert]:
    """The queries that `insert_many` can run as multi-row statements."""
    out = {}
    for name, sql in queries.items():
        m = _PLAIN.match(sql)
        if m is None:
            continue
        params = [_PARAM.match(p.strip()) for p in m.group(2).split(",")]
        if all(params):
            out[name] = Insert(m.group(1), tuple(p.group(1) for p in params if p))
    return out


def insert_many(conn: sqlite3.Connection, insert: Insert, rows: Sequence[Mapping[str, Any]]) -> None:
    width = len(insert.params)
    per = max(1, min(MAX_ROWS, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    statements: dict[tuple[int, tuple[int, ...]], str] = {}
    # One C-level getter per row instead of a Python step per value (2M values in a 100k-task plan).
    row_values = itemgetter(*insert.params) if width > 1 else lambda row: (row[insert.params[0]],)
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        # A missing parameter raises as executemany would (sqlite3.ProgrammingError).
        try:
            values = list(chain.from_iterable(map(row_values, chunk)))
        except KeyError as exc:
            raise sqlite3.ProgrammingError(f"You did not supply a value for binding parameter :{exc.args[0]}.") from None
        columns = [values[c::width] for c in range(width)]
        plain = [_plain(column) for column in columns]
        nulls = tuple(c for c, column in enumerate(plain) if column is None)
        sql = statements.get((len(chunk), nulls))
        if sql is None:
            one = "(" + ", ".join("NULL" if c in nulls else "?" for c in range(width)) + ")"
            sql = statements[len(chunk), nulls] = f"{insert.head} VALUES {', '.join([one] * len(chunk))}"
        if any(p is not c for p, c in zip(plain, columns, strict=True)):
            values = list(chain.from_iterable(zip(*(c for c in plain if c is not None))))
        conn.execute(sql, values)


def _plain(column: list[Any]) -> list[Any] | None:
    """One column of a chunk as sqlite3 binds it without asking for an adapter, or None when every
    value is NULL (the statement then says NULL there, as binding None would).

    sqlite3 binds an exact int, float or str directly; anything else (None, True, a str subclass
    such as redaction's Masked) goes through its adapter lookup, which raises and drops an
    AttributeError per value: 12% of a 10k-task plan import's instructions. The same values
    stored: a str subclass as its str, a bool as the int sqlite3 would bind for it.
    """
    first = type(column[0])
    if first in _EXACT:  # taken to be the column's type: a value of another is still bound, only adapted
        return column
    if first is type(None):
        return None if column.count(None) == len(column) else column
    if (first is bool or issubclass(first, str)) and set(map(type, column)) == {first}:
        return list(map(int if first is bool else str.__str__, column))  # __str__: the text itself
    return column


_EXACT = frozenset({int, float, str})


def insert_indexed(conn: sqlite3.Connection, insert: Insert, rows: Sequence[Mapping[str, Any]], indexed: Indexed) -> None:
    """`insert_many`, with the search index written once for all the rows instead of per row.

    All inside the caller's write transaction: the trigger is dropped, the rows go in, the index
    rows are made by the trigger's own INSERT over the new rowids, and the trigger is created again
    from its own text. SQLite's schema changes are transactional, so no other connection ever sees
    the table without its trigger, and a failure anywhere rolls all of it back.
    """
    (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (indexed.trigger,)).fetchone()
    (after,) = conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {indexed.table}").fetchone()
    if len(rows) < INDEX_AFTER_ROWS or after > MAX_ROWID - len(rows):
        # Near the last rowid SQLite picks free ones at random: the new rows would not all come after.
        insert_many(conn, insert, rows)
        return
    conn.execute(f"DROP TRIGGER {indexed.trigger}")
    insert_many(conn, insert, rows)
    conn.execute(indexed.index_after, {"after": after})
    conn.execute(ddl)

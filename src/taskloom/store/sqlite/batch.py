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
    one = "(" + ", ".join("?" * width) + ")"
    statements: dict[int, str] = {}
    # One C-level getter per row instead of a Python step per value (2M values in a 100k-task plan).
    row_values = itemgetter(*insert.params) if width > 1 else lambda row: (row[insert.params[0]],)
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        sql = statements.get(len(chunk))
        if sql is None:
            sql = statements[len(chunk)] = f"{insert.head} VALUES {', '.join([one] * len(chunk))}"
        # A missing parameter raises as executemany would (sqlite3.ProgrammingError).
        try:
            values = list(chain.from_iterable(map(row_values, chunk)))
        except KeyError as exc:
            raise sqlite3.ProgrammingError(f"You did not supply a value for binding parameter :{exc.args[0]}.") from None
        conn.execute(sql, values)

"""Many rows of a plain INSERT sent with COPY instead of one statement per row.

A 100k-task import ran 550k INSERTs, each bound, planned and executed on its own (in a pipeline,
so no round trip each, but the server's per-statement work and psycopg's per-row Python work
remain). COPY streams the same rows into the same columns: the same constraints are checked and
the same row triggers fire (the search index's tsvector), in the same order, in the write's
transaction, so a failing row fails the write whole. Multi-row VALUES was tried first: psycopg
caches the parse of a statement only up to 4 KB and 50 parameters, so a 500-row statement cost
more Python than it saved.

Only `INSERT INTO t (cols) VALUES (...)` with nothing after it qualifies, each value a bare
parameter or a parameter cast (`:flag::integer::boolean`): COPY reads the value's text as the
column's type, and a flag's 0/1 or true/false reads as a boolean either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

_PLAIN = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)\s*\(([\w\s,]+)\)\s*VALUES\s*\((.*)\)\s*$", re.IGNORECASE | re.DOTALL)
_VALUE = re.compile(r"^\s*%\((\w+)\)s(?:::(?:integer|boolean))*\s*$")


@dataclass(frozen=True)
class Insert:
    copy: str  # COPY t (cols) FROM STDIN
    params: tuple[str, ...]  # the parameter of each column, in order


def plan(queries: Mapping[str, str]) -> dict[str, Insert]:
    """The (pyformat) queries that `insert_many` can send with COPY."""
    out = {}
    for name, sql in queries.items():
        m = _PLAIN.match(sql)
        if m is None:
            continue
        columns = [c.strip() for c in m.group(2).split(",")]
        values = [_VALUE.match(v) for v in m.group(3).split(",")]
        if len(values) == len(columns) and all(values):
            out[name] = Insert(f"COPY {m.group(1)} ({', '.join(columns)}) FROM STDIN",
                               tuple(v.group(1) for v in values if v))
    return out


def insert_many(conn: psycopg.Connection[Any], insert: Insert, rows: Iterable[Mapping[str, Any]]) -> None:
    """All the rows in one COPY, each turned into its values as it is sent: a COPY per 1,000 rows
    cost three round trips each (550 COPYs in an import), and on a loaded machine every round trip
    waits for both processes to be scheduled again. A missing parameter fails the COPY, and with
    it the write."""
    with conn.cursor() as cursor, cursor.copy(insert.copy) as copy:
        for row in rows:
            try:
                value = tuple(row[p] for p in insert.params)
            except KeyError as exc:
                raise psycopg.ProgrammingError(f"query parameter missing: {exc.args[0]}") from None
            copy.write_row(value)

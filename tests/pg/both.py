"""One SQLite database and one PostgreSQL database, each at its backend's schema, driven by the
same named queries with the same parameters: for comparing the two backends' answers.

Python values go in as the services pass them (ints, floats, bools, str, None, JSON lists as
text), through psycopg's own binding, so a query that only prepares with untyped parameters
but fails with typed ones shows here.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from taskloom.store import queries
from taskloom.store.postgres import migrate, named
from taskloom.store.sqlite import migrate as sqlite_migrate

SQLITE_QUERIES = queries.load_dir(Path(sqlite_migrate.__file__).parent / "queries")
PG_QUERIES = named.load()


def _plain(value: Any, column: str) -> Any:
    """What a service would make of a value: bools as SQLite's 0/1, JSON text parsed."""
    if isinstance(value, bool):
        return int(value)
    if column.endswith("_json") and isinstance(value, str):
        return json.loads(value)
    return value


@dataclass
class Both:
    lite: sqlite3.Connection
    pg: psycopg.Connection

    @classmethod
    def open(cls, dsn: str) -> Both:
        lite = sqlite3.connect(":memory:", isolation_level=None)
        lite.row_factory = sqlite3.Row
        lite.execute("PRAGMA foreign_keys = ON")
        lite.executescript((Path(sqlite_migrate.__file__).parent / "schema.sql").read_text(encoding="utf-8"))
        pg = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)
        migrate.apply(pg)
        return cls(lite, pg)

    def close(self) -> None:
        self.lite.close()
        self.pg.close()

    def run(self, name: str, params: dict[str, Any] | None = None) -> tuple[list[dict], list[dict]]:
        """The rows each backend answers, as plain dicts (SQLite's, PostgreSQL's)."""
        params = params or {}
        lite_cur = self.lite.execute(SQLITE_QUERIES[name], params)
        lite = [tuple(r) for r in lite_cur.fetchall()]
        cur = self.pg.execute(PG_QUERIES[name], params)
        pg = [tuple(r.values()) for r in cur.fetchall()] if cur.description else []
        if lite_cur.description is None:
            return [], []
        # A bare count(*) or EXISTS is named by its text in SQLite and by the function here;
        # services read those by position (scalar), so such a column is keyed by its position.
        # Every other column is keyed by SQLite's name, and PostgreSQL's must be the same.
        lite_names = [d[0] for d in lite_cur.description]
        pg_names = [d.name for d in cur.description]
        keys = [n if n.isidentifier() else f"#{i}" for i, n in enumerate(lite_names)]
        assert [p for p, k in zip(pg_names, keys, strict=True) if not k.startswith("#")] == \
            [k for k in keys if not k.startswith("#")], f"{name}: column names differ"
        return ([{k: _plain(v, k) for k, v in zip(keys, r, strict=True)} for r in lite],
                [{k: _plain(v, k) for k, v in zip(keys, r, strict=True)} for r in pg])

    def same(self, name: str, params: dict[str, Any] | None = None, *, ordered: bool = True) -> list[dict]:
        """Run on both; they must agree (as sets when the query has no order). The shared answer."""
        lite, pg = self.run(name, params)
        if not ordered:
            lite, pg = sorted(lite, key=repr), sorted(pg, key=repr)
        assert pg == lite, f"{name}{params}: PostgreSQL differs from SQLite:\n  pg:     {pg}\n  sqlite: {lite}"
        return pg

    def raw(self, sql: str) -> None:
        """The same literal SQL (no parameters) on both, for rows no named query of this half writes."""
        self.lite.execute(sql)
        self.pg.execute(sql)

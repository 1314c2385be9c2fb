"""Two backends over the same rows, for tests/pg/test_queries_agree.py.

A project is built through the real tools on a SQLite file, then copied row for row into a
PostgreSQL database made from store/postgres/schema.sql. `Both` runs a named query on each with
the same parameters; PostgreSQL's side binds them as psycopg does for the store
(store/postgres/named.py rewrites `:name` to `%(name)s`), so untyped NULLs and Python bools
reach the server as they will. Results come back with each value's type, so a Decimal where
SQLite gives an int is a difference.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
from mcp import Client

from taskloom.services import uploads
from taskloom.services.app import Taskloom
from taskloom.store.postgres.named import pyformat
from taskloom.store.queries import load
from tests.conftest import call

STORE = Path(__file__).resolve().parents[2] / "src" / "taskloom" / "store"
FILES = ("coordination", "artifacts", "runs", "dashboard", "overview", "reservations")
# SQLite stores these as 0/1 and PostgreSQL as boolean; the services only test their truth.
FLAGS = {"ack_required", "exclusive", "requires_review", "open_subtasks", "acted"}
# No ORDER BY: their callers make sets of them, so only the rows count, not their order.
UNORDERED = {"thread_members", "task_pages_showing", "task_streams_by_codes", "artifact_all_shas", "agent_names",
             "agents_in_roles", "agents_with_role", "artifact_gc_candidates"}


def queries(backend: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in FILES:
        load(STORE / backend / "queries" / f"{name}.sql", found)
    return found


SQLITE, POSTGRES = queries("sqlite"), queries("postgres")


# ---------------------------------------------------------------- the project, built on SQLite


async def build(app: Taskloom, client: Client) -> None:
    for agent, role in [("alice", "backend"), ("bob", "backend"), ("carol", "reviewer"), ("dave", None)]:
        await call(client, "agent_init", agent=agent, **({"role": role} if role else {}))
    await call(client, "role_define", role={"slug": "backend", "name": "Backend", "definition": "servers"})
    await call(client, "stream_create", code="api")
    await call(client, "stream_create", code="web", depends_on=["api"])
    await call(client, "sprint_create", code="S1")
    await call(client, "task_create", agent="carol", tasks=[
        {"title": "schema", "stream": "api", "sprint": "S1", "role": "backend", "priority": 1},
        {"title": "handlers", "stream": "api", "depends_on": ["T-1"], "role": "backend"},
        {"title": "pages", "stream": "web", "depends_on": ["T-1", "T-2"], "requires_review": True},
        {"title": "docs", "labels": ["docs"]},
        {"title": "review it", "role": "reviewer", "priority": 0},
        {"title": "sub", "parent": "T-4"},
    ])
    await call(client, "task_claim", agent="alice", task="T-1")
    await call(client, "task_claim", agent="dave", task="T-6")
    await call(client, "task_block", agent="dave", task="T-6", reason="which format?")
    mind = await call(client, "message_send", agent="carol", to="task:T-1", body="mind the index", ack_required=True)
    await call(client, "message_send", agent="alice", to="task:T-1", body="noted")
    lunch = await call(client, "message_send", agent="bob", to="alice", body="lunch?")
    await call(client, "message_send", agent="carol", to="role:backend", body="standup at ten")
    await call(client, "message_send", agent="dave", to="all", body="hello all")
    await call(client, "message_send", agent="alice", to="bob", body="yes", reply_to=lunch["id"])
    await call(client, "message_inbox", agent="bob", mark_read=True, limit=2)
    await call(client, "message_ack", agent="alice", ids=[mind["id"]])
    await call(client, "files_reserve", agent="alice", paths=["src/api/**"], task="T-1")
    await call(client, "files_reserve", agent="bob", paths=["docs/*.md"], exclusive=False, ttl_seconds=60)
    names = ["report.md", "100%.txt", "a_b.md", "shot [2].png", "what?.txt", "Notes.MD"]
    links = [["task:T-1"], ["stream:api"], ["sprint:S1"], ["task:T-2"], ["project"], ["task:T-1", "stream:web"]]
    for name, link in zip(names, links, strict=True):
        await uploads.upload(app, uploads.Source(content=f"bytes of {name}"), name=name, links=link, agent="alice")
    await call(client, "artifacts_unlink", artifact=(await call(client, "artifacts_list", name="what?.txt"))
               ["artifacts"][0]["uri"], links=["project"])
    await call(client, "task_done", agent="alice", task="T-1", summary="schema in place")
    await call(client, "task_claim", agent="bob", task="T-2")
    await call(client, "task_fail", agent="bob", task="T-2", reason="broken", retry=False)


def add_runs(db: Path) -> None:
    """Runner rows as `taskloom run` writes them: live, ended, for a task and for a stream."""
    conn = sqlite3.connect(db)
    try:
        with conn:
            project, t2, api = (conn.execute(q).fetchone()[0] for q in (
                "SELECT id FROM projects", "SELECT id FROM tasks WHERE code = 'T-2'",
                "SELECT id FROM streams WHERE code = 'api'"))
            rows = [
                ("r1", "w1", t2, None, 10.0, 100.0, 20.0, 1, "failed"),
                ("r1", "w2", t2, None, 30.0, 100.0, None, None, None),
                ("r2", "bob", None, api, 40.0, 5.0, None, None, None),
                ("r2", "w3", None, api, 1.0, 5.0, 2.0, 0, "done"),
            ]
            conn.executemany(
                "INSERT INTO runs (project_id, runner, agent, task_id, stream_id, preset, host, started_at,"
                " held_until, ended_at, exit_code, outcome) VALUES (?, ?, ?, ?, ?, 'claude', 'h1', ?, ?, ?, ?, ?)",
                [(project, *r) for r in rows],
            )
    finally:
        conn.close()


# ---------------------------------------------------------------- the same rows on PostgreSQL


def copy(db: Path, dsn: str) -> None:
    src = sqlite3.connect(db)
    try:
        with psycopg.connect(dsn) as pg:
            pg.execute((STORE / "postgres" / "schema.sql").read_text())
            flags = {(t, c) for t, c in pg.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'boolean'")}
            # Not the search index: its triggers fill it from the rows copied, and SQLite's is FTS5.
            tables = [r[0] for r in pg.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
                if r[0] != "search_index"]
            # Parents first: each table's rows follow every table its foreign keys name.
            order = [t for _, t in sorted((_depth(pg, t), t) for t in tables)]
            for table in order:
                cur = src.execute(f"SELECT * FROM {table} ORDER BY 1")  # ids before the rows naming them
                cols = [d[0] for d in cur.description]
                rows = [tuple(bool(v) if (table, c) in flags else v for c, v in zip(cols, row, strict=True))
                        for row in cur]
                if rows:
                    with pg.cursor() as c:
                        c.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                                      f"({', '.join(['%s'] * len(cols))})", rows)
                if "id" in cols:
                    pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
    finally:
        src.close()


def _depth(pg: Any, table: str, seen: frozenset[str] = frozenset()) -> int:
    parents = [r[0] for r in pg.execute(
        "SELECT DISTINCT ccu.table_name FROM information_schema.table_constraints tc"
        " JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name"
        " WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_name = %s AND ccu.table_name <> %s",
        (table, table))]
    return 1 + max((_depth(pg, p, seen | {table}) for p in parents if p not in seen), default=0)


class Both:
    """One SQLite connection and one PostgreSQL connection over the same rows."""

    def __init__(self, db: Path, dsn: str) -> None:
        self.lite = sqlite3.connect(db, isolation_level=None)
        self.pg = psycopg.connect(dsn, autocommit=True)

    def close(self) -> None:
        self.lite.close()
        self.pg.close()

    def value(self, sql: str) -> Any:
        return self.lite.execute(sql).fetchone()[0]

    def read(self, name: str, params: dict[str, Any]) -> tuple[Any, Any]:
        lite = self.lite.execute(SQLITE[name], params)
        pg = self.pg.cursor()
        pg.execute(pyformat(POSTGRES[name]), params)
        return _result(lite), _result(pg)

    def write(self, name: str, params: dict[str, Any], tables: list[str],
              before: tuple[tuple[str, dict[str, Any]], ...] = ()) -> tuple[Any, Any]:
        """`name`'s result, row count and `tables` after it, on each; `before` runs first, in the
        same transaction (an UPDATE moves a row in PostgreSQL's heap, not in SQLite's b-tree)."""
        # A sequence hands out numbers even to rolled-back or conflicting inserts; SQLite takes
        # max(id) + 1. Line them up so new rows get the same ids on both.
        for (table,) in self.pg.execute("SELECT table_name FROM information_schema.columns"
                                        " WHERE column_name = 'id' AND table_schema = current_schema()").fetchall():
            self.pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
        self.lite.execute("BEGIN")
        self.pg.execute("BEGIN")
        try:
            for earlier, values in before:
                self.lite.execute(SQLITE[earlier], values)
                self.pg.execute(pyformat(POSTGRES[earlier]), values)
            lite = self.lite.execute(SQLITE[name], params)
            lite_out = (_result(lite) if lite.description else None, lite.rowcount)
            pg = self.pg.cursor()
            pg.execute(pyformat(POSTGRES[name]), params)
            pg_out = (_result(pg) if pg.description else None, pg.rowcount)
            for table in tables:
                lite_out += (_result(self.lite.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")),)
                pg_out += (_result(self.pg.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")),)
            return lite_out, pg_out
        finally:
            self.lite.execute("ROLLBACK")
            self.pg.execute("ROLLBACK")


def _result(cur: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    cols = [d[0] for d in cur.description]
    return cols, [tuple(_plain(c, v) for c, v in zip(cols, row, strict=True)) for row in cur.fetchall()]


def _plain(col: str, value: Any) -> Any:
    # A flag compares as the 0/1 SQLite gives. int and float compare by value (SQLite's RETURNING
    # gives a REAL column's whole number as an int); any other type, a Decimal from a sum or a
    # bool where SQLite gives a number, shows up as a difference.
    if col in FLAGS and value is not None:
        return int(value)
    if type(value) in (int, float):
        return ("number", value)
    return (type(value).__name__, value)


def differences(both: Both, cases: list[tuple[str, dict[str, Any]]], *, scalar: bool = False,
                truth: bool = False) -> list[str]:
    out = []
    for name, params in cases:
        lite, pg = both.read(name, params)
        if scalar or truth:  # a column named after its expression differs by engine; tx.scalar reads the value
            lite, pg = lite[1], pg[1]
        if name in UNORDERED:
            lite, pg = (lite[0], sorted(lite[1])), (pg[0], sorted(pg[1]))
        if truth:  # services/impact.py and artifacts.py only test these for truth
            lite, pg = [_truth(row[0]) for row in lite], [_truth(row[0]) for row in pg]
        if lite != pg:
            out.append(f"{name} {params}:\n  sqlite   {lite}\n  postgres {pg}")
    return out


def _truth(plain: Any) -> bool:
    return bool(plain[1] if isinstance(plain, tuple) else plain)


class Ids:
    def __init__(self, both: Both) -> None:
        self.project = both.value("SELECT id FROM projects")
        self.task = {c: i for c, i in both.lite.execute("SELECT code, id FROM tasks")}
        self.stream = {c: i for c, i in both.lite.execute("SELECT code, id FROM streams")}
        self.sprint = both.value("SELECT id FROM sprints")
        self.artifact = {n: (i, sha) for n, i, sha in both.lite.execute("SELECT name, id, sha256 FROM artifacts")}
        self.run = [r[0] for r in both.lite.execute("SELECT id FROM runs ORDER BY id")]
        self.now = both.value("SELECT max(at) FROM events") + 1.0

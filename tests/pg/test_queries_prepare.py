"""Every named query of the PostgreSQL backend prepares on a database built from schema.sql.

Breadth before depth: PostgreSQL parses, resolves every column and infers every parameter's type
at PREPARE, so a SQLite-only construct, a misspelt column or a parameter whose type cannot be
told (`:role IS NULL` with nothing else) fails here, one test per query, named after it. The
folder is read whole, so every query file a colleague adds is covered by the same tests.

Parameters are left untyped, as psycopg sends a Python str or None: the strictest case.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskloom.store import queries
from taskloom.store.postgres.named import FOLDER, numbered
from taskloom.store.sqlite import migrate as sqlite_migrate
from tests.pg.cluster import Cluster

psycopg = pytest.importorskip("psycopg")
from psycopg import pq  # needs psycopg: skipped above without it

from taskloom.store.postgres import migrate  # needs psycopg: skipped above without it

SQLITE_FOLDER = Path(sqlite_migrate.__file__).parent / "queries"
# Result types a service would get as something SQLite never gives: Decimal (sum or avg of
# integers: cast ::bigint or ::float8) and parsed JSON (json_agg: cast ::text, the service parses).
FOREIGN_RESULT_TYPES = {1700: "numeric", 114: "json", 3802: "jsonb"}
# What SQLite needs to run a query with no data for its column names: NULL for the rest.
# fts: an FTS5 MATCH of NULL is a syntax error, as domain.search never sends.
SQLITE_VALUES = {"limit": 1, "offset": 0, "notes": 1, "artifacts": 1, "label_count": 0, "fts": '"x"'}


def _cases() -> list[object]:
    cases = []
    for path in sorted(FOLDER.glob("*.sql")):
        for name in queries.load(path):
            cases.append(pytest.param(name, id=f"{path.stem}:{name}"))
    return cases


QUERIES = queries.load_dir(FOLDER)


@pytest.fixture(scope="module")
def schema_conn(pg_cluster: Cluster) -> Iterator[psycopg.Connection]:
    dsn = pg_cluster.create_database(f"prepare_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate.apply(conn)
        yield conn


@pytest.fixture(scope="module")
def sqlite_conn() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript((SQLITE_FOLDER.parent / "schema.sql").read_text(encoding="utf-8"))
    yield conn
    conn.close()


def _describe(conn: psycopg.Connection, name: str) -> pq.PGresult:
    sql, _ = numbered(QUERIES[name])
    stmt = f"q_{name}".encode()
    pgconn = conn.pgconn
    prepared = pgconn.prepare(stmt, sql.encode())
    if prepared.status != pq.ExecStatus.COMMAND_OK:
        raise AssertionError(f"{name} does not prepare: {prepared.error_message.decode().strip()}\n{sql}")
    try:
        return pgconn.describe_prepared(stmt)
    finally:
        pgconn.exec_(f"DEALLOCATE {stmt.decode()}".encode())


def _sqlite_columns(conn: sqlite3.Connection, name: str) -> list[str] | None:
    """The query's result column names in SQLite, run on empty tables and rolled back; None
    where it cannot run without data (an INSERT of NULLs into NOT NULL columns)."""
    sql = queries.load_dir(SQLITE_FOLDER).get(name)
    if sql is None:
        return None
    params = {p: SQLITE_VALUES.get(p) for p in numbered(sql)[1]}
    conn.execute("BEGIN")
    try:
        cur = conn.execute(sql, params)
        return [d[0] for d in cur.description] if cur.description else []
    except sqlite3.IntegrityError:
        return None
    finally:
        conn.execute("ROLLBACK")


@pytest.mark.parametrize("name", _cases())
def test_the_query_prepares_with_columns_and_types_services_can_read(
    name: str, schema_conn: psycopg.Connection, sqlite_conn: sqlite3.Connection
) -> None:
    described = _describe(schema_conn, name)
    columns = [described.fname(i).decode() for i in range(described.nfields)]
    foreign = {col: FOREIGN_RESULT_TYPES[described.ftype(i)] for i, col in enumerate(columns)
               if described.ftype(i) in FOREIGN_RESULT_TYPES}
    assert foreign == {}, f"{name}: columns services would read as a type SQLite never gives"
    lite = _sqlite_columns(sqlite_conn, name)
    if lite is not None:
        # A bare count(*) or EXISTS is named by its text in SQLite and by the function here:
        # services read those by index (scalar), so only names that are identifiers must match.
        named = [(pg, sq) for pg, sq in zip(columns, lite, strict=True) if sq.isidentifier()]
        assert [pg for pg, _ in named] == [sq for _, sq in named]


def test_every_query_file_is_covered() -> None:
    assert {c.id.split(":")[0] for c in _cases()} == {p.stem for p in FOLDER.glob("*.sql")}  # type: ignore[attr-defined]


def test_a_broken_query_fails_with_its_name_and_postgres_reason(schema_conn: psycopg.Connection) -> None:
    """The check above can fail: an unknown column and an untyped NULL test are both caught."""
    QUERIES["__broken_column"] = "SELECT no_such_column FROM tasks WHERE id = :id"
    QUERIES["__untyped"] = "SELECT id FROM tasks WHERE :role IS NULL"
    try:
        with pytest.raises(AssertionError, match=r"__broken_column does not prepare: .*no_such_column"):
            _describe(schema_conn, "__broken_column")
        with pytest.raises(AssertionError, match=r"__untyped does not prepare: .*could not determine data type"):
            _describe(schema_conn, "__untyped")
    finally:
        del QUERIES["__broken_column"], QUERIES["__untyped"]

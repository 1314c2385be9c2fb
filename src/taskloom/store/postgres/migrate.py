"""Versioned migrations for PostgreSQL, tracked in the `taskloom_schema` table.

A new database gets `schema.sql` whole; an older one gets each numbered migration above its
version. It all runs in one transaction that first takes a fixed advisory lock: DDL is
transactional here, so replicas starting together migrate once, and a failed migration leaves
nothing half done. `taskloom_schema` keeps one row per version reached, with when.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
from psycopg.rows import tuple_row

from taskloom.errors import Storage

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"
# The version schema.sql was written at: the SQLite schema of version 9, ported whole.
BASE_VERSION = 1
# "taskloom" in ASCII as one bigint: the key every replica's migration waits on.
MIGRATE_LOCK = int.from_bytes(b"taskloom", "big")
_NUMBERED = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS taskloom_schema (
    version integer NOT NULL,
    applied_at double precision NOT NULL
)
"""


def migrations() -> list[tuple[int, Path]]:
    found = []
    for path in MIGRATIONS.iterdir():
        if m := _NUMBERED.match(path.name):
            found.append((int(m.group(1)), path))
    return sorted(found)


def latest_version() -> int:
    return max([BASE_VERSION, *(version for version, _ in migrations())])


def current_version(conn: psycopg.Connection) -> int | None:
    """The schema version, 0 for an empty database, None for a database that is not taskloom's."""
    if _value(conn, "SELECT to_regclass('taskloom_schema')") is not None:
        return _value(conn, "SELECT coalesce(max(version), 0) FROM taskloom_schema")
    tables = _value(conn, "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()")
    return None if tables else 0


def _value(conn: psycopg.Connection, sql: str) -> object:
    # Whatever row factory the caller's connection has (the store's rows are by name).
    return conn.cursor(row_factory=tuple_row).execute(sql).fetchone()[0]


def apply(conn: psycopg.Connection, *, now: float | None = None) -> int:
    """Bring the database to the latest version; returns the version it was at before.

    `now` stamps `applied_at` (epoch seconds); the database's clock when not given.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        where = f"{_value(conn, 'SELECT current_database()')} (schema {_target_schema(conn)})"
        current = current_version(conn)
        target = latest_version()
        if current is None:
            raise Storage(
                f"The PostgreSQL database {where} has tables, but is not a taskloom one (it has no taskloom_schema "
                "table).",
                hint="Point --db (or TASKLOOM_DB) at a taskloom database or an empty one, or give taskloom a schema "
                "of its own: CREATE SCHEMA taskloom, then add ?options=-csearch_path%3Dtaskloom to the URL.",
            )
        if current > target:
            raise Storage(
                f"The PostgreSQL database {where} has taskloom schema version {current}; this taskloom knows "
                f"versions up to {target}.",
                hint="A newer taskloom has migrated this database: upgrade taskloom on this machine to that version.",
            )
        if current == target:
            return current
        conn.execute(_VERSION_TABLE)
        if current == 0:
            conn.execute((HERE / "schema.sql").read_text(encoding="utf-8"))
        else:
            for version, path in migrations():
                if version > current:
                    conn.execute(path.read_text(encoding="utf-8"))
        stamp = "%s" if now is not None else "extract(epoch FROM now())"
        conn.execute(f"INSERT INTO taskloom_schema (version, applied_at) VALUES (%s, {stamp})",
                     (target, now) if now is not None else (target,))
    return current


def _target_schema(conn: psycopg.Connection) -> str:
    """Where the tables go: the first existing schema on the search_path."""
    name = _value(conn, "SELECT current_schema()")
    if name is None:
        path = _value(conn, "SHOW search_path")
        raise Storage(
            f"No schema on the search_path ({path}) exists in this database, so taskloom has nowhere to make its tables.",
            hint="Create the schema first (CREATE SCHEMA name) or fix search_path in the URL's options.",
        )
    return name

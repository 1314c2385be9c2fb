"""A PostgreSQL database from before search (schema version 1), with data, migrated by this
taskloom: migration 0002 indexes the rows already there, and its triggers what comes after."""

from __future__ import annotations

import pytest

psycopg = pytest.importorskip("psycopg")
from taskloom.store.postgres import migrate  # needs psycopg: skipped above without it

SEARCH_PART = "\n-- Full-text search"


def test_a_version_1_database_gets_its_rows_indexed(pg_dsn: str) -> None:
    schema = (migrate.HERE / "schema.sql").read_text(encoding="utf-8")
    assert SEARCH_PART in schema, "schema.sql's search part is what version 2 added"
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(migrate._VERSION_TABLE)
        conn.execute(schema.split(SEARCH_PART)[0])
        conn.execute("INSERT INTO taskloom_schema VALUES (1, 0)")
        conn.execute("INSERT INTO projects (id, name, created_at) VALUES (1, 'old', 0)")
        conn.execute("INSERT INTO tasks (id, project_id, code, title, status, created_at)"
                     " VALUES (7, 1, 'T-7', 'Migrate the ledger', 'ready', 0)")
        conn.execute("INSERT INTO notes (id, task_id, kind, body, created_at) VALUES (3, 7, 'note', 'ledger rounding', 0)")
        conn.commit()

        assert migrate.apply(conn) == 1
        conn.execute("INSERT INTO notes (id, task_id, kind, body, created_at) VALUES (4, 7, 'note', 'ledger again', 0)")
        found = conn.execute("SELECT id FROM search_index WHERE doc @@ websearch_to_tsquery('simple', 'ledger')"
                             " ORDER BY id").fetchall()
    assert found == [(3 * 8 + 1,), (4 * 8 + 1,), (7 * 8,)]

"""Migration 0003 (a bulk load's search triggers) leaves an older database with the triggers a new
one gets from schema.sql, and a bulk setting left on by nobody changes nothing for plain writes."""

from __future__ import annotations

import pytest

psycopg = pytest.importorskip("psycopg")
from taskloom.store.postgres import migrate  # needs psycopg: skipped above without it
from tests.pg.test_search_migration import SEARCH_PART

TRIGGERS = "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname"


def test_an_older_database_gets_the_triggers_schema_sql_has(pg_cluster, pg_dsn: str) -> None:
    schema = (migrate.HERE / "schema.sql").read_text(encoding="utf-8")
    with psycopg.connect(pg_dsn) as old:
        old.execute(migrate._VERSION_TABLE)
        old.execute(schema.split(SEARCH_PART)[0])
        old.execute("INSERT INTO taskloom_schema VALUES (1, 0)")
        old.commit()
        migrate.apply(old)
        migrated = old.execute(TRIGGERS).fetchall()
    with psycopg.connect(pg_cluster.create_database("bulk_fresh")) as new:
        migrate.apply(new)
        fresh = new.execute(TRIGGERS).fetchall()
    assert migrated == fresh
    assert {"search_task_insert", "search_note_insert", "search_artifact_text_insert"} <= {name for name, _ in fresh}


def test_rows_written_with_the_bulk_setting_on_are_left_to_the_load(pg_dsn: str) -> None:
    """What the setting does, and that it ends with its transaction (SET LOCAL)."""
    with psycopg.connect(pg_dsn) as conn:
        migrate.apply(conn)
        conn.execute("INSERT INTO projects (id, name, created_at) VALUES (1, 'p', 0)")
        conn.execute("SELECT set_config('taskloom.bulk', 'on', true)")
        conn.execute("INSERT INTO tasks (id, project_id, code, title, status, created_at) VALUES (1, 1, 'T-1', 'quiet', 'ready', 0)")
        conn.commit()
        conn.execute("INSERT INTO tasks (id, project_id, code, title, status, created_at) VALUES (2, 1, 'T-2', 'loud', 'ready', 0)")
        conn.commit()
        assert conn.execute("SELECT id FROM search_index ORDER BY id").fetchall() == [(16,)]

"""A database from before search (schema version 9), with data, opened by this taskloom: the
migration indexes the rows already there, and the triggers index what comes after."""

from __future__ import annotations

import sqlite3

from taskloom.config import Settings
from taskloom.services import search
from taskloom.services.app import Taskloom
from taskloom.store.sqlite import migrate

V9 = 9


def _version_9_with_data(path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for version, script in migrate.migrations():
            if version <= V9:
                for stmt in migrate.statements(script.read_text(encoding="utf-8")):
                    conn.execute(stmt)
        conn.execute(f"PRAGMA user_version = {V9}")
        conn.execute("INSERT INTO projects (id, name, created_at) VALUES (1, 'old', 0)")
        conn.execute("INSERT INTO tasks (id, project_id, code, title, description, status, created_at, created_by)"
                     " VALUES (7, 1, 'T-7', 'Migrate the ledger', 'Ledger rows in cents.', 'ready', 0, 'carol')")
        conn.execute("INSERT INTO notes (task_id, kind, body, agent, created_at) VALUES (7, 'note', 'Rounding bites', 'al', 0)")
        conn.execute("INSERT INTO messages (project_id, sender, recipient, task_id, subject, body, created_at)"
                     " VALUES (1, 'carol', 'task:T-7', 7, 'ledger', 'Cents, never floats', 0)")
        conn.execute("INSERT INTO artifacts (project_id, sha256, name, media_type, size, description, uploaded_at)"
                     " VALUES (1, ?, 'ledger.csv', 'text/csv', 3, 'the ledger export', 0)", ("ab" * 32,))
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_a_version_9_database_finds_its_old_rows_and_indexes_new_ones(tmp_path, clock):
    db = tmp_path / "old.db"
    _version_9_with_data(db)

    app = await Taskloom.open(Settings(db_path=db, project="old"), clock)
    try:
        found = await app.read(search.search, "ledger", person=True)
        assert sorted((h.kind, str(h.id)) for h in found.hits) == [
            ("artifact", "ab" * 32), ("message", "1"), ("task", "T-7")]
        assert [h.kind for h in (await app.read(search.search, "rounding", person=True)).hits] == ["note"]
        await app.write(lambda tx, scope: tx.run("note_insert", {"task_id": 7, "kind": "note", "body": "floats lose cents",
                                                                 "agent": "al", "now": 1.0}))
        assert len((await app.read(search.search, "floats", person=True)).hits) == 2
    finally:
        await app.close()
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == migrate.latest_version()
